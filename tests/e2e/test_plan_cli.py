"""``perphedge plan`` as a user runs it: the real entry point in a subprocess."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli


def test_readme_first_command_prints_a_plan_for_5_btc() -> None:
    result = run_cli("plan", "--asset", "BTC", "--quantity", "5")
    assert result.returncode == 0, result.stderr
    assert "Hedge plan: 5 BTC holding" in result.stdout
    assert "SELL 5 BTCUSDT" in result.stdout
    assert "Liquidation price" in result.stdout
    assert "Traceback" not in result.stderr


def test_json_plan_matches_the_exchange_formula_to_the_cent() -> None:
    result = run_cli(
        "plan", "--asset", "BTC", "--quantity", "5", "--price", "90000", "--leverage", "2", "--json"
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    for key in (
        "symbol", "side", "quantity", "entry_price", "notional", "initial_margin",
        "maintenance_margin", "maintenance_margin_rate", "liquidation_price", "runway_pct",
        "funding_rate", "funding_per_day", "funding_annualized_pct", "funding_direction", "fees",
        "warnings",
    ):
        assert key in plan, key
    assert plan["symbol"] == "BTCUSDT"
    assert plan["side"] == "sell"
    assert plan["quantity"] == "5"
    assert plan["notional"] == "450000.00"
    assert plan["initial_margin"] == "225000.00"
    assert plan["maintenance_margin"] == "2200.00"
    assert plan["liquidation_price"] == "134316.94"
    assert plan["liquidation_bracket"] == 3
    assert plan["funding_direction"] in {"receive", "pay", "none"}
    assert isinstance(plan["fees"], str)
    assert "self_funded" not in plan


def test_json_self_funded_alternative_and_purchase() -> None:
    result = run_cli(
        "plan", "--asset", "ETH", "--quantity", "10", "--price", "3000", "--usdt-available", "100",
        "--funding-rate", "-0.0002", "--json",
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["self_funded"]["hedge_quantity"] == "6.666"
    assert plan["self_funded"]["sell_quantity"] == "3.334"
    assert plan["funding_direction"] == "pay"
    assert {w["code"] for w in plan["warnings"]} >= {"margin_shortfall", "funding_paid"}

    purchase = json.loads(run_cli(
        "plan", "--asset", "BTC", "--quantity", "3", "--purchase", "--price", "90000", "--json"
    ).stdout)
    assert purchase["side"] == "buy"
    assert purchase["liquidation_price"] == "45209.38"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--quantity", "0"], "--quantity: expected a number greater than 0, got '0'"),
        (["--quantity", "-1"], "--quantity: expected a number greater than 0"),
        (["--quantity", "nan"], "--quantity: expected a finite number"),
        (["--quantity", "five"], "--quantity: expected a number, got 'five'"),
        (["--quantity", "5", "--price", "0"], "--price: expected a number greater than 0"),
        (["--quantity", "5", "--price", "abc"], "--price: expected a number"),
        (["--quantity", "5", "--leverage", "0"], "--leverage: expected a number greater than 0"),
        (["--quantity", "5", "--leverage", "150"], "--leverage: expected at most 100x"),
        (["--quantity", "0.0001"], "--quantity: expected at least 0.001 BTC"),
        (["--quantity", "5", "--margin-mode", "hedge"], "--margin-mode: expected isolated or"),
        (["--quantity", "5", "--exchange", "kraken"], "--exchange: expected one of binance"),
        (["--quantity", "5", "--funding-rate", "1"], "--funding-rate: expected a fraction"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], needle: str) -> None:
    result = run_cli("plan", "--asset", "BTC", *args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]


def test_unknown_asset_is_one_line_exit_2() -> None:
    result = run_cli("plan", "--asset", "DOGE", "--quantity", "5")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --asset: expected one of BTC, ETH, got 'DOGE'"
