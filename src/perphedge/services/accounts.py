"""The hedge's accounts: locked and hedged value, effective locked price, PnL per leg, costs.

Pure arithmetic over what the store holds (fills, funding settlements, snapshots): no I/O.
``status``, ``status --json``, the web API, the dashboard and ``perphedge export`` all read the
accounts from :func:`hedge_accounts`, so every surface shows the same numbers.

Conventions (one place):

* funding ``> 0`` is received, ``< 0`` paid (the store's sign);
* a fee is a cost, stored ``> 0``;
* the hedge leg is accounted at **average cost**: a fill that grows the position moves the
  average entry, a fill that shrinks it realises ``closed × (price − entry)`` (signed by the
  position's side) and leaves the entry alone;
* a **holding** is hedged by a short; a **purchase** (cash meant to buy the asset later) by a
  long.

The effective locked price of a holding (short hedge of ``Q`` at entry ``E``): whatever the
price ``P`` when the holder sells, ``Q·P`` from the spot plus ``Q·(E − P)`` from the hedge plus
realised hedge PnL ``R`` plus funding ``F`` minus fees ``C`` is ``Q·E + R + F − C``, so the
price locked per unit is ``E + (R + F − C) / Q``. For a purchase (long hedge) the cost of
buying ``Q`` at ``P`` less the hedge's gains is ``Q·E − (R + F − C)``: the price locked is
``E − (R + F − C) / Q``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from perphedge.domain.money import HUNDRED, ZERO

HOLDING, PURCHASE = "holding", "purchase"


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill as the accounts see it: ``qty`` signed (buy > 0, sell < 0), fee in USDT."""

    ts_ms: int
    market: str  # futures | spot
    qty: Decimal
    price: Decimal
    fee: Decimal


@dataclass(frozen=True, slots=True)
class Position:
    """A leg at average cost: signed quantity, average entry (0 when flat), realised PnL."""

    qty: Decimal = ZERO
    entry: Decimal = ZERO
    realised: Decimal = ZERO

    def unrealised(self, mark: Decimal) -> Decimal:
        """``qty × (mark − entry)``: a short gains when the mark falls.

        >>> Position(Decimal("-2"), Decimal("40000")).unrealised(Decimal("39000"))
        Decimal('2000')
        """
        return self.qty * (mark - self.entry)


def average_cost(trades: Iterable[tuple[Decimal, Decimal]]) -> Position:
    """The position after ``(signed qty, price)`` trades in order, at average cost.

    Short 1 at 40,000, short 1 more at 42,000 (entry 41,000), buy back 0.5 at 39,000:
    0.5 × (39,000 − 41,000) × −1 = 1,000 realised; 1.5 short left at 41,000.

    >>> p = average_cost([(Decimal(-1), Decimal(40000)), (Decimal(-1), Decimal(42000)),
    ...                   (Decimal("0.5"), Decimal(39000))])
    >>> (p.qty, p.entry, p.realised)
    (Decimal('-1.5'), Decimal('41000'), Decimal('1000.0'))
    """
    position = Position()
    for size, price in trades:
        position = add_trade(position, size, price)
    return position


def add_trade(position: Position, size: Decimal, price: Decimal) -> Position:
    """``position`` after one more trade of signed ``size`` at ``price`` (average cost)."""
    qty, entry, realised = position.qty, position.entry, position.realised
    if qty == 0 or (qty > 0) == (size > 0):
        total = qty + size
        entry = (abs(qty) * entry + abs(size) * price) / abs(total) if total else ZERO
        return Position(total, entry, realised)
    closed = min(abs(size), abs(qty))
    realised += closed * (price - entry) * (1 if qty > 0 else -1)
    rest = qty + size
    if rest == 0:
        return Position(ZERO, ZERO, realised)
    if (rest > 0) != (qty > 0):
        return Position(rest, price, realised)  # flipped: the remainder opened at this price
    return Position(rest, entry, realised)


