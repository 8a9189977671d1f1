"""Skipping quiet decisions changes nothing: the gated engine equals the engine deciding always.

``run_backtest(..., skip_quiet=False)`` runs the policy at every decision bar; the default
skips the decisions whose mark stays inside the policy's quiet band
(:func:`perphedge.planning.policies.quiet_band`). Every field of the result, and every series,
must be equal — on random paths (with liquidations, refusals, exposure changes, cross margin,
buy-back triggers) and on the bundled history.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from itertools import pairwise
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perphedge.adapters.marketdata.bundled import BundledMarketData, bundled_brackets
from perphedge.adapters.marketdata.history import load_history
from perphedge.backtest.engine import BacktestSpec, run_backtest
from perphedge.backtest.exposure import ExposureChange
from perphedge.backtest.replay import Replay
from perphedge.backtest.result import BacktestResult, BacktestSeries
from perphedge.domain.money import ZERO
from perphedge.domain.types import MarginMode
from perphedge.parse import parse_time_ms
from tests.unit.test_backtest_engine import BRACKETS, INSTRUMENT, T0, history

D = Decimal
HOUR = 3_600_000
DAY = 24 * HOUR


def assert_same(gated: BacktestResult, always: BacktestResult) -> None:
    """Every field equal; series element by element (NaN equals NaN)."""
    for f in dataclasses.fields(BacktestResult):
        a, b = getattr(gated, f.name), getattr(always, f.name)
        if isinstance(a, BacktestSeries):
            for s in dataclasses.fields(BacktestSeries):
                x, y = getattr(a, s.name), getattr(b, s.name)
                if x is None or y is None:
                    assert x is y, s.name
                else:
                    np.testing.assert_array_equal(x, y, err_msg=s.name)
        else:
            assert a == b, f.name


def both(spec: BacktestSpec, h: Any, inst: Any = INSTRUMENT,
         brackets: Any = BRACKETS) -> BacktestResult:
    gated = run_backtest(spec, h, inst, brackets)
    always = run_backtest(spec, h, inst, brackets, skip_quiet=False)
    assert_same(gated, always)
    return gated


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    drift=st.floats(min_value=-0.004, max_value=0.004),
    vol=st.sampled_from([0.002, 0.01, 0.03]),
    policy=st.sampled_from(["static", "managed", "reserve"]),
    purchase=st.booleans(),
    leverage=st.sampled_from([D(1), D("1.5"), D(2), D(3), D(5), D(10)]),
    interval_hours=st.sampled_from([1, 2, 24]),
    cross=st.booleans(),
    triggers=st.sampled_from([(None, None), (D("1.1"), D("0.9")), (D("1.5"), D("0.5"))]),
    band_pct=st.sampled_from([D(0), D(2)]),
    quantity=st.sampled_from([D(2), D("0.7"), D(40)]),
    change=st.sampled_from([None, D("0.5"), D("-0.8")]),
    funding=st.sampled_from([0.0004, 0.01]),  # large: the funding cushion runs out
)
def test_skipping_quiet_decisions_changes_nothing_on_random_paths(
    seed: int, drift: float, vol: float, policy: str, purchase: bool, leverage: Decimal,
    interval_hours: int, cross: bool, triggers: tuple[Decimal | None, Decimal | None],
    band_pct: Decimal, quantity: Decimal, change: Decimal | None, funding: float,
) -> None:
    rng = np.random.default_rng(seed)
    close = 50000.0 * np.exp(np.cumsum(rng.normal(drift, vol, 300)))
    rates = tuple(f"{x:.8f}" for x in rng.normal(funding / 4, funding, 40))
    h = history(close, rates=rates, wick=vol / 2)
    changes = () if change is None else (ExposureChange(change, ts_ms=T0 + 100 * HOUR),)
    spec = BacktestSpec(
        "BTC", quantity, purchase=purchase, policy=policy, leverage=leverage,
        margin_mode=MarginMode.CROSS if cross else MarginMode.ISOLATED,
        decision_interval_ms=interval_hours * HOUR, hedge_band_pct=band_pct,
        trigger_up_ratio=triggers[0], trigger_down_ratio=triggers[1],
        exposure_changes=changes, slippage_bps=D(3),
    )
    both(spec, h)


def _real(asset: str, start: str, days: int, **kw: Any) -> BacktestResult:
    full = load_history(asset)
    start_ms = parse_time_ms(start, "start")
    end_ms = start_ms + days * DAY
    inst = BundledMarketData().instrument(asset)
    spec = BacktestSpec(asset=asset, start_ms=start_ms, end_ms=end_ms, **kw)
    return both(spec, full.slice(start_ms, end_ms), inst, bundled_brackets(inst.symbol))


@pytest.mark.parametrize(("asset", "start", "policy", "leverage", "purchase"), [
    ("BTC", "2021-01-01", "managed", D(2), False),   # a rally: the managed short cuts
    ("BTC", "2021-01-01", "static", D(5), False),    # liquidated, then stays unhedged
    ("BTC", "2021-01-01", "reserve", D(3), False),   # top-ups until the reserve is gone
    ("BTC", "2022-05-01", "managed", D(2), True),    # a crash under a purchase
    ("BTC", "2022-05-01", "reserve", D("1.5"), True),
    ("ETH", "2021-04-01", "managed", D(3), False),
    ("ETH", "2020-03-01", "static", D(2), True),
])
def test_skipping_quiet_decisions_changes_nothing_on_bundled_history(
    asset: str, start: str, policy: str, leverage: Decimal, purchase: bool,
) -> None:
    _real(asset, start, 75, quantity=D(5), policy=policy, leverage=leverage,
          purchase=purchase)


def test_a_calm_year_skips_most_decisions(monkeypatch: pytest.MonkeyPatch) -> None:
    # The point of the gate: most hourly decisions of a managed short are never run.
    rng = np.random.default_rng(7)
    close = 50000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.004, 24 * 90)))
    h = history(close)
    spec = BacktestSpec("BTC", D(5), policy="managed", leverage=D(2))
    calls: list[int] = []
    decide: Callable[[Replay, int], None] = Replay.decide

    def counting(self: Replay, i: int) -> None:
        calls.append(i)
        decide(self, i)

    monkeypatch.setattr(Replay, "decide", counting)
    gated = run_backtest(spec, h, INSTRUMENT, BRACKETS)
    gated_calls = len(calls)
    calls.clear()
    always = run_backtest(spec, h, INSTRUMENT, BRACKETS, skip_quiet=False)
    assert_same(gated, always)
    assert len(calls) == 24 * 90
    # Funding bars skip their decision too while the funding settled stays within the cushion.
    assert gated_calls < 24 * 90 // 100


@settings(max_examples=400, deadline=None)
@given(
    short=st.booleans(),
    cross=st.booleans(),
    policy=st.sampled_from(["static", "managed", "reserve"]),
    hedge=st.just(D(0)) | st.decimals(min_value=D("0.001"), max_value=D(20), places=3),
    entry=st.integers(min_value=1_000, max_value=100_000),
    margin_share=st.decimals(min_value=D("0.05"), max_value=D("1.2"), places=3),
    reserve=st.sampled_from([D(0), D(5000)]),
    cash=st.sampled_from([D(0), D(1000), D("0.5"), D(1), D("1.05")]),  # < 2: shares of H·E
    up=st.sampled_from([D("1.25"), D("1.1"), D(2)]),
    down=st.sampled_from([D(0), D("0.5"), D("0.9")]),
    where=st.sampled_from([0.0, 0.5, 1.0]) | st.floats(min_value=0.0, max_value=1.0),
    opened=st.booleans(),
    band_pct=st.sampled_from([D(0), D(2), D(10)]),
    paid=st.sampled_from([D(0), D(100000)]),
    moved=st.sampled_from([D(1), D("0.5"), D(2), D(50)]),  # the mark now, over the entry
)
def test_inside_its_quiet_band_a_policy_decides_nothing(
    short: bool, cross: bool, policy: str, hedge: Decimal, entry: int, margin_share: Decimal,
    reserve: Decimal, cash: Decimal, up: Decimal, down: Decimal, where: float, opened: bool,
    band_pct: Decimal, paid: Decimal, moved: Decimal,
) -> None:
    from perphedge.domain.types import Side
    from perphedge.planning.hedge_state import Alert, HedgeState
    from perphedge.planning.policies import PolicyParams, get_policy
    from perphedge.planning.quiet_bands import quiet_alerts, quiet_band

    e = D(entry)
    if D(0) < cash < 2:
        cash = (cash * hedge * e).quantize(D("0.01"))
    margin = (hedge * e * margin_share).quantize(D("0.01"))
    mode = MarginMode.CROSS if cross else MarginMode.ISOLATED
    state = HedgeState(
        Side.SHORT if short else Side.LONG, mode, D(5), hedge or (D(5) if cash else D(0)), hedge, e,
        ZERO if cross else margin, e * moved, e * moved, reserve + cash, margin if cross else ZERO,
        reserve, None, opened_before=opened, now_ms=T0, lot_step_qty=D("0.001"),
        funding_paid_usdt=paid, locked_value_usdt=hedge * e)
    params = PolicyParams(leverage=D(2), trigger_up_ratio=up, trigger_down_ratio=down,
                          hedge_band_pct=band_pct)
    band = quiet_band(policy, state, params)
    if band is None:
        return
    lo, hi = band
    top = min(hi, lo * 4 + e * 4)
    # The edges of the band are where a band too wide would show.
    mark = (lo + (top - lo) * D(repr(where))).quantize(
        D("0.01"), rounding=ROUND_CEILING if where < 0.5 else ROUND_FLOOR)
    if not lo <= mark <= hi:
        return
    later = dataclasses.replace(state, mark_price=mark, spot_price=mark * D("0.999"),
                                now_ms=T0 + 90 * DAY)
    # Nothing, or only the alerts named as reading no price (raised at most weekly).
    allowed = quiet_alerts(policy, state, params)
    assert all(isinstance(a, Alert) and a.code in allowed
               for a in get_policy(policy).decide(later, params))


@settings(max_examples=300, deadline=None)
@given(
    cash_share=st.decimals(min_value=D(0), max_value=D("1.5"), places=3),
    margin_share=st.decimals(min_value=D("0.05"), max_value=D("1.2"), places=3),
    moved=st.decimals(min_value=D("0.3"), max_value=D(60), places=2),
    band_pct=st.sampled_from([D(0), D(2), D(10)]),
    target_share=st.sampled_from([D(1), D("0.97"), D("1.03"), D("1.2")]),
    cross=st.booleans(),
    edge=st.sampled_from(["lo", "hi", "mid"]),
)
def test_a_purchase_hedge_decides_nothing_up_to_the_edges_of_its_band(
    cash_share: Decimal, margin_share: Decimal, moved: Decimal, band_pct: Decimal,
    target_share: Decimal, cross: bool, edge: str,
) -> None:
    # The managed long's band has three parts: the leverage triggers, the cash covering the
    # hedge (or it is cut) and the cap on the hedge (equity / mark, lot-rounded) in band.
    from perphedge.domain.types import Side
    from perphedge.planning.hedge_state import HedgeState
    from perphedge.planning.policies import PolicyParams, get_policy
    from perphedge.planning.quiet_bands import quiet_band

    h, e = D(2), D(30000)
    margin, cash = (h * e * margin_share).quantize(D("0.01")), (h * e * cash_share).quantize(
        D("0.01"))
    mode = MarginMode.CROSS if cross else MarginMode.ISOLATED
    state = HedgeState(
        Side.LONG, mode, ZERO, h * target_share, h, e, ZERO if cross else margin, e * moved,
        e * moved, cash, margin if cross else ZERO, ZERO, None, now_ms=T0,
        lot_step_qty=D("0.001"), locked_value_usdt=h * e)
    params = PolicyParams(leverage=D(2), hedge_band_pct=band_pct)
    band = quiet_band("managed", state, params)
    if band is None:
        return
    lo, hi = band
    mark = {"lo": lo.quantize(D("0.01"), rounding=ROUND_CEILING),
            "hi": hi.quantize(D("0.01"), rounding=ROUND_FLOOR) if hi.is_finite() else lo * 3,
            "mid": state.mark_price}[edge]
    later = dataclasses.replace(state, mark_price=mark, spot_price=mark, now_ms=T0 + DAY)
    assert get_policy("managed").decide(later, params) == ()


def test_a_purchase_paying_heavy_funding_alerts_weekly_in_both_runs() -> None:
    # Once the funding paid passes 10 % of the locked value, the managed purchase returns its
    # funding alert at every decision; the replay raises it once a week. The gated run skips
    # those decisions only until the alert is due again.
    rng = np.random.default_rng(11)
    close = 50000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, 24 * 60)))
    h = history(close, rates=tuple("0.004" for _ in range(200)))
    spec = BacktestSpec("BTC", D(2), purchase=True, policy="managed", leverage=D(2))
    result = both(spec, h)
    alerts = [a.ts_ms for a in result.actions if a.kind == "funding_cost_high"]
    assert len(alerts) >= 4
    assert all(b - a >= 7 * DAY for a, b in pairwise(alerts))
