"""``perphedge demo`` end to end: exchange → config → the live engine → summary → report.

1. start the local exchange in this process on a free loopback port, replaying the bundled
   real BTC history from the scenario's start, with an account holding spot BTC and USDT;
2. write a config and an SQLite store pointing at it, keys made for the session and passed in
   environment variables, as the config requires;
3. run the **live** engine the way ``perphedge run --yes`` does — ``compose(..., send=True)``
   then ``HedgeService.run`` — through the real ccxt client; only the clock differs: the
   exchange's replay clock, moved one decision interval per cycle (:mod:`perphedge.demo.clock`);
4. between cycles, the scenario's spot events happen on the exchange;
5. summarise from the tracker, the store and the exchange, and write the report.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from rich.console import Console

from perphedge.adapters.store.repository import HedgeStore
from perphedge.config.models import PerphedgeConfig
from perphedge.demo.alerts import DemoAlerts
from perphedge.demo.clock import DemoClock
from perphedge.demo.config import HEDGE_NAME, DemoFiles, session_keys, write_config
from perphedge.demo.exchange import DemoExchange, start_demo_exchange
from perphedge.demo.report import as_result, write_demo_report
from perphedge.demo.scenario import Scenario, default_scenario, due_events
from perphedge.demo.summary import summarize
from perphedge.demo.tracker import Tracker
from perphedge.demo.view import DemoView
from perphedge.engine.loop import CycleReport
from perphedge.engine.venue import Venue
from perphedge.services.alert_rules import Notice
from perphedge.services.compose import compose
from perphedge.services.hedge_service import HedgeService

__all__ = ["DEFAULT_SPEED", "DemoOutcome", "local_ccxt_venue", "run_demo"]

#: Replay ms per wall ms: 100 replayed hours a second, so the six months take about 45 s.
DEFAULT_SPEED = 360_000.0


@dataclass(frozen=True, slots=True)
class DemoOutcome:
    """What the demo leaves behind."""

    summary: dict[str, str]
    files: DemoFiles
    report_path: Path
    liquidations: int
    cycles: int
    #: The alerts ``perphedge serve`` would have sent (replay time, notice).
    alerts: list[tuple[int, Notice]] = field(default_factory=list)


def local_ccxt_venue(account_name: str, config: PerphedgeConfig) -> Venue:
    """The account's ccxt venue, as the composition builds it, without ccxt's own throttle.

    Same class and client as ``perphedge run`` (``BinanceUsdmVenue`` over ccxt's async
    ``binanceusdm``); only ``enableRateLimit`` is off: the demo's exchange counts no request
    weight, and ccxt's client-side wait (50 ms a request on Binance) would be most of a cycle.
    """
    from perphedge.adapters.exchanges.ccxt_client import build_async_client, secret_values
    from perphedge.adapters.exchanges.ccxt_venue import BinanceUsdmVenue
    from perphedge.config.loader import resolve_credentials
    from perphedge.errors import InputError

    account = config.accounts[account_name]
    credentials = resolve_credentials(account_name, account)
    if credentials is None:
        raise InputError(f"accounts.{account_name}.api_key_env", "the demo's session keys",
                         "none set")
    client = build_async_client(account.exchange, account.url, credentials)
    client.enableRateLimit = False
    return BinanceUsdmVenue(client, secrets=secret_values(credentials))


@dataclass
class _Session:
    scenario: Scenario
    exchange: DemoExchange
    tracker: Tracker
    view: DemoView

    def on_advance(self, before_ms: int, after_ms: int) -> None:
        """The holder acts while the engine sleeps."""
        for event in due_events(self.scenario.events, before_ms, after_ms):
            outcome = self.exchange.apply(event)
            self.tracker.on_event(outcome)
            self.view.say(outcome.ts_ms, outcome.line, "bold yellow")

    alerts: DemoAlerts | None = None

    def on_cycle(self, n: int, reports: list[CycleReport]) -> None:
        point = self.tracker.add(self.exchange.view())
        self.view.cycle(n, reports, point)
        if self.alerts is not None:
            for notice in self.alerts.after_cycle(reports):
                self.view.say(reports[0].ts_ms, f"alert → {notice.title}", "magenta")


def run_demo(console: Console, *, fast: bool, speed: float, workdir: Path | None,
             report_path: Path | None) -> DemoOutcome:
    """Run the whole demo, showing it on ``console``.

    Config and store go to ``workdir`` (or a new temporary folder, kept so the store can be
    read afterwards); the report to ``report_path`` (default: ``demo-report.html`` there).
    """
    scenario = default_scenario(fast=fast)
    exchange = start_demo_exchange(scenario)
    try:
        folder = workdir or Path(tempfile.mkdtemp(prefix="perphedge-demo-"))
        files = write_config(folder, scenario, exchange.url)
        report_path = report_path or folder / "demo-report.html"
        start = exchange.view()
        tracker = Tracker(start)
        tracker.add(start)  # the account before the engine's first cycle
        with DemoView(console, scenario.cycles, scenario.asset) as view:
            session = _Session(scenario, exchange, tracker, view)
            clock = DemoClock(exchange.clock, speed, session.on_advance)
            with session_keys(exchange.credentials):
                service = HedgeService(compose(files.config_path, send=True, clock=clock,
                                               venue_factory=local_ccxt_venue))
                session.alerts = alerts = DemoAlerts(service.store, service.comp.config.hedges)
                try:
                    asyncio.run(service.run([HEDGE_NAME], scenario.cycles, session.on_cycle))
                finally:
                    service.comp.close()
        outcome = _finish(scenario, exchange, tracker, files, report_path, view)
        return replace(outcome, alerts=list(alerts.sent))
    finally:
        exchange.close()


def _finish(scenario: Scenario, exchange: DemoExchange, tracker: Tracker, files: DemoFiles,
            report_path: Path, view: DemoView) -> DemoOutcome:
    store = HedgeStore(files.store_url)
    try:
        liquidations = exchange.liquidations
        cycles = len(tracker.points) - 1
        summary = summarize(scenario, tracker, store, HEDGE_NAME, liquidations, cycles)
        view.summary(summary)
        result = as_result(scenario, tracker, store, HEDGE_NAME, liquidations)
        written = write_demo_report(report_path, result, summary, tracker,
                                    store.orders(HEDGE_NAME))
    finally:
        store.close()
    return DemoOutcome(summary, files, written, len(liquidations), cycles)
