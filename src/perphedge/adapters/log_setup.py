"""Structured logging of the service: one JSON object per line, to stderr and optionally a file.

JSON lines rather than logfmt: journald, Loki, CloudWatch and ``jq`` read them as they are,
and a value with spaces, quotes or newlines (an exchange's error text) needs no escaping
rules of its own. Fields come from ``extra={"fields": {...}}``. A traceback goes only to the
log file (as one JSON string), never to the terminal.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

_STD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


class JsonLineFormatter(logging.Formatter):
    """``{"ts": "...Z", "level": "info", "logger": "...", "msg": "...", ...fields}``."""

    def __init__(self, *, tracebacks: bool) -> None:
        super().__init__()
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update({k: _plain(v) for k, v in fields.items() if k not in out})
        if record.exc_info and record.exc_info[1] is not None:
            out["error"] = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
            if self.tracebacks:
                out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup_logging(level: int, log_file: str | None = None, max_mb: int = 10,
                  backups: int = 5) -> None:
    """Route perphedge's logs (and warnings of libraries) as JSON lines."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(JsonLineFormatter(tracebacks=False))
    root.addHandler(stderr)
    if log_file is not None:
        path = Path(log_file).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        rotating = logging.handlers.RotatingFileHandler(
            path, maxBytes=max_mb * 1_000_000, backupCount=backups, encoding="utf-8")
        rotating.setFormatter(JsonLineFormatter(tracebacks=True))
        root.addHandler(rotating)
    root.setLevel(logging.WARNING)
    logging.getLogger("perphedge").setLevel(level)
