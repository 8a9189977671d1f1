"""The store as the engine sees it: a repository Protocol and the plain values it trades in.

The engine writes frozen values (``NewOrder``, ``NewFill`` …) and reads through small
read-only Protocols (``StoredOrder`` …); :class:`perphedge.adapters.store.repository.HedgeStore`
implements :class:`HedgeRepository` over SQLAlchemy (its row classes satisfy the read
Protocols). Nothing under ``engine/`` imports SQLAlchemy or a row class
(``tests/unit/test_engine_store_port.py`` checks it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from perphedge.engine.ledger_port import LedgerRepository

#: Order states that may still change on the exchange (the engine reconciles them).
OPEN_ORDER_STATES = ("pending_submit", "submitted", "partially_filled", "unknown")
#: The end of the note on an order found never to have reached the exchange: marked rejected,
#: but the exchange refused nothing, so it is not counted as a refusal.
NEVER_ARRIVED = "never arrived"

# --------------------------------------------------------------------------- values written


@dataclass(frozen=True, slots=True)
class NewHedge:
    """A hedge the engine starts managing (state ``active``, version 0)."""

    id: str
    account: str
    asset: str
    symbol: str
    exposure_kind: str
    policy: str
    state: str
    created_ms: int
    updated_ms: int
    spec_json: str
    state_version: int = 0


@dataclass(frozen=True, slots=True)
class NewOrder:
    """An order as recorded before it is sent (or an adoption, recorded filled)."""

    hedge_id: str
    account: str
    client_order_id: str
    market: str  # futures | spot
    symbol: str
    side: str  # buy | sell
    order_type: str
    qty_base: Decimal
    price_usdt: Decimal | None
    reduce_only: bool
    state: str
    filled_qty_base: Decimal
    avg_price_usdt: Decimal | None
    created_ms: int
    updated_ms: int
    note: str = ""
    exchange_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class NewFill:
    """A fill of the order with store id ``order_id``; ``trade_id`` makes it unique."""

    order_id: int
    trade_id: str
    ts_ms: int
    qty_base: Decimal
    price_usdt: Decimal
    fee_usdt: Decimal


@dataclass(frozen=True, slots=True)
class NewFunding:
    """A funding settlement (> 0 received)."""

    hedge_id: str
    symbol: str
    ts_ms: int
    rate: Decimal | None
    amount_usdt: Decimal


@dataclass(frozen=True, slots=True)
class NewMarginMove:
    """A margin move or a transfer between wallets."""

    hedge_id: str
    ts_ms: int
    kind: str  # margin_add | margin_remove | transfer_futures | transfer_spot
    amount_usdt: Decimal
    note: str = ""
    from_reserve: bool = False


@dataclass(frozen=True, slots=True)
class NewSnapshot:
    """The hedge as one cycle left it."""

    hedge_id: str
    ts_ms: int
    spot_qty_base: Decimal
    hedge_qty_base: Decimal
    mark_price_usdt: Decimal
    liquidation_price_usdt: Decimal | None
    margin_balance_usdt: Decimal
    unrealized_pnl_usdt: Decimal


@dataclass(frozen=True, slots=True)
class Refusal:
    """An order the exchange refused: what it was and when."""

    symbol: str
    side: str  # "buy" | "sell", as the order rows store it
    qty_base: Decimal
    ts_ms: int


# --------------------------------------------------------------------------- values read


class StoredHedge(Protocol):
    """A hedge as stored: its state and the version compare-and-set changes are made on."""

    @property
    def state(self) -> str: ...
    @property
    def state_version(self) -> int: ...


class StoredOrder(Protocol):
    """An order as stored (with its store id)."""

    @property
    def id(self) -> int: ...
    @property
    def hedge_id(self) -> str: ...
    @property
    def account(self) -> str: ...
    @property
    def client_order_id(self) -> str: ...
    @property
    def market(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def side(self) -> str: ...
    @property
    def order_type(self) -> str: ...
    @property
    def qty_base(self) -> Decimal: ...
    @property
    def reduce_only(self) -> bool: ...
    @property
    def state(self) -> str: ...
    @property
    def filled_qty_base(self) -> Decimal: ...
    @property
    def note(self) -> str: ...
    @property
    def updated_ms(self) -> int: ...


class StoredSnapshot(Protocol):
    """The last snapshot, as far as the engine reads it."""

    @property
    def liquidation_price_usdt(self) -> Decimal | None: ...


# --------------------------------------------------------------------------- the port


class HedgeRepository(Protocol):
    """Exactly the store operations the engine performs."""

    def hedge(self, hedge_id: str) -> StoredHedge | None: ...
    def add_hedge(self, row: NewHedge) -> StoredHedge: ...
    def hedge_state(self, hedge_id: str) -> str | None: ...
    def set_hedge_state(self, hedge_id: str, state: str, ts_ms: int,
                        expected_version: int | None = None) -> bool: ...

    def record_order_intent(self, row: NewOrder, *,
                            stop_states: tuple[str, ...] = ()) -> StoredOrder: ...
    def record_adoption(self, row: NewOrder) -> None: ...
    def update_order(self, client_order_id: str, account: str,
                     **changes: Any) -> StoredOrder: ...
    def order(self, client_order_id: str, account: str) -> StoredOrder | None: ...
    def orders(self, hedge_id: str,
               states: Iterable[str] | None = None) -> Sequence[StoredOrder]: ...
    def has_orders(self, hedge_id: str) -> bool: ...
    def has_futures_fill(self, hedge_id: str) -> bool: ...
    def last_client_order_id(self, hedge_id: str) -> str | None: ...
    def futures_position(self, hedge_id: str) -> Decimal: ...
    def refusals(self, hedge_id: str, since_ms: int) -> list[Refusal]: ...

    def record_fill(self, row: NewFill) -> bool: ...
    def record_funding(self, row: NewFunding) -> bool: ...
    def funding_sync_start(self, hedge_id: str) -> int | None: ...
    def record_margin_move(self, row: NewMarginMove) -> None: ...
    def reserve_spent(self, hedge_id: str) -> Decimal: ...

    def record_snapshot(self, row: NewSnapshot) -> None: ...
    def latest_snapshot(self, hedge_id: str) -> StoredSnapshot | None: ...
    def ledger(self) -> LedgerRepository: ...
    def record_decision(self, hedge_id: str, ts_ms: int, kind: str,
                        payload: dict[str, Any]) -> None: ...
    def defer_decision(self, hedge_id: str, ts_ms: int, kind: str,
                       payload: dict[str, Any]) -> None: ...
