"""Trading fees as a fraction of notional."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from perphedge.errors import InputError


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Maker and taker rates as fractions of notional (0.0005 = 0.05 %)."""

    maker_rate: Decimal
    taker_rate: Decimal

    def __post_init__(self) -> None:
        for name in ("maker_rate", "taker_rate"):
            value = getattr(self, name)
            # Maker rebates exist (negative maker fees), but never beyond 1 %.
            if not value.is_finite() or not Decimal("-0.01") <= value < Decimal("0.01"):
                raise InputError(name, "a fee rate between -0.01 and 0.01", value)

    def fee(self, notional_usdt: Decimal, *, taker: bool = True) -> Decimal:
        """Fee in USDT for a fill of this notional.

        >>> BINANCE_USDM_STANDARD.fee(Decimal(450000))
        Decimal('225.0000')
        """
        return notional_usdt * (self.taker_rate if taker else self.maker_rate)


#: Binance USDⓈ-M regular user (VIP 0): 0.02 % maker, 0.05 % taker.
BINANCE_USDM_STANDARD = FeeSchedule(Decimal("0.0002"), Decimal("0.0005"))
