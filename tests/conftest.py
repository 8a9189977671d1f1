"""Shared test fixtures: where the shared real data lives, and the CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Plain ccxt scripts a test runs as a user would (`python usdm_common_calls.py …`); they
#: import their sibling `point.py` by name, so pytest must not import them as modules.
collect_ignore = ["integration/ccxt_scripts"]
#: The real market data the tests replay; ``PERPHEDGE_SHARED_DATA`` points elsewhere.
SHARED_DATA = Path(os.environ.get("PERPHEDGE_SHARED_DATA") or REPO.parent / "shared" / "data")
MISSING_SHARED_DATA = (
    "the tests need the shared market data at {path}, which does not exist. Put the "
    "`shared` folder (it holds data/ with the recorded market data and exchange fixtures) "
    "next to this repository, or set PERPHEDGE_SHARED_DATA to its data/ folder, then rerun."
)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Without the shared data dozens of tests would fail one by one with FileNotFoundError:
    stop once, saying what to do."""
    if not SHARED_DATA.is_dir():
        raise pytest.UsageError(MISSING_SHARED_DATA.format(path=SHARED_DATA))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real market data set beside the repository (CI clones with ``shared/`` next to it)."""
    return SHARED_DATA


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m perphedge`` as a user would, capturing output."""
    full_env = {**os.environ, "COLUMNS": "120", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "perphedge", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        check=False,
    )
