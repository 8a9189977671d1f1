"""Maintenance-margin brackets (Binance "leverage brackets", ccxt "leverage tiers").

Maintenance margin of a position with notional N in bracket b::

    MM = N × mmr_b − cum_b

where ``cum_b`` (the "maintenance amount") makes MM continuous across bracket edges::

    cum_b = cum_(b−1) + floor_b × (mmr_b − mmr_(b−1))
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from perphedge.domain.money import ZERO
from perphedge.errors import DataError, InputError


@dataclass(frozen=True, slots=True)
class Bracket:
    """One bracket: notional in [floor, cap), its maintenance rate and amount, max leverage."""

    number: int
    notional_floor_usdt: Decimal
    notional_cap_usdt: Decimal
    maint_margin_rate: Decimal
    maint_amount_usdt: Decimal
    max_leverage: Decimal

    def __post_init__(self) -> None:
        if self.notional_floor_usdt < 0 or self.notional_cap_usdt <= self.notional_floor_usdt:
            raise DataError(
                f"bracket {self.number}: expected 0 <= floor < cap, got floor "
                f"{self.notional_floor_usdt} cap {self.notional_cap_usdt}"
            )
        if not ZERO < self.maint_margin_rate < 1:
            raise DataError(
                f"bracket {self.number}: expected a maintenance rate in (0, 1), "
                f"got {self.maint_margin_rate}"
            )
        if self.max_leverage <= 0:
            raise DataError(
                f"bracket {self.number}: expected a positive max leverage, got {self.max_leverage}"
            )

    def maintenance_margin(self, notional_usdt: Decimal) -> Decimal:
        """MM = notional × mmr − cum.

        >>> b = Bracket(2, Decimal(50000), Decimal(600000), Decimal("0.005"), Decimal(50),
        ...             Decimal(100))
        >>> b.maintenance_margin(Decimal(450000))
        Decimal('2200.000')
        """
        return notional_usdt * self.maint_margin_rate - self.maint_amount_usdt

    def holds(self, notional_usdt: Decimal) -> bool:
        """True when the notional lies in this bracket, edges included (MM is continuous there)."""
        return self.notional_floor_usdt <= notional_usdt <= self.notional_cap_usdt


@dataclass(frozen=True, slots=True)
class BracketTable:
    """A symbol's brackets, ordered by notional, contiguous from 0."""

    symbol: str
    brackets: tuple[Bracket, ...]

    def __post_init__(self) -> None:
        if not self.brackets:
            raise DataError(f"{self.symbol}: a bracket table needs at least one bracket")
        if self.brackets[0].notional_floor_usdt != 0:
            raise DataError(f"{self.symbol}: the first bracket must start at notional 0")
        for prev, cur in zip(self.brackets, self.brackets[1:], strict=False):
            if cur.notional_floor_usdt != prev.notional_cap_usdt:
                raise DataError(
                    f"{self.symbol}: bracket {cur.number} starts at {cur.notional_floor_usdt}, "
                    f"expected the previous cap {prev.notional_cap_usdt}"
                )
            expected = prev.maint_amount_usdt + cur.notional_floor_usdt * (
                cur.maint_margin_rate - prev.maint_margin_rate
            )
            if cur.maint_amount_usdt != expected:
                raise DataError(
                    f"{self.symbol}: bracket {cur.number} maintenance amount "
                    f"{cur.maint_amount_usdt} breaks continuity, expected {expected}"
                )

    @classmethod
    def from_rates(
        cls, symbol: str, rows: Iterable[tuple[Decimal, Decimal, Decimal, Decimal]]
    ) -> BracketTable:
        """Build a table from (floor, cap, mmr, max_leverage) rows, deriving each ``cum``."""
        brackets: list[Bracket] = []
        cum = ZERO
        prev_rate = ZERO
        for number, (floor, cap, rate, max_lev) in enumerate(rows, start=1):
            cum = cum + floor * (rate - prev_rate)
            brackets.append(Bracket(number, floor, cap, rate, cum, max_lev))
            prev_rate = rate
        return cls(symbol, tuple(brackets))

    @property
    def max_notional_usdt(self) -> Decimal:
        return self.brackets[-1].notional_cap_usdt

    def for_notional(self, notional_usdt: Decimal) -> Bracket:
        """The bracket whose [floor, cap) holds ``notional_usdt``."""
        if notional_usdt < 0:
            raise InputError("notional", "a notional of 0 or more", notional_usdt)
        for bracket in self.brackets:
            if notional_usdt < bracket.notional_cap_usdt:
                return bracket
        raise InputError(
            "notional",
            f"at most {self.max_notional_usdt} USDT, the largest position {self.symbol} allows",
            str(notional_usdt),
        )

    def maintenance_margin(self, notional_usdt: Decimal) -> Decimal:
        """Maintenance margin of a position of this notional (continuous in the notional)."""
        return self.for_notional(notional_usdt).maintenance_margin(notional_usdt)

    def max_leverage(self, notional_usdt: Decimal) -> Decimal:
        """The highest leverage the exchange allows for a position of this notional."""
        return self.for_notional(notional_usdt).max_leverage
