"""``perphedge backtest --compare-instruments``: perpetual vs quarterly hedging on real data."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.conftest import run_cli

WINDOW = ("backtest", "--asset", "BTC", "--quantity", "5", "--start", "2025-10-01",
          "--end", "2026-03-19", "--compare-instruments")


def _json(*args: str) -> dict[str, Any]:
    result = run_cli(*args, "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_compare_instruments_reports_perpetual_against_quarterly_on_real_data(
    tmp_path: Path,
) -> None:
    data = _json(*WINDOW, "--report", str(tmp_path / "r.html"))
    assert [r["policy"] for r in data["results"]] == ["managed", "quarterly"]
    perp, quarterly = data["instruments"]["rows"]
    assert perp["contracts_held"] == ["BTCUSDT"]
    assert quarterly["contracts_held"] == ["BTCUSDT_260327"]
    assert Decimal(perp["funding_total"]) > 0  # shorts were paid on balance in this window
    assert quarterly["funding_total"] == "0.00"
    assert quarterly["rolls"] == 0  # 260327 delivers on 2026-03-27, after the window
    for row in (perp, quarterly):  # the parts add up to the whole
        parts = (Decimal(row["funding_total"]) + Decimal(row["basis_and_other_pnl"])
                 - Decimal(row["fees_total"]))
        assert parts == Decimal(row["result_vs_locked"])
    assert "than the perpetual" in data["instruments"]["verdict"]
    assert any("CME futures file is not used" in s for s in data["sources"])
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Perpetual vs delivery contracts" in page
    assert "BTCUSDT_260327" in page
    assert "<script src=" not in page  # still self-contained


def test_rolling_a_month_early_rolls_once_into_the_june_contract_and_prints_a_table() -> None:
    data = _json(*WINDOW, "--roll-days", "30", "--policy", "auto")
    rows = {r["policy"]: r for r in data["instruments"]["rows"]}
    assert list(rows) == ["managed", "quarterly", "auto"]
    assert rows["quarterly"]["contracts_held"] == ["BTCUSDT_260327", "BTCUSDT_260626"]
    assert rows["quarterly"]["rolls"] == 1
    assert Decimal(rows["quarterly"]["roll_fees"]) > 0
    text = run_cli(*WINDOW, "--roll-days", "30")
    assert text.returncode == 0, text.stderr
    for word in ("Perpetual vs delivery contracts", "basis+other", "rolls", "quarterly"):
        assert word in text.stdout, word


def test_compare_instruments_with_compare_is_refused_naming_the_option() -> None:
    result = run_cli(*WINDOW, "--compare")
    assert result.returncode == 2
    assert "--compare-instruments" in result.stderr + result.stdout


CME = ("backtest", "--asset", "BTC", "--quantity", "5", "--start", "2020-01-01",
       "--end", "2021-05-01", "--compare-instruments", "--delivery-data", "cme")


def test_the_cme_chain_comparison_rolls_at_every_contract_change_and_pays_no_funding(
    tmp_path: Path,
) -> None:
    data = _json(*CME, "--report", str(tmp_path / "cme.html"))
    perp, chain = data["instruments"]["rows"]
    assert perp["contracts_held"] == ["BTCUSDT"]
    # 2020-01-01 .. 2021-05-01: G20 then one contract per series switch up to M21.
    assert chain["contracts_held"][0] == "BTCG20"
    assert chain["contracts_held"][-1] == "BTCM21"
    assert len(chain["contracts_held"]) == 17
    assert chain["rolls"] == 16
    assert chain["deliveries_settled"] == 0  # rolled a month before each expiry
    assert chain["funding_total"] == "0.00"
    assert Decimal(chain["roll_fees"]) > 0
    assert Decimal(perp["funding_total"]) > 0  # 2020-21: shorts were paid
    assert not perp["liquidated"]
    assert not chain["liquidated"]
    sources = " ".join(data["sources"])
    for caveat in ("CME bitcoin second-month chain", "taker fee stands in",
                   "margin brackets stand in", "no funding"):
        assert caveat in sources, caveat
    page = (tmp_path / "cme.html").read_text(encoding="utf-8")
    assert "BTCM21" in page
    assert "CME bitcoin second-month chain" in page


def test_cme_data_is_refused_without_compare_instruments() -> None:
    result = run_cli("backtest", "--asset", "BTC", "--quantity", "5", "--start", "2020-01-01",
                     "--delivery-data", "cme")
    assert result.returncode != 0
    assert "--delivery-data" in result.stderr
    assert "Traceback" not in result.stderr
