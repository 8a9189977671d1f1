"""The real ccxt clients (binanceusdm, binance) drive a hedge on the local exchange."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest

from tests.integration.local_exchange_fixture import HOUR_MS, LocalVenue, local_exchange

BTC = "BTC/USDT:USDT"


@pytest.fixture
def venue() -> Iterator[LocalVenue]:
    with local_exchange() as running:
        yield running


@pytest.fixture
def futures(venue: LocalVenue) -> Iterator[Any]:
    client = venue.client("binanceusdm")
    yield client
    client.close()


@pytest.fixture
def spot(venue: LocalVenue) -> Iterator[Any]:
    client = venue.client("binance")
    yield client
    client.close()


def _fund_futures(spot: Any, usdt: float) -> None:
    spot.load_markets()
    spot.transfer("USDT", usdt, "spot", "linear")


def test_markets_load_with_the_bundled_binance_filters(futures: Any, venue: LocalVenue) -> None:
    markets = futures.load_markets()
    assert sorted(markets) == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    btc = markets[BTC]
    assert btc["precision"]["price"] == 0.1
    assert btc["precision"]["amount"] == 0.001
    assert btc["limits"]["cost"]["min"] == 100
    # Only the public listing is needed: no currency or margin-pair calls.
    assert [r.path for r in venue.server.request_log] == ["/fapi/v1/exchangeInfo"]


def test_transfer_from_spot_moves_usdt_into_the_futures_wallet(
    spot: Any, futures: Any, venue: LocalVenue
) -> None:
    _fund_futures(spot, 2500)
    assert spot.fetch_balance()["USDT"]["total"] == 97500
    assert futures.fetch_balance()["USDT"]["total"] == 2500
    assert ("POST", "/sapi/v1/asset/transfer") in {
        (r.method, r.path) for r in venue.server.request_log
    }


def test_short_hedge_opens_isolated_with_client_id_then_reduces(
    spot: Any, futures: Any, venue: LocalVenue
) -> None:
    _fund_futures(spot, 5000)
    futures.load_markets()
    futures.set_margin_mode("isolated", BTC)
    futures.set_leverage(5, BTC)
    order = futures.create_order(BTC, "market", "sell", 0.1, None, {"clientOrderId": "hedge-1"})
    assert (order["clientOrderId"], order["status"], order["filled"]) == ("hedge-1", "closed", 0.1)
    assert order["average"] == 40000
    (position,) = futures.fetch_positions([BTC])
    assert (position["side"], position["contracts"], position["marginMode"]) == (
        "short", 0.1, "isolated")
    assert position["initialMargin"] == 800  # 4000 USDT notional at 5x
    fetched = futures.fetch_order(order["id"], BTC)
    assert fetched["clientOrderId"] == "hedge-1"

    reduce = futures.create_order(BTC, "market", "buy", 0.04, None, {"reduceOnly": True})
    assert reduce["reduceOnly"] is True
    (position,) = futures.fetch_positions([BTC])
    assert position["contracts"] == pytest.approx(0.06)
    assert len(futures.fetch_my_trades(BTC)) == 2
    sim = venue.exchange.account.positions["BTCUSDT"]
    assert sim.qty_base == Decimal("-0.06")


def test_add_margin_raises_the_isolated_margin(spot: Any, futures: Any, venue: LocalVenue) -> None:
    _fund_futures(spot, 5000)
    futures.load_markets()
    futures.set_margin_mode("isolated", BTC)
    futures.set_leverage(5, BTC)
    futures.create_order(BTC, "market", "sell", 0.1)
    liq_before = futures.fetch_positions([BTC])[0]["liquidationPrice"]
    result = futures.add_margin(BTC, 250)
    assert (result["type"], result["amount"]) == ("add", 250)
    position = futures.fetch_positions([BTC])[0]
    assert position["initialMargin"] == 800
    assert venue.exchange.account.positions["BTCUSDT"].isolated_margin_usdt == Decimal("1050")
    assert position["liquidationPrice"] > liq_before  # more margin: a short liquidates higher


def test_funding_settles_at_its_timestamp_and_shows_in_income(
    spot: Any, futures: Any, venue: LocalVenue
) -> None:
    _fund_futures(spot, 5000)
    futures.load_markets()
    futures.create_order(BTC, "market", "sell", 0.1)
    assert futures.fetch_funding_history(BTC) == []
    rate = futures.fetch_funding_rate(BTC)
    assert rate["fundingTimestamp"] == venue.clock.now_ms() + 7 * HOUR_MS
    venue.clock.advance(7 * HOUR_MS)  # exactly to the 08:00 settlement
    (payment,) = futures.fetch_funding_history(BTC)
    # A short receives when the rate is positive: 0.1 × 40000 × 0.0001.
    assert payment["amount"] == pytest.approx(0.4)
    assert payment["timestamp"] == venue.clock.now_ms()
    history = futures.fetch_funding_rate_history(BTC)
    assert [h["fundingRate"] for h in history] == [0.0001]


def test_klines_and_mark_price_klines_show_only_closed_bars(
    futures: Any, venue: LocalVenue
) -> None:
    futures.load_markets()
    venue.clock.advance(2 * HOUR_MS)
    bars = futures.fetch_ohlcv(BTC, "1h", limit=10)
    assert [b[0] for b in bars] == [venue.clock.now_ms() - HOUR_MS * k for k in (3, 2, 1)]
    marks = futures.fetch_ohlcv(BTC, "1h", limit=10, params={"price": "mark"})
    assert marks == bars
    with pytest.raises(ccxt.BadRequest):
        futures.fetch_ohlcv(BTC, "3m")


def test_spot_market_buy_fills_at_the_replayed_price(spot: Any) -> None:
    spot.load_markets()
    order = spot.create_order("BTC/USDT", "market", "buy", 0.01)
    assert order["status"] == "closed"
    balance = spot.fetch_balance()
    assert balance["BTC"]["total"] == 0.01
    assert balance["USDT"]["total"] == pytest.approx(100000 - 400 - 0.4)  # 0.1 % fee


def test_a_restarted_server_continues_from_its_state_file(tmp_path: Path) -> None:
    state = tmp_path / "exchange.json"
    with local_exchange(state_path=state) as first:
        spot, client = first.client("binance"), first.client()
        try:
            _fund_futures(spot, 3000)
            client.load_markets()
            client.create_order(BTC, "market", "sell", 0.05, None, {"clientOrderId": "keep"})
            first.clock.advance(7 * HOUR_MS)
            client.fetch_funding_history(BTC)  # syncs the 08:00 settlement into the state
        finally:
            client.close()
            spot.close()
    with local_exchange(state_path=state) as second:
        client = second.client()
        try:
            client.load_markets()
            assert second.clock.now_ms() == first.clock.now_ms()
            (position,) = client.fetch_positions([BTC])
            assert (position["side"], position["contracts"]) == ("short", 0.05)
            (order,) = client.fetch_orders(BTC)
            assert order["clientOrderId"] == "keep"
            assert [f["amount"] for f in client.fetch_funding_history(BTC)] == [0.2]
        finally:
            client.close()
