"""What a policy observes of a running hedge, and the actions it may answer with.

Pure values, shared by the backtest and (later) the live engine. Quantities are base units,
amounts USDT, all ``Decimal``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from perphedge.domain.margin import effective_leverage, unrealized_pnl
from perphedge.domain.money import ZERO
from perphedge.domain.types import ContractKind, MarginMode, Side
from perphedge.errors import InputError


@dataclass(frozen=True, slots=True)
class ContractQuote:
    """A contract the hedge may be held in, as observed now: its price and (delivery) expiry.

    ``price_usdt`` is the contract's mark (its last price where no mark exists).
    """

    symbol: str
    kind: ContractKind
    price_usdt: Decimal
    expiry_ms: int | None = None

    def __post_init__(self) -> None:
        if not self.price_usdt.is_finite() or self.price_usdt <= 0:
            raise InputError(f"contract {self.symbol} price", "a price greater than 0",
                             str(self.price_usdt))
        if (self.kind is ContractKind.DELIVERY) != (self.expiry_ms is not None):
            raise InputError(f"contract {self.symbol} expiry_ms",
                             "an expiry for a delivery contract and none for a perpetual",
                             self.expiry_ms)


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
    #: The contract the hedge is held in (or will be opened in when flat); "" when unknown.
    hedge_symbol: str = ""
    now_ms: int = 0
    #: Contracts tradable now (the perpetual and listed delivery contracts), for carry policies.
    contracts: tuple[ContractQuote, ...] = ()
    #: The perpetual's recent funding settlements (ts_ms, rate per interval), oldest first.
    funding_settlements: tuple[tuple[int, Decimal], ...] = ()
    funding_interval_hours: int = 8
    #: The hedge contract's lot step (0: unknown, quantities are not rounded by the policy).
    lot_step_qty: Decimal = ZERO
    #: Decisions in a row whose orders were refused, and when the last refusal happened: a
    #: policy backs off from growing the hedge while the streak lasts (see ``backoff_ms``).
    refusals_in_a_row: int = 0
    last_refusal_ms: int = 0
    #: Net funding the hedge paid since it opened (negative: received), and the value it locks
    #: (0: unknown); a purchase's policy alerts when the first passes a share of the second.
    funding_paid_usdt: Decimal = ZERO
    locked_value_usdt: Decimal = ZERO

    def __post_init__(self) -> None:
        for name in ("spot_qty", "target_exposure_qty", "hedge_qty", "mark_price", "spot_price"):
            value = getattr(self, name)
            if not value.is_finite() or value < 0:
                raise InputError(f"state.{name}", "a finite number of 0 or more", str(value))
        if self.funding_interval_hours <= 0:
            raise InputError("state.funding_interval_hours", "a positive number of hours",
                             self.funding_interval_hours)

    def contract(self, symbol: str) -> ContractQuote | None:
        """The quote of ``symbol`` among :attr:`contracts`, or None when it is not quoted."""
        return next((c for c in self.contracts if c.symbol == symbol), None)

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
    def equity_usdt(self) -> Decimal:
        """Every USDT the hedge's owner has here: spot cash, futures wallet, margin, uPnL."""
        isolated = self.isolated_margin_usdt if self.margin_mode is MarginMode.ISOLATED else ZERO
        return self.spot_usdt + self.futures_wallet_usdt + isolated + self.unrealized_pnl_usdt

    @property
    def effective_leverage(self) -> Decimal | None:
        """Notional / margin balance; None when flat or when the margin is gone."""
        if self.hedge_qty == ZERO:
            return None
        return effective_leverage(self.notional_usdt, self.margin_balance_usdt)


@dataclass(frozen=True, slots=True)
class AdjustHedge:
    """Change the hedge's size by ``delta_qty`` (positive: larger hedge on its side).

    ``symbol`` None means the contract the hedge is held in (``HedgeState.hedge_symbol``);
    a carry policy names the contract when it opens a flat hedge somewhere else.
    """

    delta_qty: Decimal
    symbol: str | None = None


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


@dataclass(frozen=True, slots=True)
class Roll:
    """Move a hedge of ``qty`` from one contract to another as ONE action.

    Executors close ``qty`` of ``from_symbol`` and open ``qty`` of ``to_symbol`` (same side) at
    the same decision, so the holding is never unhedged across a decision cycle.
    """

    from_symbol: str
    to_symbol: str
    qty: Decimal

    def __post_init__(self) -> None:
        if not self.qty.is_finite() or self.qty < 0:
            raise InputError("roll qty", "a quantity of 0 or more", str(self.qty))
        if self.from_symbol == self.to_symbol:
            raise InputError("roll to_symbol", f"a contract other than {self.from_symbol}",
                             self.to_symbol)


Action = Roll | AdjustHedge | AddMargin | RemoveMargin | SellSpot | BuySpot | Transfer | Alert
