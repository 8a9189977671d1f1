"""A store filled by the real engine: two hedges run for some hours on the paper venue.

The engine (HedgeService.run, the LiveExecutor) trades a paper exchange that replays scripted
hourly BTC and ETH paths with funding settlements; every cycle records decisions, orders,
fills, funding, margin moves and snapshots exactly as a live run does.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from perphedge.config.models import PerphedgeConfig
from perphedge.engine.venue import Venue
from perphedge.exchange.market import PricePath, ReplayClock, ReplayMarket
from perphedge.paper.venue import PaperVenue, paper_exchange
from perphedge.services.compose import Composition, compose
from perphedge.services.hedge_service import HedgeService
from tests.unit.test_engine_execution import ReplayingClock

HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01
BTC_CLOSES = ["42000", "41500", "40800", "41200", "39900", "40400", "41800", "42500", "41000",
              "40500", "40000", "40100"] + ["40200"] * 36
ETH_CLOSES = ["2300", "2280", "2250", "2310", "2200", "2240", "2290", "2330", "2270", "2260",
              "2250", "2255"] + ["2260"] * 36

CONFIG = """
[store]
url = "{db}"

[accounts.paper]
exchange = "binanceusdm"

[[hedges]]
name = "btc"
account = "paper"
asset = "BTC"
exposure = {{ source = "balance" }}
policy = "managed"
leverage = 2
margin_mode = "isolated"
decision_interval = "1h"

[[hedges]]
name = "eth"
account = "paper"
asset = "ETH"
exposure = {{ source = "balance" }}
policy = "managed"
leverage = 3
margin_mode = "isolated"
decision_interval = "1h"
"""


@dataclass
class PaperRun:
    """The config, the store and the paper exchange a run left behind."""

    config: Path
    db_url: str
    venue: PaperVenue
    replay: ReplayClock
    clock: ReplayingClock

    def composition(self, *, send: bool = False) -> Composition:
        def factory(account: str, config: PerphedgeConfig) -> Venue:
            return self.venue

        return compose(self.config, self.db_url, send=send, clock=self.clock,
                       venue_factory=factory)

    def service(self, *, send: bool = False) -> HedgeService:
        return HedgeService(self.composition(send=send))


def paper_run(tmp_path: Path, cycles: int = 8) -> PaperRun:
    """Open and follow both hedges for ``cycles`` hourly cycles on the paper venue.

    Past the scripted two days the paths repeat (and settle funding every 8 h).
    """
    laps = cycles // len(BTC_CLOSES) + 1
    funding = [(T0 + h * HOUR, "0.0001") for h in range(2, laps * len(BTC_CLOSES), 8)]
    replay = ReplayClock(T0 + HOUR, speed=0)
    market = ReplayMarket({
        "BTCUSDT": PricePath.scripted("BTCUSDT", HOUR, T0, BTC_CLOSES * laps, funding),
        "ETHUSDT": PricePath.scripted("ETHUSDT", HOUR, T0, ETH_CLOSES * laps, funding),
    }, replay)
    deposits = {"USDT": Decimal(200000), "BTC": Decimal("1.5"), "ETH": Decimal(12)}
    venue = PaperVenue(paper_exchange(market, deposits, T0))
    db_url = f"sqlite:///{tmp_path / 'paper.db'}"
    config = tmp_path / "perphedge.toml"
    config.write_text(CONFIG.format(db=db_url), encoding="utf-8")
    run = PaperRun(config, db_url, venue, replay, ReplayingClock(replay, T0 + HOUR))
    run_cycles(run, [], cycles)
    return run


def run_cycles(run: PaperRun, names: list[str], cycles: int) -> None:
    """Run the engine (sending, on the paper venue) for ``cycles`` cycles of ``names``.

    In a thread of its own: a test driving the browser already has Playwright's event loop
    running in this one.
    """
    service = run.service(send=True)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(service.run(names, cycles))
        except BaseException as err:  # re-raised in the caller's thread
            errors.append(err)

    thread = threading.Thread(target=target, name="engine")
    try:
        thread.start()
        thread.join(timeout=60)
    finally:
        service.comp.close()
    if errors:
        raise errors[0]
