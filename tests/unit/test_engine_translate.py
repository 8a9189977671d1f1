"""Properties of the action → call translation shared by the live and dry-run executors."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from perphedge.adapters.marketdata.bundled import BundledMarketData
from perphedge.domain.types import MarginMode, Side
from perphedge.engine.execute import MoneyCall, OrderCall, SettingsCall, Target, translate
from perphedge.engine.venue import Market
from perphedge.planning.hedge_state import (
    AddMargin,
    AdjustHedge,
    HedgeState,
    RemoveMargin,
    SellSpot,
    Transfer,
)
from perphedge.planning.policies import PolicyParams

INSTRUMENT = BundledMarketData().instrument("BTC")
PARAMS = PolicyParams(leverage=Decimal(2))
qty = st.decimals(min_value=Decimal("0"), max_value=Decimal("50"), places=4)
money = st.decimals(min_value=Decimal("0"), max_value=Decimal("2000000"), places=2)


def state(held: Decimal, spot_usdt: Decimal = Decimal(0), wallet: Decimal = Decimal(0),
          mode: MarginMode = MarginMode.ISOLATED, spot_qty: Decimal = Decimal(5)) -> HedgeState:
    return HedgeState(Side.SHORT, mode, spot_qty, spot_qty, held, Decimal(40000),
                      held * Decimal(20000), Decimal(40000), Decimal(40000), spot_usdt, wallet,
                      Decimal(0), None)


def target(cap: Decimal = Decimal(250000), mode: MarginMode = MarginMode.ISOLATED) -> Target:
    return Target("BTCUSDT", "BTCUSDT", INSTRUMENT, mode, cap)


@given(held=qty, delta=st.decimals(min_value=Decimal(-60), max_value=Decimal(60), places=4),
       cap=st.decimals(min_value=Decimal(100), max_value=Decimal(500000), places=0))
def test_orders_are_lot_multiples_under_the_cap_and_never_reduce_past_zero(
    held: Decimal, delta: Decimal, cap: Decimal,
) -> None:
    held = INSTRUMENT.round_qty(held)
    calls = translate((AdjustHedge(delta),), state(held), PARAMS, target(cap))
    orders = [c for c in calls if isinstance(c, OrderCall)]
    total = sum((o.qty_base for o in orders), Decimal(0))
    for order in orders:
        assert order.qty_base % INSTRUMENT.lot_step == 0
        assert order.qty_base * Decimal(40000) <= max(cap, INSTRUMENT.lot_step * 40000)
        assert order.reduce_only is (delta < 0)
        assert order.side is (Side.SHORT if delta > 0 else Side.LONG)
    if delta < 0:
        assert total <= held
    assert total == (INSTRUMENT.round_qty(abs(delta) if delta > 0 else min(-delta, held))
                     if orders else 0)


@given(spot_usdt=money, amount=money)
def test_transfers_to_futures_never_exceed_the_spot_usdt(spot_usdt: Decimal,
                                                         amount: Decimal) -> None:
    calls = translate((Transfer(amount, "futures"),), state(Decimal(1), spot_usdt=spot_usdt),
                      PARAMS, target())
    assert sum((c.amount_usdt for c in calls if isinstance(c, MoneyCall)),
               Decimal(0)) == min(amount, spot_usdt)


def test_margin_moves_need_an_open_isolated_position() -> None:
    flat = translate((AddMargin(Decimal(100)),), state(Decimal(0), wallet=Decimal(500)),
                     PARAMS, target())
    cross = translate((RemoveMargin(Decimal(100)),),
                      state(Decimal(1), mode=MarginMode.CROSS), PARAMS,
                      target(mode=MarginMode.CROSS))
    opened = translate((AdjustHedge(Decimal(1)), AddMargin(Decimal(100))),
                       state(Decimal(0), wallet=Decimal(30000)), PARAMS, target())
    assert flat == []
    assert cross == []
    assert opened == [
        SettingsCall("BTCUSDT", MarginMode.ISOLATED, 2),
        OrderCall(Market.FUTURES, "BTCUSDT", Side.SHORT, Decimal("1.000")),
        MoneyCall("margin_add", "BTCUSDT", Decimal("100.00000000")),
    ]


def test_a_spot_sale_is_clipped_to_the_spot_held() -> None:
    calls = translate((SellSpot(Decimal(9)),), state(Decimal(1), spot_qty=Decimal("2.5")),
                      PARAMS, target())
    assert calls == [OrderCall(Market.SPOT, "BTCUSDT", Side.SHORT, Decimal("2.50000000"))]


def test_a_spot_buy_leaves_room_for_its_fee() -> None:
    from perphedge.planning.hedge_state import BuySpot

    # 4,000 USDT at 40,000 buys 0.1 BTC only without the 0.1 % fee; with it, a little less.
    calls = translate((BuySpot(Decimal("0.1")),), state(Decimal(0), spot_usdt=Decimal(4000)),
                      PARAMS, target())
    (order,) = [c for c in calls if isinstance(c, OrderCall)]
    assert order.market is Market.SPOT
    assert order.qty_base * Decimal(40000) * Decimal("1.001") <= Decimal(4000)
    assert order.qty_base == Decimal("0.09990009")  # 4000 / 40040, down to 1e-8
