"""Hypothesis properties of the simulated account: conservation and liquidation consistency."""

from __future__ import annotations

import contextlib
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from perphedge.adapters.marketdata.bundled import BundledMarketData, bundled_brackets
from perphedge.domain.types import MarginMode, Side
from perphedge.sim.account import SimAccount, SimRejection

D = Decimal
SYMBOL = "BTCUSDT"
CENT = D("0.01")

prices = st.integers(min_value=20_000, max_value=150_000).map(D)
quantities = st.integers(min_value=1, max_value=5000).map(lambda n: D(n) / 1000)
sides = st.sampled_from([Side.LONG, Side.SHORT])
modes = st.sampled_from([MarginMode.ISOLATED, MarginMode.CROSS])
rates = st.integers(min_value=-300, max_value=300).map(lambda n: D(n) / 100000)


def new_account(mode: MarginMode, leverage: int) -> SimAccount:
    instrument = BundledMarketData().instrument("BTC")
    account = SimAccount({SYMBOL: instrument}, {SYMBOL: bundled_brackets(SYMBOL)})
    account.deposit("USDT", D(2_000_000), 0, to="futures")
    account.deposit("BTC", D(5), 0)
    if mode is not account.position(SYMBOL).margin_mode:
        account.set_margin_mode(SYMBOL, mode)
    account.set_leverage(SYMBOL, leverage)
    return account


@settings(max_examples=60, deadline=None)
@given(
    mode=modes,
    leverage=st.integers(min_value=1, max_value=10),
    steps=st.lists(st.tuples(sides, quantities, prices, rates), min_size=1, max_size=8),
)
def test_equity_changes_only_by_fees_funding_and_price_moves(
    mode: MarginMode, leverage: int, steps: list[tuple[Side, Decimal, Decimal, Decimal]]
) -> None:
    account = new_account(mode, leverage)
    price = D(90000)
    account.mark(SYMBOL, price)
    equity = account.equity_usdt({"BTC": price})
    for ts, (side, qty, new_price, rate) in enumerate(steps, start=1):
        # A price move changes equity by (spot qty + position qty) × Δprice, nothing else.
        exposure = account.spot.get("BTC", D(0)) + account.positions[SYMBOL].qty_base
        account.mark(SYMBOL, new_price)
        moved = account.equity_usdt({"BTC": new_price})
        assert abs(moved - equity - exposure * (new_price - price)) < CENT
        price, equity = new_price, moved
        fees_before, funding_before = account.fees_paid_usdt, account.funding_received_usdt
        with contextlib.suppress(SimRejection):
            account.futures_trade(SYMBOL, side, qty, price, ts)
        account.settle_funding(SYMBOL, rate, price, ts)
        after = account.equity_usdt({"BTC": price})
        paid = account.fees_paid_usdt - fees_before
        received = account.funding_received_usdt - funding_before
        assert abs(after - equity - (received - paid)) < CENT
        equity = after


@settings(max_examples=60, deadline=None)
@given(
    side=sides,
    mode=modes,
    qty=quantities,
    entry=prices,
    leverage=st.integers(min_value=1, max_value=20),
)
def test_at_the_liquidation_price_margin_balance_equals_maintenance_margin(
    side: Side, mode: MarginMode, qty: Decimal, entry: Decimal, leverage: int
) -> None:
    account = new_account(mode, leverage)
    try:
        account.futures_trade(SYMBOL, side, qty, entry, 1)
    except SimRejection:
        return
    lp = account.liquidation_price(SYMBOL)
    if lp is None:
        assert side is Side.LONG
        return
    account.mark(SYMBOL, lp)
    balance = account.margin_balance(SYMBOL, lp)
    assert abs(balance - account.maintenance_margin(SYMBOL, lp)) < CENT
