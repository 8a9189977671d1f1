"""The small enums every layer shares: side, margin mode, contract kind, exposure kind."""

from __future__ import annotations

from enum import Enum


class Side(Enum):
    """Direction of a derivative position or order. ``sign`` is +1 for long, -1 for short."""

    LONG = "long"
    SHORT = "short"

    @property
    def sign(self) -> int:
        return 1 if self is Side.LONG else -1

    @property
    def opposite(self) -> Side:
        return Side.SHORT if self is Side.LONG else Side.LONG

    @property
    def order_side(self) -> str:
        """The exchange word for an order that opens or adds to this side."""
        return "buy" if self is Side.LONG else "sell"


class MarginMode(Enum):
    """Isolated: the position's own margin is its wallet. Cross: the whole futures wallet is."""

    ISOLATED = "isolated"
    CROSS = "cross"


class Market(Enum):
    """Which wallet an order or balance belongs to."""

    SPOT = "spot"
    FUTURES = "futures"


class ContractKind(Enum):
    """Linear USDT-settled contract types."""

    PERPETUAL = "perpetual"
    DELIVERY = "delivery"


class ExposureKind(Enum):
    """A holding to protect is hedged short; a purchase to lock is hedged long."""

    HOLDING = "holding"
    PURCHASE = "purchase"

    @property
    def hedge_side(self) -> Side:
        return Side.SHORT if self is ExposureKind.HOLDING else Side.LONG
