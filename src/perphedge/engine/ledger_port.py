"""The store as the ledger reconciliation sees it: a repository Protocol and plain values.

:mod:`perphedge.engine.ledger` reads and writes only through :class:`LedgerRepository`;
:class:`perphedge.adapters.store.ledger_store.LedgerStore` implements it over SQLAlchemy, and
the store hands one out (``HedgeStore.ledger()``, the :class:`HasLedger` Protocol). Nothing
here imports SQLAlchemy, a row class or an adapter: the row classes satisfy the read-only
Protocols (``StoredMove`` …) as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

__all__ = ["RESOLVED", "UNRESOLVED", "HasLedger", "LedgerRepository", "NewLedgerFill",
           "NewMove", "StoredFill", "StoredMove", "StoredOrder"]

#: Audit kinds: a money send whose outcome was unknown, and its later resolution.
UNRESOLVED, RESOLVED = "money_unresolved", "money_resolved"


@dataclass(frozen=True, slots=True)
class NewMove:
    """A transfer or margin move to record (``note``: the hedge's symbol, as the executor
    writes it); ``exchange_id`` once the exchange's history tied it to its row."""

    hedge_id: str
    ts_ms: int
    kind: str
    amount_usdt: Decimal
    note: str
    from_reserve: bool
    exchange_id: str | None
    exchange_ts_ms: int | None


@dataclass(frozen=True, slots=True)
class NewLedgerFill:
    """An order's fill found in the exchange's trades (``trade_id``: the exchange's order id,
    the key the executor records an order's fill under)."""

    order_id: int
    trade_id: str
    ts_ms: int
    qty_base: Decimal
    price_usdt: Decimal
    fee_usdt: Decimal


class StoredMove(Protocol):
    """A recorded transfer or margin move, as read."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def note(self) -> str: ...
    @property
    def amount_usdt(self) -> Decimal: ...
    @property
    def exchange_ts_ms(self) -> int | None: ...


class StoredOrder(Protocol):
    """A recorded order, as the fill reconciliation reads it."""

    @property
    def id(self) -> int: ...
    @property
    def hedge_id(self) -> str: ...
    @property
    def client_order_id(self) -> str: ...
    @property
    def exchange_order_id(self) -> str | None: ...
    @property
    def state(self) -> str: ...
    @property
    def filled_qty_base(self) -> Decimal: ...
    @property
    def avg_price_usdt(self) -> Decimal | None: ...


class StoredFill(Protocol):
    """A recorded fill."""

    @property
    def id(self) -> int: ...
    @property
    def trade_id(self) -> str: ...
    @property
    def qty_base(self) -> Decimal: ...
    @property
    def price_usdt(self) -> Decimal: ...
    @property
    def fee_usdt(self) -> Decimal: ...


class LedgerRepository(Protocol):
    """Reads and writes of the ledger reconciliation (each its own short transaction)."""

    def cursor(self, hedge_id: str, stream: str) -> int | None: ...

    def set_cursor(self, hedge_id: str, stream: str, ts_ms: int) -> None:
        """Move the cursor forward (never back)."""
        ...

    def earliest_activity(self, hedge_id: str, unresolved_since_ms: int) -> int | None:
        """The hedge's first event in the exchange's time (a move, a fill, a send)."""
        ...

    def known_move_ids(self, account: str, kinds: Sequence[str], since_ms: int) -> set[str]: ...

    def unclaimed_moves(self, account: str, kinds: Sequence[str],
                        since_ms: int) -> Sequence[StoredMove]: ...

    def has_untimed_moves(self, hedge_id: str) -> bool: ...

    def claim(self, move_id: int, exchange_id: str, exchange_ts_ms: int) -> None: ...

    def add_move(self, move: NewMove) -> bool:
        """Record a move; False when its exchange id is recorded already."""
        ...

    def orders_by_exchange_id(self, account: str, market: str, symbol: str,
                              exchange_ids: Sequence[str]) -> Sequence[StoredOrder]: ...

    def fills_of(self, order_ids: Sequence[int]) -> dict[int, list[StoredFill]]: ...

    def add_fill(self, fill: NewLedgerFill) -> bool: ...

    def correct_fill(self, fill_id: int, *, qty: Decimal, price: Decimal,
                     fee: Decimal) -> None: ...

    def add_funding(self, hedge_id: str, symbol: str, ts_ms: int, amount_usdt: Decimal
                    ) -> bool: ...

    def has_spot_orders(self, hedge_id: str) -> bool: ...

    def account_hedges(self, account: str) -> list[str]: ...

    def unresolved(self, hedge_id: str, since_ms: int) -> list[dict[str, Any]]: ...

    def note(self, hedge_id: str, ts_ms: int, kind: str, payload: dict[str, Any]) -> None:
        """Append to the audit log (``UNRESOLVED``/``RESOLVED`` notes)."""
        ...


@runtime_checkable
class HasLedger(Protocol):
    """A store that hands out its ledger repository."""

    def ledger(self) -> LedgerRepository: ...
