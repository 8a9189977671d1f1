"""The service's own rows: heartbeats per hedge, alerts with their delivery, conditions holding."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from perphedge.adapters.store.schema import AlertRow, AlertStateRow, HeartbeatRow
from perphedge.services.alert_rules import Holding, Notice
from perphedge.services.notifier import Delivery

#: A failed delivery is tried again at most this many times in all.
MAX_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A hedge's last cycle in the service."""

    hedge_id: str
    ts_ms: int
    status: str
    failing_cycles: int
    holder: str
    detail: str


class ServiceRecords:
    """Reads and writes of ``heartbeats``, ``alerts`` and ``alert_states``."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def _session(self) -> Session:
        return self._sessions()

    # heartbeats -------------------------------------------------------------------------------
    def beat(self, beat: Heartbeat) -> None:
        """Write the hedge's heartbeat (one row per hedge; its lease holder is the only writer)."""
        with self._session() as s, s.begin():
            row = s.get(HeartbeatRow, beat.hedge_id)
            if row is None:
                s.add(HeartbeatRow(hedge_id=beat.hedge_id, ts_ms=beat.ts_ms, status=beat.status,
                                   failing_cycles=beat.failing_cycles, holder=beat.holder,
                                   detail=beat.detail[:2000]))
            else:
                row.ts_ms, row.status, row.failing_cycles = (beat.ts_ms, beat.status,
                                                             beat.failing_cycles)
                row.holder, row.detail = beat.holder, beat.detail[:2000]

    def heartbeat(self, hedge_id: str) -> Heartbeat | None:
        with self._session() as s:
            row = s.get(HeartbeatRow, hedge_id)
        if row is None:
            return None
        return Heartbeat(row.hedge_id, row.ts_ms, row.status, row.failing_cycles, row.holder,
                         row.detail)

    # conditions holding -----------------------------------------------------------------------
    def holding(self, hedge_id: str | None) -> dict[str, Holding]:
        """The conditions of ``hedge_id`` (None: the service's own) alerted on and not resolved."""
        with self._session() as s:
            rows = s.scalars(select(AlertStateRow).where(AlertStateRow.hedge_id == hedge_id)
                             if hedge_id is not None else
                             select(AlertStateRow).where(AlertStateRow.hedge_id.is_(None))).all()
        return {r.key: Holding(r.key, r.hedge_id, r.title, r.since_ms, r.last_sent_ms)
                for r in rows}

    def replace_holding(self, hedge_id: str, holding: Iterable[Holding]) -> None:
        with self._session() as s, s.begin():
            s.execute(delete(AlertStateRow).where(AlertStateRow.hedge_id == hedge_id))
            s.add_all(AlertStateRow(key=h.key, hedge_id=h.hedge_id, title=h.title,
                                    since_ms=h.since_ms, last_sent_ms=h.last_sent_ms)
                      for h in holding)

    # alerts -----------------------------------------------------------------------------------
    def record_alert(self, notice: Notice, ts_ms: int, channels: int) -> int:
        """Store an alert before it is sent, every channel still to take it; returns its id."""
        row = AlertRow(key=notice.key, hedge_id=notice.hedge_id, kind=notice.kind,
                       title=notice.title[:200], body=notice.body, ts_ms=ts_ms, delivered=False,
                       delivery="" if channels else "no channel configured",
                       failed_channels=",".join(map(str, range(channels))), attempts=1)
        with self._session() as s, s.begin():
            s.add(row)
        return int(row.id)

    def channel_result(self, alert_id: int, delivery: Delivery) -> None:
        """Record how one channel took an alert (a channel that took it leaves the list)."""
        with self._session() as s, s.begin():
            row = s.get(AlertRow, alert_id)
            if row is None:
                return
            pending = {int(i) for i in row.failed_channels.split(",") if i}
            if delivery.ok:
                pending.discard(delivery.index)
            note = delivery.describe()
            row.delivery = f"{row.delivery}; {note}"[-4000:] if row.delivery else note
            row.failed_channels = ",".join(map(str, sorted(pending)))
            row.delivered = not pending

    def to_retry(self) -> list[AlertRow]:
        """Alerts some channel did not take yet, oldest first (up to ``MAX_ATTEMPTS`` rounds)."""
        with self._session() as s:
            return list(s.scalars(select(AlertRow).where(AlertRow.failed_channels != "",
                                                         AlertRow.attempts < MAX_ATTEMPTS)
                                  .order_by(AlertRow.id)).all())

    def count_attempt(self, alert_id: int) -> None:
        with self._session() as s, s.begin():
            s.execute(update(AlertRow).where(AlertRow.id == alert_id)
                      .values(attempts=AlertRow.attempts + 1))

    def alerts(self, limit: int = 200) -> list[AlertRow]:
        """The latest alerts, newest first."""
        with self._session() as s:
            return list(s.scalars(select(AlertRow).order_by(AlertRow.id.desc()).limit(limit)))
