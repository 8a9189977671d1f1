"""Linear (USDT-settled) perpetual and delivery contracts and their order filters."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from perphedge.domain.money import ONE, ZERO, ceil_to_step, floor_to_step
from perphedge.domain.types import ContractKind, Side
from perphedge.errors import InputError


@dataclass(frozen=True, slots=True)
class Instrument:
    """A linear contract's specification, as the exchange publishes it.

    ``contract_size`` is the base quantity of one contract (1 for Binance USDⓈ-M, where
    quantities are in base units). ``funding_interval_hours`` is None for delivery contracts.
    """

    symbol: str
    base: str
    settle: str
    kind: ContractKind
    tick_size: Decimal
    lot_step: Decimal
    min_qty: Decimal
    min_notional: Decimal
    contract_size: Decimal = ONE
    max_qty: Decimal | None = None
    expiry_ms: int | None = None
    funding_interval_hours: int | None = 8

    def __post_init__(self) -> None:
        for name in ("tick_size", "lot_step", "contract_size"):
            value = getattr(self, name)
            if not value.is_finite() or value <= 0:
                raise InputError(f"instrument.{name}", "a positive number", value)
        for name in ("min_qty", "min_notional"):
            value = getattr(self, name)
            if not value.is_finite() or value < 0:
                raise InputError(f"instrument.{name}", "a number of 0 or more", value)
        if self.kind is ContractKind.DELIVERY:
            if self.expiry_ms is None:
                raise InputError("instrument.expiry_ms", "an expiry for a delivery contract", None)
        elif self.funding_interval_hours is None or self.funding_interval_hours <= 0:
            raise InputError(
                "instrument.funding_interval_hours",
                "a positive number of hours for a perpetual",
                self.funding_interval_hours,
            )

    @property
    def is_perpetual(self) -> bool:
        return self.kind is ContractKind.PERPETUAL

    def round_qty(self, qty_base: Decimal) -> Decimal:
        """Round a base quantity down to the lot step (never up: a hedge must not overshoot)."""
        return floor_to_step(qty_base / self.contract_size, self.lot_step) * self.contract_size

    def round_price(self, price_usdt: Decimal, side: Side) -> Decimal:
        """Round a limit price to the tick in the side's safe direction (buy down, sell up)."""
        if side is Side.LONG:
            return floor_to_step(price_usdt, self.tick_size)
        return ceil_to_step(price_usdt, self.tick_size)

    def check_order(self, qty_base: Decimal, price_usdt: Decimal, field: str = "quantity") -> None:
        """Reject an order quantity the exchange would refuse (below minimums, above maximum)."""
        if qty_base <= ZERO or qty_base < self.min_qty:
            raise InputError(
                field,
                f"at least {self.min_qty} {self.base} after rounding down to the lot step "
                f"{self.lot_step} for {self.symbol}",
                str(qty_base),
            )
        notional = qty_base * price_usdt
        if notional < self.min_notional:
            raise InputError(
                field,
                f"an order of at least {self.min_notional} {self.settle} notional for "
                f"{self.symbol} (at {price_usdt} that is "
                f"{ceil_to_step(self.min_notional / price_usdt, self.lot_step)} {self.base})",
                str(qty_base),
            )
        if self.max_qty is not None and qty_base > self.max_qty:
            raise InputError(
                field, f"at most {self.max_qty} {self.base} per order for {self.symbol}", qty_base
            )
