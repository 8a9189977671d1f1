"""The paper venue keeps the Venue port's promises: idempotent client ids, reduce-only, margin,
transfers, funding and liquidation on the replayed path, and the live engine runs on it."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest

from perphedge.adapters.store.repository import HedgeStore
from perphedge.config.models import HedgeConfig
from perphedge.domain.types import MarginMode, Side
from perphedge.engine.clock import ManualClock
from perphedge.engine.execute import LiveExecutor
from perphedge.engine.loop import HedgeEngine
from perphedge.engine.venue import ListsDeliveries, Market, OrderRequest, OrderState
from perphedge.errors import TerminalExchangeError
from perphedge.exchange.market import PricePath, ReplayClock, ReplayMarket
from perphedge.paper.venue import PaperVenue, paper_exchange

T = TypeVar("T")
BTC = "BTCUSDT"
HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def venue_on(closes: list[str], *, usdt: str = "100000", btc: str = "0",
             funding: list[tuple[int, str]] | None = None) -> tuple[PaperVenue, ReplayClock]:
    """A paper venue on an hourly scripted BTC path, its replay clock frozen at T0 + 1 h."""
    clock = ReplayClock(T0 + HOUR, speed=0)
    path = PricePath.scripted(BTC, HOUR, T0, closes, funding or [])
    deposits = {"USDT": Decimal(usdt)}
    if Decimal(btc) > 0:
        deposits["BTC"] = Decimal(btc)
    return PaperVenue(paper_exchange(ReplayMarket({BTC: path}, clock), deposits, T0)), clock


def short(cid: str, qty: str, *, reduce_only: bool = False, side: Side = Side.SHORT
          ) -> OrderRequest:
    return OrderRequest(cid, Market.FUTURES, BTC, side, Decimal(qty), reduce_only=reduce_only)


def funded(venue: PaperVenue, usdt: str = "20000") -> None:
    run(venue.transfer(Decimal(usdt), to=Market.FUTURES))
    run(venue.set_margin_mode(BTC, MarginMode.ISOLATED))
    run(venue.set_leverage(BTC, 2))


def test_a_repeated_client_id_returns_the_first_order_and_never_fills_twice() -> None:
    venue, _ = venue_on(["40000"] * 4)
    funded(venue)

    first = run(venue.place_order(short("ph-h-1", "0.5")))
    again = run(venue.place_order(short("ph-h-1", "0.5")))

    assert first.state is OrderState.FILLED
    assert again == first
    assert [p.qty_base for p in run(venue.positions())] == [Decimal("-0.5")]
    assert len(venue.exchange.book.trades) == 1
    # The taker fee (0.05 % of 20,000) is reported on the order, as read back by id.
    assert first.fee_usdt == Decimal("10.0000")
    assert run(venue.fetch_order(BTC, "ph-h-1")) == first


def test_an_unknown_client_id_is_none_and_cannot_be_cancelled() -> None:
    venue, _ = venue_on(["40000"] * 4)

    assert run(venue.fetch_order(BTC, "never-sent")) is None
    with pytest.raises(TerminalExchangeError, match="-2011"):
        run(venue.cancel_order(BTC, "never-sent"))


def test_reduce_only_cannot_open_or_grow_but_may_reduce() -> None:
    venue, _ = venue_on(["40000"] * 4)
    funded(venue)

    with pytest.raises(TerminalExchangeError, match="-2022"):
        run(venue.place_order(short("ph-h-1", "0.1", reduce_only=True)))
    run(venue.place_order(short("ph-h-2", "0.3")))
    with pytest.raises(TerminalExchangeError, match="-2022"):
        run(venue.place_order(short("ph-h-3", "0.1", reduce_only=True)))
    cut = run(venue.place_order(short("ph-h-4", "0.1", reduce_only=True, side=Side.LONG)))

    assert cut.state is OrderState.FILLED
    assert cut.reduce_only
    assert [p.qty_base for p in run(venue.positions())] == [Decimal("-0.2")]
    # A rejected order leaves no trace: its id is unknown, not "rejected".
    assert run(venue.fetch_order(BTC, "ph-h-3")) is None


def test_margin_moves_between_the_wallet_and_the_isolated_position() -> None:
    venue, _ = venue_on(["40000"] * 4)
    funded(venue, "20000")
    run(venue.place_order(short("ph-h-1", "0.5")))  # 10,000 margin at 2x, 10 fee
    before = run(venue.balances())

    run(venue.add_margin(BTC, Decimal("1500")))
    pos = run(venue.positions())[0]
    after = run(venue.balances())

    assert pos.isolated_margin_usdt == Decimal("11500")
    assert after.futures_available_usdt == before.futures_available_usdt - 1500
    assert after.futures_wallet_usdt == before.futures_wallet_usdt  # wallet includes isolated
    liq_before = pos.liquidation_price_usdt
    run(venue.reduce_margin(BTC, Decimal("1500")))
    assert run(venue.positions())[0].liquidation_price_usdt != liq_before
    # Down to the initial margin and no further.
    with pytest.raises(TerminalExchangeError, match="-4050"):
        run(venue.reduce_margin(BTC, Decimal("100")))


def test_transfers_move_usdt_between_wallets_and_refuse_what_is_not_there() -> None:
    venue, _ = venue_on(["40000"] * 4, usdt="5000")

    run(venue.transfer(Decimal("3000"), to=Market.FUTURES))
    got = run(venue.balances())
    assert (got.spot["USDT"], got.futures_wallet_usdt) == (Decimal("2000"), Decimal("3000"))
    run(venue.transfer(Decimal("1000"), to=Market.SPOT))
    assert run(venue.balances()).spot["USDT"] == Decimal("3000")
    with pytest.raises(TerminalExchangeError, match="-2018"):
        run(venue.transfer(Decimal("9000"), to=Market.FUTURES))


def test_spot_orders_trade_the_asset_and_are_found_by_client_id() -> None:
    venue, _ = venue_on(["40000"] * 4, btc="2")
    sell = OrderRequest("ph-h-s1", Market.SPOT, BTC, Side.SHORT, Decimal("0.5"))

    got = run(venue.place_order(sell))
    run(venue.place_order(sell))  # the same id again: no second sale

    balances = run(venue.balances())
    assert balances.spot["BTC"] == Decimal("1.5")
    assert balances.spot["USDT"] == Decimal("100000") + Decimal("20000") - Decimal("20")
    assert got.state is OrderState.FILLED
    assert run(venue.fetch_order(BTC, "ph-h-s1")) == got
    assert run(venue.positions()) == []


def test_the_replay_moves_the_mark_settles_funding_and_liquidates() -> None:
    closes = ["40000", "40000", "50000", "70000"]
    venue, clock = venue_on(closes, funding=[(T0 + 2 * HOUR, "0.0003")])
    funded(venue, "20000")
    run(venue.place_order(short("ph-h-1", "0.5")))
    assert run(venue.mark_and_funding(BTC)).funding_rate == Decimal("0.0003")

    clock.advance(2 * HOUR)  # the 50,000 bar closes; funding at 40,000 × 0.5 × 0.0003 received
    mark = run(venue.mark_and_funding(BTC))
    assert mark.mark_price_usdt == Decimal("50000.00")
    assert [p.amount_usdt for p in run(venue.funding_history(BTC, T0))] == [Decimal("6.0000")]
    # The funding went into the isolated margin, so the liquidation price moved up with it.
    liq = run(venue.positions())[0].liquidation_price_usdt
    assert liq is not None
    assert Decimal(50000) < liq < Decimal(70000)

    clock.advance(HOUR)  # the 70,000 bar crosses the liquidation price
    assert run(venue.positions()) == []
    assert venue.exchange.liquidations[0].price_usdt == liq


def test_the_live_engine_opens_and_follows_a_hedge_on_the_paper_venue(tmp_path: Path) -> None:
    venue, _ = venue_on(["40000"] * 4, usdt="30000", btc="1")
    store = HedgeStore(f"sqlite:///{tmp_path / 'store.db'}")
    hedge = HedgeConfig.model_validate({
        "name": "btc", "account": "paper", "asset": "BTC", "exposure": {"source": "balance"},
        "policy": "managed", "leverage": 2, "margin_mode": "isolated"})
    engine = HedgeEngine(hedge, venue, store, LiveExecutor(venue, store, "paper"),
                         ManualClock(T0 + HOUR))

    opened = run(engine.cycle())
    venue.exchange.account.deposit("BTC", Decimal("0.5"), T0 + HOUR)
    venue.exchange.account.deposit("USDT", Decimal("20000"), T0 + HOUR)
    grown = run(engine.cycle())

    assert (opened.status, grown.status) == ("acted", "acted"), grown.lines
    assert [p.qty_base for p in run(venue.positions())] == [Decimal("-1.500")]
    orders = store.orders("btc")
    assert all(o.state == "filled" and o.client_order_id.startswith("ph-btc-") for o in orders)
    assert store.fees_total("btc") > 0
    store.close()


def test_a_limit_order_rests_is_listed_and_fills_when_a_bar_trades_through_it() -> None:
    venue, clock = venue_on(["40000", "40000", "42000", "42000"])
    funded(venue)
    sell = OrderRequest("ph-h-l1", Market.FUTURES, BTC, Side.SHORT, Decimal("0.1"),
                        order_type="limit", price_usdt=Decimal("41000"))
    other = OrderRequest("ph-h-l2", Market.FUTURES, BTC, Side.SHORT, Decimal("0.1"),
                         order_type="limit", price_usdt=Decimal("45000"))

    resting = run(venue.place_order(sell))
    run(venue.place_order(other))
    assert resting.state is OrderState.SUBMITTED
    assert [o.client_order_id for o in run(venue.open_orders(BTC))] == ["ph-h-l1", "ph-h-l2"]
    assert run(venue.cancel_order(BTC, "ph-h-l2")).state is OrderState.CANCELED

    clock.advance(2 * HOUR)  # the 42,000 bar trades through 41,000
    filled = run(venue.fetch_order(BTC, "ph-h-l1"))
    assert filled is not None
    assert filled.state is OrderState.FILLED
    assert filled.avg_price_usdt == Decimal("41000")
    assert run(venue.open_orders(BTC)) == []


def test_it_lists_the_quarterlies_open_for_trading_as_the_local_exchange_does() -> None:
    start = 1_772_323_200_000  # 2026-03-01
    clock = ReplayClock(start, speed=0)
    symbols = ("BTCUSDT", "BTCUSDT_260327", "BTCUSDT_260626", "BTCUSDT_260925")
    paths = {s: PricePath.scripted(s, HOUR, start - HOUR, ["80000"] * 24 * 40) for s in symbols}
    venue = PaperVenue(paper_exchange(ReplayMarket(paths, clock), {"USDT": Decimal(1000)}))

    assert isinstance(venue, ListsDeliveries)
    first = run(venue.delivery_contracts("btc"))
    clock.advance(30 * 24 * HOUR)  # past the March expiry
    later = run(venue.delivery_contracts("BTC"))

    assert [i.symbol for i in first] == ["BTCUSDT_260327", "BTCUSDT_260626"]
    assert [i.symbol for i in later] == ["BTCUSDT_260626", "BTCUSDT_260925"]
    assert run(venue.delivery_contracts("ETH")) == []


def test_a_paper_venue_with_a_state_file_continues_after_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "paper.json"

    def start() -> PaperVenue:
        clock = ReplayClock(T0 + HOUR, speed=0)
        path = PricePath.scripted(BTC, HOUR, T0, ["40000"] * 4, [])
        market = ReplayMarket({BTC: path}, clock)
        return PaperVenue(paper_exchange(market, {"USDT": Decimal(100000)}, T0,
                                         state_path=state))

    venue = start()
    funded(venue)
    first = run(venue.place_order(short("ph-h-1", "0.5")))
    del venue  # the process stops

    again = start()  # and starts again from the file: same position, same order, same wallets
    assert [p.qty_base for p in run(again.positions())] == [Decimal("-0.5")]
    assert run(again.fetch_order(BTC, "ph-h-1")) == first
    assert run(again.balances()).spot["USDT"] == Decimal(80000)
