"""The backtest with delivery contracts: rolls, delivery at expiry, no funding; real quarterlies."""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal

import numpy as np
import numpy.typing as npt
import pytest

from perphedge.adapters.marketdata.bundled import bundled_brackets
from perphedge.adapters.marketdata.bundled_futures import bundled_delivery_instruments
from perphedge.adapters.marketdata.history import load_history
from perphedge.backtest.contracts import DeliveryCurve
from perphedge.backtest.engine import run_backtest
from perphedge.backtest.result import BacktestResult
from perphedge.backtest.spec import BacktestSpec
from perphedge.domain.liquidation import solve_liquidation
from perphedge.domain.types import Side
from perphedge.services.backtest_service import delivery_curves
from tests.unit.test_backtest_engine import HOUR, INSTRUMENT, T0, History, history, rally

D = Decimal
DAY = 86_400_000
BRACKETS = bundled_brackets("BTCUSDT")
TEMPLATE = bundled_delivery_instruments("BTC")[0]
EXPIRY_A = T0 + 20 * DAY + 8 * HOUR
EXPIRY_B = T0 + 60 * DAY + 8 * HOUR


def wavy(n: int) -> npt.NDArray[np.float64]:
    """Spot moving ±1 % around 50,000 (the managed leverage band is never left)."""
    return 50000.0 * (1 + 0.01 * np.sin(np.arange(n) / 17.0))


