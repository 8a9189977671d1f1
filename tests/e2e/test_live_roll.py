"""Live rolling end to end: a ``quarterly`` hedge through the real ccxt client on the local
exchange, which lists BTCUSDT_260327 and BTCUSDT_260626 and replays scripted prices on a
scripted clock. The hedge opens in the near contract, rolls into the next one three days before
expiry in one decision, and is never flat across the roll; a failed second leg is reopened by
the next cycle."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from perphedge.adapters.exchanges.ccxt_client import Credentials, build_async_client
from perphedge.adapters.exchanges.ccxt_venue import BinanceUsdmVenue, RetryPolicy
from perphedge.adapters.store.repository import HedgeStore
from perphedge.config.models import HedgeConfig
from perphedge.engine.execute import LiveExecutor
from perphedge.engine.loop import CycleReport, HedgeEngine
from perphedge.engine.venue import OrderRequest, VenueOrder
from perphedge.errors import TerminalExchangeError
from perphedge.exchange.auth import ApiKeys
from perphedge.exchange.core import ExchangeConfig, LocalExchange
from perphedge.exchange.market import PricePath, ReplayClock, ReplayMarket
from perphedge.exchange.server import start_server
from perphedge.exchange.state import open_exchange
from tests.integration.local_exchange_fixture import API_KEY, API_SECRET

HOUR = 3_600_000
DAY = 24 * HOUR
NEAR, NEXT, PERP = "BTCUSDT_260327", "BTCUSDT_260626", "BTCUSDT"
NEAR_EXPIRY = 1_774_598_400_000  # 2026-03-27 08:00 UTC (instruments.json)
T0 = NEAR_EXPIRY - 12 * DAY - 8 * HOUR  # 2026-03-15 00:00 UTC
BARS = 20 * 24
CREDS = Credentials(SecretStr(API_KEY), SecretStr(API_SECRET))


class ReplayTime:
    """The engine's clock reads the exchange's replay clock (expiries are in its time)."""

    def __init__(self, clock: ReplayClock) -> None:
        self._clock = clock

    def now_ms(self) -> int:
        return self._clock.now_ms()

    async def sleep(self, seconds: float) -> None:
        return None


class DropsOrdersOn:
    """The real venue, except that the first order on ``symbol`` is refused (-4108)."""

    def __init__(self, inner: BinanceUsdmVenue, symbol: str) -> None:
        self._inner = inner
        self._symbol = symbol
        self.dropped = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def place_order(self, request: OrderRequest) -> VenueOrder:
        if request.symbol == self._symbol and not self.dropped:
            self.dropped += 1
            raise TerminalExchangeError("binance -4108: Symbol is on delivering or delivered")
        return await self._inner.place_order(request)


@dataclass
class Rig:
    exchange: LocalExchange
    clock: ReplayClock
    engine: HedgeEngine
    store: HedgeStore
    runner: asyncio.Runner  # one loop: the async ccxt client is bound to it

    def cycle(self) -> CycleReport:
        return self.runner.run(self.engine.cycle())

    def qty(self, symbol: str) -> Decimal:
        with self.exchange.lock:
            self.exchange.sync()
            return self.exchange.account.position(symbol).qty_base


def market(clock: ReplayClock) -> ReplayMarket:
    funding = [(T0 + h * HOUR, "0.0001") for h in range(8, BARS, 8)]
    return ReplayMarket({
        PERP: PricePath.scripted(PERP, HOUR, T0, ["80000"] * BARS, funding),
        NEAR: PricePath.scripted(NEAR, HOUR, T0, ["80300"] * BARS, decimals=1),
        NEXT: PricePath.scripted(NEXT, HOUR, T0, ["81200"] * BARS, decimals=1),
    }, clock)


@contextmanager
def rig(tmp_path: Path, fail_on: str | None = None, roll_days: int = 3) -> Iterator[Rig]:
    clock = ReplayClock(T0 + HOUR, speed=0)
    exchange = open_exchange(market(clock), ExchangeConfig(ApiKeys({API_KEY: API_SECRET}), 0),
                             {"USDT": Decimal(100000)}, T0)
    with exchange.lock:
        exchange.account.deposit("BTC", Decimal(1), T0)
    server = start_server(exchange, "127.0.0.1", 0)
    client = build_async_client("binance", server.url, CREDS, timeout_ms=5_000)
    client.enableRateLimit = False
    venue: Any = BinanceUsdmVenue(client, secrets=(API_KEY, API_SECRET),
                                  retry=RetryPolicy.instant())
    if fail_on is not None:
        venue = DropsOrdersOn(venue, fail_on)
    store = HedgeStore(f"sqlite:///{tmp_path / 'store.db'}")
    hedge = HedgeConfig.model_validate({
        "name": "btc", "account": "local", "asset": "BTC", "exposure": {"source": "balance"},
        "policy": "quarterly", "leverage": 2, "roll_days_before_expiry": roll_days,
        "decision_interval": "1d",
    })
    engine = HedgeEngine(hedge, venue, store, LiveExecutor(venue, store, "local"),
                         ReplayTime(clock))
    with asyncio.Runner() as runner:
        try:
            yield Rig(exchange, clock, engine, store, runner)
        finally:
            runner.run(client.close())
            server.close()


def test_a_quarterly_hedge_rolls_into_the_next_contract_and_is_never_flat(
    tmp_path: Path,
) -> None:
    with rig(tmp_path) as r:
        first = r.cycle()
        assert first.status == "acted", first.lines
        assert r.qty(NEAR) == Decimal(-1)  # opened in the near quarter, not the perpetual
        assert r.qty(PERP) == 0
        statuses, rolled_at = [], None
        while r.clock.now_ms() < NEAR_EXPIRY + DAY:
            r.clock.advance(DAY)  # one decision a day
            report = r.cycle()
            statuses.append(report.status)
            # Hedged lot for lot after every cycle: the roll never leaves a flat cycle.
            assert r.qty(NEAR) + r.qty(NEXT) + r.qty(PERP) == Decimal(-1), report.lines
            if rolled_at is None and r.qty(NEXT) != 0:
                rolled_at = report.ts_ms
        assert rolled_at is not None
        days_left = Decimal(NEAR_EXPIRY - rolled_at) / DAY
        assert 2 < days_left <= 3  # the first decision inside the 3-day window
        assert r.qty(NEAR) == 0
        assert r.qty(NEXT) == Decimal(-1)
        assert "error" not in statuses
        assert r.exchange.deliveries == []  # nothing was left in the near contract to deliver

        legs = [o for o in r.store.orders("btc") if o.note.startswith("roll")]
        assert [(o.symbol, o.side, o.qty_base, o.reduce_only) for o in legs] == [
            (NEAR, "buy", Decimal(1), True), (NEXT, "sell", Decimal(1), False)]
        assert {o.created_ms for o in legs} == {rolled_at}
        assert all(o.state == "filled" for o in legs)
        decisions = [json.loads(d.payload_json) for d in r.store.decisions("btc")
                     if d.ts_ms == rolled_at and d.kind == "decision"]
        assert len(decisions) == 1  # both legs under ONE decision
        assert decisions[0]["actions"] == [
            {"type": "Roll", "from_symbol": NEAR, "to_symbol": NEXT, "qty": "1"}]

        closed = r.runner.run(r.engine.close(sell_spot=False))  # unwinds where it is held
        assert closed.status == "acted", closed.lines
        assert r.qty(NEXT) == 0
        last = r.store.orders("btc")[-1]
        assert (last.symbol, last.reduce_only) == (NEXT, True)


def test_a_failed_second_leg_is_reopened_by_the_next_cycle(tmp_path: Path) -> None:
    with rig(tmp_path, fail_on=NEXT) as r:
        assert r.cycle().status == "acted"
        report = r.cycle()
        while r.qty(NEXT) == 0 and report.status != "error":
            r.clock.advance(DAY)
            report = r.cycle()
        assert report.status == "error"  # said, recorded, never silent
        assert any("4108" in line for line in report.lines)
        assert r.qty(NEAR) == 0  # the close leg went through…
        assert r.qty(NEXT) == 0  # …and the open leg did not
        rejected = [o for o in r.store.orders("btc") if o.state == "rejected"]
        assert [o.symbol for o in rejected] == [NEXT]
        assert rejected[0].note.startswith("roll BTCUSDT_260327 -> BTCUSDT_260626 leg 2/2")
        r.clock.advance(DAY)
        again = r.cycle()
        assert again.status == "acted", again.lines
        assert r.qty(NEXT) == Decimal(-1)  # reopened in the next quarter one cycle later


def test_a_hedge_left_to_expiry_is_delivered_adopted_and_reopened_in_the_next_contract(
    tmp_path: Path,
) -> None:
    with rig(tmp_path, roll_days=0) as r:  # no roll window: the near contract is delivered
        assert r.cycle().status == "acted"
        assert r.qty(NEAR) == Decimal(-1)
        while r.clock.now_ms() < NEAR_EXPIRY:
            r.clock.advance(DAY)
        report = r.cycle()
        assert [s for _, s, _ in r.exchange.deliveries] == [NEAR]
        assert report.status == "acted", report.lines  # explained, not halted
        assert any(line.startswith("ALERT delivered") for line in report.lines)
        assert r.qty(NEXT) == Decimal(-1)
        adopted = [o for o in r.store.orders("btc") if o.order_type == "adopted"]
        assert [(o.symbol, o.side, o.qty_base) for o in adopted] == [(NEAR, "buy", Decimal(1))]
