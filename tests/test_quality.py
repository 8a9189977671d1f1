"""Lint and type checks are part of the suite: ruff on everything, mypy strict on src/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, check=False,
        timeout=600,
    )


def test_ruff_is_clean() -> None:
    result = _run("ruff", "check", "src", "tests", "bench", "scripts")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_clone_without_the_shared_data_stops_with_one_line_saying_what_to_do(
    tmp_path: Path,
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only",
         "tests/unit/test_liquidation.py"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PERPHEDGE_SHARED_DATA": str(tmp_path / "missing")},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 4, output
    assert output.count("the tests need the shared market data") == 1, output
    assert "FileNotFoundError" not in output
    assert "Traceback" not in output
