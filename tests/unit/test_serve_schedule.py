"""The service's loop with a fake venue and a manual clock: cycles on a deadline grid (a slow
cycle does not shift the later ones; missed deadlines are skipped), the lease is renewed, a
stop lets the running cycle finish and gives the lease back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from perphedge.adapters.store.lease import LeaseHeld, LeaseOwner, LeaseStore
from perphedge.adapters.store.service_records import ServiceRecords
from perphedge.config.models import PerphedgeConfig
from perphedge.engine.clock import ManualClock
from perphedge.engine.venue import Venue, VenuePosition
from perphedge.services.alert_center import AlertCenter
from perphedge.services.alert_rules import AlertRules
from perphedge.services.compose import compose
from perphedge.services.hedge_service import HedgeService
from perphedge.services.notifier import Delivery
from perphedge.services.serve_service import HedgeServer
from tests.unit.test_engine_fake_venue import T0, FakeVenue
from tests.unit.test_engine_service import CONFIG


class SlowOnce(FakeVenue):
    """The third position read takes 70 s: the second cycle's (the first reads twice: it acts,
    then observes again), so the deadlines at 60 s and 90 s pass meanwhile."""

    clock: ManualClock
    reads = 0

    async def positions(self) -> list[VenuePosition]:
        self.reads += 1
        if self.reads == 3:
            self.clock.advance_ms(70_000)
        return await super().positions()


class Inbox:
    """A notifier that keeps what it was given (one channel that always takes it)."""

    def __init__(self) -> None:
        self.titles: list[str] = []

    @property
    def channels(self) -> list[str]:
        return ["inbox://"]

    def send(self, title: str, body: str, only: object = None) -> list[Delivery]:
        self.titles.append(title)
        return [Delivery(0, "inbox://", True)]


def build(tmp_path: Path, venue: SlowOnce) -> tuple[HedgeServer, Inbox]:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")

    def factory(account: str, config: PerphedgeConfig) -> Venue:
        return venue

    comp = compose(path, f"sqlite:///{tmp_path / 's.db'}", send=True, clock=venue.clock,
                   venue_factory=factory)
    hedges = list(comp.config.hedges)
    records = ServiceRecords(comp.store.engine)
    inbox = Inbox()
    return HedgeServer(comp, hedges, comp.leases(hedges), records,
                       AlertCenter(AlertRules(), inbox, records)), inbox


def result_times(server: HedgeServer) -> list[int]:
    return sorted({d.ts_ms - T0 for d in server.comp.store.decisions("btc", 100)
                   if d.kind == "result"})


def test_cycles_follow_the_deadline_grid_and_skip_missed_deadlines(tmp_path: Path) -> None:
    venue = SlowOnce.with_funds(btc="1", usdt="40000")
    venue.clock = clock = ManualClock(T0)
    server, inbox = build(tmp_path, venue)
    stop = asyncio.Event()

    async def stop_later() -> None:
        while clock.now_ms() < T0 + 200_000:
            await asyncio.sleep(0)
        stop.set()

    async def main() -> None:
        await asyncio.gather(server.serve(stop), stop_later())

    try:
        asyncio.run(main())
        starts = result_times(server)
        leases = LeaseStore(server.comp.store.engine).all()
    finally:
        server.comp.close()
    # 30 s is slow (ends at 100 s): 60 s and 90 s are skipped, the grid stays on 30 s steps;
    # the stop comes while waiting for 210 s.
    assert starts == [0, 30_000, 120_000, 150_000, 180_000]
    assert leases == []  # given back on stop
    assert inbox.titles[0] == "perphedge serve started"
    assert "btc: hedge opened" in inbox.titles
    assert inbox.titles[-1] == "perphedge serve stopped"


class StopDuringRead(SlowOnce):
    """A stop request arrives in the middle of the second cycle."""

    stop: asyncio.Event

    async def positions(self) -> list[VenuePosition]:
        if self.reads == 2:
            self.stop.set()
        return await super().positions()


def test_a_stop_during_a_cycle_lets_it_finish_and_starts_no_other(tmp_path: Path) -> None:
    venue = StopDuringRead.with_funds(btc="1", usdt="40000")
    venue.clock = ManualClock(T0)
    venue.stop = asyncio.Event()
    server, inbox = build(tmp_path, venue)
    try:
        asyncio.run(server.serve(venue.stop))
        starts = result_times(server)
    finally:
        server.comp.close()
    assert starts == [0, 30_000]  # the second cycle recorded its result, no third began
    assert inbox.titles[-1] == "perphedge serve stopped"


def test_run_also_keeps_to_the_grid(tmp_path: Path) -> None:
    venue = SlowOnce.with_funds(btc="1", usdt="40000")
    venue.clock = ManualClock(T0)
    server, _inbox = build(tmp_path, venue)
    service = HedgeService(server.comp)
    try:
        asyncio.run(service.run([], cycles=4))
        starts = result_times(server)
    finally:
        server.comp.close()
    assert starts == [0, 30_000, 120_000, 150_000]


class SlowRead(FakeVenue):
    """The first position read takes 2 s of wall time; halfway through, another process
    tries to take the account's lease (its time to live is 1 s)."""

    leases: LeaseStore
    attempts: list[str]

    async def positions(self) -> list[VenuePosition]:
        if not self.attempts:
            await asyncio.sleep(1.5)
            try:
                self.leases.acquire("account:main", LeaseOwner("other", 2, "x"),
                                    int(time.time() * 1000), 1_000)
                self.attempts.append("taken over")
            except LeaseHeld:
                self.attempts.append("refused")
            await asyncio.sleep(0.5)
        return await super().positions()


def test_the_lease_is_renewed_while_a_slow_cycle_waits(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG + '\n[service]\nlease_ttl = "1s"\n', encoding="utf-8")
    venue = SlowRead.with_funds(btc="1", usdt="40000")
    venue.attempts = []

    def factory(account: str, config: PerphedgeConfig) -> Venue:
        return venue

    comp = compose(path, f"sqlite:///{tmp_path / 's.db'}", send=True, venue_factory=factory)
    venue.leases = LeaseStore(comp.store.engine)
    hedges = list(comp.config.hedges)
    records = ServiceRecords(comp.store.engine)
    server = HedgeServer(comp, hedges, comp.leases(hedges), records,
                         AlertCenter(AlertRules(), Inbox(), records))
    stop = asyncio.Event()

    async def stop_after_first_cycle() -> None:
        while records.heartbeat("btc") is None:
            await asyncio.sleep(0.05)
        stop.set()

    async def main() -> None:
        await asyncio.gather(server.serve(stop), stop_after_first_cycle())

    try:
        asyncio.run(main())
    finally:
        comp.close()
    assert venue.attempts == ["refused"]


def test_a_hedge_closed_from_another_terminal_is_an_alert_once(tmp_path: Path) -> None:
    venue = SlowOnce.with_funds(btc="1", usdt="40000")
    venue.clock = clock = ManualClock(T0)
    server, inbox = build(tmp_path, venue)
    stop = asyncio.Event()

    async def close_then_stop() -> None:
        while clock.now_ms() < T0 + 150_000:
            await asyncio.sleep(0)
        server.comp.store.set_hedge_state("btc", "closed", clock.now_ms())  # `close --yes`
        while clock.now_ms() < T0 + 300_000:
            await asyncio.sleep(0)
        stop.set()

    async def main() -> None:
        await asyncio.gather(server.serve(stop), close_then_stop())

    try:
        asyncio.run(main())
    finally:
        server.comp.close()
    assert inbox.titles.count("btc: hedge closed") == 1
