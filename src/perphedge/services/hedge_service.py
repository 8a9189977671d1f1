"""Live hedging use cases: open, run, close, status, history, pause and resume.

The CLI, a web layer and the demo call these. Whether orders are sent is decided once, in the
composition (:mod:`perphedge.services.compose`); here an engine is asked to run a cycle or to
close, and the store is read for status and history (no exchange call for those).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import select

from perphedge.adapters.store.schema import FundingRow, MarginMoveRow
from perphedge.config.models import HedgeConfig, parse_interval_ms
from perphedge.engine import reconcile as rc
from perphedge.engine.loop import CycleReport, HedgeEngine, ensure_hedge_row
from perphedge.errors import DataError, InputError
from perphedge.services.compose import Composition
from perphedge.services.hedge_models import HedgeView
from perphedge.services.hedge_read import HedgeIdentity, hedge_view
from perphedge.services.hedge_view import history_dict
from perphedge.services.run_lease import AccountLeases
from perphedge.services.schedule import next_deadline

OnCycle = Callable[[int, list[CycleReport]], None]
#: Compare-and-set attempts of a user's state change before giving up (each loses only to
#: another writer's committed change, so a few are plenty).
STATE_CHANGE_ATTEMPTS = 20


class HedgeService:
    """The hedges of one configuration, over one store."""

    def __init__(self, composition: Composition) -> None:
        self.comp = composition
        self.store = composition.store

    # ------------------------------------------------------------------ acting (async)
    async def open(self, name: str) -> CycleReport:
        """One cycle of the hedge's policy, which opens the hedge when there is none yet.

        Sending, it holds the account's run lease for that cycle, as ``run`` does: while a
        service runs the account it refuses (:class:`~perphedge.adapters.store.lease.LeaseHeld`).
        """
        hedge = self.comp.hedge(name)
        ensure_hedge_row(self.store, hedge, self.comp.clock.now_ms())
        try:
            with self._leased([hedge]):
                if self.comp.send:
                    self._change_state(name, lambda now: rc.ACTIVE if now == rc.CLOSED else None)
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
        When the first cycle of every hedge failed with an answer retrying cannot change
        (``CycleReport.final``: a rejected key, say) the run stops there; later failures,
        and temporary ones (the exchange unreachable), are retried on the next cycle.
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
        try:
            with self._leased(hedges) as leases:
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
                    if n == 1 and all(r.final for r in reports):
                        break  # no hedge could start (wrong keys, say): retrying cannot fix it
                    if cycles is None or n < cycles:
                        # By deadline: a slow round does not push the later ones back.
                        deadline_ms = next_deadline(deadline_ms, interval_ms,
                                                    self.comp.clock.now_ms())
                        wait_ms = deadline_ms - self.comp.clock.now_ms()
                        await self.comp.clock.sleep(wait_ms / 1000)
        finally:
            await self.comp.close_venues()
        return reports

    async def close(self, name: str, *, sell_spot: bool, take_lease: bool = True) -> CycleReport:
        """Unwind the hedge with reduce-only orders (selling the spot too with ``sell_spot``).

        Sending, it holds the account's run lease meanwhile, so it never interleaves with an
        engine in another process (``take_lease=False``: the caller runs beside this process's
        own engine, which holds the lease, and keeps the close between its cycles).
        """
        hedge = self.comp.hedge(name)
        try:
            with self._leased([hedge], take=take_lease):
                return await self.comp.engine(hedge).close(sell_spot=sell_spot)
        finally:
            await self.comp.close_venues()

    @contextlib.contextmanager
    def _leased(self, hedges: Sequence[HedgeConfig], *,
                take: bool = True) -> Iterator[AccountLeases | None]:
        """The accounts' run leases held through the block when orders are sent (else None)."""
        if not (self.comp.send and take):
            yield None
            return
        leases = self.comp.leases(hedges)
        leases.acquire()
        try:
            yield leases
        finally:
            leases.release()

    # ------------------------------------------------------------------ the kill switch
    def pause(self, name: str) -> str:
        """Stop acting on the hedge (the loop checks this before any action)."""
        hedge = self.comp.hedge(name)
        ensure_hedge_row(self.store, hedge, self.comp.clock.now_ms())
        self._change_state(name, lambda _now: rc.PAUSED)
        self.store.record_decision(name, self.comp.clock.now_ms(), "pause", {})
        return rc.PAUSED

    def resume(self, name: str) -> str:
        """Act again; a halted hedge first adopts the position the exchange shows."""
        hedge = self.comp.hedge(name)
        ensure_hedge_row(self.store, hedge, self.comp.clock.now_ms())
        before, state = self._change_state(
            name, lambda now: rc.ADOPTING if now == rc.HALTED else rc.ACTIVE)
        self.store.record_decision(name, self.comp.clock.now_ms(), "resume",
                                   {"from": before, "to": state})
        return state

    def _change_state(self, name: str, decide: Callable[[str], str | None]) -> tuple[str, str]:
        """Apply the user's change to the state it finds: ``(before, after)``.

        Compare-and-set: ``decide`` maps the current state to the new one (None: leave it);
        when an engine's transition lands between the read and the write, the state is read
        again and decided anew, so the user's word is always the newest one.
        """
        for _ in range(STATE_CHANGE_ATTEMPTS):
            row = self.store.hedge(name)
            if row is None:
                raise DataError(f"no hedge {name!r} in the store")
            new = decide(row.state)
            if new is None:
                return row.state, row.state
            if self.store.set_hedge_state(name, new, self.comp.clock.now_ms(),
                                          expected_version=row.state_version):
                return row.state, new
        raise DataError(f"hedge {name!r}: its state kept changing under "
                        f"{STATE_CHANGE_ATTEMPTS} attempts to set it; try again")

    # ------------------------------------------------------------------ reading
    def status(self, names: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Per hedge: quantities, drift, liquidation, runway, margin ratio, PnL, accounts."""
        return [view.model_dump(mode="json") for view in self.views(names)]

    def views(self, names: Sequence[str] = ()) -> list[HedgeView]:
        """Per hedge, as of its last cycle, with its accounts (the store only)."""
        now_ms = self.comp.clock.now_ms()
        return [hedge_view(self.store, HedgeIdentity(h.name, h.asset, h.kind), h.account, now_ms)
                for h in self._pick(names)]

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
