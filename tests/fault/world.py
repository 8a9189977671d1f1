"""A world to break: the local exchange, the fault proxy before it, a config and `perphedge run`.

:class:`FaultWorld` runs the local exchange in this process (a replay clock moved by hand, so a
round decides when the price moves), the :class:`~tests.fault.proxy.FaultProxy` in front of it,
and ``perphedge run --yes`` as real subprocesses whose config (written as ``perphedge init``
would, keys in environment variables) points the account's ``url`` at the proxy. The holder
changes the spot balance between kills: deposits (the exchange's wallet) and sales (a real
``POST /api/v3/order`` straight at the exchange). The engine is SIGKILLed on a timer or right
after an order (or a transfer) passed the proxy, before its reply reaches the engine.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.fault.invariants import RoundCheck, check_round, read_ledger, read_store
from tests.fault.proxy import FaultPlan, FaultProxy, Forwarded, fault_proxy
from tests.integration.local_exchange_fixture import (
    API_KEY,
    API_SECRET,
    HOUR_MS,
    T0_MS,
    LocalVenue,
    local_exchange,
)

__all__ = ["KILL_POINTS", "Engine", "FaultWorld", "fault_world", "market_path"]

SYMBOL = "BTCUSDT"
HEDGE = "btc"
LOT_STEP = Decimal("0.001")
HEDGE_RATIO = Decimal(1)
KEYS = {"PH_FAULT_KEY": API_KEY, "PH_FAULT_SECRET": API_SECRET,
        "PERPHEDGE_API_KEY": "", "PERPHEDGE_API_SECRET": ""}
#: Requests after which the engine may be killed (the exchange acted, the engine saw nothing).
KILL_POINTS = {"order": ("POST", "/fapi/v1/order"), "transfer": ("POST", "/sapi/v1/asset/transfer")}
REPO = Path(__file__).resolve().parents[2]

CONFIG = """\
# Written as `perphedge init` writes it, then edited: the account points at the fault proxy.
[store]
url = "{db_url}"

[accounts.local]
exchange = "binanceusdm"
api_key_env = "PH_FAULT_KEY"
api_secret_env = "PH_FAULT_SECRET"
url = "{url}"

