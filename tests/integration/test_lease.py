"""Run leases on a real SQLite store: one holder at a time, taken over only after expiry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from perphedge.adapters.store.lease import LeaseHeld, LeaseOwner, LeaseStore
from perphedge.adapters.store.repository import HedgeStore
from perphedge.engine.clock import ManualClock
from perphedge.services.run_lease import AccountLeases

T0 = 1_764_000_000_000
FIRST = LeaseOwner("host-a", 101, "aaaa")
SECOND = LeaseOwner("host-b", 202, "bbbb")


@pytest.fixture
def leases(tmp_path: Path) -> Iterator[LeaseStore]:
    store = HedgeStore(f"sqlite:///{tmp_path / 'store.db'}")
    yield LeaseStore(store.engine)
    store.close()


def test_a_second_holder_is_refused_with_the_first_holders_host_pid_and_since(
        leases: LeaseStore) -> None:
    leases.acquire("account:main", FIRST, T0, 30_000)
    with pytest.raises(LeaseHeld) as refused:
        leases.acquire("account:main", SECOND, T0 + 10_000, 30_000)
    message = str(refused.value)
    assert "account main" in message
    assert "host host-a, pid 101" in message
    assert "since 2025-11-24 16:00:00 UTC" in message
    assert "expires in 20 s" in message


def test_an_expired_lease_is_taken_over_and_its_old_holder_cannot_renew(
        leases: LeaseStore) -> None:
    leases.acquire("account:main", FIRST, T0, 30_000)
    assert leases.renew("account:main", FIRST, T0 + 20_000, 30_000)  # expires at T0 + 50 s
    with pytest.raises(LeaseHeld):
        leases.acquire("account:main", SECOND, T0 + 50_000, 30_000)
    taken = leases.acquire("account:main", SECOND, T0 + 50_001, 30_000)
    assert (taken.holder, taken.acquired_ms) == (SECOND.holder, T0 + 50_001)
    assert not leases.renew("account:main", FIRST, T0 + 50_002, 30_000)


def test_renewing_keeps_the_time_it_was_first_taken(leases: LeaseStore) -> None:
    leases.acquire("account:main", FIRST, T0, 30_000)
    again = leases.acquire("account:main", FIRST, T0 + 5_000, 30_000)
    assert (again.acquired_ms, again.expires_ms) == (T0, T0 + 35_000)


def test_accounts_are_taken_all_or_none(leases: LeaseStore) -> None:
    clock = ManualClock(T0)
    leases.acquire("account:b", SECOND, T0, 30_000)
    mine = AccountLeases(leases, ["a", "b"], 30_000, clock, FIRST)
    with pytest.raises(LeaseHeld):
        mine.acquire()
    assert leases.current("account:a") is None  # given back when "b" was refused
    leases.release("account:b", SECOND)
    mine.acquire()
    assert {lease.holder for lease in leases.all()} == {FIRST.holder}
    mine.release()
    assert leases.all() == []
