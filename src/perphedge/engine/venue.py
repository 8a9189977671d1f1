"""The venue port: everything the engine asks of an exchange, and the values it gets back.

Implementations: the ccxt venue (real exchanges, or the local exchange through real ccxt), and
the in-process paper venue over the simulator. Every method may raise an ``ExchangeError``:
``RetryableExchangeError`` (reads may be retried) or ``TerminalExchangeError``. Order creation is
never retried blindly: after an ambiguous failure the engine calls ``fetch_order`` with the
client order id it recorded before sending.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Protocol, runtime_checkable

from perphedge.domain.brackets import BracketTable
from perphedge.domain.instrument import Instrument
from perphedge.domain.types import MarginMode, Side

# Market lives in the domain so the planning core can name it; re-exported for the engine.
from perphedge.domain.types import Market as Market
from perphedge.errors import InputError


class OrderState(Enum):
    """Lifecycle of an order as the engine records it."""

    PENDING_SUBMIT = "pending_submit"  # recorded, not yet acknowledged
    SUBMITTED = "submitted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    UNKNOWN = "unknown"  # the send failed ambiguously; resolve by client order id

    @property
    def is_final(self) -> bool:
        return self in {OrderState.FILLED, OrderState.CANCELED, OrderState.REJECTED}


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order the engine wants placed; ``client_order_id`` makes a retry idempotent."""

    client_order_id: str
    market: Market
    symbol: str
    side: Side  # LONG = buy, SHORT = sell
    qty_base: Decimal
    order_type: str = "market"  # market | limit
    price_usdt: Decimal | None = None
    reduce_only: bool = False

    def __post_init__(self) -> None:
        if not 1 <= len(self.client_order_id) <= 36:
            # Binance accepts at most 36 characters.
            raise InputError("client_order_id", "1 to 36 characters", self.client_order_id)
        if not self.qty_base.is_finite() or self.qty_base <= 0:
            raise InputError("qty_base", "a quantity greater than 0", str(self.qty_base))
        if self.order_type == "limit" and self.price_usdt is None:
            raise InputError("price_usdt", "a price for a limit order", None)


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """An order as the venue reports it."""

    client_order_id: str
    exchange_order_id: str
    symbol: str
    side: Side
    qty_base: Decimal
    filled_qty_base: Decimal
    avg_price_usdt: Decimal | None
    state: OrderState
    fee_usdt: Decimal
    reduce_only: bool
    ts_ms: int


@dataclass(frozen=True, slots=True)
class VenuePosition:
    """A one-way-mode position as the venue reports it (qty signed: > 0 long)."""

    symbol: str
    qty_base: Decimal
    entry_price_usdt: Decimal
    mark_price_usdt: Decimal
    margin_mode: MarginMode
    leverage: int
    isolated_margin_usdt: Decimal
    unrealized_pnl_usdt: Decimal
    liquidation_price_usdt: Decimal | None


@dataclass(frozen=True, slots=True)
class VenueBalances:
    """Free balances: spot by asset, and the USDⓈ-M wallet."""

    spot: dict[str, Decimal]
    futures_wallet_usdt: Decimal
    futures_available_usdt: Decimal


@dataclass(frozen=True, slots=True)
class MarkAndFunding:
    """Mark price, current funding rate and next funding time of a perpetual."""

    symbol: str
    mark_price_usdt: Decimal
    funding_rate: Decimal | None
    next_funding_ms: int | None
    ts_ms: int


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """A settled funding payment from the venue's income history (positive: received)."""

    symbol: str
    ts_ms: int
    amount_usdt: Decimal


@dataclass(frozen=True, slots=True)
class AccountModes:
    """Account-wide modes the engine must check before acting."""

    hedge_mode: bool  # Binance dual-side positions: unsupported, the engine refuses to act
    multi_assets_margin: bool


class Venue(Protocol):
    """One exchange account, as the engine sees it."""

    name: str

    async def instrument(self, symbol: str) -> Instrument: ...

    async def brackets(self, symbol: str) -> BracketTable: ...

    async def account_modes(self) -> AccountModes: ...

    async def balances(self) -> VenueBalances: ...

    async def positions(self) -> list[VenuePosition]: ...

    async def mark_and_funding(self, symbol: str) -> MarkAndFunding: ...

    async def set_margin_mode(self, symbol: str, mode: MarginMode) -> None:
        """Idempotent: "no need to change" is success."""
        ...

    async def set_leverage(self, symbol: str, leverage: int) -> None: ...

    async def place_order(self, request: OrderRequest) -> VenueOrder: ...

    async def fetch_order(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        """The order with this client id, or None when the venue never received it."""
        ...

    async def cancel_order(self, symbol: str, client_order_id: str) -> VenueOrder: ...

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]: ...

    async def add_margin(self, symbol: str, amount_usdt: Decimal) -> None: ...

    async def reduce_margin(self, symbol: str, amount_usdt: Decimal) -> None: ...

    async def transfer(self, amount_usdt: Decimal, *, to: Market) -> None: ...

    async def funding_history(self, symbol: str, since_ms: int) -> list[FundingPayment]: ...

    async def close(self) -> None: ...


