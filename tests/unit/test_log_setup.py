"""Service logs: one JSON object per line; fields merged; tracebacks only in the log file."""

from __future__ import annotations

import json
import logging
import logging.handlers
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from perphedge.adapters.log_setup import setup_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        handler.close()
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("perphedge").setLevel(logging.NOTSET)


def test_json_lines_to_stderr_and_a_rotating_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_logging: None) -> None:
    log_file = tmp_path / "logs" / "serve.log"
    setup_logging(logging.INFO, str(log_file), max_mb=1, backups=2)
    log = logging.getLogger("perphedge.serve")
    log.debug("not shown at info")
    log.info("cycle", extra={"fields": {"hedge": "btc", "runway_pct": Decimal("27.5"),
                                        "lines": ["a \"quoted\" line"]}})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("service failed")

    err_lines = [json.loads(x) for x in capsys.readouterr().err.splitlines()]
    assert [x["msg"] for x in err_lines] == ["cycle", "service failed"]
    assert err_lines[0]["runway_pct"] == "27.5"
    assert err_lines[0]["lines"] == ['a "quoted" line']
    assert err_lines[0]["level"] == "info"
    assert err_lines[1]["error"] == "RuntimeError: boom"
    assert "traceback" not in err_lines[1]  # never on the terminal
    file_lines = [json.loads(x) for x in log_file.read_text().splitlines()]
    assert "Traceback (most recent call last)" in file_lines[1]["traceback"]
    handlers = logging.getLogger().handlers
    assert any(isinstance(h, logging.handlers.RotatingFileHandler) and h.maxBytes == 1_000_000
               and h.backupCount == 2 for h in handlers)
