"""Execution styles: market, limit_chase and slices, on the paper venue and as pure decisions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perphedge.adapters.marketdata.bundled import BundledMarketData
from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.schema import OrderRow
from perphedge.config.models import HedgeConfig
from perphedge.domain.types import Side
from perphedge.engine.clock import ManualClock
from perphedge.engine.execute import LiveExecutor, execution_style
from perphedge.engine.loop import HedgeEngine, ensure_hedge_row
from perphedge.engine.venue import Market, OrderRequest, OrderState
from perphedge.errors import AmbiguousOrderError, InputError
from perphedge.exchange.market import ReplayClock
from perphedge.paper.venue import PaperVenue
from perphedge.planning.execution import (
    ExecutionStyle,
    LimitChild,
    MarketChild,
    left_to_fill,
    next_child,
    slice_wait_ms,
)
from tests.unit.test_paper_venue import BTC, HOUR, T0, venue_on

INST = BundledMarketData().instrument("BTC")


class ReplayingClock(ManualClock):
    """The engine's clock; a sleep also moves the paper exchange's replay (bars trade)."""

    def __init__(self, replay: ReplayClock, start_ms: int) -> None:
        super().__init__(start_ms)
        self.replay = replay
        self.sleeps: list[float] = []
        self.crash_on_sleep: int | None = None  # raise on this (1-based) sleep
        self.on_sleep: Callable[[], None] | None = None  # something else happens meanwhile

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.crash_on_sleep == len(self.sleeps):
            raise KeyboardInterrupt("killed between two slices")
        if self.on_sleep is not None:
            self.on_sleep()
        self.replay.advance(int(seconds * 1000))
        await super().sleep(seconds)


def hedge(execution: dict[str, object]) -> HedgeConfig:
    return HedgeConfig.model_validate({
        "name": "btc", "account": "paper", "asset": "BTC", "exposure": {"source": "balance"},
        "policy": "managed", "leverage": 2, "margin_mode": "isolated",
        "execution": execution})


def engine_on(venue: PaperVenue, replay: ReplayClock, store: HedgeStore,
              config: HedgeConfig) -> tuple[HedgeEngine, ReplayingClock]:
    clock = ReplayingClock(replay, T0 + HOUR)
    executor = LiveExecutor(venue, store, "paper", style=execution_style(config.execution),
                            clock=clock)
    return HedgeEngine(config, venue, store, executor, clock), clock


def position(venue: PaperVenue) -> Decimal:
    return sum((p.qty_base for p in asyncio.run(venue.positions())), Decimal(0))


# ---------------------------------------------------------------- pure decisions

def test_the_chase_sends_limits_at_the_touch_then_market_for_the_rest() -> None:
    style = ExecutionStyle("limit_chase", reprices=2)
    mark = Decimal("40000.03")

    children = [next_child(style, n, Decimal(1), Decimal("0.25"), Side.SHORT, mark, INST)
                for n in range(4)]

    assert children[:3] == [LimitChild(Decimal("0.750"), Decimal("40000.10"), n)
                            for n in range(3)]
    assert children[3] == MarketChild(Decimal("0.750"))
    buy = next_child(style, 0, Decimal(1), Decimal(0), Side.LONG, mark, INST)
    assert buy == LimitChild(Decimal("1.000"), Decimal("40000.00"), 0)


@given(fills=st.lists(st.decimals("0", "2", places=4), max_size=8),
       reprices=st.integers(0, 5))
def test_children_never_add_up_to_more_than_the_order(fills: list[Decimal],
                                                      reprices: int) -> None:
    """Whatever each child fills (up to its own size), the chase never trades past the total."""
    style = ExecutionStyle("limit_chase", reprices=reprices)
    total, filled = Decimal("1.000"), Decimal(0)
    for attempt, fill in enumerate([*fills, *([Decimal(0)] * 8)]):
        child = next_child(style, attempt, total, filled, Side.SHORT, Decimal(40000), INST)
        if child is None:
            break
        filled += min(fill, child.qty_base) if isinstance(child, LimitChild) else child.qty_base
        if isinstance(child, MarketChild):
            break
    assert filled <= total
    assert left_to_fill(total, filled, INST) >= 0


def test_only_the_slices_style_waits_and_only_between_pieces_of_one_order() -> None:
    style = ExecutionStyle("slices", slice_interval_ms=20_000)
    sell = (BTC, Side.SHORT)
    assert slice_wait_ms(style, sell, sell) == 20_000
    assert slice_wait_ms(style, sell, (BTC, Side.LONG)) == 0
    assert slice_wait_ms(ExecutionStyle("limit_chase"), sell, sell) == 0


def test_a_bad_style_is_refused_with_its_value() -> None:
    with pytest.raises(InputError, match="twap"):
        ExecutionStyle("twap")


# ---------------------------------------------------------------- on the paper venue

def test_a_chase_that_never_fills_reprices_then_falls_back_to_market(tmp_path: Path) -> None:
    # The mark sits between ticks, so a sell at the touch (rounded up) rests above it.
    venue, replay = venue_on(["40000.01"] * 6, usdt="30000", btc="1")
    store = HedgeStore(f"sqlite:///{tmp_path / 's.db'}")
    config = hedge({"style": "limit_chase", "chase_reprices": 2, "chase_wait": "1s"})
    engine, clock = engine_on(venue, replay, store, config)

    report = asyncio.run(engine.cycle())

    assert report.status == "acted", report.lines
    orders = store.orders("btc")
    limits = [o for o in orders if o.order_type == "limit"]
    markets = [o for o in orders if o.order_type == "market"]
    assert len(limits) == 3
    assert all(o.state == "canceled" and o.price_usdt == Decimal("40000.10") for o in limits)
    assert [(o.state, o.qty_base) for o in markets] == [("filled", Decimal("1.000"))]
    assert len({o.client_order_id for o in orders}) == len(orders)
    assert clock.sleeps == [1.0, 1.0, 1.0]
    assert position(venue) == Decimal("-1.000")
    store.close()


def test_a_slow_fill_during_the_wait_is_counted_and_nothing_overshoots(tmp_path: Path) -> None:
    # The sell limit rests at 39,990.10; during the first wait the next bar trades through it.
    venue, replay = venue_on(["39990.05", "40100", "40100"], usdt="30000", btc="1")
    store = HedgeStore(f"sqlite:///{tmp_path / 's.db'}")
    config = hedge({"style": "limit_chase", "chase_reprices": 3, "chase_wait": "1h"})
    engine, clock = engine_on(venue, replay, store, config)

    report = asyncio.run(engine.cycle())

    assert report.status == "acted", report.lines
    orders = store.orders("btc")
    assert [(o.order_type, o.state, o.filled_qty_base) for o in orders] == [
        ("limit", "filled", Decimal("1.000"))]
    assert clock.sleeps == [3600.0]  # it rested, and filled while the engine waited
    assert position(venue) == Decimal("-1.000")
    assert asyncio.run(venue.open_orders(BTC)) == []
    store.close()


def test_slices_are_sent_the_interval_apart_each_with_its_client_id(tmp_path: Path) -> None:
    venue, replay = venue_on(["40000"] * 6, usdt="30000", btc="1")
    store = HedgeStore(f"sqlite:///{tmp_path / 's.db'}")
    config = hedge({"style": "slices", "max_order_notional": "15000", "slice_interval": "30s"})
    engine, clock = engine_on(venue, replay, store, config)

    report = asyncio.run(engine.cycle())

    assert report.status == "acted", report.lines
    orders = store.orders("btc")
    assert [o.qty_base for o in orders] == [Decimal("0.375"), Decimal("0.375"), Decimal("0.250")]
    assert all(o.state == "filled" for o in orders)
    assert len({o.client_order_id for o in orders}) == 3
    assert clock.sleeps == [30.0, 30.0]
    assert position(venue) == Decimal("-1.000")
    store.close()


@dataclass
class Sliced:
    """A 1 BTC holding hedged in three slices 30 s apart, on a store file a restart reopens."""

    venue: PaperVenue
    replay: ReplayClock
    url: str
    config: HedgeConfig
    store: HedgeStore
    engine: HedgeEngine
    clock: ReplayingClock

    @classmethod
    def on(cls, tmp_path: Path) -> Sliced:
        venue, replay = venue_on(["40000"] * 6, usdt="30000", btc="1")
        url = f"sqlite:///{tmp_path / 's.db'}"
        config = hedge({"style": "slices", "max_order_notional": "15000",
                        "slice_interval": "30s"})
        store = HedgeStore(url)
        engine, clock = engine_on(venue, replay, store, config)
        return cls(venue, replay, url, config, store, engine, clock)


def test_a_crash_between_slices_resumes_from_the_store_without_doubling(
        tmp_path: Path) -> None:
    sliced = Sliced.on(tmp_path)
    venue, replay, url, config = sliced.venue, sliced.replay, sliced.url, sliced.config
    store, engine = sliced.store, sliced.engine
    sliced.clock.crash_on_sleep = 1

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(engine.cycle())
    assert position(venue) == Decimal("-0.375")
    store.close()

    store = HedgeStore(url)  # the restarted process
    engine, _ = engine_on(venue, replay, store, config)
    resumed = asyncio.run(engine.cycle())
    again = asyncio.run(engine.cycle())

    assert resumed.status == "acted", resumed.lines
    assert again.status == "idle", again.lines
    assert position(venue) == Decimal("-1.000")
    assert sum((o.filled_qty_base for o in store.orders("btc")), Decimal(0)) == Decimal("1.000")
    store.close()


def test_a_pause_between_slices_stops_the_rest_and_resume_finishes_the_order(
        tmp_path: Path) -> None:
    sliced = Sliced.on(tmp_path)
    venue, url, store, engine, clock = (sliced.venue, sliced.url, sliced.store, sliced.engine,
                                        sliced.clock)
    ensure_hedge_row(store, sliced.config, T0)

    def pause_from_another_process() -> None:
        other = HedgeStore(url)
        other.set_hedge_state("btc", "paused", T0 + HOUR)
        other.close()

    clock.on_sleep = pause_from_another_process
    report = asyncio.run(engine.cycle())

    assert report.status == "paused", report.lines
    assert position(venue) == Decimal("-0.375")  # the first slice only
    assert [o.state for o in store.orders("btc")] == ["filled"]
    clock.on_sleep = None
    store.set_hedge_state("btc", "active", T0 + HOUR)  # `perphedge resume`
    resumed = asyncio.run(engine.cycle())
    assert resumed.status == "acted", resumed.lines
    assert position(venue) == Decimal("-1.000")
    store.close()


def test_a_resting_limit_left_by_a_crash_is_cancelled_by_the_next_cycle(
        tmp_path: Path) -> None:
    venue, replay = venue_on(["40000.01"] * 6, usdt="30000", btc="1")
    store = HedgeStore(f"sqlite:///{tmp_path / 's.db'}")
    config = hedge({"style": "limit_chase", "chase_reprices": 0, "chase_wait": "1s"})
    engine, clock = engine_on(venue, replay, store, config)
    clock.crash_on_sleep = 1  # killed while the first limit rests

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(engine.cycle())
    assert [o.state for o in asyncio.run(venue.open_orders(BTC))] == [OrderState.SUBMITTED]

    clock.crash_on_sleep = None
    report = asyncio.run(engine.cycle())

    assert report.status == "acted", report.lines
    assert any("resting limit from an interrupted chase" in line for line in report.lines)
    assert asyncio.run(venue.open_orders(BTC)) == []
    assert position(venue) == Decimal("-1.000")
    store.close()


def test_market_style_sends_the_pieces_back_to_back(tmp_path: Path) -> None:
    venue, replay = venue_on(["40000"] * 4, usdt="30000", btc="1")
    store = HedgeStore(f"sqlite:///{tmp_path / 's.db'}")
    engine, clock = engine_on(venue, replay, store, hedge({"max_order_notional": "15000"}))

    asyncio.run(engine.cycle())

    assert len(store.orders("btc")) == 3
    assert clock.sleeps == []
    assert asyncio.run(venue.place_order(OrderRequest(
        "ph-btc-1", Market.FUTURES, BTC, Side.SHORT, Decimal(1)))).state is OrderState.FILLED
    assert position(venue) == Decimal("-1.000")  # the known client id was not sent again
    store.close()


# ---------------------------------------------------------------- the store on the send path

def order_row(cid: str, side: str, state: str, filled: str) -> OrderRow:
    return OrderRow(
        hedge_id="btc", account="paper", client_order_id=cid, market="futures", symbol=BTC,
        side=side, order_type="market", qty_base=Decimal(1), price_usdt=None,
        reduce_only=False, state=state, filled_qty_base=Decimal(filled), avg_price_usdt=None,
        created_ms=T0, updated_ms=T0, note="")


def test_the_recorded_position_is_read_again_where_an_order_was_still_open(
        tmp_path: Path) -> None:
    store = HedgeStore(f"sqlite:///{tmp_path / 's.db'}")
    ensure_hedge_row(store, hedge({}), T0)
    for cid in ("ph-btc-1", "ph-btc-2", "ph-btc-3"):
        store.record_order_intent(order_row(cid, "sell", "pending_submit", "0"))
    store.update_order("ph-btc-1", "paper", state="filled", filled_qty_base=Decimal(1))
    store.update_order("ph-btc-3", "paper", state="filled", filled_qty_base=Decimal(1))
    assert store.futures_position("btc") == Decimal(-2)

    # The order that was open when the sum was kept settles later: it must still count.
    store.update_order("ph-btc-2", "paper", state="canceled", filled_qty_base=Decimal("0.4"))
    store.record_order_intent(order_row("ph-btc-4", "buy", "pending_submit", "0"))
    store.update_order("ph-btc-4", "paper", state="filled", filled_qty_base=Decimal("0.1"))

    assert store.futures_position("btc") == Decimal("-2.3")
    assert HedgeStore(store.url).futures_position("btc") == Decimal("-2.3")  # a fresh read
    store.close()


def test_a_client_id_taken_by_another_writer_is_skipped_not_reused(tmp_path: Path) -> None:
    venue, replay = venue_on(["40000"] * 6, usdt="30000", btc="1")
    store = HedgeStore(f"sqlite:///{tmp_path / 's.db'}")
    engine, _ = engine_on(venue, replay, store, hedge({}))
    asyncio.run(engine.cycle())  # opens with ph-btc-1
    # Another writer (a second process, an adoption) records the next number first.
    store.record_order_intent(order_row("ph-btc-2", "sell", "pending_submit", "0"))
    store.update_order("ph-btc-2", "paper", state="rejected")
    venue.exchange.account.deposit("BTC", Decimal("0.5"), T0 + HOUR)

    grown = asyncio.run(engine.cycle())

    assert grown.status == "acted", grown.lines
    ids = [o.client_order_id for o in store.orders("btc")]
    assert ids == [f"ph-btc-{n}" for n in range(1, len(ids) + 1)]  # 2 skipped, none reused
    assert [o.state for o in store.orders("btc")][:3] == ["filled", "rejected", "filled"]
    assert position(venue) < Decimal("-1.4")  # the grown hedge was sent
    store.close()


class LosesFirstAnswer:
    """The paper venue, except that the first order's answer is lost after it was placed."""

    def __init__(self, inner: PaperVenue) -> None:
        self._inner = inner
        self.placed: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    async def place_order(self, request: OrderRequest) -> object:
        got = await self._inner.place_order(request)
        self.placed.append(request.client_order_id)
        if len(self.placed) == 1:
            raise AmbiguousOrderError("reply cut mid-body (test)", request.client_order_id)
        return got


def test_a_chase_child_whose_answer_is_lost_is_read_back_and_chased_on(tmp_path: Path) -> None:
    paper, replay = venue_on(["39990.05", "40100", "40100"], usdt="30000", btc="1")
    venue = LosesFirstAnswer(paper)
    store = HedgeStore(f"sqlite:///{tmp_path / 's.db'}")
    config = hedge({"style": "limit_chase", "chase_reprices": 3, "chase_wait": "1h"})
    engine, _clock = engine_on(venue, replay, store, config)  # type: ignore[arg-type]

    report = asyncio.run(engine.cycle())

    assert report.status == "acted", report.lines
    assert venue.placed == ["ph-btc-1"]  # sent once, found resting, filled during the wait
    assert [(o.order_type, o.state, o.filled_qty_base) for o in store.orders("btc")] == [
        ("limit", "filled", Decimal("1.000"))]
    assert position(paper) == Decimal("-1.000")
    store.close()