@runtime_checkable
class ReadsFundingRates(Protocol):
    """A venue that serves the perpetual's funding-rate history (public, no account needed);
    ``auto`` and ``funding-guard`` read their trailing funding from it.

    Optional like :class:`ListsDeliveries`: without it those policies see no funding history
    and act as ``managed`` (they never guess a rate).
    """

    async def funding_rates(self, symbol: str, since_ms: int) -> list[tuple[int, Decimal]]:
        """Settlements of ``symbol`` from ``since_ms`` on: ``(time ms, rate per interval)``,
        oldest first."""
        ...


@runtime_checkable
class ReadsSpotPrice(Protocol):
    """A venue that quotes its spot market (public, no account needed).

    Optional: without it the engine takes the perpetual's mark for the spot price (the basis,
    perpetual over spot, is then invisible to the policies: spot sale sizes and a delivery
    contract's basis are priced off the perpetual).
    """

    async def spot_price(self, symbol: str) -> Decimal:
        """The last traded price of the spot market ``symbol`` (``BTCUSDT``)."""
        ...


@runtime_checkable
class ListsDeliveries(Protocol):
    """A venue that lists delivery (quarterly) contracts; carry policies need it to roll.

    A separate port so venues without delivery contracts need not pretend: the engine asks
    ``isinstance(venue, ListsDeliveries)`` and hedges in the perpetual otherwise.
    """

    async def delivery_contracts(self, asset: str) -> list[Instrument]:
        """The delivery contracts on ``asset`` open for trading, nearest expiry first."""
        ...


#: ``MoneyMove.kind`` values: the same words as the store's margin moves and the executor's calls.
MONEY_KINDS = ("transfer_futures", "transfer_spot", "margin_add", "margin_remove")


@dataclass(frozen=True, slots=True)
class LedgerFill:
    """One trade of the account from the exchange's own history (``fee_usdt``: its USDT
    commission, 0 when it was paid in another asset)."""

    trade_id: str
    exchange_order_id: str
    symbol: str
    qty_base: Decimal
    price_usdt: Decimal
    fee_usdt: Decimal
    ts_ms: int


@dataclass(frozen=True, slots=True)
class MoneyMove:
    """A transfer between the spot and futures wallets, or an isolated margin change, as the
    exchange's history records it. ``exchange_id`` is the exchange's id of the move (Binance's
    ``tranId``; built from symbol, type, time and amount where the exchange gives none)."""

    exchange_id: str
    kind: str  # one of MONEY_KINDS
    amount_usdt: Decimal
    ts_ms: int
    symbol: str = ""  # the position's symbol for margin moves; "" for transfers

    def __post_init__(self) -> None:
        if self.kind not in MONEY_KINDS:
            raise InputError("kind", " | ".join(MONEY_KINDS), self.kind)
        if not self.amount_usdt.is_finite() or self.amount_usdt <= 0:
            raise InputError("amount_usdt", "an amount greater than 0", str(self.amount_usdt))


@dataclass(frozen=True, slots=True)
class IncomeEntry:
    """One row of the futures wallet's income history (Binance ``/fapi/v1/income``):
    ``kind`` is FUNDING_FEE, COMMISSION, TRANSFER, REALIZED_PNL, ...; ``amount_usdt`` signed
    from the account's side (a commission is negative)."""

    exchange_id: str
    kind: str
    symbol: str
    amount_usdt: Decimal
    ts_ms: int


@runtime_checkable
class ReadsLedger(Protocol):
    """A venue that serves the account's own history: trades with fees, income, transfers
    and isolated margin changes. :mod:`perphedge.engine.ledger` reconciles the store from it
    and resolves transfers and margin moves whose reply was lost.

    Optional like the other read ports: without it the store holds what the replies said.
    Every read returns rows at or after ``since_ms`` and, when ``until_ms`` is given, at or
    before it (the exchange's time), oldest first.
    """

    async def ledger_now_ms(self, symbol: str) -> int:
        """The exchange's clock now, as its history stamps rows (read before a money send,
        so the move is looked for from then on; a replaying exchange's clock is not ours)."""
        ...

    async def ledger_fills(self, market: Market, symbol: str, since_ms: int,
                           exchange_order_id: str | None = None, *,
                           until_ms: int | None = None) -> list[LedgerFill]:
        """The account's trades on ``symbol`` (only one order's with ``exchange_order_id``)."""
        ...

    async def ledger_income(self, since_ms: int, kind: str | None = None) -> list[IncomeEntry]:
        """The futures wallet's income rows (of one ``kind`` when given)."""
        ...

    async def ledger_transfers(self, since_ms: int, *,
                               until_ms: int | None = None) -> list[MoneyMove]:
        """USDT moved between the spot and futures wallets."""
        ...

    async def ledger_margin_moves(self, symbol: str, since_ms: int, *,
                                  until_ms: int | None = None) -> list[MoneyMove] | None:
        """Isolated margin added to or removed from the position on ``symbol``; None when
        the exchange keeps no such history (Bybit): an unclear margin move then cannot be
        confirmed, and the position's margin on the exchange is what counts."""
        ...
