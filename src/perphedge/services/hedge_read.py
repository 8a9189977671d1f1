"""Reads of the store for the hedge's views: status rows with accounts, history pages, series.

The arithmetic lives in :mod:`perphedge.services.accounts`; this module only gathers its input
(fills, funding, snapshots, the last cycle's figures) and builds the shared pydantic models.
The service's own tables are read as ``adapters/store/schema.py`` defines them: the run lease
(``leases``, one row per account), the alerts ``serve`` sent (``alerts``) and its heartbeats.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.schema import (
    AlertRow,
    DecisionRow,
    FillRow,
    FundingRow,
    HeartbeatRow,
    LeaseRow,
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
from perphedge.services.run_lease import lease_name

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


def lease_holder(store: HedgeStore, account: str, now_ms: int | None = None) -> str | None:
    """Who holds the account's run lease (``host/pid/token``, see ``adapters/store/lease.py``).

    None when no process holds it: never taken, given back (a release deletes the row), or
    expired at ``now_ms`` (its holder died without giving it back).
    """
    with store.session() as s:
        row = s.get(LeaseRow, lease_name(account))
    if row is None or (now_ms is not None and row.expires_ms < now_ms):
        return None
    return row.holder


def sent_alerts(store: HedgeStore, hedge: str, limit: int = 100) -> list[dict[str, Any]]:
    """The newest ``limit`` alerts ``serve`` sent about the hedge (its ``alerts`` rows)."""
    with store.session() as s:
        rows = s.scalars(select(AlertRow).where(AlertRow.hedge_id == hedge)
                         .order_by(AlertRow.ts_ms.desc(), AlertRow.id.desc())
                         .limit(limit)).all()
    return [{"time": iso(r.ts_ms), "ts_ms": r.ts_ms, "code": r.kind, "message": r.title,
             "body": r.body, "delivered": r.delivered, "delivery": r.delivery,
             "source": "notifier"} for r in rows]


def sent_alert_counts(store: HedgeStore) -> dict[str, int]:
    """Alerts ``serve`` sent, per hedge (its own, hedge-less alerts left out)."""
    with store.session() as s:
        rows = s.execute(select(AlertRow.hedge_id, func.count())
                         .where(AlertRow.hedge_id.is_not(None))
                         .group_by(AlertRow.hedge_id)).all()
    return {str(hedge): int(n) for hedge, n in rows}


def heartbeats_ms(store: HedgeStore) -> dict[str, int]:
    """Each hedge's last heartbeat written by ``serve`` (``heartbeats`` rows), Unix ms."""
    with store.session() as s:
        rows = s.execute(select(HeartbeatRow.hedge_id, HeartbeatRow.ts_ms)).all()
    return {hedge: int(ts) for hedge, ts in rows}


def _points(rows: Sequence[Any], kind: str, target: Decimal | None) -> tuple[Point, ...]:
    sign = 1 if kind == PURCHASE else -1
    out = []
    for r in rows:
        exposure = -(target if target is not None else r.hedge_qty_base) if kind == PURCHASE \
            else r.spot_qty_base
        out.append(Point(r.ts_ms, exposure, sign * r.hedge_qty_base, r.mark_price_usdt))
    return tuple(out)


def hedge_view(store: HedgeStore, who: HedgeIdentity, account: str = "",
               now_ms: int | None = None) -> HedgeView:
    """The hedge as of its last cycle, with its accounts (store only: no exchange call).

    ``lease_holder`` is the process holding the account's run lease at ``now_ms``.
    """
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
        lease_holder=lease_holder(store, account or (row.account if row else ""), now_ms),
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

