"""``perphedge serve``: every configured hedge on its decision interval, for months.

Each hedge runs on its own grid of deadlines (:mod:`perphedge.services.schedule`: a slow
cycle does not push the later ones back, missed ones are skipped). The accounts' run leases
are taken first and renewed before every cycle and while waiting. After each cycle the hedge's
heartbeat is written, its alerts evaluated and sent, and the optional heartbeat URL pinged.
A stop request (SIGTERM, SIGINT) is honoured between cycles: the cycle running finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from perphedge.adapters.store.lease import LeaseLost
from perphedge.adapters.store.service_records import Heartbeat, ServiceRecords
from perphedge.config.models import HedgeConfig, parse_interval_ms
from perphedge.engine.loop import CycleReport, HedgeEngine
from perphedge.errors import ExchangeError, InputError
from perphedge.services.alert_center import AlertCenter
from perphedge.services.alert_rules import Notice
from perphedge.services.compose import Composition
from perphedge.services.cycle_facts import FactsTracker
from perphedge.services.run_lease import AccountLeases
from perphedge.services.schedule import next_deadline, skipped

log = logging.getLogger("perphedge.serve")

#: Alerts some channel refused are tried again at most this often.
RETRY_EVERY_MS = 60_000

Ping = Callable[[], Awaitable[None]]
#: Told each cycle's wall time: (hedge, seconds) — the web app's cycle-duration histogram.
CycleObserver = Callable[[str, float], None]


class HedgeServer:
    """The hedges of one configuration, served until asked to stop."""

    def __init__(self, comp: Composition, hedges: Sequence[HedgeConfig], leases: AccountLeases,
                 records: ServiceRecords, alerts: AlertCenter, ping: Ping | None = None,
                 on_cycle: CycleObserver | None = None,
                 cycle_lock: asyncio.Lock | None = None) -> None:
        self.comp = comp
        self.hedges = list(hedges)
        self.leases = leases
        self.records = records
        self.alerts = alerts
        self.ping = ping
        self.on_cycle = on_cycle
        #: Held through each cycle; whatever else acts on the hedges (the web's close) takes it.
        self.cycle_lock = cycle_lock or asyncio.Lock()
        self.clock = comp.clock
        self.facts = FactsTracker(comp.store, self.hedges)
        self._last_renew_ms = 0
        self._last_retry_ms = 0

    async def serve(self, stop: asyncio.Event) -> None:
        """Take the leases, run until ``stop`` is set, then say so and give the leases back."""
        # The venues first (keys, URLs: bad input is refused before anything is taken or sent).
        try:
            engines = {h.name: self.comp.engine(h) for h in self.hedges}
            self.leases.acquire()
        except BaseException:
            await self.comp.close_venues()
            raise
        self._last_renew_ms = self.clock.now_ms()
        names = ", ".join(h.name for h in self.hedges)
        log.info("service started", extra={"fields": {
            "hedges": [h.name for h in self.hedges], "holder": self.leases.owner.holder,
            "lease_ttl_ms": self.leases.ttl_ms,
            "alert_channels": self.alerts.notifier.channels or "none configured"}})
        reason = "stopped on request (SIGTERM or SIGINT)"
        self.alerts.start()
        self._last_retry_ms = self.clock.now_ms()  # old failures: after the first minute
        renewer = asyncio.create_task(self._keep_renewing(), name="lease-renewer")
        try:
            self._event("started", "perphedge serve started",
                        f"serving {names} as {self.leases.owner.holder}")
            await self._loop(stop, engines)
        except LeaseLost as lost:
            reason = str(lost)
            raise
        except BaseException as err:
            reason = f"stopped by an error: {type(err).__name__}: {err}"
            raise
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            log.info("service stopping", extra={"fields": {"reason": reason}})
            with contextlib.suppress(Exception):
                self._event("stopped", "perphedge serve stopped", reason)
                await self.alerts.stop()
            self.leases.release()
            await self.comp.close_venues()

    async def _loop(self, stop: asyncio.Event, engines: dict[str, HedgeEngine]) -> None:
        intervals = {h.name: parse_interval_ms(h.decision_interval) for h in self.hedges}
        due = dict.fromkeys(intervals, self.clock.now_ms())
        while not stop.is_set():
            now = self.clock.now_ms()
            ready = [h for h in self.hedges if due[h.name] <= now]
            if not ready:
                renew_at = self._last_renew_ms + int(self.leases.renew_every_s * 1000)
                if now >= renew_at:
                    self._renew()
                    continue
                await self._wait(stop, (min(min(due.values()), renew_at) - now) / 1000)
                continue
            self._renew()
            for hedge in ready:
                await self._cycle(hedge, engines[hedge.name])
                after = next_deadline(due[hedge.name], intervals[hedge.name],
                                      self.clock.now_ms())
                missed = skipped(due[hedge.name], intervals[hedge.name], after)
                if missed:
                    log.warning("cycles skipped", extra={"fields": {
                        "hedge": hedge.name, "skipped": missed}})
                due[hedge.name] = after
                if stop.is_set():
                    break
            await self._retry_alerts()

    async def _wait(self, stop: asyncio.Event, seconds: float) -> None:
        """Sleep ``seconds`` on the clock, or until ``stop`` is set, whichever comes first."""
        sleeping = asyncio.ensure_future(self.clock.sleep(max(0.0, seconds)))
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({sleeping, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for task in (sleeping, stopping):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _keep_renewing(self) -> None:
        """Renew the leases on the wall clock while a long cycle awaits the exchange.

        The loop renews before every cycle too; this keeps a slow cycle (an exchange timing
        out) from letting the lease lapse and another process take the account mid-cycle.
        A loss found here stops the loop before its next cycle (its own renewal raises).
        """
        while True:
            await asyncio.sleep(self.leases.renew_every_s)
            try:
                self._renew()
            except LeaseLost as lost:
                log.error("lease lost", extra={"fields": {"reason": str(lost)}})
                return

    def _renew(self) -> None:
        self.leases.renew()
        self._last_renew_ms = self.clock.now_ms()

    async def _cycle(self, hedge: HedgeConfig, engine: HedgeEngine) -> None:
        started = time.perf_counter()
        try:
            async with self.cycle_lock:
                report = await engine.cycle()
        except ExchangeError as err:  # raised outside the engine's own catch (e.g. row reads)
            report = CycleReport(hedge.name, self.clock.now_ms(), "error",
                                 [f"exchange error, will retry next cycle: {err}"])
        if self.on_cycle is not None:
            self.on_cycle(hedge.name, time.perf_counter() - started)
        facts = self.facts.after(hedge, report)
        self.records.beat(Heartbeat(hedge.name, self.clock.now_ms(), report.status,
                                    facts.failing_cycles, self.leases.owner.holder,
                                    "; ".join(report.lines)))
        level = logging.WARNING if report.status in ("error", "refused") else logging.INFO
        log.log(level, "cycle", extra={"fields": {
            "hedge": hedge.name, "status": report.status, "state": facts.state,
            "runway_pct": facts.runway_pct, "drift_pct": facts.drift_pct,
            "failing_cycles": facts.failing_cycles, "lines": report.lines}})
        await self.alerts.after_cycle(facts)
        if self.ping is not None:
            await self.ping()

    async def _retry_alerts(self) -> None:
        now = self.clock.now_ms()
        if now - self._last_retry_ms >= RETRY_EVERY_MS:
            self._last_retry_ms = now
            self.alerts.submit_retry()

    def _event(self, what: str, title: str, body: str) -> None:
        ts = self.clock.now_ms()
        self.alerts.submit(Notice(f"service:{what}:{ts}", None, "event", title, body), ts)




def build_server(comp: Composition, names: Sequence[str] = (),
                 on_cycle: CycleObserver | None = None,
                 cycle_lock: asyncio.Lock | None = None) -> HedgeServer:
    """The server of the configured hedges (or of ``names``), wired from the composition."""
    from perphedge.adapters.notify.heartbeat_ping import ping as ping_url
    from perphedge.services.alert_rules import AlertRules

    hedges = [comp.hedge(n) for n in names] if names else list(comp.config.hedges)
    if not hedges:
        raise InputError("hedges", "at least one [[hedges]] entry in the config", "none")
    records = ServiceRecords(comp.store.engine)
    alerts = AlertCenter(AlertRules.from_config(comp.config.alerts), comp.notifier(), records)
    url = comp.config.alerts.heartbeat_url
    ping: Ping | None = None
    if url is not None:
        async def ping() -> None:
            problem = await asyncio.to_thread(ping_url, url)
            if problem is not None:
                log.warning("heartbeat ping failed", extra={"fields": {"problem": problem}})
    return HedgeServer(comp, hedges, comp.leases(hedges), records, alerts, ping, on_cycle,
                       cycle_lock)
