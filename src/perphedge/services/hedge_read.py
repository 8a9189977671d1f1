"""Reads of the store for the hedge's views: status rows with accounts, history pages, series.

The arithmetic lives in :mod:`perphedge.services.accounts`; this module only gathers its input
(fills, funding, snapshots, the last cycle's figures) and builds the shared pydantic models.
Tables another part of the system adds (the run lease, alerts) are read when present and
ignored when not, so the web layer works over any store version.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import MetaData, Table, func, inspect, select
from sqlalchemy.engine import Engine

from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.schema import (
    DecisionRow,
    FillRow,
    FundingRow,
    MarginMoveRow,
    OrderRow,
    SnapshotRow,
)
from perphedge.domain.money import HUNDRED
from perphedge.services.accounts import (
    HOLDING,
    PURCHASE,
    AccountsInput,
    Point,
    Trade,
    hedge_accounts,
    hedged_value,
)
from perphedge.services.accounts_running import walk
from perphedge.services.hedge_models import HedgeView, LegPnl, Series, SeriesPoint
from perphedge.services.hedge_view import iso

#: Snapshots read for the effectiveness ratio and the charts (the newest ones).
SERIES_LIMIT = 5000


@dataclass(frozen=True, slots=True)
class HedgeIdentity:
    """Which hedge, and what kind of exposure it hedges."""

    name: str
    asset: str
    kind: str = HOLDING


def _dec(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def trades(store: HedgeStore, hedge_id: str, until_ms: int | None = None) -> tuple[Trade, ...]:
    """Every fill of the hedge's orders, oldest first, quantity signed (buy > 0)."""
    query = (select(FillRow.ts_ms, OrderRow.market, OrderRow.side, FillRow.qty_base,
                    FillRow.price_usdt, FillRow.fee_usdt)
             .join(OrderRow).where(OrderRow.hedge_id == hedge_id)
             .order_by(FillRow.ts_ms, FillRow.id))
    if until_ms is not None:
        query = query.where(FillRow.ts_ms <= until_ms)
    with store.session() as s:
        rows = s.execute(query).all()
    return tuple(Trade(ts, market, qty if side == "buy" else -qty, price, fee)
                 for ts, market, side, qty, price, fee in rows)


def funding(store: HedgeStore, hedge_id: str) -> list[tuple[int, Decimal]]:
    """(time, amount) of every funding settlement, oldest first (> 0 received)."""
    with store.session() as s:
        rows = s.execute(select(FundingRow.ts_ms, FundingRow.amount_usdt)
                         .where(FundingRow.hedge_id == hedge_id)
                         .order_by(FundingRow.ts_ms)).all()
    return [(ts, amount) for ts, amount in rows]


#: A snapshot's columns, read as plain rows (no ORM objects: a month of cycles is thousands).
_SNAPSHOT_COLUMNS = tuple(c for c in SnapshotRow.__table__.columns if c.key != "hedge_id")


def snapshots(store: HedgeStore, hedge_id: str, from_ms: int | None = None,
              to_ms: int | None = None, limit: int = SERIES_LIMIT) -> list[Any]:
    """The hedge's snapshots, oldest first (the newest ``limit`` of them), as rows whose
    attributes are :class:`SnapshotRow`'s (``ts_ms``, ``spot_qty_base``, ...)."""
    query = select(*_SNAPSHOT_COLUMNS).where(SnapshotRow.hedge_id == hedge_id)
    if from_ms is not None:
        query = query.where(SnapshotRow.ts_ms >= from_ms)
    if to_ms is not None:
        query = query.where(SnapshotRow.ts_ms <= to_ms)
    with store.session() as s:
        rows = s.execute(query.order_by(SnapshotRow.ts_ms.desc(), SnapshotRow.id.desc())
                         .limit(limit)).all()
    return list(reversed(rows))


