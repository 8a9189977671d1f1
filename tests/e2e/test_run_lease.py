"""Two real ``perphedge run --yes`` processes on one store: the second refuses while the first
lives, naming it; after ``kill -9`` of the first, a process on the same machine takes over at
once (the holder's PID is gone here), one elsewhere once the lease has expired.
On SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from perphedge.adapters.store.lease import Lease, LeaseHeld, LeaseOwner, LeaseStore
from perphedge.adapters.store.repository import HedgeStore
from tests.e2e.test_live_cli import KEYS, Live, running_live
from tests.integration.postgres_server import postgres_url

# Long enough that the takeover below is seen to come before the dead holder's expiry.
TTL = '\n[service]\nlease_ttl = "90s"\n'


pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "postgresql"])
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Live]:
    with running_live(tmp_path) as state:
        text = state.config.read_text()
        if request.param == "postgresql":
            with postgres_url() as url:
                state.config.write_text(text.replace(state.db_url, url) + TTL)
                state.db_url = url
                yield state
        else:
            state.config.write_text(text + TTL)
            yield state


def wait_for_lease(db_url: str, pid: int, timeout_s: float = 30) -> Lease:
    store = HedgeStore(db_url)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            lease = LeaseStore(store.engine).current("account:local")
            if lease is not None and lease.pid == pid:
                return lease
            time.sleep(0.1)
    finally:
        store.close()
    raise AssertionError(f"process {pid} never took the lease")


def test_a_second_run_refuses_and_takes_over_after_the_first_is_killed(live: Live) -> None:
    first = subprocess.Popen(
        [sys.executable, "-m", "perphedge", "run", "--yes", "--config", str(live.config)],
        env={**os.environ, **KEYS, "COLUMNS": "120"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lease = wait_for_lease(live.db_url, first.pid)

        code, out, err = live.cli("run", "--yes", "--cycles", "1")

        assert code == 1, out + err
        (line,) = err.strip().splitlines()
        assert "account local is already run by another perphedge process" in line
        assert f"pid {first.pid}" in line
        assert "since " in line
        assert "Traceback" not in out + err
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert live.position() == -1  # only the first process traded

    lease = wait_for_lease(live.db_url, first.pid, timeout_s=1)
    # For a process on another machine (a probe whose token names no boot here) the dead
    # holder's lease still stands until it expires (checked in-process: a CLI start on a
    # loaded machine may take longer than what is left of it).
    store = HedgeStore(live.db_url)
    try:
        now_ms = int(time.time() * 1000)
        assert now_ms < lease.expires_ms
        with pytest.raises(LeaseHeld, match=f"pid {first.pid}"):
            LeaseStore(store.engine).acquire("account:local", LeaseOwner("probe", 1, "p"),
                                             now_ms, 8_000)
    finally:
        store.close()

    # A run on this machine sees that the holder's process is gone and takes over at once.
    code, out, err = live.cli("run", "--yes", "--cycles", "1")

    assert code == 0, out + err
    assert int(time.time() * 1000) < lease.expires_ms  # taken over before the lease expired
    assert live.position() == -1


def test_open_and_close_refuse_while_another_process_runs_the_account(live: Live) -> None:
    code, out, err = live.cli("open", "btc", "--yes")
    assert code == 0, out + err
    assert live.position() == -1
    first = subprocess.Popen(
        [sys.executable, "-m", "perphedge", "run", "--yes", "--config", str(live.config)],
        env={**os.environ, **KEYS, "COLUMNS": "120"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_lease(live.db_url, first.pid)
        live.deposit("BTC", "1")  # the running engine follows it; a second engine must not

        for command in (("open", "btc", "--yes"), ("close", "btc", "--yes")):
            code, out, err = live.cli(*command)

            assert code == 1, out + err
            (line,) = err.strip().splitlines()
            assert "account local is already run by another perphedge process" in line
            assert f"pid {first.pid}" in line
            assert "Traceback" not in out + err
        code, out, err = live.cli("close", "btc")  # a dry run sends nothing: no lease needed
        assert code == 0, out + err
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(30)
    assert live.position() in (-1, -2)  # only the first process traded, if at all
    assert all(o.reduce_only is False for o in live.futures_orders())  # nothing closed
