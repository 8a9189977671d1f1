"""How an order is worked: the pure decisions behind the three execution styles.

The translation (:mod:`perphedge.planning.translate`) says *what* to trade, already cut into
pieces of at most ``max_order_notional``; this module says *how* each piece reaches the
exchange. The engine shell (:mod:`perphedge.engine.execute`) performs it — sending, waiting on
its clock, cancelling — and feeds back what filled. The styles:

* ``market``: each piece is one market order, sent at once;
* ``slices``: the same market orders, the pieces of one order ``slice_interval`` apart;
* ``limit_chase``: a LIMIT order at the touch (the port has no book: the mark rounded to the
  tick in the side's safe direction — a buy down, a sell up), re-priced up to ``reprices``
  times (cancel, new client id, new price), then a market order for what is left.

What is left is always the piece's quantity minus what every earlier child order filled
(read once that order is final), rounded down to the lot: a slow fill can never make the
children add up to more than the piece.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from perphedge.domain.instrument import Instrument
from perphedge.domain.money import ZERO
from perphedge.domain.types import Side
from perphedge.errors import InputError

STYLES = ("market", "limit_chase", "slices")


@dataclass(frozen=True, slots=True)
class ExecutionStyle:
    """The configured style; times in milliseconds (the config's ``"30s"`` already parsed)."""

    style: str = "market"
    reprices: int = 3
    chase_wait_ms: int = 5_000
    slice_interval_ms: int = 30_000

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise InputError("execution.style", " | ".join(STYLES), self.style)
        if self.reprices < 0:
            raise InputError("execution.chase_reprices", "0 or more", str(self.reprices))
        if self.chase_wait_ms < 0 or self.slice_interval_ms < 0:
            raise InputError("execution", "waits of 0 ms or more",
                             f"{self.chase_wait_ms}, {self.slice_interval_ms}")


@dataclass(frozen=True, slots=True)
class LimitChild:
    """Send a LIMIT order of ``qty_base`` at ``price_usdt``; ``attempt`` counts from 0."""

    qty_base: Decimal
    price_usdt: Decimal
    attempt: int


@dataclass(frozen=True, slots=True)
class MarketChild:
    """Send a market order of ``qty_base`` (the chase's fallback)."""

    qty_base: Decimal


def touch_price(side: Side, mark_usdt: Decimal, instrument: Instrument) -> Decimal:
    """The passive price at the touch, from the mark: a buy rounds down, a sell up.

    >>> from perphedge.adapters.marketdata.bundled import BundledMarketData
    >>> inst = BundledMarketData().instrument("BTC")   # tick 0.10
    >>> str(touch_price(Side.LONG, Decimal("40000.07"), inst))
    '40000.00'
    >>> str(touch_price(Side.SHORT, Decimal("40000.01"), inst))
    '40000.10'
    """
    return instrument.round_price(mark_usdt, side)


def left_to_fill(total_qty: Decimal, filled_qty: Decimal, instrument: Instrument) -> Decimal:
    """What is still to trade of ``total_qty`` after ``filled_qty``: lot-rounded down, ≥ 0.

    >>> from perphedge.adapters.marketdata.bundled import BundledMarketData
    >>> inst = BundledMarketData().instrument("BTC")   # lot 0.001
    >>> str(left_to_fill(Decimal("1"), Decimal("0.4005"), inst))
    '0.599'
    >>> left_to_fill(Decimal("1"), Decimal("1.2"), inst)
    Decimal('0')
    """
    left = total_qty - filled_qty
    return ZERO if left <= 0 else max(instrument.round_qty(left), ZERO)


def next_child(style: ExecutionStyle, attempt: int, total_qty: Decimal, filled_qty: Decimal,
               side: Side, mark_usdt: Decimal,
               instrument: Instrument) -> LimitChild | MarketChild | None:
    """The chase's next child order after ``attempt`` limit orders, or None when done.

    Done when nothing tradeable is left (under one lot or the minimum quantity). Attempts
    ``0 … reprices`` are limits at the touch; after them, one market order for the rest.

    >>> from perphedge.adapters.marketdata.bundled import BundledMarketData
    >>> inst = BundledMarketData().instrument("BTC")
    >>> chase = ExecutionStyle("limit_chase", reprices=1)
    >>> next_child(chase, 0, Decimal(1), Decimal(0), Side.SHORT, Decimal(40000), inst)
    LimitChild(qty_base=Decimal('1'), price_usdt=Decimal('40000'), attempt=0)
    >>> next_child(chase, 2, Decimal(1), Decimal("0.3"), Side.SHORT, Decimal(40000), inst)
    MarketChild(qty_base=Decimal('0.7'))
    >>> next_child(chase, 1, Decimal(1), Decimal(1), Side.SHORT, Decimal(40000), inst) is None
    True
    """
    left = left_to_fill(total_qty, filled_qty, instrument)
    if left <= 0 or left < instrument.min_qty:
        return None
    if attempt <= style.reprices:
        return LimitChild(left, touch_price(side, mark_usdt, instrument), attempt)
    return MarketChild(left)


def slice_wait_ms(style: ExecutionStyle, previous: tuple[str, Side] | None,
                  current: tuple[str, Side]) -> int:
    """How long to wait before an order piece: ``slice_interval`` between pieces of one order.

    ``previous`` and ``current`` are (symbol, side) of the order sent before (None: first)
    and of this one; only the ``slices`` style waits, and only between pieces of the same
    order.

    >>> s = ExecutionStyle("slices", slice_interval_ms=30_000)
    >>> slice_wait_ms(s, None, ("BTCUSDT", Side.SHORT))
    0
    >>> slice_wait_ms(s, ("BTCUSDT", Side.SHORT), ("BTCUSDT", Side.SHORT))
    30000
    >>> slice_wait_ms(ExecutionStyle(), ("BTCUSDT", Side.SHORT), ("BTCUSDT", Side.SHORT))
    0
    """
    if style.style != "slices" or previous is None or previous != current:
        return 0
    return style.slice_interval_ms
