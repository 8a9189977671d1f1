"""Performing translated steps against the backtest's account (the backtest's shell).

The steps come from :func:`perphedge.planning.translate.translate`, shared with the live
engine; here each is carried out on the replay's ``SimAccount`` at the bar close, and amounts
are clipped once more to what the account has now (as the live executor clips to what the
venue says is free). An opening order the account refuses for margin is cut once with the
shared :func:`~perphedge.planning.translate.shrink_for_margin`.
"""

from __future__ import annotations

import contextlib
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING

from perphedge.backtest.result import ActionEvent
from perphedge.backtest.rolls import roll_hedge
from perphedge.domain.money import ZERO
from perphedge.domain.types import MarginMode, Market, Side
from perphedge.planning.translate import (
    MoneyCall,
    OrderCall,
    RollCall,
    SettingsCall,
    Step,
    shrink_for_margin,
)
from perphedge.sim.account import SimRejection
from perphedge.sim.records import MARGIN_INSUFFICIENT

if TYPE_CHECKING:
    from perphedge.backtest.replay_state import ReplayState

USDT = "USDT"
SPOT_STEP = Decimal("0.00000001")


def perform(replay: ReplayState, step: Step, i: int) -> bool:
    """Carry out one translated step against the replay's account; False: it was refused.

    Like the live executor, the replay stops a decision at its first refused step: the later
    steps were planned on this one's result (a spot buy after a refused hedge order would
    leave the holding under-hedged).
    """
    if isinstance(step, RollCall):
        roll_hedge(replay, step, i)
    elif isinstance(step, SettingsCall):
        _settings(replay, step)
    elif isinstance(step, OrderCall):
        if step.market is Market.SPOT:
            return _spot(replay, step, i)
        return _order(replay, step, i)
    elif isinstance(step, MoneyCall):
        if step.kind.startswith("margin"):
            _margin(replay, step, i)
        else:
            _transfer(replay, step, i)
    elif step.alert:
        if replay.alert_due(step.code, replay._ts(i)):
            replay.actions.append(ActionEvent(replay._ts(i), step.code, ZERO, ZERO, ZERO,
                                              step.message))
    else:
        replay.notes.append(step.message)
    return True


def _settings(replay: ReplayState, step: SettingsCall) -> None:
    acct = replay.account
    # Idempotent like the exchange call: an unchanged mode is no error.
    with contextlib.suppress(SimRejection):
        acct.set_margin_mode(step.symbol, step.margin_mode)
    acct.set_leverage(step.symbol, step.leverage)


def _order(replay: ReplayState, step: OrderCall, i: int) -> bool:
    acct, symbol = replay.account, step.symbol
    if not step.reduce_only and symbol != replay.hedge_symbol:
        replay.hedge_symbol = symbol  # translate opens elsewhere only when flat
    pos = acct.position(symbol)
    held = pos.size_base if pos.side is replay.side else ZERO
    qty = step.qty_base
    price = replay._fill_price(float(replay.mark_of(symbol, i)), step.side is Side.LONG)
    try:
        acct.futures_trade(symbol, step.side, qty, price, replay._ts(i),
                           reduce_only=step.reduce_only)
    except SimRejection as exc:
        smaller = None
        if exc.code == MARGIN_INSUFFICIENT:  # the one margin-short rule (translate)
            smaller = shrink_for_margin(step, acct.available_usdt(), price,
                                        replay.book.instruments[replay.book.row(symbol)])
        if smaller is None:
            replay.refusals += 1
            replay.notes.append(f"order of {qty} refused: {exc.msg}")
            return False
        qty = smaller.qty_base
        try:
            acct.futures_trade(symbol, step.side, qty, price, replay._ts(i))
        except SimRejection as again:
            replay.refusals += 1
            replay.notes.append(f"order of {qty} (cut for margin) refused: {again.msg}")
            return False
    kind = "open" if held == 0 else ("close" if step.reduce_only and qty == held
                                     else "rebalance")
    if held == 0:
        replay.opened_before = True
    else:
        replay.rebalances += 1
    locked = replay.effective_price()
    note = "" if locked is None else f"effective locked price {locked:.2f}"
    replay.actions.append(ActionEvent(replay._ts(i), kind, qty, qty * price, price, note))
    return True


def _margin(replay: ReplayState, step: MoneyCall, i: int) -> None:
    acct, symbol = replay.account, step.symbol
    pos = acct.position(symbol)
    if pos.margin_mode is not MarginMode.ISOLATED or pos.qty_base == 0:
        return
    if step.kind == "margin_add":
        amount = min(step.amount_usdt, acct.available_usdt())
        if amount > 0:
            acct.add_margin(symbol, amount, replay._ts(i))
    else:
        amount = min(step.amount_usdt, acct.max_removable_margin(symbol))
        if amount > 0:
            acct.reduce_margin(symbol, amount, replay._ts(i))
    if amount > 0:
        replay.margin_moves += 1
        replay.actions.append(ActionEvent(replay._ts(i), step.kind, ZERO, amount, ZERO))


def _spot(replay: ReplayState, step: OrderCall, i: int) -> bool:
    acct, base = replay.account, replay.instrument.base
    buy = step.side is Side.LONG
    price = replay._fill_price(replay.history.spot_close[i], buy)
    if buy:
        afford = acct.spot.get(USDT, ZERO) / (price * (1 + acct.spot_fee_rate))
        qty = min(step.qty_base, afford)
    else:
        qty = min(step.qty_base, acct.spot.get(base, ZERO))
    # Spot quantities step in satoshi-sized units; rounding down keeps the trade affordable.
    qty = qty.quantize(SPOT_STEP, rounding=ROUND_DOWN)
    if qty <= 0:
        return True
    try:
        acct.spot_trade(base, step.side, qty, price, replay._ts(i))
    except SimRejection as exc:
        replay.refusals += 1
        replay.notes.append(f"spot trade of {qty} refused: {exc.msg}")
        return False
    kind = "spot_buy" if buy else "spot_sell"
    replay.actions.append(ActionEvent(replay._ts(i), kind, qty, qty * price, price))
    return True


def _transfer(replay: ReplayState, step: MoneyCall, i: int) -> None:
    acct = replay.account
    to = step.kind.removeprefix("transfer_")
    if to == "futures":
        amount = min(step.amount_usdt, acct.spot.get(USDT, ZERO))
    else:
        amount = min(step.amount_usdt, acct.futures_wallet_usdt, acct.available_usdt())
    if amount <= 0:
        return
    acct.transfer(amount, to=to, ts_ms=replay._ts(i))
    if step.from_reserve:
        replay.reserve_left = max(ZERO, replay.reserve_left - amount)
    replay.actions.append(ActionEvent(replay._ts(i), "transfer", ZERO, amount, ZERO,
                                      f"to {to}"))
