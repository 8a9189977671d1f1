"""Live hedging use cases: open, run, close, status, history, pause and resume.

The CLI, a web layer and the demo call these. Whether orders are sent is decided once, in the
composition (:mod:`perphedge.services.compose`); here an engine is asked to run a cycle or to
close, and the store is read for status and history (no exchange call for those).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select

from perphedge.adapters.store.schema import DecisionRow, FundingRow, MarginMoveRow
from perphedge.config.models import HedgeConfig, parse_interval_ms
from perphedge.engine import reconcile as rc
from perphedge.engine.loop import CycleReport, HedgeEngine, ensure_hedge_row
from perphedge.errors import InputError
from perphedge.services.compose import Composition
from perphedge.services.hedge_view import history_dict, status_row
from perphedge.services.schedule import next_deadline

OnCycle = Callable[[int, list[CycleReport]], None]


class HedgeService:
    """The hedges of one configuration, over one store."""

    def __init__(self, composition: Composition) -> None:
        self.comp = composition
        self.store = composition.store

    # ------------------------------------------------------------------ acting (async)
    async def open(self, name: str) -> CycleReport:
        """One cycle of the hedge's policy, which opens the hedge when there is none yet."""
        hedge = self.comp.hedge(name)
        row = ensure_hedge_row(self.store, hedge, self.comp.clock.now_ms())
        if row.state == rc.CLOSED and self.comp.send:
            self.store.set_hedge_state(name, rc.ACTIVE, self.comp.clock.now_ms())
        try:
            return await self.comp.engine(hedge).cycle()
        finally:
            await self.comp.close_venues()

    async def run(self, names: Sequence[str], cycles: int | None,
                  on_cycle: OnCycle | None = None, *,
                  freeze_heap: bool = False) -> list[CycleReport]:
        """Cycle the hedges (all configured when ``names`` is empty) ``cycles`` times or forever.

        Rounds start on a grid of the shortest ``decision_interval`` of the hedges (missed
        deadlines are skipped, a slow round does not shift the later ones).
        When orders are sent, the accounts' run leases are taken first and renewed before
        every cycle (:class:`~perphedge.adapters.store.lease.LeaseHeld` names another holder).
        ``freeze_heap`` (a long-running process, ``perphedge run``): after the first cycle has
        loaded everything, the objects alive then are moved out of the garbage collector's
        sight (:func:`gc.freeze`), so a full collection no longer walks every module and
        market table: on the latency benchmark one such collection took 50 ms, ten times the
        budget from an observed change to the order.
        """
        hedges = self._pick(names)
        if cycles is not None and cycles < 1:
            raise InputError("--cycles", "a number of at least 1", cycles)
        engines: list[HedgeEngine] = [self.comp.engine(h) for h in hedges]
        interval_ms = min(parse_interval_ms(h.decision_interval) for h in hedges)
        deadline_ms = self.comp.clock.now_ms()
        reports: list[CycleReport] = []
        n = 0
        leases = self.comp.leases(hedges) if self.comp.send else None
        if leases is not None:
            leases.acquire()
        try:
            while cycles is None or n < cycles:
                if leases is not None:
                    leases.renew()
                reports = [await engine.cycle() for engine in engines]
                n += 1
                if freeze_heap and n == 1:
                    gc.collect()
                    gc.freeze()
                if on_cycle is not None:
                    on_cycle(n, reports)
                if cycles is None or n < cycles:
                    # By deadline: a slow round does not push the later ones back.
                    deadline_ms = next_deadline(deadline_ms, interval_ms,
                                                self.comp.clock.now_ms())
                    await self.comp.clock.sleep((deadline_ms - self.comp.clock.now_ms()) / 1000)
        finally:
            if leases is not None:
                leases.release()
            await self.comp.close_venues()
        return reports

    async def close(self, name: str, *, sell_spot: bool) -> CycleReport:
        """Unwind the hedge with reduce-only orders (selling the spot too with ``sell_spot``)."""
        hedge = self.comp.hedge(name)
        try:
            return await self.comp.engine(hedge).close(sell_spot=sell_spot)
        finally:
            await self.comp.close_venues()

    # ------------------------------------------------------------------ the kill switch
    def pause(self, name: str) -> str:
        """Stop acting on the hedge (the loop checks this before any action)."""
        hedge = self.comp.hedge(name)
        ensure_hedge_row(self.store, hedge, self.comp.clock.now_ms())
        self.store.set_hedge_state(name, rc.PAUSED, self.comp.clock.now_ms())
        self.store.record_decision(name, self.comp.clock.now_ms(), "pause", {})
        return rc.PAUSED

    def resume(self, name: str) -> str:
        """Act again; a halted hedge first adopts the position the exchange shows."""
        hedge = self.comp.hedge(name)
        row = ensure_hedge_row(self.store, hedge, self.comp.clock.now_ms())
        state = rc.ADOPTING if row.state == rc.HALTED else rc.ACTIVE
        self.store.set_hedge_state(name, state, self.comp.clock.now_ms())
        self.store.record_decision(name, self.comp.clock.now_ms(), "resume",
                                   {"from": row.state, "to": state})
        return state

    # ------------------------------------------------------------------ reading
    def status(self, names: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Per hedge: quantities, drift, mark, liquidation, runway, margin ratio, PnL, totals."""
        rows = []
        for hedge in self._pick(names):
            with self.store.session() as s:
                result = s.scalars(
                    select(DecisionRow)
                    .where(DecisionRow.hedge_id == hedge.name, DecisionRow.kind == "result")
                    .order_by(DecisionRow.ts_ms.desc(), DecisionRow.id.desc()).limit(1)
                ).one_or_none()
            rows.append(status_row(
                hedge, self.store.hedge(hedge.name), self.store.latest_snapshot(hedge.name),
                result, self.store.funding_total(hedge.name), self.store.fees_total(hedge.name),
            ))
        return rows

    def history(self, name: str, limit: int = 100) -> dict[str, Any]:
        """The hedge's audit log, orders, funding payments and margin moves."""
        self.comp.hedge(name)
        with self.store.session() as s:
            funding = s.scalars(select(FundingRow).where(FundingRow.hedge_id == name)
                                .order_by(FundingRow.ts_ms)).all()
            moves = s.scalars(select(MarginMoveRow).where(MarginMoveRow.hedge_id == name)
                              .order_by(MarginMoveRow.id)).all()
        return history_dict(name, self.store.decisions(name, limit), self.store.orders(name),
                            funding, moves)

    def _pick(self, names: Sequence[str]) -> list[HedgeConfig]:
        if names:
            return [self.comp.hedge(n) for n in names]
        if not self.comp.config.hedges:
            raise InputError("hedges", "at least one [[hedges]] entry in the config", "none")
        return list(self.comp.config.hedges)