def effective_locked_price(kind: str, qty: Decimal, entry: Decimal, realised: Decimal,
                           funding: Decimal, fees: Decimal) -> Decimal | None:
    """The price per unit the holder locked, after realised hedge PnL, funding and fees.

    ``qty`` is the hedge's size (> 0), ``entry`` its average entry in USDT; ``funding`` > 0
    received. None when nothing is hedged.

    A holding of 1 BTC shorted at 40,000 that received 12 USDT of funding and paid 20 USDT of
    fees locked 40,000 + (0 + 12 − 20) / 1 = 39,992 USDT per BTC:

    >>> effective_locked_price("holding", Decimal(1), Decimal(40000), Decimal(0),
    ...                        Decimal(12), Decimal(20))
    Decimal('39992')

    A purchase of 0.5 BTC hedged long at 40,000 that paid 6 USDT of funding and 10 USDT of fees
    will cost 40,000 − (0 − 6 − 10) / 0.5 = 40,032 USDT per BTC:

    >>> effective_locked_price("purchase", Decimal("0.5"), Decimal(40000), Decimal(0),
    ...                        Decimal(-6), Decimal(10))
    Decimal('40032')
    """
    if qty <= 0:
        return None
    carry = (realised + funding - fees) / qty
    return entry - carry if kind == PURCHASE else entry + carry


@dataclass(frozen=True, slots=True)
class Point:
    """A snapshot for the effectiveness ratio: exposure and hedge signed (long > 0), mark."""

    ts_ms: int
    exposure_qty: Decimal
    hedge_qty: Decimal
    mark: Decimal


def hedge_effectiveness(points: Sequence[Point]) -> Decimal | None:
    """Dollar offset: ``−ΔH / ΔE`` over the points (1 is a perfect hedge; 0.8–1.25 is usual).

    ``ΔE`` sums ``exposure × Δmark`` between consecutive points, ``ΔH`` the same for the hedge
    (funding and fees left out: this measures the price offset alone). None when the exposure's
    value did not move.

    1 BTC held, 0.9 short, mark 40,000 → 38,000: ΔE = −2,000, ΔH = 1,800, ratio 0.9.

    >>> hedge_effectiveness([Point(0, Decimal(1), Decimal("-0.9"), Decimal(40000)),
    ...                      Point(1, Decimal(1), Decimal("-0.9"), Decimal(38000))])
    Decimal('0.9')
    """
    d_exposure, d_hedge = ZERO, ZERO
    for before, after in itertools.pairwise(points):
        move = after.mark - before.mark
        d_exposure += before.exposure_qty * move
        d_hedge += before.hedge_qty * move
    if d_exposure == 0:
        return None
    return -d_hedge / d_exposure


@dataclass(frozen=True, slots=True)
class AccountsInput:
    """What the accounts are computed from (read from the store by the caller)."""

    kind: str
    trades: tuple[Trade, ...]
    funding: tuple[Decimal, ...]
    spot_qty: Decimal | None = None
    exposure_qty: Decimal | None = None
    mark: Decimal | None = None
    points: tuple[Point, ...] = ()
    #: The venue's entry price, for a position adopted without recorded fills.
    venue_entry: Decimal | None = None
    venue_hedge_qty: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Accounts:
    """The hedge's accounts in USDT (None where the store does not yet say)."""

    hedge_entry: Decimal | None
    hedge_qty: Decimal
    locked_value: Decimal | None
    hedged_value: Decimal | None
    deviation_pct: Decimal | None
    effective_locked_price: Decimal | None
    hedge_effectiveness: Decimal | None
    hedge_realised: Decimal
    hedge_unrealised: Decimal | None
    spot_realised: Decimal
    spot_unrealised: Decimal | None
    funding_total: Decimal
    funding_received: Decimal
    funding_paid: Decimal
    fees_total: Decimal


def _spot_realised(kind: str, trades: Iterable[Trade], entry: Decimal) -> Decimal:
    """Spot sold (or bought, for a purchase) by the engine, against the locked entry."""
    total = ZERO
    for t in trades:
        if t.qty < 0:
            total += -t.qty * (t.price - entry)
        elif kind == PURCHASE:
            total += t.qty * (entry - t.price)
    return total


