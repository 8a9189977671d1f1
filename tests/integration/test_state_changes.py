"""State changes are compare-and-set, on SQLite and PostgreSQL: a cycle that began before a
``resume`` or ``pause`` never writes its refusal over it, and two writers racing on real
connections never both win the same version."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from perphedge.config.models import PerphedgeConfig
from perphedge.engine import reconcile as rc
from perphedge.engine.clock import ManualClock
from perphedge.engine.loop import HedgeEngine, ensure_hedge_row
from perphedge.engine.venue import AccountModes, Venue
from perphedge.services.compose import Composition, compose
from perphedge.services.hedge_service import HedgeService
from tests.integration.postgres_server import drop_every_table, postgres_url
from tests.unit.test_engine_fake_venue import T0, FakeVenue

CONFIG = """
[accounts.main]
exchange = "binanceusdm"

[[hedges]]
name = "btc"
account = "main"
asset = "BTC"
exposure = { source = "balance" }
"""


class VenueInHedgeMode(FakeVenue):
    """An account in Binance hedge mode (every cycle refuses); ``during_cycle`` runs after the
    cycle has read the hedge's state and before it refuses (a user acting at that moment)."""

    during_cycle: Callable[[], None] | None = None

    async def account_modes(self) -> AccountModes:
        if self.during_cycle is not None:
            self.during_cycle()
        return AccountModes(hedge_mode=True, multi_assets_margin=False)


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_url() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'perphedge.db'}"
        return
    url: str = request.getfixturevalue("pg_url")
    yield url
    drop_every_table(url)


def service(tmp_path: Path, db_url: str, venue: FakeVenue) -> HedgeService:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")

    def factory(account: str, config: PerphedgeConfig) -> Venue:
        return venue

    comp: Composition = compose(path, db_url, send=True, clock=ManualClock(T0),
                                venue_factory=factory)
    return HedgeService(comp)


def state(svc: HedgeService) -> str:
    row = svc.store.hedge("btc")
    assert row is not None
    return row.state


def test_a_stale_version_does_not_write_and_a_fresh_one_does(tmp_path: Path,
                                                             db_url: str) -> None:
    svc = service(tmp_path, db_url, FakeVenue.with_funds(btc="1", usdt="30000"))
    try:
        row = ensure_hedge_row(svc.store, svc.comp.hedge("btc"), T0)
        assert row.state_version == 0
        assert svc.store.set_hedge_state("btc", rc.HALTED, T0 + 1, expected_version=0)
        assert not svc.store.set_hedge_state("btc", rc.ACTIVE, T0 + 2, expected_version=0)
        stored = svc.store.hedge("btc")
        assert stored is not None
        assert (stored.state, stored.state_version, stored.updated_ms) == (rc.HALTED, 1, T0 + 1)
    finally:
        svc.comp.close()


@pytest.mark.parametrize("user_action", ["resume", "pause"])
def test_a_refusal_from_a_cycle_that_began_before_the_users_change_is_not_written(
    tmp_path: Path, db_url: str, user_action: str,
) -> None:
    venue = VenueInHedgeMode.with_funds(btc="1", usdt="30000")
    svc = service(tmp_path, db_url, venue)
    try:
        engine = svc.comp.engine(svc.comp.hedge("btc"))
        first = asyncio.run(engine.cycle())
        assert first.status == "refused"
        assert state(svc) == rc.HALTED  # a refusal nobody raced with halts the hedge

        # The user resumes; the next cycle reads ADOPTING, then the user acts again
        # (resume or pause) before that cycle refuses.
        assert svc.resume("btc") == rc.ADOPTING
        act = svc.resume if user_action == "resume" else svc.pause
        venue.during_cycle = lambda: act("btc") and None
        report = asyncio.run(engine.cycle())

        assert report.status == "refused"
        assert any("changed (pause, resume or close) while this cycle ran" in line
                   for line in report.lines)
        expected = rc.PAUSED if user_action == "pause" else rc.ACTIVE
        assert state(svc) == expected  # the user's newer word stands, not HALTED
    finally:
        svc.comp.close()


def test_a_resume_from_another_thread_mid_cycle_always_wins(tmp_path: Path,
                                                           db_url: str) -> None:
    """Two real threads with their own connections, in lockstep: each cycle reads the state,
    the other thread resumes, the cycle refuses; the hedge is never left halted."""
    venue = VenueInHedgeMode.with_funds(btc="1", usdt="30000")
    svc = service(tmp_path, db_url, venue)
    read, resumed = threading.Event(), threading.Event()
    rounds = 10
    stop = threading.Event()

    def user() -> None:
        while not stop.is_set():
            if read.wait(0.05):
                read.clear()
                svc.resume("btc")
                resumed.set()

    def mid_cycle() -> None:
        read.set()
        assert resumed.wait(30), "the user thread never resumed"
        resumed.clear()

    thread = threading.Thread(target=user)
    thread.start()
    try:
        engine = svc.comp.engine(svc.comp.hedge("btc"))
        venue.during_cycle = mid_cycle
        states = []
        for _ in range(rounds):
            assert asyncio.run(engine.cycle()).status == "refused"
            states.append(state(svc))
        assert states == [rc.ACTIVE] * rounds
    finally:
        stop.set()
        thread.join(timeout=30)
        svc.comp.close()


def test_free_running_writers_lose_no_change(tmp_path: Path, db_url: str) -> None:
    """Unsynchronised: an engine refusing every cycle and a user resuming, each on its own
    thread; every write that reported winning bumped the version exactly once."""
    venue = VenueInHedgeMode.with_funds(btc="1", usdt="30000")
    svc = service(tmp_path, db_url, venue)
    rounds = 30
    rng = random.Random(7)  # noqa: S311 -- timing jitter for a test, not a secret
    pauses = [rng.random() / 500 for _ in range(2 * rounds)]
    halts: list[bool] = []
    try:
        ensure_hedge_row(svc.store, svc.comp.hedge("btc"), T0)
        engine: HedgeEngine = svc.comp.engine(svc.comp.hedge("btc"))
        steps = iter(pauses[:rounds])
        venue.during_cycle = lambda: threading.Event().wait(next(steps)) and None

        def engine_thread() -> None:
            for _ in range(rounds):
                report = asyncio.run(engine.cycle())
                halts.append(not any("while this cycle ran" in x for x in report.lines))

        def user_thread() -> None:
            for pause in pauses[rounds:]:
                threading.Event().wait(pause)
                svc.resume("btc")

        threads = [threading.Thread(target=engine_thread), threading.Thread(target=user_thread)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        final = svc.store.hedge("btc")
        assert final is not None
        assert len(halts) == rounds
        # Each resume won once (it retries until it does), each refusal at most once.
        assert final.state_version == rounds + sum(halts)
    finally:
        svc.comp.close()