[[hedges]]
name = "{hedge}"
account = "local"
asset = "BTC"
exposure = {{ source = "balance" }}
policy = "managed"
leverage = 2
# Follow every lot step of the spot balance, so the position must equal the target exactly.
drift_band_pct = 0.01
decision_interval = "1s"
"""


def market_path(seed: int, hours: int) -> tuple[list[str], list[tuple[int, str]]]:
    """Hourly BTC closes (a bounded random walk around 40,000) and 8-hourly funding rates."""
    rng = random.Random(f"market|{seed}")  # noqa: S311 -- a seeded, reproducible draw
    price, closes = 40_000.0, []
    for _ in range(hours):
        price = min(44_000.0, max(36_000.0, price * (1 + rng.uniform(-0.012, 0.012))))
        closes.append(f"{price:.2f}")
    funding = [(T0_MS + h * HOUR_MS, f"{rng.uniform(-0.0002, 0.0004):.6f}")
               for h in range(8, hours, 8)]
    return closes, funding


@dataclass
class Engine:
    """One `perphedge run` process and the files holding its output."""

    process: subprocess.Popen[bytes]
    name: str
    out: Path
    err: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@dataclass
class FaultWorld:
    """The exchange, the proxy, the config and every engine process started."""

    venue: LocalVenue
    proxy: FaultProxy
    workdir: Path
    db_url: str
    config: Path
    engines: list[Engine] = field(default_factory=list)
    clean_outputs: dict[str, str] = field(default_factory=dict)
    holder_order_ids: list[int] = field(default_factory=list)
    kills: int = 0
    kills_after_request: int = 0
    spot_changes: int = 0
    unexpected_exits: list[str] = field(default_factory=list)
    _checked: int = 0
    _armed: tuple[Engine, tuple[str, str], bool] | None = None
    #: The exchange's HTTP status of the request after which the last armed kill came.
    last_kill_status: int | None = None
    _killed: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.proxy.on_forwarded.append(self._maybe_kill)
        self._futures = self.venue.client("binanceusdm", timeout=30_000)
        self._spot = self.venue.client("binance", timeout=30_000)

    # ------------------------------------------------------------------ engines
    def start_engine(self, *args: str) -> Engine:
        """``perphedge run --yes`` (forever unless ``args`` say otherwise), output to files."""
        n = len(self.engines)
        out, err = self.workdir / f"engine-{n}.out", self.workdir / f"engine-{n}.err"
        env = {**os.environ, "COLUMNS": "120", "TERM": "dumb", **KEYS}
        with out.open("wb") as o, err.open("wb") as e:
            process = subprocess.Popen(
                [sys.executable, "-m", "perphedge", "run", "--yes", *args,
                 "--config", str(self.config)], stdout=o, stderr=e, env=env, cwd=self.workdir)
        engine = Engine(process, f"engine-{n}", out, err)
        self.engines.append(engine)
        return engine

    def kill(self, engine: Engine) -> None:
        """SIGKILL (counted); an engine that already ended by itself is a finding."""
        code = engine.process.poll()
        if code is not None:
            self.unexpected_exits.append(f"{engine.name} exited by itself with code {code}")
            return
        engine.kill()
        self.kills += 1

    def wait_until_talking(self, engine: Engine, timeout_s: float) -> bool:
        """Until ``engine`` sent its first request through the proxy (start-up takes seconds
        on a loaded machine: kill timers count from here, so a kill never lands in an engine
        that has not started yet); False when it ended first or time ran out."""
        before = sum(self.proxy.requests.values())
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and engine.alive():
            if sum(self.proxy.requests.values()) > before:
                return True
            time.sleep(0.02)
        return False

    def arm(self, engine: Engine, point: str, *, accepted_only: bool = True) -> None:
        """Kill ``engine`` right after the next ``point`` request was answered by the exchange
        (``accepted_only``: answered with success, so the order or transfer exists)."""
        with self._lock:
            self._killed.clear()
            self._armed = (engine, KILL_POINTS[point], accepted_only)

    def disarm(self) -> None:
        with self._lock:
            self._armed = None

    def wait_armed_kill(self, engine: Engine, timeout_s: float) -> bool:
        """Until the armed kill happened (True), the engine ended by itself or time ran out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._killed.wait(0.1):
                return True
            if not engine.alive():
                return False
        return False

    def _maybe_kill(self, forwarded: Forwarded) -> None:
        with self._lock:
            if self._armed is None or (forwarded.method, forwarded.path) != self._armed[1]:
                return
            if self._armed[2] and forwarded.status >= 400:
                return
            engine, self._armed = self._armed[0], None
            self.last_kill_status = forwarded.status
        if engine.alive():
            os.kill(engine.pid, signal.SIGKILL)
            engine.process.wait(timeout=30)
            self.kills += 1
            self.kills_after_request += 1
        self._killed.set()

    def clean_cycle(self) -> subprocess.CompletedProcess[str]:
        """Faults off, one cycle of ``perphedge run --cycles 1 --yes``; faults back as before."""
        was = self.proxy.enabled
        self.proxy.enabled = False
        try:
            env = {**os.environ, "COLUMNS": "120", "TERM": "dumb", **KEYS}
            result = subprocess.run(
                [sys.executable, "-m", "perphedge", "run", "--cycles", "1", "--yes",
                 "--config", str(self.config)],
                capture_output=True, text=True, timeout=120, env=env, check=False)
        finally:
            self.proxy.enabled = was
        self.clean_outputs[f"clean-{len(self.clean_outputs)}"] = result.stderr
        return result

    # ------------------------------------------------------------------ the holder and market
    def deposit(self, qty: Decimal) -> None:
        """Spot BTC arrives in the exchange's spot wallet (a deposit)."""
        ex = self.venue.exchange
        with ex.lock:
            ex.account.deposit("BTC", qty, ex.now_ms())
        self.spot_changes += 1

    def sell_spot(self, qty: Decimal) -> None:
        """The holder sells spot BTC through the exchange's API (not through the proxy)."""
        reply = self._spot.privatePostOrder({
            "symbol": SYMBOL, "side": "SELL", "type": "MARKET", "quantity": format(qty, "f"),
            "newClientOrderId": f"holder-{len(self.holder_order_ids) + 1}"})
        self.holder_order_ids.append(int(reply["orderId"]))
        self.spot_changes += 1

    def spot_btc(self) -> Decimal:
        ex = self.venue.exchange
        with ex.lock:
            return ex.account.spot.get("BTC", Decimal(0))

    def advance_hours(self, hours: int) -> None:
        """The replay moves on: bars close (new prices), funding settles."""
        self.venue.clock.advance(hours * HOUR_MS)

    # ------------------------------------------------------------------ checks
    def stderr_texts(self) -> dict[str, str]:
        """The stderr of every process since the last check (each is checked once)."""
        texts = {e.name: e.err.read_text(encoding="utf-8", errors="replace")
                 for e in self.engines[self._checked:] if e.err.exists()}
        texts.update(self.clean_outputs)
        self._checked, self.clean_outputs = len(self.engines), {}
        return texts

    def check(self) -> RoundCheck:
        """Every invariant against the exchange's ledger (read straight from the exchange)."""
        ledger = read_ledger(self._futures, self._spot, SYMBOL, "BTC")
        store = read_store(self.db_url, HEDGE)
        result = check_round(ledger, store, symbol=SYMBOL, hedge_ratio=HEDGE_RATIO,
                             lot_step=LOT_STEP, holder_order_ids=self.holder_order_ids,
                             stderr_texts=self.stderr_texts())
        result.add(self.unexpected_exits)
        self.unexpected_exits = []
        return result

    def stop_all(self) -> None:
        self.disarm()
        for engine in self.engines:
            if engine.alive():
                engine.kill()


@contextmanager
def fault_world(workdir: Path, plan: FaultPlan, *, hours: int = 96,
                spot_btc: str = "1") -> Iterator[FaultWorld]:
    """A running world: exchange (100,000 USDT and ``spot_btc`` BTC in spot), proxy, config."""
    closes, funding = market_path(plan.seed, hours)
    with local_exchange(closes, funding=funding, spot_usdt="100000") as venue, \
            fault_proxy(venue.url, plan) as proxy:
        db_url = f"sqlite:///{workdir / 'store.db'}"
        config = workdir / "perphedge.toml"
        config.write_text(CONFIG.format(db_url=db_url, url=proxy.url, hedge=HEDGE),
                          encoding="utf-8")
        world = FaultWorld(venue, proxy, workdir, db_url, config)
        world.deposit(Decimal(spot_btc))
        world.spot_changes = 0
        try:
            yield world
        finally:
            world.stop_all()


def settle(seconds: float) -> None:
    """Let the engine work (a named wait, so rounds read as what they do)."""
    time.sleep(seconds)


def describe_world(world: FaultWorld) -> dict[str, Any]:
    """The figures of a world so far."""
    return {"faults": world.proxy.injected, "faults_by_kind": dict(world.proxy.counts),
            "kills": world.kills, "kills_after_request": world.kills_after_request,
            "spot_changes": world.spot_changes, "engine_processes": len(world.engines)}