def curve(symbol: str, expiry: int, first_day: int, last_day: int, premium: float,
          h: History) -> DeliveryCurve:
    """Daily closes known at T0 + k days, at a premium shrinking linearly to 0 at expiry."""
    days = np.arange(first_day, min(last_day, h.spot_close.shape[0] // 24) + 1)
    known = T0 + days * DAY
    bar = np.maximum((known - T0) // HOUR - 1, 0)  # the bar whose close is that moment
    spot = h.spot_close[bar]
    left = (expiry - known) / (expiry - T0)
    inst = replace(TEMPLATE, symbol=symbol, expiry_ms=expiry)
    return DeliveryCurve(inst, known.astype(np.int64), np.round(spot * (1 + premium * left), 1),
                         spot)


def run(policy: str, h: History, curves: tuple[DeliveryCurve, ...], **kw: object) -> BacktestResult:
    spec = BacktestSpec("BTC", D(5), policy=policy, **kw)  # type: ignore[arg-type]
    return run_backtest(spec, h, INSTRUMENT, BRACKETS, curves)


def zero_runs_after_open(qty: npt.NDArray[np.float64]) -> int:
    """Longest run of bars with no hedge after the hedge first opened."""
    opened = np.flatnonzero(qty > 0)
    longest = current = 0
    for q in qty[opened[0]:]:
        current = current + 1 if q == 0 else 0
        longest = max(longest, current)
    return longest


def test_a_roll_moves_the_hedge_in_one_decision_and_never_leaves_the_holding_unhedged() -> None:
    h = history(wavy(24 * 40))
    curves = (curve("BTCUSDT_A", EXPIRY_A, 0, 20, 0.01, h),
              curve("BTCUSDT_B", EXPIRY_B, 10, 39, 0.03, h))
    result = run("quarterly", h, curves)
    assert result.rolls == 1
    assert result.contracts_held == ("BTCUSDT_A", "BTCUSDT_B")
    (roll,) = [a for a in result.actions if a.kind == "roll"]
    assert roll.ts_ms == EXPIRY_A - 7 * DAY  # the first decision with 7 days left
    assert roll.qty_base == D(5)
    assert zero_runs_after_open(result.series.hedge_qty) == 0
    assert result.deliveries_settled == 0
    assert result.roll_fees > 0
    assert result.roll_fees < result.fees_total


def test_a_position_held_to_expiry_is_delivered_at_the_spot_close_with_its_pnl() -> None:
    h = history(wavy(24 * 30))
    curves = (curve("BTCUSDT_A", EXPIRY_A, 0, 20, 0.01, h),)
    result = run("quarterly", h, curves, roll_days_before_expiry=0)
    opened = next(a for a in result.actions if a.kind == "open")
    (delivered,) = [a for a in result.actions if a.kind == "delivery"]
    bar = (EXPIRY_A - T0) // HOUR - 1
    spot = D(repr(float(h.spot_close[bar])))
    assert delivered.ts_ms == EXPIRY_A
    assert delivered.price_usdt == spot
    assert delivered.qty_base == opened.qty_base == D(5)
    pnl = opened.qty_base * (opened.price_usdt - spot)  # a short gains what the premium lost
    assert pnl > 0
    match = re.search(r"PnL (-?[0-9.]+)", delivered.note)
    assert match is not None
    assert D(match.group(1)) == pnl.quantize(D("0.01"))
    assert result.deliveries_settled == 1
    # With nothing left to deliver into, the policy rehedges in the perpetual at that close.
    assert result.contracts_held == ("BTCUSDT_A", "BTCUSDT")
    assert zero_runs_after_open(result.series.hedge_qty) == 0
    assert any(a.kind == "no_delivery_contract" for a in result.actions)


def test_a_quarterly_hedge_pays_and_receives_no_funding() -> None:
    rates = tuple("0.001" for _ in range(200))  # 0.1 % per 8 h: a perp short would earn
    h = history(wavy(24 * 15), rates=rates)
    curves = (curve("BTCUSDT_B", EXPIRY_B, 0, 20, 0.01, h),)
    quarterly = run("quarterly", h, curves)
    perp = run("managed", h, curves)
    assert quarterly.contracts_held == ("BTCUSDT_B",)
    assert quarterly.funding_received == quarterly.funding_paid == 0
    assert not np.any(quarterly.series.funding_cum)
    assert perp.funding_received > 1000


def test_the_delivery_mark_carries_the_premium_onto_every_hour() -> None:
    h = history(wavy(24 * 15))
    curves = (curve("BTCUSDT_A", EXPIRY_A, 0, 20, 0.01, h),)
    result = run("quarterly", h, curves)
    day3 = (T0 + 3 * DAY - T0) // HOUR - 1
    premium = float(curves[0].close[3] / curves[0].spot_close[3])  # known at T0 + 3 days
    later = day3 + 5
    assert result.series.mark[later] == pytest.approx(premium * h.spot_close[later])


def test_on_the_real_quarterlies_the_quarterly_hedge_holds_and_pays_no_funding() -> None:
    start, end = 1759276800000, 1773878400000  # 2025-10-01 .. 2026-03-19
    hist = load_history("BTC", start_ms=start, end_ms=end)
    curves = delivery_curves("BTC")
    quarterly = run_backtest(BacktestSpec("BTC", D(5), policy="quarterly", start_ms=start,
                                          end_ms=end), hist, INSTRUMENT, BRACKETS, curves)
    assert quarterly.contracts_held == ("BTCUSDT_260327",)
    assert not quarterly.liquidations
    assert quarterly.funding_total == 0
    assert quarterly.rolls == 0  # 260327 delivers on 2026-03-27, after the data ends
    worst = max(abs(quarterly.deviation_min_pct), abs(quarterly.deviation_max_pct))
    assert worst < 5


def test_a_delivery_hedge_is_liquidated_where_its_premium_times_the_perp_high_reaches_it() -> None:
    h = history(rally(24 * 60, 1.0, start=50000.0), rates=tuple("0" for _ in range(200)))
    curves = (curve("BTCUSDT_B", EXPIRY_B, 0, 59, 0.02, h),)
    # One decision, at the start: the position then rides the rally untouched.
    result = run("quarterly", h, curves, decision_interval_ms=1000 * DAY)
    opened = next(a for a in result.actions if a.kind == "open")
    margin = opened.qty_base * opened.price_usdt / 2
    lp = solve_liquidation(Side.SHORT, opened.qty_base, opened.price_usdt, margin,
                           BRACKETS).price_usdt
    assert lp is not None
    premium = np.asarray(result.series.mark / h.spot_close)  # the carried F/S per bar
    bar = int(np.argmax(premium[1:] * h.perp_high[1:] >= float(lp))) + 1
    (event,) = result.liquidations
    assert event.price_usdt == lp
    assert event.ts_ms == int(h.open_time_ms[bar]) + HOUR
    assert result.final_hedge_qty == 0
