"""The -2019 loop, reproduced on the paper venue: the price moves between the observed mark and
the fill, so a transfer sized to exactly margin + fee at the mark is refused. With headroom a
small move fills first time; a large one is never retried unchanged, and refusals per hedge
and hour are bounded."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal
from pathlib import Path

from perphedge.adapters.marketdata.bundled import BundledMarketData
from perphedge.adapters.store.repository import HedgeStore
from perphedge.domain.types import MarginMode, Side
from perphedge.engine.backoff import HOUR_MS, MAX_REFUSALS_PER_HOUR, FreeMargin, Refusal, pace
from perphedge.engine.clock import ManualClock
from perphedge.engine.execute import LiveExecutor
from perphedge.engine.loop import HedgeEngine
from perphedge.engine.venue import OrderRequest, VenueOrder
from perphedge.exchange.market import PricePath, ReplayClock, ReplayMarket
from perphedge.paper.venue import PaperVenue, paper_exchange
from perphedge.planning.translate import (
    FUTURES,
    MarginTerms,
    MoneyCall,
    OrderCall,
    SettingsCall,
)
from tests.unit.test_engine_loop import hedge_config

BTC = "BTCUSDT"
T0 = 1_704_067_200_000
HOUR = 3_600_000
MINUTE = 60_000
INSTRUMENT = BundledMarketData().instrument("BTC")
D = Decimal


class PriceMovesBeforeTheFill(PaperVenue):
    """The paper venue on a path alternating the observed price and a dearer one: every order
    fills one bar later, at the dearer price, and the next read sees the observed one again."""

    def __init__(self, observed: str, at_fill: str, *, btc: str, usdt: str) -> None:
        self.replay = ReplayClock(T0 + HOUR, speed=0)
        path = PricePath.scripted(BTC, HOUR, T0, [observed, at_fill] * 200, [])
        deposits = {"BTC": D(btc), "USDT": D(usdt)}
        super().__init__(paper_exchange(ReplayMarket({BTC: path}, self.replay), deposits, T0))

    async def place_order(self, request: OrderRequest) -> VenueOrder:
        self.replay.advance(HOUR)
        try:
            return await super().place_order(request)
        finally:
            self.replay.advance(HOUR)


def engine_on(venue: PaperVenue, tmp_path: Path) -> HedgeEngine:
    store = HedgeStore(f"sqlite:///{tmp_path / 'store.db'}")
    return HedgeEngine(hedge_config(), venue, store, LiveExecutor(venue, store, "main"),
                       ManualClock(T0))


def test_a_transfer_carries_headroom_so_a_fill_just_above_the_mark_is_not_refused(
    tmp_path: Path,
) -> None:
    venue = PriceMovesBeforeTheFill("40000", "40120", btc="1", usdt="30000")  # +0.3 %
    engine = engine_on(venue, tmp_path)

    report = asyncio.run(engine.cycle())

    assert report.status == "acted", report.lines
    # margin + fee at the mark (20,000 + 20) and 0.5 % of it for the move to the fill
    assert report.lines[0] == "transfer futures 20120.1 USDT"
    assert [(o.qty_base, o.state) for o in engine.store.orders("btc")] == [(D(1), "filled")]


def test_a_refused_order_is_never_repeated_unchanged_and_refusals_per_hour_are_bounded(
    tmp_path: Path,
) -> None:
    venue = PriceMovesBeforeTheFill("40000", "41200", btc="1", usdt="20100")  # +3 %
    engine = engine_on(venue, tmp_path)
    clock = engine.clock
    assert isinstance(clock, ManualClock)
    for _ in range(50):  # a cycle every 3 minutes for 2.5 hours
        asyncio.run(engine.cycle())
        clock.advance_ms(3 * MINUTE)

    attempts = [(o.updated_ms, o.qty_base, o.state) for o in engine.store.orders("btc")]
    refused = [(ts, qty) for ts, qty, state in attempts if state == "rejected"]
    # Never the same order twice in a row: each retry is smaller (more headroom) or not sent.
    for (_, before), (_, after) in itertools.pairwise(refused):
        assert after != before, attempts
    # At most MAX + 1 refusals in any hour (an order and its cut may land in one cycle).
    for ts, _ in refused:
        in_hour = [t for t, _ in refused if ts <= t < ts + HOUR_MS]
        assert len(in_hour) <= MAX_REFUSALS_PER_HOUR + 1, refused
    # It did not give up for good: after the back-off it tried again.
    assert refused[-1][0] - refused[0][0] >= HOUR_MS, refused
    assert len(refused) < 12  # before: two identical refusals every cycle, 100 in this run


TERMS = MarginTerms(2, D("0.0005"))
FREE = FreeMargin(D(20100), D(40000), INSTRUMENT)


def order(qty: str) -> OrderCall:
    return OrderCall(FUTURES, BTC, Side.SHORT, D(qty), margin=TERMS)


def refused(qty: str, minutes_ago: int = 5) -> Refusal:
    return Refusal(BTC, "sell", D(qty), T0 - minutes_ago * MINUTE)


def test_an_order_refused_before_is_cut_with_twice_the_headroom() -> None:
    steps, lines = pace([order("1")], [refused("1")], FREE)
    assert steps == [order("0.994")]  # 20,100 × 2 / (40,000 × 1.01 × 1.001) → lot
    assert "refused at 2023-12-31 23:55 UTC is cut to 0.994" in lines[0]


def test_a_repeat_with_more_margin_moved_first_is_sent_as_planned() -> None:
    plan = [MoneyCall("transfer_futures", BTC, D(300)), order("1")]
    assert pace(plan, [refused("1")], FREE) == (plan, [])


def test_a_repeat_that_nothing_smaller_can_replace_is_not_sent_and_says_so() -> None:
    settings = SettingsCall(BTC, MarginMode.ISOLATED, 2)
    steps, lines = pace([settings, order("0.001")], [refused("0.001")], FREE)
    assert steps == []  # no order, so no settings either
    assert "not sent again unchanged" in lines[0]


def test_after_the_hourly_ration_nothing_opens_but_reductions_and_margin_still_go() -> None:
    reduce = OrderCall(FUTURES, BTC, Side.LONG, D("0.5"), reduce_only=True)
    margin = MoneyCall("margin_add", BTC, D(100))
    recent = [refused("1", 50), refused("0.99", 30), refused("0.98", 10)]
    steps, lines = pace([reduce, margin, order("0.5")], recent, FREE)
    assert steps == [reduce, margin]
    assert lines == ["ALERT refusal_backoff: 3 orders refused in the last hour: no order opens "
                     "or grows the hedge until 2024-01-01 00:10 UTC"]