def hedged_value(kind: str, futures: Position, net_carry: Decimal, spot_qty: Decimal | None,
                 exposure_qty: Decimal | None, mark: Decimal | None) -> Decimal | None:
    """What the hedged exposure is worth at ``mark`` (None when nothing is hedged yet).

    ``net_carry`` is funding − fees. A holding: spot × mark + hedge PnL (unrealised and
    realised) + carry. A purchase: the cost to buy ``exposure_qty`` at mark less that.

    >>> short = Position(Decimal(-1), Decimal(40000))
    >>> hedged_value("holding", short, Decimal(-8), Decimal(1), Decimal(1), Decimal(38000))
    Decimal('39992')
    """
    if futures.qty == 0 or mark is None:
        return None
    pnl = futures.unrealised(mark) + futures.realised + net_carry
    if kind == PURCHASE:
        to_buy = exposure_qty if exposure_qty is not None else abs(futures.qty)
        return to_buy * mark - pnl
    return None if spot_qty is None else spot_qty * mark + pnl


def hedge_accounts(data: AccountsInput) -> Accounts:
    """The accounts of one hedge from its fills, funding and latest snapshot.

    1 BTC held, shorted 1 at 40,000 (fee 20), funding +12, mark now 38,000: locked value
    40,000; hedged value 38,000 + 2,000 + 12 − 20 = 39,992; deviation −0.02 %.

    >>> a = hedge_accounts(AccountsInput(
    ...     "holding", (Trade(0, "futures", Decimal(-1), Decimal(40000), Decimal(20)),),
    ...     (Decimal(12),), spot_qty=Decimal(1), exposure_qty=Decimal(1), mark=Decimal(38000)))
    >>> (a.locked_value, a.hedged_value, a.deviation_pct, a.effective_locked_price)
    (Decimal('40000'), Decimal('39992'), Decimal('-0.0200'), Decimal('39992'))
    """
    futures = average_cost((t.qty, t.price) for t in data.trades if t.market == "futures")
    qty, entry = abs(futures.qty), futures.entry
    if qty == 0 and data.venue_hedge_qty and data.venue_entry:  # adopted, no fills recorded
        qty, entry = data.venue_hedge_qty, data.venue_entry
        futures = Position(-qty if data.kind == HOLDING else qty, entry, futures.realised)
    funding = sum(data.funding, ZERO)
    fees = sum((t.fee for t in data.trades), ZERO)
    spot_trades = [t for t in data.trades if t.market == "spot"]
    hedged = qty > 0
    locked = qty * entry if hedged else None
    unrealised = None if data.mark is None or not hedged else futures.unrealised(data.mark)
    value = hedged_value(data.kind, futures, funding - fees, data.spot_qty, data.exposure_qty,
                         data.mark)
    spot_unrealised: Decimal | None = None
    if hedged and data.kind == HOLDING and data.mark is not None and data.spot_qty is not None:
        spot_unrealised = data.spot_qty * (data.mark - entry)
    deviation = None
    if value is not None and locked:
        deviation = (value - locked) / locked * HUNDRED
    return Accounts(
        hedge_entry=entry if hedged else None, hedge_qty=qty, locked_value=locked,
        hedged_value=value, deviation_pct=deviation,
        effective_locked_price=effective_locked_price(data.kind, qty, entry, futures.realised,
                                                      funding, fees),
        hedge_effectiveness=hedge_effectiveness(data.points),
        hedge_realised=futures.realised, hedge_unrealised=unrealised,
        spot_realised=_spot_realised(data.kind, spot_trades, entry) if hedged else ZERO,
        spot_unrealised=spot_unrealised,
        funding_total=funding,
        funding_received=sum((f for f in data.funding if f > 0), ZERO),
        funding_paid=-sum((f for f in data.funding if f < 0), ZERO),
        fees_total=fees,
    )
