"""Latency of the live engine: from a new spot balance observed to the order leaving the engine.

Each event changes the account's spot BTC (alternately +0.1 and −0.1 on a 1 BTC holding), then
one engine cycle runs (``HedgeEngine.cycle``, the code ``perphedge run`` loops over, with the
``LiveExecutor`` and an SQLite store on disk). A wrapper around the venue timestamps:

* **observed**: the venue's ``balances()`` returning the new balance to the engine;
* **sent**: the venue's ``place_order`` being called (the order leaves the engine);
* the time spent inside every venue call between the two (the exchange's own time, and for
  the ccxt path the HTTP round trips), which is subtracted.

So ``engine`` = sent − observed − venue time: the engine's own work (reconcile, the policy,
translation, the audit log and the order intent written to the store before sending). ``raw``
keeps the venue reads in. Two venues:

* ``paper``: :class:`perphedge.paper.venue.PaperVenue`, in process;
* ``ccxt``: the real ccxt ``binanceusdm`` client (``BinanceUsdmVenue``) against the local
  exchange on 127.0.0.1, served by a child process (as a real exchange is another machine:
  in this process its threads would take the interpreter lock from the engine while it
  works, and that would be counted as the engine's time).

After the warm-up cycle the heap is frozen as ``perphedge run`` does it (``gc.freeze``; see
``HedgeService.run``).

Baseline, measured in the same run: the one write the engine cannot skip before sending — the
order intent with its decision row (the engine's last decision payload) committed to a fresh
SQLite store in the same folder, ``events`` times. The engine's figures are also given as a
multiple of it.

Run: ``python bench/bench_latency.py [--events 1000] [--venue paper|ccxt|both]
[--store-dir DIR]``.
Target: engine p99 under 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.schema import HedgeRow, OrderRow
from perphedge.config.models import HedgeConfig
from perphedge.engine.clock import ManualClock
from perphedge.engine.execute import LiveExecutor
from perphedge.engine.loop import HedgeEngine, decision_payload, ensure_hedge_row
from perphedge.engine.venue import Market, OrderRequest, Venue, VenueBalances, VenueOrder
from perphedge.exchange.core import LocalExchange
from perphedge.exchange.market import PricePath, ReplayClock, ReplayMarket
from perphedge.paper.venue import PaperVenue, paper_exchange

T = TypeVar("T")
BTC = "BTCUSDT"
HOUR = 3_600_000
T0 = 1_704_067_200_000
STEP = Decimal("0.1")
HEDGE = HedgeConfig.model_validate({
    "name": "bench", "account": "bench", "asset": "BTC", "exposure": {"source": "balance"},
    "policy": "managed", "leverage": 2, "margin_mode": "isolated", "drift_band_pct": "1"})


@dataclass
class TimedVenue:
    """Forwards every port call to ``inner``, timing the ones between observation and send."""

    inner: Any
    name: str = "timed"
    observed_ns: int | None = None
    venue_ns: int = 0
    samples: list[tuple[int, int]] = field(default_factory=list)  # (raw ns, engine ns)

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        start = time.perf_counter_ns()
        try:
            return await make()
        finally:
            if self.observed_ns is not None:
                self.venue_ns += time.perf_counter_ns() - start

    async def balances(self) -> VenueBalances:
        if self.observed_ns is not None:  # a read after the observation (before a transfer)
            return await self._call(self.inner.balances)
        got: VenueBalances = await self.inner.balances()
        self.observed_ns, self.venue_ns = time.perf_counter_ns(), 0
        return got

    async def place_order(self, request: OrderRequest) -> VenueOrder:
        if self.observed_ns is not None:
            raw = time.perf_counter_ns() - self.observed_ns
            self.samples.append((raw, raw - self.venue_ns))
            self.observed_ns = None  # later orders of the same cycle are not new observations
        result: VenueOrder = await self.inner.place_order(request)
        return result

    def new_cycle(self) -> None:
        self.observed_ns = None

    # Every other method of the port, forwarded and timed.
    async def instrument(self, symbol: str) -> Any:
        return await self._call(lambda: self.inner.instrument(symbol))

    async def brackets(self, symbol: str) -> Any:
        return await self._call(lambda: self.inner.brackets(symbol))

    async def account_modes(self) -> Any:
        return await self._call(self.inner.account_modes)

    async def positions(self) -> Any:
        return await self._call(self.inner.positions)

    async def mark_and_funding(self, symbol: str) -> Any:
        return await self._call(lambda: self.inner.mark_and_funding(symbol))

    async def set_margin_mode(self, symbol: str, mode: Any) -> None:
        await self._call(lambda: self.inner.set_margin_mode(symbol, mode))

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        await self._call(lambda: self.inner.set_leverage(symbol, leverage))

    async def fetch_order(self, symbol: str, client_order_id: str) -> Any:
        return await self._call(lambda: self.inner.fetch_order(symbol, client_order_id))

    async def cancel_order(self, symbol: str, client_order_id: str) -> Any:
        return await self._call(lambda: self.inner.cancel_order(symbol, client_order_id))

    async def open_orders(self, symbol: str | None = None) -> Any:
        return await self._call(lambda: self.inner.open_orders(symbol))

    async def add_margin(self, symbol: str, amount: Decimal) -> None:
        await self._call(lambda: self.inner.add_margin(symbol, amount))

    async def reduce_margin(self, symbol: str, amount: Decimal) -> None:
        await self._call(lambda: self.inner.reduce_margin(symbol, amount))

    async def transfer(self, amount: Decimal, *, to: Market) -> None:
        await self._call(lambda: self.inner.transfer(amount, to=to))

    async def funding_history(self, symbol: str, since_ms: int) -> Any:
        return await self._call(lambda: self.inner.funding_history(symbol, since_ms))

    async def close(self) -> None:
        await self.inner.close()


def _exchange() -> LocalExchange:
    """1 BTC and plenty of USDT on a flat 40,000 path: every event is a pure exposure change."""
    clock = ReplayClock(T0 + HOUR, speed=0)
    path = PricePath.scripted(BTC, HOUR, T0, ["40000"] * 48, [])
    deposits = {"BTC": Decimal(1), "USDT": Decimal(1_000_000)}
    return paper_exchange(ReplayMarket({BTC: path}, clock), deposits, T0)


def _serve(conn: Any) -> None:
    """The child process: serve a fresh exchange on loopback; apply the balance changes the
    parent asks for (``n``), answer each once applied; ``None`` stops."""
    from perphedge.exchange.server import start_server

    exchange = _exchange()
    exchange.config.keys.secrets["bench-key"] = "bench-secret"
    server = start_server(exchange, "127.0.0.1", 0)
    conn.send(server.url)
    try:
        while (n := conn.recv()) is not None:
            _change(exchange, n)
            conn.send(n)
    finally:
        server.close()


def _ccxt_venue() -> tuple[Any, Callable[[int], None], Callable[[], None]]:
    """The real ccxt venue against an exchange served by a child process; returns the venue,
    the balance change and the stop."""
    from pydantic import SecretStr

    from perphedge.adapters.exchanges.ccxt_client import build_async_client
    from perphedge.adapters.exchanges.ccxt_venue import BinanceUsdmVenue
    from perphedge.config.loader import Credentials

    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(target=_serve, args=(child,))
    process.start()
    url = parent.recv()

    def change(n: int) -> None:
        parent.send(n)
        parent.recv()

    def stop() -> None:
        parent.send(None)
        process.join(10)

    creds = Credentials(SecretStr("bench-key"), SecretStr("bench-secret"))
    client = build_async_client("binanceusdm", url, creds)
    client.enableRateLimit = False  # the exchange counts no weight here; see docs/demo.md
    return BinanceUsdmVenue(client, secrets=("bench-key", "bench-secret")), change, stop


def _change(exchange: LocalExchange, n: int) -> None:
    with exchange.lock:
        if n % 2 == 0:
            exchange.account.deposit("BTC", STEP, T0 + HOUR)
        else:
            exchange.account.withdraw("BTC", STEP, T0 + HOUR)


async def _measure(kind: str, events: int, folder: Path
                   ) -> tuple[list[tuple[int, int]], int, dict[str, Any]]:
    stop: Callable[[], None] = lambda: None  # noqa: E731
    if kind == "ccxt":
        inner, change, stop = _ccxt_venue()
    else:
        exchange = _exchange()
        inner = PaperVenue(exchange)
        change = lambda n: _change(exchange, n)  # noqa: E731
    venue = TimedVenue(inner)
    store = HedgeStore(f"sqlite:///{folder / f'{kind}.db'}")
    port: Venue = venue  # a structural match of the port
    engine = HedgeEngine(HEDGE, port, store, LiveExecutor(port, store, "bench"),
                         ManualClock(T0 + HOUR))
    try:
        await engine.cycle()  # open the hedge and load the specs: not a measured event
        gc.collect()
        gc.freeze()  # as `perphedge run` does after its first cycle
        venue.samples.clear()
        for n in range(events):
            change(n)
            venue.new_cycle()
            report = await engine.cycle()
            if report.status != "acted":
                raise SystemExit(f"event {n}: the engine did not act: {report.lines}")
        orders = len(store.orders(HEDGE.name))
        payload = next(decision_payload(d.payload_json) for d in store.decisions(HEDGE.name)
                       if d.kind == "decision")
    finally:
        await venue.close()
        store.close()
        stop()
    return venue.samples, orders, payload


def baseline(kind: str, events: int, folder: Path, payload: dict[str, Any]) -> list[float]:
    """The intent write alone (ms per event): a decision row and an order row, one commit."""
    store = HedgeStore(f"sqlite:///{folder / f'baseline-{kind}.db'}")
    try:
        hedge: HedgeRow = ensure_hedge_row(store, HEDGE, T0)
        times = []
        for n in range(events + 50):  # the first 50 warm up
            row = OrderRow(
                hedge_id=hedge.id, account="bench", client_order_id=f"base-{n}",
                market="futures", symbol=BTC, side="sell", order_type="market", qty_base=STEP,
                price_usdt=None, reduce_only=False, state="pending_submit",
                filled_qty_base=Decimal(0), avg_price_usdt=None, created_ms=T0, updated_ms=T0,
                note="")
            start = time.perf_counter_ns()
            store.defer_decision(hedge.id, T0, "decision", payload)
            store.record_order_intent(row, stop_states=("paused", "closed"))
            times.append((time.perf_counter_ns() - start) / 1e6)
    finally:
        store.close()
    return times[50:]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(kind: str, samples: list[tuple[int, int]], orders: int,
           floor: list[float]) -> dict[str, float]:
    """Print p50/p99 in ms and as multiples of the baseline; returns the figures."""
    raw = [r / 1e6 for r, _ in samples]
    own = [e / 1e6 for _, e in samples]
    first, last = own[: len(own) // 10], own[-(len(own) // 10):]
    out = {"engine_p50": _pct(own, 0.50), "engine_p99": _pct(own, 0.99),
           "raw_p50": _pct(raw, 0.50), "raw_p99": _pct(raw, 0.99),
           "engine_p50_first10pct": statistics.median(first),
           "engine_p50_last10pct": statistics.median(last)}
    print(f"{kind:5} events={len(samples)} orders in store={orders}  "
          f"engine p50={out['engine_p50']:.2f} ms p99={out['engine_p99']:.2f} ms  "
          f"(with venue reads: p50={out['raw_p50']:.2f} p99={out['raw_p99']:.2f} ms; "
          f"engine p50 first/last 10 %: {out['engine_p50_first10pct']:.2f}/"
          f"{out['engine_p50_last10pct']:.2f} ms)")
    base_p50, base_p99 = _pct(floor, 0.50), _pct(floor, 0.99)
    print(f"{kind:5} baseline (the intent write alone): p50={base_p50:.2f} ms "
          f"p99={base_p99:.2f} ms; engine = {out['engine_p50'] / base_p50:.1f}x (p50), "
          f"{out['engine_p99'] / base_p99:.1f}x (p99) of it")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--venue", choices=("paper", "ccxt", "both"), default="both")
    parser.add_argument("--store-dir", type=Path, default=None,
                        help="where the SQLite store goes (default: a temporary folder on "
                             "disk; /dev/shm shows the share of fsync)")
    args = parser.parse_args()
    kinds = ("paper", "ccxt") if args.venue == "both" else (args.venue,)
    with tempfile.TemporaryDirectory(dir=args.store_dir) as tmp:
        for kind in kinds:
            samples, orders, payload = asyncio.run(_measure(kind, args.events, Path(tmp)))
            figures = report(kind, samples, orders, baseline(kind, args.events, Path(tmp), payload))
            verdict = "meets" if figures["engine_p99"] < 5 else "MISSES"
            print(f"{kind:5} target engine p99 < 5 ms: {verdict}")


if __name__ == "__main__":
    main()
