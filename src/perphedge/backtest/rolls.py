"""Moving a backtest hedge between contracts: rolls and deliveries, in Decimal.

A roll closes the hedge in one contract and opens the same quantity in another at the same bar
close, each leg a taker fill at that contract's price (moved by the slippage), so the holding
is never unhedged across a decision. The margin the closing leg releases goes into the new
position: if it is less than the new position's initial margin at the configured leverage,
free spot USDT is brought first and, failing that, the contract's leverage setting is raised
for the opening fill and restored after — the roll keeps the margin balance the old position
had (minus fees), and the policy's leverage band does the rest at its next decision.

A delivery closes the position at the spot close of the bar that ends at the expiry (the price
a delivery contract converges to), with no fee; realised PnL and the margin go to the wallet.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import TYPE_CHECKING

from perphedge.backtest.result import ActionEvent
from perphedge.domain.money import ZERO
from perphedge.domain.types import Side
from perphedge.planning.policies import exchange_leverage
from perphedge.sim.account import SimRejection

if TYPE_CHECKING:
    from perphedge.backtest.replay_state import ReplayState
    from perphedge.planning.translate import RollCall

USDT = "USDT"


def _price(replay: ReplayState, symbol: str, i: int, buy: bool) -> Decimal:
    return replay._fill_price(float(replay.mark_of(symbol, i)), buy)


def _bring_cash(replay: ReplayState, need: Decimal, ts: int) -> None:
    """Move free spot USDT (not the reserve) to futures when the wallet is short of ``need``."""
    acct = replay.account
    short = need - acct.available_usdt()
    free = acct.spot.get(USDT, ZERO) - replay.reserve_left
    amount = min(short, free)
    if amount > 0:
        acct.transfer(amount, to="futures", ts_ms=ts)


def roll_hedge(replay: ReplayState, action: RollCall, i: int) -> None:
    """Close ``action.qty_base`` of the held contract and open it in ``action.to_symbol``.

    The quantity comes lot-rounded and no larger than held from the shared translation.
    """
    acct, ts, side = replay.account, replay._ts(i), replay.side
    if action.from_symbol != replay.hedge_symbol:
        replay.notes.append(f"roll from {action.from_symbol} ignored: the hedge is held in "
                            f"{replay.hedge_symbol}")
        return
    old = acct.position(action.from_symbol)
    qty = replay.instrument.round_qty(min(action.qty_base, old.size_base))
    fees0 = acct.fees_paid_usdt
    wallet0 = acct.available_usdt()
    if qty > 0:
        out = _price(replay, action.from_symbol, i, buy=side is Side.SHORT)
        acct.futures_trade(action.from_symbol, side.opposite, qty, out, ts, reduce_only=True)
    released = acct.available_usdt() - wallet0
    fees_mid = acct.fees_paid_usdt
    replay.hedge_symbol = action.to_symbol
    if qty <= 0:
        return
    price = _price(replay, action.to_symbol, i, buy=side is Side.LONG)
    new = acct.position(action.to_symbol)
    target_lev = exchange_leverage(replay.spec.leverage)
    fee = qty * price * replay.spec.fees.taker_rate
    need = qty * price / Decimal(target_lev) + fee
    _bring_cash(replay, need, ts)
    avail = acct.available_usdt()
    if avail < need and avail > fee:
        # Open at the leverage the released margin supports (the old position ran at it).
        lev = int((qty * price / (avail - fee)).to_integral_value(rounding=ROUND_CEILING))
        acct.set_leverage(action.to_symbol, max(target_lev, lev))
    try:
        acct.futures_trade(action.to_symbol, side, qty, price, ts)
    except SimRejection as exc:
        replay.notes.append(f"roll into {action.to_symbol} refused ({exc.msg}); unhedged")
        return
    finally:
        if new.leverage != target_lev:  # the setting goes back; the margin placed stays
            acct.set_leverage(action.to_symbol, target_lev)
    extra = min(released - (acct.fees_paid_usdt - fees_mid) - new.isolated_margin_usdt,
                acct.available_usdt())
    if extra > 0 and new.isolated_margin_usdt > 0:
        acct.add_margin(action.to_symbol, extra, ts)
    cost = acct.fees_paid_usdt - fees0
    replay.rolls += 1
    replay.roll_fees += cost
    replay.opened_before = True
    replay.actions.append(ActionEvent(ts, "roll", qty, qty * price, price,
                                      f"{action.from_symbol} -> {action.to_symbol}, "
                                      f"fees {cost:.2f} USDT"))


def settle_delivery(replay: ReplayState, symbol: str, i: int) -> None:
    """Deliver the position in ``symbol`` (if any) at bar ``i``'s spot close."""
    acct = replay.account
    pos = acct.position(symbol)
    if pos.qty_base == 0:
        return
    ts = replay._ts(i)
    price = Decimal(repr(float(replay.history.spot_close[i])))
    qty = pos.size_base
    pnl = acct.settle_delivery(symbol, price, ts)
    replay.deliveries_settled += 1
    replay.actions.append(ActionEvent(ts, "delivery", qty, qty * price, price,
                                      f"{symbol} delivered at the spot close, PnL {pnl:.2f}"))
