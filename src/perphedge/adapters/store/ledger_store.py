"""The store's side of the ledger reconciliation: margin moves by the exchange's id, fills by
order, the per-stream cursors and the audit rows of money sends whose outcome was unknown.

Kept apart from :mod:`perphedge.adapters.store.repository` so the reconciliation's reads and
writes are in one place; every write is insert-once or a single-row update in its own
transaction, so a crash between two of them leaves nothing half-recorded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from perphedge.adapters.store.schema import (
    DecisionRow,
    FillRow,
    FundingRow,
    HedgeRow,
    LedgerCursorRow,
    MarginMoveRow,
    OrderRow,
)
from perphedge.engine.ledger_port import (
    RESOLVED,
    UNRESOLVED,
    NewLedgerFill,
    NewMove,
    StoredFill,
)

if TYPE_CHECKING:
    from perphedge.adapters.store.repository import HedgeStore

__all__ = ["RESOLVED", "UNRESOLVED", "LedgerStore"]


class LedgerStore:
    """Ledger reads and writes over one :class:`HedgeStore` (the engine's
    :class:`~perphedge.engine.ledger_port.LedgerRepository`)."""

    def __init__(self, store: HedgeStore) -> None:
        self.store = store

    # cursors ----------------------------------------------------------------------------------

    def cursor(self, hedge_id: str, stream: str) -> int | None:
        with self.store.session() as s:
            row = s.get(LedgerCursorRow, (hedge_id, stream))
            return None if row is None else row.ts_ms

    def set_cursor(self, hedge_id: str, stream: str, ts_ms: int) -> None:
        with self.store.session() as s, s.begin():
            row = s.get(LedgerCursorRow, (hedge_id, stream))
            if row is None:
                s.add(LedgerCursorRow(hedge_id=hedge_id, stream=stream, ts_ms=ts_ms))
            elif ts_ms > row.ts_ms:
                row.ts_ms = ts_ms

    def earliest_activity(self, hedge_id: str, unresolved_since_ms: int) -> int | None:
        """The hedge's first event in the exchange's time (a move or a fill), if any."""
        with self.store.session() as s:
            moves = s.scalars(select(MarginMoveRow.exchange_ts_ms).where(
                MarginMoveRow.hedge_id == hedge_id, MarginMoveRow.exchange_ts_ms.is_not(None))
                .order_by(MarginMoveRow.exchange_ts_ms).limit(1)).first()
            fill = s.scalars(select(FillRow.ts_ms).join(OrderRow)
                             .where(OrderRow.hedge_id == hedge_id)
                             .order_by(FillRow.ts_ms).limit(1)).first()
        pending = [int(u["before_ms"]) for u in self.unresolved(hedge_id, unresolved_since_ms)]
        known = [t for t in (moves, fill, *pending) if t is not None]
        return min(known) if known else None

    # margin moves -----------------------------------------------------------------------------

    def _account_moves(self, account: str, kinds: Sequence[str], since_ms: int
                       ) -> list[MarginMoveRow]:
        with self.store.session() as s:
            return list(s.scalars(
                select(MarginMoveRow).join(HedgeRow, HedgeRow.id == MarginMoveRow.hedge_id)
                .where(HedgeRow.account == account, MarginMoveRow.kind.in_(list(kinds)),
                       MarginMoveRow.exchange_ts_ms >= since_ms)
                .order_by(MarginMoveRow.exchange_ts_ms, MarginMoveRow.id)).all())

    def known_move_ids(self, account: str, kinds: Sequence[str], since_ms: int) -> set[str]:
        """Exchange ids already recorded for the account's hedges (moves from ``since_ms``)."""
        return {r.exchange_id for r in self._account_moves(account, kinds, since_ms)
                if r.exchange_id is not None}

    def unclaimed_moves(self, account: str, kinds: Sequence[str], since_ms: int
                        ) -> list[MarginMoveRow]:
        """The account's moves recorded from a clean reply, not yet tied to an exchange id."""
        return [r for r in self._account_moves(account, kinds, since_ms)
                if r.exchange_id is None]

    def has_untimed_moves(self, hedge_id: str) -> bool:
        """True when the hedge has moves recorded without the exchange's time (before 0003)."""
        with self.store.session() as s:
            return s.scalar(select(MarginMoveRow.id).where(
                MarginMoveRow.hedge_id == hedge_id, MarginMoveRow.exchange_ts_ms.is_(None))
                .limit(1)) is not None

    def claim(self, move_id: int, exchange_id: str, exchange_ts_ms: int) -> None:
        """Tie a recorded move to the exchange's row of it."""
        with self.store.session() as s, s.begin():
            row = s.get(MarginMoveRow, move_id)
            if row is not None and row.exchange_id is None:
                row.exchange_id, row.exchange_ts_ms = exchange_id, exchange_ts_ms

    def add_move(self, move: NewMove) -> bool:
        """Record a move (with any deferred audit rows, in one transaction); False when its
        exchange id is recorded already."""
        try:
            self.store.record_margin_move(MarginMoveRow(
                hedge_id=move.hedge_id, ts_ms=move.ts_ms, kind=move.kind,
                amount_usdt=move.amount_usdt, note=move.note, from_reserve=move.from_reserve,
                exchange_id=move.exchange_id, exchange_ts_ms=move.exchange_ts_ms))
        except IntegrityError:
            return False
        return True

    # fills ------------------------------------------------------------------------------------

    def orders_by_exchange_id(self, account: str, market: str, symbol: str,
                              exchange_ids: Sequence[str]) -> list[OrderRow]:
        """The account's orders (of any hedge) with these exchange ids."""
        with self.store.session() as s:
            return list(s.scalars(select(OrderRow).where(
                OrderRow.account == account, OrderRow.market == market,
                OrderRow.symbol == symbol,
                OrderRow.exchange_order_id.in_(list(exchange_ids)))).all())

    def fills_of(self, order_ids: Sequence[int]) -> dict[int, list[StoredFill]]:
        out: dict[int, list[StoredFill]] = {}
        with self.store.session() as s:
            for row in s.scalars(select(FillRow).where(FillRow.order_id.in_(list(order_ids)))):
                out.setdefault(row.order_id, []).append(row)
        return out

    def add_fill(self, fill: NewLedgerFill) -> bool:
        """Insert an order's fill once (its unique key: order and trade id)."""
        return self.store.record_fill(FillRow(
            order_id=fill.order_id, trade_id=fill.trade_id, ts_ms=fill.ts_ms,
            qty_base=fill.qty_base, price_usdt=fill.price_usdt, fee_usdt=fill.fee_usdt))

    def add_funding(self, hedge_id: str, symbol: str, ts_ms: int,
                    amount_usdt: Decimal) -> bool:
        """Insert a funding settlement once (hedge, symbol, time)."""
        return self.store.record_funding(FundingRow(hedge_id=hedge_id, symbol=symbol,
                                                    ts_ms=ts_ms, rate=None,
                                                    amount_usdt=amount_usdt))

    def has_spot_orders(self, hedge_id: str) -> bool:
        with self.store.session() as s:
            return s.scalar(select(OrderRow.id).where(
                OrderRow.hedge_id == hedge_id, OrderRow.market == "spot").limit(1)) is not None

    def account_hedges(self, account: str) -> list[str]:
        with self.store.session() as s:
            return list(s.scalars(select(HedgeRow.id).where(HedgeRow.account == account)))

    def note(self, hedge_id: str, ts_ms: int, kind: str, payload: dict[str, Any]) -> None:
        self.store.record_decision(hedge_id, ts_ms, kind, payload)

    def correct_fill(self, fill_id: int, *, qty: Decimal, price: Decimal, fee: Decimal) -> None:
        """Set a recorded fill to what the exchange's trades add up to."""
        with self.store.session() as s, s.begin():
            row = s.get(FillRow, fill_id)
            if row is not None:
                row.qty_base, row.price_usdt, row.fee_usdt = qty, price, fee

    # money sends whose outcome was unknown ----------------------------------------------------

    def unresolved(self, hedge_id: str, since_ms: int) -> list[dict[str, Any]]:
        """Money sends recorded as unresolved (from ``since_ms``, the engine's clock) and not
        resolved since, oldest first; each has ``id`` (its audit row), ``kind``, ``symbol``,
        ``amount``, ``before_ms``, ``from_reserve``."""
        with self.store.session() as s:
            rows = s.scalars(select(DecisionRow).where(
                DecisionRow.hedge_id == hedge_id, DecisionRow.ts_ms >= since_ms,
                DecisionRow.kind.in_((UNRESOLVED, RESOLVED))).order_by(DecisionRow.id)).all()
        open_sends: dict[int, dict[str, Any]] = {}
        for row in rows:
            payload = json.loads(row.payload_json)
            if row.kind == UNRESOLVED:
                open_sends[row.id] = {"id": row.id, **payload}
            else:
                open_sends.pop(int(payload.get("unresolved_id", -1)), None)
        return list(open_sends.values())
