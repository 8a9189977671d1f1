"""The demo's pure pieces: the scoreboard's arithmetic, the scenario's events and the clock."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from perphedge.demo.clock import DemoClock
from perphedge.demo.exchange import EventOutcome, ExchangeView
from perphedge.demo.scenario import SpotEvent, default_scenario, due_events, utc_ms
from perphedge.demo.tracker import Tracker
from perphedge.errors import InputError
from perphedge.exchange.market import ReplayClock

T0 = utc_ms("2024-01-01")
D = Decimal


def view(price: str, *, spot: str = "2", usdt: str = "30000", futures: str = "0",
         margin: str = "0", position: str = "0", upnl: str = "0", funding: str = "0",
         fees: str = "0") -> ExchangeView:
    return ExchangeView(T0, D(price), D(spot), D(usdt), D(futures), D(margin), D(position),
                        D(upnl), None, D(funding), D(fees))


def test_a_perfect_hedge_holds_the_locked_value_while_the_unhedged_twin_moves() -> None:
    tracker = Tracker(view("40000"))  # 2 BTC + 30,000 USDT = 110,000
    # Hedged 2 BTC short at 40,000 with 40,000 margin; price doubles.
    point = tracker.add(view("80000", usdt="0", futures="-10000", margin="40000",
                             position="-2", upnl="-80000", funding="100", fees="40"))

    assert point.locked_usdt == D(110000)
    assert point.unhedged_usdt == D(190000)
    assert point.hedged_usdt == D(110000)  # 160,000 − 10,000 + 40,000 − 80,000
    assert point.deviation_pct == 0
    assert point.deviation_before_funding_pct == D(-100) / D(110000) * 100
    assert point.leverage is None  # margin balance 40,000 − 80,000 < 0: no meaningful leverage


def test_a_deposit_adds_to_the_locked_value_and_a_sale_only_converts() -> None:
    tracker = Tracker(view("40000"))
    deposit = SpotEvent(T0 + 1, "deposit", D("0.5"), "payout")
    sale = SpotEvent(T0 + 2, "sale", D("1"), "sale")
    tracker.on_event(EventOutcome(deposit, T0 + 1, D(50000), D("0.5"), D(0), D(0), ""))
    tracker.on_event(EventOutcome(sale, T0 + 2, D(60000), D(-1), D("59940"), D(60), ""))

    point = tracker.add(view("60000", spot="1.5", usdt="89940", fees="60"))

    assert point.locked_usdt == D(110000) + D(25000)
    assert point.unhedged_usdt == D("1.5") * 60000 + 30000 + 59940
    assert point.fees_usdt == 0  # the holder's own sale fee is not the engine's


def test_due_events_are_those_after_the_last_step_up_to_now() -> None:
    events = default_scenario().events

    assert due_events(events, events[0].ts_ms - 1, events[0].ts_ms) == [events[0]]
    assert due_events(events, events[0].ts_ms, events[1].ts_ms - 1) == []
    with pytest.raises(InputError, match="qty_base"):
        SpotEvent(T0, "sale", D(0), "nothing")


def test_the_clock_moves_replay_time_by_each_sleep_and_reports_the_step() -> None:
    replay = ReplayClock(T0, speed=0)
    steps: list[tuple[int, int]] = []
    clock = DemoClock(replay, 0, lambda a, b: steps.append((a, b)))

    asyncio.run(clock.sleep(3600))
    asyncio.run(clock.sleep(60))

    assert clock.now_ms() == T0 + 3_660_000
    assert steps == [(T0, T0 + 3_600_000), (T0 + 3_600_000, T0 + 3_660_000)]
