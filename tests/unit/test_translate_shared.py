"""One translation: the backtest and the live engine turn the same actions into the same steps."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from perphedge.adapters.store.repository import HedgeStore
from perphedge.backtest.replay import Replay
from perphedge.backtest.spec import BacktestSpec
from perphedge.domain.types import MarginMode, Side
from perphedge.engine.clock import ManualClock
from perphedge.engine.execute import DryRunExecutor, LiveExecutor
from perphedge.engine.loop import HedgeEngine, ensure_hedge_row
from perphedge.engine.venue import OrderRequest, VenueOrder
from perphedge.errors import TerminalExchangeError
from perphedge.planning.hedge_state import (
    Action,
    AddMargin,
    AdjustHedge,
    Alert,
    BuySpot,
    HedgeState,
    RemoveMargin,
    Roll,
    SellSpot,
    Transfer,
)
from perphedge.planning.policies import PolicyParams
from perphedge.planning.translate import (
    FUTURES,
    MarginTerms,
    OrderCall,
    SettingsCall,
    shrink_for_margin,
    translate,
)
from perphedge.sim.account import SimRejection
from tests.unit.test_backtest_engine import BRACKETS, INSTRUMENT, history
from tests.unit.test_engine_fake_venue import T0, FakeVenue
from tests.unit.test_engine_loop import hedge_config

D = Decimal
qty = st.decimals(min_value=D(0), max_value=D(20), places=3)
money = st.decimals(min_value=D(0), max_value=D(500000), places=2)
actions = st.lists(st.one_of(
    st.builds(AdjustHedge, st.decimals(min_value=D(-20), max_value=D(20), places=4)),
    st.builds(AddMargin, money), st.builds(RemoveMargin, money),
    st.builds(SellSpot, qty), st.builds(BuySpot, qty),
    st.builds(Transfer, money, st.sampled_from(["futures", "spot"])),
    st.just(Alert("x", "an alert")),
    st.builds(Roll, st.just("BTCUSDT"), st.just("BTCUSDT_260327"), qty),
), max_size=6).map(tuple)


def shells(tmp_path: Path, mode: MarginMode, leverage: int) -> tuple[Replay, HedgeEngine]:
    spec = BacktestSpec("BTC", D(5), policy="managed", leverage=D(leverage), margin_mode=mode)
    replay = Replay.start(spec, history(np.full(48, 40000.0)), INSTRUMENT, BRACKETS)
    store = HedgeStore(f"sqlite:///{tmp_path / f'{mode.value}{leverage}.db'}")
    config = hedge_config(leverage=leverage, margin_mode=mode.value,
                          execution={"max_order_notional": "1000000000"})
    engine = HedgeEngine(config, FakeVenue.with_funds(btc="1", usdt="1"), store,
                         DryRunExecutor(store), ManualClock(T0))
    return replay, engine


def test_the_same_state_and_actions_give_the_same_steps_in_both_shells(tmp_path: Path) -> None:
    pairs = {(m, lev): shells(tmp_path, m, lev)
             for m in MarginMode for lev in (2, 5)}

    @settings(max_examples=150, deadline=None)
    @given(mode=st.sampled_from(list(MarginMode)), leverage=st.sampled_from([2, 5]),
           held=qty, spot_qty=qty, spot_usdt=money, wallet=money,
           mark=st.decimals(min_value=D(1000), max_value=D(200000), places=1),
           todo=actions, side=st.sampled_from(list(Side)))
    def check(mode: MarginMode, leverage: int, held: Decimal, spot_qty: Decimal,
              spot_usdt: Decimal, wallet: Decimal, mark: Decimal, todo: tuple[Action, ...],
              side: Side) -> None:
        replay, engine = pairs[(mode, leverage)]
        state = HedgeState(side, mode, spot_qty, spot_qty, INSTRUMENT.round_qty(held), mark,
                           held * mark / leverage, mark, mark, spot_usdt, wallet, D(0), None,
                           hedge_symbol="BTCUSDT")
        backtest = replay.steps(state, todo)
        live = engine.steps(state, todo, INSTRUMENT)
        assert backtest == live
        # …and they are the shared function's, not two copies that happen to agree today.
        assert backtest == translate(todo, state, replay.params, replay.target)

    check()


def test_a_margin_short_opening_is_cut_to_what_the_free_margin_affords() -> None:
    order = OrderCall(FUTURES, "BTCUSDT", Side.SHORT, D(2), margin=MarginTerms(2, D("0.0005")))
    cut = shrink_for_margin(order, D(10000), D(40000), INSTRUMENT)
    assert cut is not None
    assert cut.qty_base == D("0.499")  # 10000 × 2 / (40000 × 1.001) = 0.4995 → lot 0.001
    assert cut.qty_base * D(40000) / 2 + cut.qty_base * D(40000) * D("0.0005") <= D(10000)
    assert shrink_for_margin(order, D(1), D(40000), INSTRUMENT) is None  # under the minimum
    reduce = OrderCall(FUTURES, "BTCUSDT", Side.LONG, D(2), reduce_only=True)
    assert shrink_for_margin(reduce, D(10000), D(40000), INSTRUMENT) is None


def test_an_opening_of_a_flat_hedge_sets_up_its_contract_first() -> None:
    state = HedgeState(Side.SHORT, MarginMode.ISOLATED, D(1), D(1), D(0), D(0), D(0),
                       D(40000), D(40000), D(0), D(50000), D(0), None)
    replay_target = Replay.start(BacktestSpec("BTC", D(1), policy="static"),
                                 history(np.full(24, 40000.0)), INSTRUMENT, BRACKETS).target
    steps = translate((AdjustHedge(D(1)), AdjustHedge(D(1))), state, PolicyParams(leverage=D(2)),
                      replay_target)
    assert steps[0] == SettingsCall("BTCUSDT", MarginMode.ISOLATED, 2)
    assert [type(s) for s in steps[1:]] == [OrderCall, OrderCall]  # settings once


class RefusesLikeBinance(FakeVenue):
    """The fake venue answering a simulator rejection as the exchange error ccxt raises."""

    async def place_order(self, request: OrderRequest) -> VenueOrder:
        try:
            return await super().place_order(request)
        except SimRejection as err:
            raise TerminalExchangeError(f"binance {err.code}: {err.msg}") from None


def test_live_cuts_a_margin_short_opening_once_by_the_shared_rule(tmp_path: Path) -> None:
    bundled = RefusesLikeBinance.with_funds(btc="1", usdt="10000")
    venue = RefusesLikeBinance(bundled.account)
    venue.account.transfer(D(10000), to="futures", ts_ms=T0)
    store = HedgeStore(f"sqlite:///{tmp_path / 'cut.db'}")
    ensure_hedge_row(store, hedge_config(), T0)  # orders belong to a recorded hedge
    state = HedgeState(Side.SHORT, MarginMode.ISOLATED, D(1), D(1), D(0), D(0), D(0),
                       D(40000), D(40000), D(0), D(10000), D(0), None)
    target = Replay.start(BacktestSpec("BTC", D(1), policy="static"),
                          history(np.full(24, 40000.0)), INSTRUMENT, BRACKETS).target
    steps = translate((AdjustHedge(D(1)),), state, PolicyParams(leverage=D(2)), target)
    lines = asyncio.run(LiveExecutor(venue, store, "main").execute(steps, "btc", T0))
    # Live knows the mark, not the fill: the cut carries twice the price-move allowance.
    assert venue.position_qty() == D("-0.494")  # 10000 × 2 / (40000 × 1.01 × 1.001) → lot
    assert [o.state for o in store.orders("btc")] == ["rejected", "filled"]
    assert "refused for margin; cut to what is free" in lines[-1]