def last_result(store: HedgeStore, hedge_id: str) -> tuple[int | None, dict[str, Any]]:
    """Time and payload of the last cycle's outcome (the ``result`` audit row)."""
    with store.session() as s:
        row = s.scalars(select(DecisionRow)
                        .where(DecisionRow.hedge_id == hedge_id, DecisionRow.kind == "result")
                        .order_by(DecisionRow.ts_ms.desc(), DecisionRow.id.desc())
                        .limit(1)).one_or_none()
    if row is None:
        return None, {}
    payload: dict[str, Any] = json.loads(row.payload_json)
    return row.ts_ms, payload


#: Tables of other parts, once reflected, per engine (a table never leaves a migrated store).
_REFLECTED: weakref.WeakKeyDictionary[Engine, dict[str, Table]] = weakref.WeakKeyDictionary()


def optional_table(engine: Engine, table_name: str) -> Table | None:
    """The table ``table_name`` as the store has it, or None when it has no such table."""
    known = _REFLECTED.setdefault(engine, {})
    if table_name not in known:
        if not inspect(engine).has_table(table_name):
            return None
        known[table_name] = Table(table_name, MetaData(), autoload_with=engine)
    return known[table_name]


def optional_rows(engine: Engine, table_name: str, hedge_id: str | None = None,
                  limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """Rows of a table that may not exist in this store (newest first), as plain dicts."""
    table = optional_table(engine, table_name)
    if table is None:
        return []
    query = select(table)
    if hedge_id is not None and "hedge_id" in table.c:
        query = query.where(table.c.hedge_id == hedge_id)
    order = [table.c[c].desc() for c in ("ts_ms", "id") if c in table.c]
    with engine.connect() as c:
        rows = c.execute(query.order_by(*order).limit(limit).offset(offset)).mappings().all()
    return [{k: (format(v, "f") if isinstance(v, Decimal) else v) for k, v in row.items()}
            for row in rows]


def optional_counts(engine: Engine, table_name: str) -> dict[str, int]:
    """Rows per ``hedge_id`` of a table that may not exist (empty when it does not)."""
    table = optional_table(engine, table_name)
    if table is None or "hedge_id" not in table.c:
        return {}
    with engine.connect() as c:
        rows = c.execute(select(table.c.hedge_id, func.count()).group_by(table.c.hedge_id))
        return {str(hedge): int(n) for hedge, n in rows}


def lease_holder(engine: Engine, hedge: str, account: str) -> str | None:
    """Who holds the run lease of the hedge or its account (None without a lease table)."""
    for row in optional_rows(engine, "leases", limit=1000):
        if row.get("hedge_id", row.get("scope", row.get("name"))) in (hedge, account, None):
            holder = row.get("holder") or row.get("owner")
            if holder:
                return str(holder)
    return None


def _points(rows: Sequence[Any], kind: str, target: Decimal | None) -> tuple[Point, ...]:
    sign = 1 if kind == PURCHASE else -1
    out = []
    for r in rows:
        exposure = -(target if target is not None else r.hedge_qty_base) if kind == PURCHASE \
            else r.spot_qty_base
        out.append(Point(r.ts_ms, exposure, sign * r.hedge_qty_base, r.mark_price_usdt))
    return tuple(out)


def hedge_view(store: HedgeStore, who: HedgeIdentity, account: str = "") -> HedgeView:
    """The hedge as of its last cycle, with its accounts (store only: no exchange call)."""
    row = store.hedge(who.name)
    kind = row.exposure_kind if row is not None else who.kind
    ts, payload = last_result(store, who.name)
    observed, figures = payload.get("observed") or {}, payload.get("figures") or {}
    snap = store.latest_snapshot(who.name)
    target = _dec(observed.get("target_exposure_qty"))
    held = _dec(observed.get("hedge_qty"))
    spot = _dec(observed.get("spot_qty"))
    mark = _dec(observed.get("mark_price"))
    if snap is not None:
        held, spot, mark = snap.hedge_qty_base, snap.spot_qty_base, snap.mark_price_usdt
    drift = None if target is None or held is None else held - target
    accounts = hedge_accounts(AccountsInput(
        kind, trades(store, who.name), tuple(a for _, a in funding(store, who.name)),
        spot_qty=spot, exposure_qty=target, mark=mark,
        points=_points(snapshots(store, who.name), kind, target),
        venue_entry=_dec(observed.get("entry_price")), venue_hedge_qty=held))
    return HedgeView(
        name=who.name, asset=who.asset.upper(), kind=kind,
        state=row.state if row is not None else "new",
        spot_quantity=spot, target_quantity=target, hedge_quantity=held, drift=drift,
        drift_pct=drift / target * HUNDRED if drift is not None and target else None,
        mark_price=mark,
        liquidation_price=(snap.liquidation_price_usdt if snap is not None
                           else _dec(observed.get("liquidation_price"))),
        runway_pct=_dec(figures.get("runway_pct")), margin_ratio=_dec(figures.get("margin_ratio")),
        hedge_entry_price=accounts.hedge_entry, locked_value=accounts.locked_value,
        hedged_value=accounts.hedged_value, deviation_pct=accounts.deviation_pct,
        unrealized_pnl=snap.unrealized_pnl_usdt if snap is not None else None,
        realized_pnl=accounts.hedge_realised,
        hedge_leg=LegPnl(realized=accounts.hedge_realised, unrealized=accounts.hedge_unrealised),
        spot_leg=LegPnl(realized=accounts.spot_realised, unrealized=accounts.spot_unrealised),
        funding_total=accounts.funding_total, funding_received=accounts.funding_received,
        funding_paid=accounts.funding_paid,
        funding_is="income" if accounts.funding_total >= 0 else "cost",
        fees_total=accounts.fees_total,
        effective_locked_price=accounts.effective_locked_price,
        hedge_effectiveness=accounts.hedge_effectiveness,
        last_cycle_at=iso(ts if ts is not None else (snap.ts_ms if snap else None)),
        lease_holder=lease_holder(store.engine, who.name, account or (row.account if row else "")),
    )


def series(store: HedgeStore, who: HedgeIdentity, from_ms: int | None = None,
           to_ms: int | None = None) -> Series:
    """Each snapshot with hedged and unhedged value, cumulative funding and fees at its time."""
    row = store.hedge(who.name)
    kind = row.exposure_kind if row is not None else who.kind
    snaps = snapshots(store, who.name, from_ms, to_ms)
    points = []
    for snap, run in zip(snaps, walk(trades(store, who.name, to_ms), funding(store, who.name),
                                     (s.ts_ms for s in snaps)), strict=True):
        exposure = snap.hedge_qty_base if kind == PURCHASE else snap.spot_qty_base
        unhedged = exposure * snap.mark_price_usdt
        value = hedged_value(kind, run.position, run.funding - run.fees, snap.spot_qty_base,
                             exposure, snap.mark_price_usdt)
        points.append(SeriesPoint(
            time=iso(snap.ts_ms) or "", ts_ms=snap.ts_ms, spot_quantity=snap.spot_qty_base,
            hedge_quantity=snap.hedge_qty_base, mark_price=snap.mark_price_usdt,
            liquidation_price=snap.liquidation_price_usdt, unhedged_value=unhedged,
            hedged_value=unhedged if value is None else value,
            funding_cumulative=run.funding, fees_cumulative=run.fees))
    return Series(hedge=who.name, points=points)


def margin_moves(store: HedgeStore, hedge_id: str) -> list[MarginMoveRow]:
    """The hedge's margin moves and transfers, oldest first."""
    with store.session() as s:
        return list(s.scalars(select(MarginMoveRow).where(MarginMoveRow.hedge_id == hedge_id)
                              .order_by(MarginMoveRow.ts_ms, MarginMoveRow.id)).all())

