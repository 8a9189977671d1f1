"""The alert center over a real store: a channel that fails is recorded as failed, does not
stop the other channel, and takes the alert on a later retry; conditions survive a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.service_records import Heartbeat, ServiceRecords
from perphedge.services.alert_center import AlertCenter
from perphedge.services.alert_rules import AlertRules, CycleFacts
from perphedge.services.notifier import Delivery
from tests.integration.postgres_server import postgres_url


class Flaky:
    """Channel 0 always takes messages; channel 1 refuses until ``fixed``."""

    def __init__(self) -> None:
        self.fixed = False
        self.received: list[tuple[int, str]] = []

    @property
    def channels(self) -> list[str]:
        return ["good://", "flaky://"]

    def send(self, title: str, body: str, only: Sequence[int] | None = None) -> list[Delivery]:
        out = []
        for index in only if only is not None else (0, 1):
            ok = index == 0 or self.fixed
            if ok:
                self.received.append((index, title))
            out.append(Delivery(index, self.channels[index], ok, "" if ok else "refused"))
        return out


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_url() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def records(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServiceRecords]:
    postgres = request.param == "postgresql"
    store = HedgeStore(request.getfixturevalue("pg_url") if postgres
                       else f"sqlite:///{tmp_path / 's.db'}")
    yield ServiceRecords(store.engine)
    if postgres:  # the server is shared by the module's tests
        with store.engine.begin() as conn:
            for table in ("alerts", "alert_states", "heartbeats"):
                conn.exec_driver_sql(f"DELETE FROM {table}")  # noqa: S608 -- fixed names
    store.close()


LOW = CycleFacts("btc", 1_000, "idle", "active", observed=True, runway_pct=Decimal(5))


def test_a_failing_channel_is_retried_later_and_the_other_is_not_held_up(
        records: ServiceRecords) -> None:
    notifier = Flaky()

    async def scenario() -> None:
        center = AlertCenter(AlertRules(), notifier, records)
        center.start()
        await center.after_cycle(LOW)
        await center.stop()
        (row,) = records.alerts()
        assert (row.delivered, row.failed_channels) == (False, "1")
        assert "good://: ok" in row.delivery
        assert "flaky://: failed (refused)" in row.delivery

        notifier.fixed = True
        center = AlertCenter(AlertRules(), notifier, records)  # a restarted service
        center.start()
        await center.after_cycle(LOW)  # still low: not sent again (within repeat_every)
        center.submit_retry()
        await center.stop()

    asyncio.run(scenario())
    assert notifier.received == [(0, "btc: runway below 15.00 %"),
                                 (1, "btc: runway below 15.00 %")]
    (row,) = records.alerts()
    assert (row.delivered, row.failed_channels, row.attempts) == (True, "", 2)


def test_a_heartbeat_is_one_row_per_hedge_overwritten(records: ServiceRecords) -> None:
    assert records.heartbeat("btc") is None
    records.beat(Heartbeat("btc", 1_000, "idle", 0, "host/1/a", ""))
    records.beat(Heartbeat("btc", 2_000, "error", 2, "host/1/a", "exchange error: timeout"))
    assert records.heartbeat("btc") == Heartbeat("btc", 2_000, "error", 2, "host/1/a",
                                                 "exchange error: timeout")
