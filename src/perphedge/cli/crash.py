"""A bug in perphedge: the traceback goes to a log file, the user gets one line naming it.

The log lives in the user's state dir (``platformdirs.user_state_dir("perphedge")``, on Linux
``$XDG_STATE_HOME/perphedge`` or ``~/.local/state/perphedge``), beside nothing secret: a
traceback holds code lines and exception messages, never local variables.
"""

from __future__ import annotations

import re
import traceback
from datetime import UTC, datetime
from pathlib import Path

import platformdirs

#: The file every internal error is appended to.
CRASH_LOG_NAME = "errors.log"
# A URL's query (Binance signs requests there) never reaches the log.
_URL_QUERY = re.compile(r"(https?://[^\s?'\"]*)\?[^\s'\"]*")


def scrub(text: str) -> str:
    """``text`` with URL query strings cut.

    >>> scrub("GET https://fapi.binance.com/fapi/v1/order?symbol=X&signature=ab12 failed")
    'GET https://fapi.binance.com/fapi/v1/order?… failed'
    """
    return _URL_QUERY.sub(r"\1?…", text)


def crash_log_path() -> Path:
    """Where internal errors are logged: ``errors.log`` in the user state dir."""
    return Path(platformdirs.user_state_dir("perphedge")) / CRASH_LOG_NAME


def where(err: BaseException) -> str:
    """The innermost perphedge function the error came from (``module.function``), if any."""
    frames = traceback.extract_tb(err.__traceback__)
    for frame in reversed(frames):
        path = frame.filename.replace("\\", "/")
        index = path.rfind("/perphedge/")
        if index >= 0:
            module = path[index + 1:].removesuffix(".py").replace("/", ".")
            return f"{module}.{frame.name}"
    return frames[-1].name if frames else "?"


def record_crash(err: BaseException, argv: list[str]) -> str:
    """Append the traceback to the crash log; return the one line to show the user."""
    path = crash_log_path()
    text = scrub("".join(traceback.format_exception(err)))
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    # The command's name only: the rest may hold paths and URLs that need not be kept.
    command = argv[0] if argv and not argv[0].startswith("-") else ""
    head = f"internal error: {type(err).__name__} in {where(err)}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(f"--- {stamp} perphedge {command}\n{text}\n")
    except OSError as log_err:
        return f"{head}; the details could not be logged ({type(log_err).__name__} on {path})"
    return f"{head}; details in {path}"
