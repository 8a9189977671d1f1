"""What a policy observes of a running hedge, and the actions it may answer with.

Pure values, shared by the backtest and (later) the live engine. Quantities are base units,
amounts USDT, all ``Decimal``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from perphedge.domain.margin import effective_leverage, unrealized_pnl
from perphedge.domain.money import ZERO
from perphedge.domain.types import MarginMode, Side
from perphedge.errors import InputError


@dataclass(frozen=True, slots=True)
class HedgeState:
    """The observed state at a decision point.

    ``target_exposure_qty`` is what the hedge should equal: the spot held (holding) or the
    quantity still to buy (purchase). ``hedge_qty`` is the hedge's size (≥ 0) on
    ``hedge_side``; ``isolated_margin_usdt`` is 0 in cross mode. ``spot_usdt`` is the free
    USDT in the spot wallet that the policy may use (the earmarked cash for a purchase);
    ``reserve_usdt`` the part of it set aside for margin top-ups.
    """

    hedge_side: Side
    margin_mode: MarginMode
    spot_qty: Decimal
    target_exposure_qty: Decimal
    hedge_qty: Decimal
    entry_price: Decimal
    isolated_margin_usdt: Decimal
    mark_price: Decimal
    spot_price: Decimal
    spot_usdt: Decimal
    futures_wallet_usdt: Decimal
    reserve_usdt: Decimal
    liquidation_price: Decimal | None
    opened_before: bool = False

    def __post_init__(self) -> None:
        for name in ("spot_qty", "target_exposure_qty", "hedge_qty", "mark_price", "spot_price"):
            value = getattr(self, name)
            if not value.is_finite() or value < 0:
                raise InputError(f"state.{name}", "a finite number of 0 or more", str(value))

    @property
    def unrealized_pnl_usdt(self) -> Decimal:
        if self.hedge_qty == ZERO:
            return ZERO
        return unrealized_pnl(self.hedge_side, self.hedge_qty, self.entry_price, self.mark_price)

    @property
    def notional_usdt(self) -> Decimal:
        return self.hedge_qty * self.mark_price

    @property
    def margin_balance_usdt(self) -> Decimal:
        """Isolated margin + uPnL (isolated) or futures wallet + uPnL (cross)."""
        base = (
            self.isolated_margin_usdt
            if self.margin_mode is MarginMode.ISOLATED
            else self.futures_wallet_usdt
        )
        return base + self.unrealized_pnl_usdt

    @property
    def effective_leverage(self) -> Decimal | None:
        """Notional / margin balance; None when flat or when the margin is gone."""
        if self.hedge_qty == ZERO:
            return None
        return effective_leverage(self.notional_usdt, self.margin_balance_usdt)


@dataclass(frozen=True, slots=True)
class AdjustHedge:
    """Change the hedge's size by ``delta_qty`` (positive: larger hedge on its side)."""

    delta_qty: Decimal


@dataclass(frozen=True, slots=True)
class AddMargin:
    """Move ``amount`` USDT from the futures wallet into the isolated margin."""

    amount: Decimal


@dataclass(frozen=True, slots=True)
class RemoveMargin:
    """Move ``amount`` USDT from the isolated margin back to the futures wallet."""

    amount: Decimal


@dataclass(frozen=True, slots=True)
class SellSpot:
    """Sell ``qty`` of the held asset for USDT on spot."""

    qty: Decimal


@dataclass(frozen=True, slots=True)
class BuySpot:
    """Buy ``qty`` of the asset with spot USDT."""

    qty: Decimal


@dataclass(frozen=True, slots=True)
class Transfer:
    """Move ``amount`` USDT to ``to`` ("futures" or "spot"); executors clip to what is free.

    ``from_reserve`` marks USDT taken from the margin reserve (executors count it down).
    """

    amount: Decimal
    to: str
    from_reserve: bool = False


@dataclass(frozen=True, slots=True)
class Alert:
    """Tell the user something; ``code`` is stable for machines."""

    code: str
    message: str


Action = AdjustHedge | AddMargin | RemoveMargin | SellSpot | BuySpot | Transfer | Alert
