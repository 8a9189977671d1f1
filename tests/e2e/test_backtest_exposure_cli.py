"""Exposure that changes over time, from options and from a CSV, as a user runs it."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from tests.conftest import run_cli

WINDOW = ("backtest", "--asset", "BTC", "--quantity", "5", "--start", "2023-01-01",
          "--end", "2023-07-01", "--json")


def test_a_miner_adding_daily_and_a_dated_sale_are_followed_by_the_managed_hedge() -> None:
    result = run_cli(*WINDOW, "--policy", "managed", "--add-daily", "0.1", "--sell",
                     "2@2023-04-01")
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    spot, hedge = Decimal(run["final_spot_quantity"]), Decimal(run["final_hedge_quantity"])
    assert run["liquidations"] == []
    assert abs(hedge - spot) <= spot * Decimal("0.02")  # within the 2 % band
    assert spot > 5  # 181 days of +0.1 outweigh the 2 BTC sale and the spot sold into margin


def test_exposure_csv_changes_the_static_holding(tmp_path: Path) -> None:
    csv = tmp_path / "exposure.csv"
    csv.write_text("time,quantity_change\n2023-02-01,1.5\n2023-03-01,-0.5\n")
    result = run_cli(*WINDOW, "--policy", "static", "--exposure-csv", str(csv))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["final_spot_quantity"] == "6"


def test_a_sale_outside_the_replay_is_refused_not_ignored(tmp_path: Path) -> None:
    result = run_cli(*WINDOW, "--sell", "2@2021-01-01")
    assert result.returncode == 2
    assert result.stderr.startswith("error: --sell: expected a date between 2023-01-01")
    csv = tmp_path / "late.csv"
    csv.write_text("time,quantity_change\n2027-02-01,1.5\n")
    late = run_cli(*WINDOW, "--exposure-csv", str(csv))
    assert late.returncode == 2
    assert "--exposure-csv: expected a date between" in late.stderr
