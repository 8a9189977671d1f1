"""A bug in ``serve`` leaves its traceback in a file (never on the terminal) and names it."""

from __future__ import annotations

from pathlib import Path

import pytest

from perphedge.cli.serve_cmd import _traceback_file


def test_without_a_log_file_the_traceback_goes_to_a_crash_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    try:
        raise KeyError("surprise")
    except KeyError as err:
        where = _traceback_file(err, None)
    assert where.startswith(str(tmp_path))
    text = Path(where).read_text()
    assert text.startswith("Traceback (most recent call last)")
    assert "KeyError: 'surprise'" in text


def test_with_a_log_file_it_is_named() -> None:
    assert _traceback_file(ValueError("x"), "/var/log/perphedge/serve.log") == (
        "/var/log/perphedge/serve.log")
