"""Margin arithmetic for linear contracts: initial margin, PnL, margin balance and ratio."""

from __future__ import annotations

from decimal import Decimal

from perphedge.domain.money import ZERO
from perphedge.domain.types import Side
from perphedge.errors import InputError


def initial_margin(notional_usdt: Decimal, leverage: Decimal) -> Decimal:
    """Margin needed to open a position: notional / leverage.

    >>> initial_margin(Decimal(450000), Decimal(2))
    Decimal('225000')
    """
    if leverage <= 0:
        raise InputError("leverage", "a number greater than 0", leverage)
    return notional_usdt / leverage


def unrealized_pnl(
    side: Side, qty_base: Decimal, entry_price: Decimal, mark_price: Decimal
) -> Decimal:
    """PnL of an open position at the mark: side × qty × (mark − entry).

    >>> unrealized_pnl(Side.SHORT, Decimal(5), Decimal(90000), Decimal(91000))
    Decimal('-5000')
    """
    return side.sign * qty_base * (mark_price - entry_price)


def margin_ratio(maintenance_margin_usdt: Decimal, margin_balance_usdt: Decimal) -> Decimal | None:
    """Binance's margin ratio: maintenance margin / margin balance (liquidation at 100 %).

    None when the margin balance is zero or negative (the position is already gone).

    >>> margin_ratio(Decimal(2200), Decimal(225000))
    Decimal('0.009777777777777777777777777778')
    """
    if margin_balance_usdt <= ZERO:
        return None
    return maintenance_margin_usdt / margin_balance_usdt


def effective_leverage(notional_usdt: Decimal, margin_balance_usdt: Decimal) -> Decimal | None:
    """Notional over margin balance: how leveraged the position really is now."""
    if margin_balance_usdt <= ZERO:
        return None
    return notional_usdt / margin_balance_usdt
