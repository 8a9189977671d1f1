"""``perphedge carry`` as a user runs it: the real entry point in a subprocess, bundled data."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli


def test_default_table_is_the_latest_bundled_day() -> None:
    result = run_cli("carry", "--asset", "BTC")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Carry of a BTC hedge on binance at 2026-04-09T00:00:00Z" in out
    for symbol in ("BTCUSDT", "BTCUSDT_260626", "BTCUSDT_260925"):
        assert symbol in out
    assert "BTCUSDT_260327" not in out  # delivered on 2026-03-27
    assert "Short hedge: BTCUSDT_260925" in out
    assert "Long hedge: BTCUSDT " in out
    assert "Traceback" not in result.stderr


def test_json_on_the_golden_day_has_rows_and_recommendations() -> None:
    result = run_cli("carry", "--asset", "btc", "--as-of", "2026-03-19", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["as_of"] == "2026-03-20T00:00:00Z"
    assert data["spot_price"] == "69930"
    rows = {r["symbol"]: r for r in data["rows"]}
    assert list(rows) == ["BTCUSDT", "BTCUSDT_260327", "BTCUSDT_260626"]
    q = rows["BTCUSDT_260626"]
    # Hand arithmetic in tests/unit/test_carry_golden.py.
    assert (q["price"], q["basis_pct"], q["days_to_expiry"]) == ("70360.5", "0.6156", "98.3333")
    assert (q["carry_short_pct_per_year"], q["carry_long_pct_per_year"]) == ("1.9139", "-2.6563")
    perp = rows["BTCUSDT"]
    assert (perp["carry_short_pct_per_year"], perp["carry_long_pct_per_year"]) == (
        "-1.0692", "0.2581")
    assert perp["expiry"] is None
    assert [f["window"] for f in data["funding"]] == ["current", "7d", "30d", "90d"]
    assert data["funding"][2]["settlements"] == 90
    short = data["recommendation"]["short"]
    assert (short["choice"], short["switch"]) == ("BTCUSDT_260626", False)
    assert "better than BTCUSDT" in short["reason"]
    assert data["recommendation"]["long"]["choice"] == "BTCUSDT"


def test_current_position_and_margin_give_hysteresis() -> None:
    result = run_cli("carry", "--asset", "BTC", "--as-of", "2026-03-19", "--current", "BTCUSDT",
                     "--margin-pct", "3", "--json")
    assert result.returncode == 0, result.stderr
    short = json.loads(result.stdout)["recommendation"]["short"]
    assert (short["choice"], short["alternative"], short["switch"]) == (
        "BTCUSDT", "BTCUSDT_260626", False)
    assert "within the 3.00 %/yr margin" in short["reason"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--asset", "DOGE"], "error: --asset: expected one of BTC, ETH"),
        (["--asset", "ETH"], "error: --asset: expected BTC"),
        (["--asset", "BTC", "--as-of", "2020-01-01"], "error: --as-of: expected a date from"),
        (["--asset", "BTC", "--as-of", "yesterday"], "error: --as-of: expected a date as"),
        (["--asset", "BTC", "--funding-basis", "1y"], "error: --funding-basis: expected one of"),
        (["--asset", "BTC", "--exchange-url", "http://127.0.0.1:9"],
         "error: --exchange-url: expected to be used with --live"),
        (["--asset", "BTC", "--exchange", "okx"], "error: --exchange: expected binance"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], needle: str) -> None:
    result = run_cli("carry", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(needle), result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""
