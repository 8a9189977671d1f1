"""``perphedge status`` as a user reads it: rounded money, lots and percents; JSON stays exact."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from perphedge.cli.app import main
from tests.conftest import run_cli
from tests.unit.test_accounts import seeded_store

CONFIG = """
[accounts.main]
exchange = "binanceusdm"

[[hedges]]
name = "btc"
account = "main"
asset = "BTC"
exposure = { source = "balance" }
"""


def test_status_prints_the_accounts_rounded_and_json_keeps_exact_decimals(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seeded_store(tmp_path).close()
    config = tmp_path / "c.toml"
    config.write_text(CONFIG, encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'golden.db'}"

    result = run_cli("status", "--config", str(config), "--db", db, env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "49.33 %" in result.stdout
    assert "49.3278" not in result.stdout
    assert "62,464.75" in result.stdout  # hedged value
    assert "41,643.17" in result.stdout  # effective locked price
    assert "15.50 received" in result.stdout

    main(["status", "--json", "--config", str(config), "--db", db])
    (row,) = json.loads(capsys.readouterr().out)
    assert Decimal(row["runway_pct"]) == Decimal("49.32787096337370799108260512")
    assert Decimal(row["locked_value"]) == 61500
    assert row["name"] == "btc"
    assert row["lease_holder"] is None
