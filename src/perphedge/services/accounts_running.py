"""The accounts walked forward in time: running position, funding and fees at given times.

The charts and the export need the accounts at many moments (every snapshot, every day's end);
recomputing them from the first fill each time is quadratic. :func:`walk` moves one position
forward through the fills and settlements once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

from perphedge.domain.money import ZERO
from perphedge.services.accounts import Position, Trade, add_trade


@dataclass(frozen=True, slots=True)
class Running:
    """The hedge leg at average cost, net funding (> 0 received) and fees paid, up to a time."""

    position: Position
    funding: Decimal
    fees: Decimal


def walk(trades: Sequence[Trade], funding: Sequence[tuple[int, Decimal]],
         times: Iterable[int]) -> Iterator[Running]:
    """The running totals at each of ``times`` (ascending), counting events at or before it.

    >>> t = [Trade(1, "futures", Decimal(-1), Decimal(40000), Decimal(20)),
    ...      Trade(5, "futures", Decimal("0.5"), Decimal(39000), Decimal(10))]
    >>> [(r.position.qty, r.position.realised, r.funding, r.fees)
    ...  for r in walk(t, [(3, Decimal(12))], [0, 3, 9])]
    ... # doctest: +NORMALIZE_WHITESPACE
    [(Decimal('0'), Decimal('0'), Decimal('0'), Decimal('0')),
     (Decimal('-1'), Decimal('0'), Decimal('12'), Decimal('20')),
     (Decimal('-0.5'), Decimal('500.0'), Decimal('12'), Decimal('30'))]
    """
    position, paid, fees = Position(), ZERO, ZERO
    i = j = 0
    for ts in times:
        while i < len(trades) and trades[i].ts_ms <= ts:
            trade = trades[i]
            if trade.market == "futures":
                position = add_trade(position, trade.qty, trade.price)
            fees += trade.fee
            i += 1
        while j < len(funding) and funding[j][0] <= ts:
            paid += funding[j][1]
            j += 1
        yield Running(position, paid, fees)
