"""A synthetic order book around the replayed price: what market and limit orders meet.

The replay has one price per moment (the last closed bar's close), no real book. So the local
exchange builds one around it: the best bid and ask ``spread_bps / 2`` below and above the
price, then a level every ``step_bps``, each holding ``level_notional_usdt`` worth of the
asset. A market order walks the levels on its side and fills at their volume-weighted price
(slippage grows with size); a limit order takes the levels up to its price and rests for the
rest. With no spread and no depth limit (``BookShape()``), every order fills at the replayed
price itself, as the simulator did before the book existed (the tests' default).

Worked example: price 50,000, spread 2 bps, step 1 bp, 50,000 USDT a level (0.999 BTC at
these prices, rounded down to the lot): the asks are 50,005, 50,010, 50,015…; a market buy
of 2.5 BTC fills 0.999 @ 50,005, 0.999 @ 50,010 and 0.502 @ 50,015: 50,009.006 on average.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from perphedge.domain.money import ZERO

__all__ = ["BookShape", "Level", "levels", "sweep"]

_BPS = Decimal("0.0001")
#: Levels a sweep may walk; past them the last level's price takes the rest (a huge order).
MAX_SWEEP_LEVELS = 10_000


@dataclass(frozen=True, slots=True)
class BookShape:
    """Spread and depth of the synthetic book (``None`` depth: unlimited at the touch)."""

    spread_bps: Decimal = ZERO
    step_bps: Decimal = Decimal(1)
    level_notional_usdt: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("spread_bps", "step_bps"):
            value = getattr(self, name)
            if not value.is_finite() or not ZERO <= value <= Decimal(1000):
                raise ValueError(f"{name} must be from 0 to 1000 bps, got {value}")
        depth = self.level_notional_usdt
        if depth is not None and (not depth.is_finite() or depth <= 0):
            raise ValueError(f"level_notional_usdt must be positive, got {depth}")


@dataclass(frozen=True, slots=True)
class Level:
    """A price and the quantity (base units) resting there."""

    price: Decimal
    qty: Decimal


def levels(mid: Decimal, side: str, shape: BookShape, tick: Decimal, lot: Decimal,
           count: int) -> list[Level]:
    """The first ``count`` levels of the book's ``side`` (``asks`` or ``bids``), best first.

    >>> [str(x.price) for x in levels(Decimal(50000), "asks", BookShape(Decimal(2),
    ...      Decimal(1), Decimal(50000)), Decimal("0.1"), Decimal("0.001"), 3)]
    ['50005.0', '50010.0', '50015.0']
    """
    sign = 1 if side == "asks" else -1
    out: list[Level] = []
    for k in range(count):
        offset = (shape.spread_bps / 2 + shape.step_bps * k) * _BPS
        raw = mid * (1 + sign * offset)
        rounding = ROUND_CEILING if sign > 0 else ROUND_FLOOR
        price = (raw / tick).to_integral_value(rounding=rounding) * tick
        if price <= 0:
            break
        qty = _level_qty(price, shape, lot)
        out.append(Level(price, qty))
    return out


def _level_qty(price: Decimal, shape: BookShape, lot: Decimal) -> Decimal:
    if shape.level_notional_usdt is None:
        return Decimal("1e12")  # unlimited at the touch
    qty = (shape.level_notional_usdt / price / lot).to_integral_value(rounding=ROUND_FLOOR) * lot
    return max(qty, lot)


def sweep(mid: Decimal, side: str, qty: Decimal, shape: BookShape, tick: Decimal, lot: Decimal,
          limit: Decimal | None = None) -> tuple[Decimal, Decimal]:
    """(quantity filled, average price) of taking ``qty`` from ``side``, up to ``limit``.

    A buy takes the asks, a sell the bids; with ``limit`` only levels at or better than it.

    >>> sweep(Decimal(50000), "asks", Decimal("2.5"), BookShape(Decimal(2), Decimal(1),
    ...       Decimal(50000)), Decimal("0.1"), Decimal("0.001"))
    (Decimal('2.500'), Decimal('50009.0060'))
    """
    per_level = _level_qty(mid, shape, lot)
    needed = min(MAX_SWEEP_LEVELS, max(1, math.ceil(qty / per_level) + 1))
    filled, cost = ZERO, ZERO
    book = levels(mid, side, shape, tick, lot, needed)
    for level in book:
        if limit is not None and (level.price > limit if side == "asks" else level.price < limit):
            break
        take = min(level.qty, qty - filled)
        filled += take
        cost += take * level.price
        if filled >= qty:
            break
    else:
        if book and filled < qty and limit is None:
            rest = qty - filled  # past MAX_SWEEP_LEVELS: the last level takes the rest
            filled, cost = qty, cost + rest * book[-1].price
    if filled == ZERO:
        return ZERO, ZERO
    return filled, (cost / filled).quantize(tick / 1000)
