"""Funding of perpetuals. The one sign convention of perphedge, stated once:

A **positive** funding rate means **longs pay shorts**. A short hedge *receives* when the rate
is positive; a long hedge pays. Each settlement moves ``notional at mark × rate``.
"""

from __future__ import annotations

from decimal import Decimal
from enum import Enum

from perphedge.domain.money import ZERO
from perphedge.domain.types import Side

HOURS_PER_DAY = Decimal(24)
DAYS_PER_YEAR = Decimal(365)


class FundingDirection(Enum):
    """Whether a position receives or pays funding at a given rate."""

    RECEIVE = "receive"
    PAY = "pay"
    NONE = "none"


def funding_received(side: Side, qty_base: Decimal, mark_price: Decimal, rate: Decimal) -> Decimal:
    """USDT the position receives at one settlement (negative: it pays).

    >>> funding_received(Side.SHORT, Decimal(5), Decimal(90000), Decimal("0.0001"))
    Decimal('45.0000')
    >>> funding_received(Side.LONG, Decimal(5), Decimal(90000), Decimal("0.0001"))
    Decimal('-45.0000')
    """
    return -side.sign * qty_base * mark_price * rate


def funding_direction(side: Side, rate: Decimal) -> FundingDirection:
    """RECEIVE when the position is paid at ``rate``, PAY when it pays, NONE at zero."""
    if rate == ZERO:
        return FundingDirection.NONE
    received = -side.sign * rate
    return FundingDirection.RECEIVE if received > 0 else FundingDirection.PAY


def settlements_per_day(interval_hours: int) -> Decimal:
    """Funding settlements in a day (3 for the usual 8 h interval, 6 for 4 h)."""
    return HOURS_PER_DAY / Decimal(interval_hours)


def annualized_rate(rate_per_interval: Decimal, interval_hours: int) -> Decimal:
    """Simple (not compounded) yearly rate from a per-interval rate.

    >>> annualized_rate(Decimal("0.0001"), 8)
    Decimal('0.1095')
    """
    return rate_per_interval * settlements_per_day(interval_hours) * DAYS_PER_YEAR
