"""``perphedge serve --http`` as a subprocess against the local exchange through the real ccxt
client: the web app in the service's process shows the live hedge (lease holder, last cycle,
cycle histogram, heartbeat, dashboard card), pauses it with the token (the next cycle is
paused) and refuses without, closes it between cycles; SIGTERM stops both, exit 0. A port in
use: exit 2, no lease."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from perphedge.adapters.store.lease import LeaseStore
from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.service_records import ServiceRecords
from tests.conftest import run_cli
from tests.e2e.test_live_cli import KEYS, write_config
from tests.integration.local_exchange_fixture import LocalVenue, local_exchange

pytestmark = pytest.mark.slow

TOKEN = "e2e-http-token-0123456789"  # noqa: S105 - a test token
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: Callable[[], Any], timeout_s: float = 20) -> Any:
    """Poll ``what`` until it returns something truthy (errors count as not yet)."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        try:
            found = what()
        except (httpx.HTTPError, AssertionError, KeyError, ValueError) as err:
            found, last = None, err
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting ({last!r})")


def metrics(base: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(httpx.get(f"{base}/metrics", timeout=5).text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


@pytest.fixture
def local(tmp_path: Path) -> Iterator[tuple[LocalVenue, Path, str]]:
    """The local exchange with 1 BTC in spot and a config for a 1 s static hedge of it."""
    with local_exchange() as venue:
        ex = venue.exchange
        with ex.lock:
            ex.account.deposit("BTC", Decimal(1), ex.now_ms())
        db_url = f"sqlite:///{tmp_path / 'store.db'}"
        config = tmp_path / "perphedge.toml"
        write_config(config, venue.url, db_url)
        text = config.read_text().replace('policy = "managed"', 'policy = "static"')
        config.write_text(text + '\n[service]\nlease_ttl = "10s"\n')
        yield venue, config, db_url


def position(venue: LocalVenue) -> Decimal:
    ex = venue.exchange
    with ex.lock:
        return ex.account.position("BTCUSDT").qty_base


def test_serve_http_shows_and_steers_the_live_hedge_and_stops_on_sigterm(
        local: tuple[LocalVenue, Path, str], tmp_path: Path) -> None:
    venue, config, db_url = local
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        serve = subprocess.Popen(
            [sys.executable, "-m", "perphedge", "serve", "--config", str(config),
             "--http", f"127.0.0.1:{port}"],
            env={**os.environ, **KEYS, "PERPHEDGE_API_TOKEN": TOKEN},
            stdout=subprocess.DEVNULL, stderr=sink)
    try:
        def hedge_after_cycles() -> dict[str, Any] | None:
            (hedge,) = httpx.get(f"{base}/api/hedges", timeout=5).json()
            samples = metrics(base)
            done = samples["perphedge_cycle_duration_seconds_count"][(("hedge", "btc"),)]
            return hedge if hedge["state"] == "active" and done >= 2 else None

        hedge = wait_for(hedge_after_cycles)
        assert hedge["name"] == "btc"
        assert Decimal(hedge["hedge_quantity"]) == Decimal(1)
        assert hedge["lease_holder"].startswith(f"{socket.gethostname()}/{serve.pid}/")
        last = datetime.fromisoformat(hedge["last_cycle_at"].replace("Z", "+00:00"))
        assert abs((datetime.now(tz=UTC) - last).total_seconds()) < 5

        samples = metrics(base)
        assert samples["perphedge_cycle_duration_seconds_count"][(("hedge", "btc"),)] >= 2
        beat = samples["perphedge_heartbeat_timestamp_seconds"][(("hedge", "btc"),)]
        assert abs(time.time() - beat) < 5
        assert samples["perphedge_hedge_quantity"][(("hedge", "btc"),)] == 1.0
        assert samples["perphedge_alerts_total"][(("hedge", "btc"), ("source", "notifier"))] >= 1
        assert samples["perphedge_exchange_errors_total"][(("hedge", "btc"),)] == 0

        page = httpx.get(f"{base}/", timeout=5)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert 'id="hedge-btc"' in page.text

        refused = httpx.post(f"{base}/api/hedges/btc/pause", timeout=5)
        assert refused.status_code == 401
        paused = httpx.post(f"{base}/api/hedges/btc/pause", headers=AUTH, timeout=5)
        assert paused.status_code == 200
        assert paused.json()["state"] == "paused"
        paused_at = time.time()

        def paused_cycle() -> bool:
            store = HedgeStore(db_url)
            try:
                beat = ServiceRecords(store.engine).heartbeat("btc")
            finally:
                store.close()
            return beat is not None and beat.ts_ms / 1000 > paused_at and beat.status == "paused"

        assert wait_for(paused_cycle, timeout_s=10)
        assert httpx.get(f"{base}/api/hedges/btc", timeout=5).json()["state"] == "paused"

        # Close from the page, between the service's cycles: a dry run, then sent.
        dry = httpx.post(f"{base}/api/hedges/btc/close", headers=AUTH, timeout=30).json()
        assert dry["sent"] is False
        assert dry["orders"]
        assert position(venue) == Decimal(-1)
        done = httpx.post(f"{base}/api/hedges/btc/close", params={"confirm": "true"},
                          headers=AUTH, timeout=30)
        assert done.status_code == 200, done.text
        assert done.json()["sent"] is True
        assert position(venue) == 0
        assert httpx.get(f"{base}/api/hedges/btc", timeout=5).json()["state"] == "closed"

        serve.send_signal(signal.SIGTERM)
        assert serve.wait(30) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait(10)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/api/hedges", timeout=2)
    text = log.read_text()
    assert '"msg": "http listening"' in text
    assert "Traceback" not in text


def test_a_port_in_use_is_one_line_exit_2_before_the_lease_is_taken(
        local: tuple[LocalVenue, Path, str]) -> None:
    venue, config, db_url = local
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli("serve", "--config", str(config), "--http", f"127.0.0.1:{port}",
                         env=KEYS, timeout=60)
    assert position(venue) == 0  # nothing sent
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "--http" in line
    assert f"127.0.0.1:{port}" in line
    store = HedgeStore(db_url)
    try:
        assert LeaseStore(store.engine).current("account:local") is None
    finally:
        store.close()

    malformed = run_cli("serve", "--config", str(config), "--http", "8765", env=KEYS)
    assert malformed.returncode == 2
    assert malformed.stderr.strip() == \
        "error: --http: expected HOST:PORT like 127.0.0.1:8765, got '8765'"

    remote = run_cli("serve", "--config", str(config), "--http", "0.0.0.0:8765", env=KEYS)
    assert remote.returncode == 2
    (line,) = remote.stderr.strip().splitlines()
    assert "--http" in line
    assert "--allow-remote" in line
