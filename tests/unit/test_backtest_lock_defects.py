"""The #13 defects of the backtest, each pinned by a case that failed before its fix."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

import numpy as np
import pytest

from perphedge.adapters.marketdata.bundled import BundledMarketData, bundled_brackets
from perphedge.adapters.marketdata.history import MarketHistory, load_history
from perphedge.backtest.engine import run_backtest
from perphedge.backtest.result import BacktestResult
from perphedge.backtest.spec import BacktestSpec
from perphedge.parse import parse_time_ms as parse_date
from perphedge.planning import policies
from perphedge.planning.hedge_state import Action, AdjustHedge, HedgeState, SellSpot
from perphedge.planning.policies import PolicyParams
from tests.unit.test_backtest_engine import BRACKETS, INSTRUMENT, history, rally

D = Decimal
DAY = 86_400_000


def _real(asset: str, start: str, days: int | None, **kw: object) -> BacktestResult:
    full: MarketHistory = load_history(asset)
    start_ms = parse_date(start, "start")
    end_ms = full.end_ms if days is None else start_ms + days * DAY
    inst = BundledMarketData().instrument(asset)
    spec = BacktestSpec(asset=asset, start_ms=start_ms, end_ms=end_ms, **kw)  # type: ignore[arg-type]
    return run_backtest(spec, full.slice(start_ms, end_ms), inst, bundled_brackets(inst.symbol))


def test_margin_lost_in_a_liquidation_is_never_negative() -> None:
    # A 1x long gains while the price doubles, pays 1 % funding every 8 h out of that gain
    # (its isolated margin goes below zero), and is liquidated on the way back down. Before:
    # margin lost -17,964.85 (the real-history case: BTC 2019-10 static purchase, -51,873.08).
    up = rally(24 * 20, 1.0)
    path = np.concatenate([up, rally(24 * 20, -0.75, start=float(up[-1]))])
    h = history(path, rates=tuple("0.01" for _ in range(200)))
    spec = BacktestSpec("BTC", D(1), purchase=True, policy="static", leverage=D(1))
    (event,) = run_backtest(spec, h, INSTRUMENT, BRACKETS).liquidations
    assert event.margin_lost_usdt == 0


def test_a_purchase_reserve_is_valued_at_face_not_as_a_bet_on_the_price() -> None:
    # ETH from 2025-10 at 1x with a reserve: before, -6.34 .. +64.24 % with no margin moves.
    result = _real("ETH", "2025-10-01", None, quantity=D(5), purchase=True, policy="reserve",
                   leverage=D(1))
    assert result.margin_moves == 0
    assert -1 < result.deviation_min_pct <= result.deviation_max_pct < 1


def test_a_3x_hedge_opens_at_full_size() -> None:
    # Before: 4.999 of 5 (the margin transfer was rounded down below what the order needs).
    result = _real("ETH", "2025-11-01", 2, quantity=D(5), policy="managed", leverage=D(3))
    opening = next(a for a in result.actions if a.kind == "open")
    assert opening.qty_base == D(5)


def test_a_short_opening_states_its_unhedged_remainder_and_why() -> None:
    # A 1x purchase: the purchase cash cannot pay both the 1x margin and the taker fee.
    result = _real("ETH", "2024-03-01", 2, quantity=D(5), purchase=True, policy="managed",
                   leverage=D(1))
    opening = next(a for a in result.actions if a.kind == "open")
    assert opening.qty_base < D(5)
    (note,) = [n for n in result.notes if n.startswith("opened ")]
    assert f"opened {opening.qty_base} of 5" in note
    assert "cannot pay the margin and taker fee" in note


def test_an_order_above_the_exchanges_maximum_is_split_into_several() -> None:
    # 1,500 BTC: Binance's largest market order is 1,000. Before: nothing opened, "held".
    result = _real("BTC", "2024-01-02", 3, quantity=D(1500), policy="static", leverage=D(2))
    opens = [a for a in result.actions if a.kind in ("open", "rebalance")]
    assert len(opens) >= 2
    assert all(a.qty_base <= 1000 for a in opens)
    assert result.final_hedge_qty == D(1500)


@dataclass(frozen=True, slots=True)
class GrowThenSell:
    """A hand-written policy that asks for more hedge than any margin allows, then sells."""

    name: str = "grow-then-sell"

    def decide(self, state: HedgeState, params: PolicyParams) -> tuple[Action, ...]:
        if state.hedge_qty == 0:
            return policies.StaticPolicy().decide(state, params)
        return (AdjustHedge(D(50)), SellSpot(D("0.1")))


def test_a_refused_step_drops_the_rest_of_the_decision_and_alerts_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(policies.POLICIES, "grow-then-sell", GrowThenSell())
    h = history(np.full(24 * 5, 60000.0))
    spec = BacktestSpec("BTC", D(1), policy="grow-then-sell")
    result = run_backtest(spec, h, INSTRUMENT, BRACKETS)
    assert result.refusals > 0
    # The sale planned after the refused hedge order never happens.
    assert not [a for a in result.actions if a.kind == "spot_sell"]
    assert [a.kind for a in result.actions].count("step_refused") == 1


def test_the_managed_policy_backs_off_after_refusals() -> None:
    # After a refused hedge order the managed policy does not ask again every hour.
    state = HedgeState(
        hedge_side=policies.Side.SHORT, margin_mode=policies.MarginMode.ISOLATED,
        spot_qty=D(6), target_exposure_qty=D(6), hedge_qty=D(5), entry_price=D(60000),
        isolated_margin_usdt=D(150000), mark_price=D(60000), spot_price=D(60000),
        spot_usdt=D(100000), futures_wallet_usdt=D(0), reserve_usdt=D(0),
        liquidation_price=None, opened_before=True, now_ms=10 * 3_600_000)
    params = PolicyParams(leverage=D(2))
    assert policies.ManagedPolicy().decide(state, params)  # grows the drifted hedge
    waiting = replace(state, refusals_in_a_row=3, last_refusal_ms=8 * 3_600_000)
    assert policies.ManagedPolicy().decide(waiting, params) == ()
    later = replace(waiting, now_ms=12 * 3_600_000)
    assert policies.ManagedPolicy().decide(later, params)


def test_a_purchase_reports_its_effective_locked_price_at_every_step() -> None:
    result = _real("ETH", "2025-10-01", 60, quantity=D(5), purchase=True, policy="managed",
                   leverage=D(2))
    orders = [a for a in result.actions if a.kind in ("open", "rebalance")]
    assert orders
    assert all(a.note.startswith("effective locked price ") for a in orders)
    cost = D(repr(float(result.series.locked_value[0]))) / 5
    paid = result.funding_paid - result.funding_received + result.fees_total
    assert result.effective_price_end is not None
    assert abs(result.effective_price_end - (cost + paid / 5)) < D("0.05")
    series = result.series.effective_price
    assert series is not None
    assert series.shape == result.series.ts_ms.shape
