"""``perphedge serve`` as a subprocess against the local exchange through the real ccxt client,
with alerts arriving at a loopback webhook (Apprise ``json://``) and a loopback SMTP server
(``mailto://``): opened, runway low after a rally, exchange failing and resolved, stopped; a
second ``serve`` refuses; ``health`` turns to 1 when the exchange or the service is down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.service_records import ServiceRecords
from tests.conftest import run_cli
from tests.e2e.receivers import Inbox, smtp_server, webhook
from tests.e2e.tcp_switch import TcpSwitch, tcp_switch
from tests.e2e.test_live_cli import KEYS, write_config
from tests.integration.local_exchange_fixture import (
    API_KEY,
    API_SECRET,
    HOUR_MS,
    T0_MS,
    LocalVenue,
    local_exchange,
)

pytestmark = pytest.mark.slow

#: 40,000 for the first three hours, then a rally to 47,000 (+17.5 %).
RALLY = ["40000"] * 3 + ["47000"] * 45


def alerts_config(hook_url: str, mail_url: str) -> str:
    return f"""
[service]
lease_ttl = "10s"

[alerts]
urls = ["{hook_url}", "{mail_url}"]
heartbeat_url = "{hook_url.replace("json://", "http://").replace("/hook", "/ping")}"
runway_below_pct = 30
failing_cycles = 2
repeat_every = "1h"
"""


class Setup:
    """The exchange, the receivers and a config for a 1 s static hedge of 1 BTC."""

    def __init__(self, venue: LocalVenue, switch: TcpSwitch, tmp: Path,
                 hook: tuple[str, Inbox], mail: tuple[str, Inbox]) -> None:
        self.venue = venue
        self.switch = switch
        self.hook = hook[1]
        self.mail = mail[1]
        self.db_url = f"sqlite:///{tmp / 'store.db'}"
        self.config = tmp / "perphedge.toml"
        write_config(self.config, switch.url, self.db_url)
        text = self.config.read_text().replace('policy = "managed"', 'policy = "static"')
        self.config.write_text(text + alerts_config(hook[0], mail[0]))

    def cli(self, *args: str) -> tuple[int, str, str]:
        result = run_cli(*args, "--config", str(self.config), env=KEYS, timeout=60)
        return result.returncode, result.stdout, result.stderr

    def start_serve(self, log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as sink:
            return subprocess.Popen(
                [sys.executable, "-m", "perphedge", "serve", "--config", str(self.config)],
                env={**os.environ, **KEYS}, stdout=subprocess.DEVNULL, stderr=sink)


def titles_before_restart(setup: Setup) -> int:
    return len(setup.hook.titles())


def wait_for_heartbeat_from(db_url: str, pid: int, timeout_s: float = 30,
                            hedge: str = "btc") -> None:
    store = HedgeStore(db_url)
    try:
        records = ServiceRecords(store.engine)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            beat = records.heartbeat(hedge)
            if beat is not None and f"/{pid}/" in beat.holder:
                return
            time.sleep(0.1)
    finally:
        store.close()
    raise AssertionError(f"serve {pid} wrote no heartbeat")


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    with local_exchange(RALLY) as venue, tcp_switch(venue.url) as switch, webhook() as hook, \
            smtp_server() as mail:
        ex = venue.exchange
        with ex.lock:
            ex.account.deposit("BTC", Decimal(1), ex.now_ms())
        yield Setup(venue, switch, tmp_path, hook, mail)


def test_serve_alerts_on_rally_and_exchange_outage_and_stops_cleanly(
        setup: Setup, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    serve = setup.start_serve(log)
    try:
        setup.hook.wait_for(lambda t: t == "perphedge serve started")
        setup.hook.wait_for(lambda t: t == "btc: hedge opened")

        code, _out, err = setup.cli("serve")
        assert code == 1
        (line,) = err.strip().splitlines()
        assert f"already run by another perphedge process: host {os.uname().nodename}, " \
               f"pid {serve.pid}" in line

        assert setup.cli("health")[0] == 0

        setup.venue.clock.set(T0_MS + 4 * HOUR_MS)  # the rally: the short's runway shrinks
        runway = setup.hook.wait_for(lambda t: t.startswith("btc: runway below 30"))
        assert setup.mail.wait_for(lambda t: t == runway)

        setup.switch.set_up(False)  # the exchange stops answering
        setup.hook.wait_for(lambda t: t == "btc: exchange failing")
        code, out, _err = setup.cli("health")
        assert code == 1
        assert "btc: the exchange failed the last" in out

        setup.switch.set_up(True)
        setup.hook.wait_for(lambda t: t == "resolved: btc: exchange failing")
        assert "resolved: btc: exchange failing" in setup.mail.wait_for(
            lambda t: t.startswith("resolved: btc: exchange"))

        serve.send_signal(signal.SIGTERM)
        assert serve.wait(30) == 0
        setup.hook.wait_for(lambda t: t == "perphedge serve stopped")
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait(10)

    # A clean stop gave the lease back: a new service starts at once; then it is killed.
    again = setup.start_serve(tmp_path / "serve-2.log")
    try:
        setup.hook.wait_for(lambda t: t == "perphedge serve started", timeout_s=30,
                            after=titles_before_restart(setup))
        wait_for_heartbeat_from(setup.db_url, again.pid)
    finally:
        again.send_signal(signal.SIGKILL)
        again.wait(10)
    time.sleep(1.5)
    code, out, _err = setup.cli("health", "--max-age", "1s")
    assert code == 1
    assert "btc: last heartbeat" in out

    assert setup.hook.pings >= 5  # the dead-man's switch was pinged after every cycle
    titles = setup.hook.titles()
    assert titles.count("perphedge serve stopped") == 1  # kill -9: no goodbye
    assert titles.count(runway) == 1  # deduplicated: held for many cycles, sent once
    assert "Traceback" not in log.read_text()
    store = HedgeStore(setup.db_url)
    try:
        stored = ServiceRecords(store.engine).alerts()
    finally:
        store.close()
    sent = {row.title: row for row in stored}
    assert sent[runway].delivered
    assert "json://127.0.0.1" in sent[runway].delivery
    assert "mailto://" in sent[runway].delivery


def test_alerts_test_reports_each_channel_masked(setup: Setup) -> None:
    code, out, err = setup.cli("alerts", "test")
    assert code == 0, err
    assert setup.hook.wait_for(lambda t: t == "perphedge test alert")
    assert setup.mail.wait_for(lambda t: t == "perphedge test alert")
    lines = out.strip().splitlines()
    assert [line.split("/")[0] for line in lines] == ["json:", "mailto:"]
    assert all(line.endswith(": ok") for line in lines)

    setup.config.write_text(setup.config.read_text().replace(
        'urls = ["', 'urls = ["json://user:SeCrEtToKeN@127.0.0.1:9/dead", "'))
    code, out, _err = setup.cli("alerts", "test")
    assert code == 1
    assert "json://user:****@127.0.0.1:9/dead: failed" in out
    assert "SeCrEtToKeN" not in out + _err


def test_serve_runs_the_config_perphedge_init_writes_until_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    assert run_cli("init", "--config", str(config)).returncode == 0
    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    with local_exchange() as venue:
        ex = venue.exchange
        with ex.lock:
            ex.account.deposit("BTC", Decimal(1), ex.now_ms())
        # What a user edits: where the exchange is (here: the local one) and the store.
        text = config.read_text().replace('# url = "http://127.0.0.1:8900"',
                                          f'url = "{venue.url}"')
        config.write_text(text.replace("[store]\n", f'[store]\nurl = "{db_url}"\n', 1))
        keys = {"PERPHEDGE_MAIN_API_KEY": API_KEY, "PERPHEDGE_MAIN_API_SECRET": API_SECRET}
        with (tmp_path / "serve.log").open("wb") as sink:
            serve = subprocess.Popen(
                [sys.executable, "-m", "perphedge", "serve", "--config", str(config)],
                env={**os.environ, **keys}, stdout=subprocess.DEVNULL, stderr=sink)
        try:
            wait_for_heartbeat_from(db_url, serve.pid, hedge="btc-holding")
            with ex.lock:
                assert ex.account.position("BTCUSDT").qty_base == Decimal(-1)
            serve.send_signal(signal.SIGTERM)
            assert serve.wait(30) == 0
        finally:
            if serve.poll() is None:
                serve.kill()
                serve.wait(10)
