"""Liquidation price for Binance USDⓈ-M, one-way mode, isolated and cross.

Binance's documented formula (USDⓈ-M liquidation-price FAQ), for the position's bracket::

    LP = (WB − TMM1 + UPNL1 + cum − s × Q × EP) / (Q × mmr − s × Q)

``s`` = +1 long, −1 short; ``Q`` = |size| in base; ``EP`` = entry price; ``WB`` = wallet
balance (the isolated margin for isolated; the cross wallet balance for cross); ``TMM1`` and
``UPNL1`` = maintenance margin and unrealised PnL of all *other* cross positions (0 for
isolated); ``mmr``/``cum`` from the bracket.

The bracket that applies is the one holding the notional **at the liquidation price** ``Q × LP``,
not at entry: a short entered at 450,000 USDT notional is liquidated above 600,000 and so in the
next bracket. Because maintenance margin is continuous and convex in the notional, exactly one
bracket is self-consistent, and :func:`liquidation_price` finds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from perphedge.domain.brackets import Bracket, BracketTable
from perphedge.domain.money import ZERO
from perphedge.domain.types import Side
from perphedge.errors import InputError


def liquidation_price_in_bracket(
    side: Side,
    qty_base: Decimal,
    entry_price: Decimal,
    wallet_balance_usdt: Decimal,
    maint_margin_rate: Decimal,
    maint_amount_usdt: Decimal,
    *,
    other_maint_margin_usdt: Decimal = ZERO,
    other_unrealized_pnl_usdt: Decimal = ZERO,
) -> Decimal:
    """The formula itself, for a given bracket (may be ≤ 0: then no liquidation can happen).

    Binance's worked example (ETHUSDT long 3,683.979 @ 1,456.84, isolated, MMR 10 %, cum 135,365):

    >>> lp = liquidation_price_in_bracket(Side.LONG, Decimal("3683.979"), Decimal("1456.84"),
    ...     Decimal("1535443.01"), Decimal("0.1"), Decimal("135365"))
    >>> round(lp, 2)
    Decimal('1114.78')
    """
    if qty_base <= 0:
        raise InputError("quantity", "a position size greater than 0", qty_base)
    s = side.sign
    numerator = (
        wallet_balance_usdt
        - other_maint_margin_usdt
        + other_unrealized_pnl_usdt
        + maint_amount_usdt
        - s * qty_base * entry_price
    )
    denominator = qty_base * maint_margin_rate - s * qty_base
    return numerator / denominator


@dataclass(frozen=True, slots=True)
class Liquidation:
    """A solved liquidation price and the bracket it falls in (None: never liquidated)."""

    price_usdt: Decimal | None
    bracket: Bracket | None


def solve_liquidation(
    side: Side,
    qty_base: Decimal,
    entry_price: Decimal,
    wallet_balance_usdt: Decimal,
    table: BracketTable,
    *,
    other_maint_margin_usdt: Decimal = ZERO,
    other_unrealized_pnl_usdt: Decimal = ZERO,
) -> Liquidation:
    """Find the liquidation price whose own notional lies in the bracket used to compute it.

    5 BTC short @ 90,000, isolated with 225,000 USDT (2x), Binance BTCUSDT brackets: entry
    notional 450,000 is bracket 2, but the liquidation notional is ≈ 671,585, bracket 3.
    """
    for bracket in table.brackets:
        candidate = liquidation_price_in_bracket(
            side,
            qty_base,
            entry_price,
            wallet_balance_usdt,
            bracket.maint_margin_rate,
            bracket.maint_amount_usdt,
            other_maint_margin_usdt=other_maint_margin_usdt,
            other_unrealized_pnl_usdt=other_unrealized_pnl_usdt,
        )
        if candidate > 0 and bracket.holds(qty_base * candidate):
            return Liquidation(candidate, bracket)
    # Every candidate is ≤ 0 (a long with enough margin to survive a price of zero), or the
    # position is beyond the table, which the planner rejects before asking.
    return Liquidation(None, None)


def liquidation_price(
    side: Side,
    qty_base: Decimal,
    entry_price: Decimal,
    wallet_balance_usdt: Decimal,
    table: BracketTable,
    *,
    other_maint_margin_usdt: Decimal = ZERO,
    other_unrealized_pnl_usdt: Decimal = ZERO,
) -> Decimal | None:
    """Liquidation price in USDT, or None when the price cannot fall far enough (some longs)."""
    return solve_liquidation(
        side,
        qty_base,
        entry_price,
        wallet_balance_usdt,
        table,
        other_maint_margin_usdt=other_maint_margin_usdt,
        other_unrealized_pnl_usdt=other_unrealized_pnl_usdt,
    ).price_usdt
