"""Every error the local exchange answers reaches ccxt as the class real Binance would give."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import ccxt
import pytest

from tests.integration.local_exchange_fixture import (
    API_KEY,
    HOUR_MS,
    LocalVenue,
    local_exchange,
)

BTC = "BTC/USDT:USDT"


@pytest.fixture
def venue() -> Iterator[LocalVenue]:
    with local_exchange() as running:
        yield running


@pytest.fixture
def futures(venue: LocalVenue) -> Iterator[Any]:
    spot = venue.client("binance")
    spot.load_markets()
    spot.transfer("USDT", 1000, "spot", "linear")
    spot.close()
    client = venue.client("binanceusdm")
    client.load_markets()
    yield client
    client.close()


def _last_status(venue: LocalVenue) -> int:
    return venue.server.request_log[-1].status


def test_stale_timestamp_is_outside_recv_window(futures: Any, venue: LocalVenue) -> None:
    futures.options["timeDifference"] = 120_000  # the client's clock two minutes behind
    with pytest.raises(ccxt.InvalidNonce, match="-1021"):
        futures.fetch_balance()


def test_wrong_secret_is_a_bad_signature(venue: LocalVenue) -> None:
    client = venue.client("binanceusdm", secret="not-the-secret")  # noqa: S106 -- a wrong one
    try:
        with pytest.raises(ccxt.AuthenticationError, match="-1022"):
            client.fetch_balance()
    finally:
        client.close()


def test_unknown_key_is_rejected_with_401(venue: LocalVenue) -> None:
    client = venue.client("binanceusdm", apiKey="someone-else")
    try:
        with pytest.raises(ccxt.AuthenticationError, match="-2015"):
            client.fetch_balance()
        assert _last_status(venue) == 401
    finally:
        client.close()


def test_unknown_orders_are_not_found(futures: Any) -> None:
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        futures.fetch_order("424242", BTC)
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        futures.cancel_order("424242", BTC)


def test_margin_beyond_the_wallet_is_insufficient(futures: Any) -> None:
    futures.set_leverage(2, BTC)
    with pytest.raises(ccxt.InsufficientFunds, match="-2019"):
        futures.create_order(BTC, "market", "sell", 0.1)  # 2000 USDT margin, 1000 held


def test_reduce_only_without_a_position_is_rejected(futures: Any) -> None:
    with pytest.raises(ccxt.InvalidOrder, match="-2022"):
        futures.create_order(BTC, "market", "buy", 0.01, None, {"reduceOnly": True})


def test_notional_below_the_minimum_is_rejected(futures: Any) -> None:
    with pytest.raises(ccxt.InvalidOrder, match="-4164"):
        futures.create_order(BTC, "market", "sell", 0.001)  # 40 USDT < 100


def test_position_side_in_one_way_mode_is_rejected(futures: Any) -> None:
    with pytest.raises(ccxt.OperationRejected, match="-4061"):
        futures.create_order(BTC, "market", "sell", 0.01, None, {"positionSide": "SHORT"})


def test_same_margin_mode_twice_needs_no_change(futures: Any) -> None:
    futures.set_margin_mode("isolated", BTC)
    with pytest.raises(ccxt.MarginModeAlreadySet, match="-4046"):
        futures.set_margin_mode("isolated", BTC)
    # With ccxt told not to throw, it hands back Binance's body instead.
    futures.options["setMarginMode"] = {"throwMarginModeAlreadySet": False}
    assert futures.set_margin_mode("isolated", BTC)["code"] == -4046


def test_duplicate_client_id_of_an_open_order_is_rejected(futures: Any) -> None:
    resting = futures.create_order(BTC, "limit", "sell", 0.01, 45000, {"clientOrderId": "dup"})
    assert resting["status"] == "open"
    with pytest.raises(ccxt.InvalidOrder, match="-4116"):
        futures.create_order(BTC, "limit", "sell", 0.01, 46000, {"clientOrderId": "dup"})
    futures.cancel_order(resting["id"], BTC)
    # Once the first order left the book, its id is free again, as on Binance.
    again = futures.create_order(BTC, "limit", "sell", 0.01, 46000, {"clientOrderId": "dup"})
    assert [o["id"] for o in futures.fetch_open_orders(BTC)] == [again["id"]]


def test_resting_limit_fills_when_a_bar_trades_through() -> None:
    path = ["40000", "40000", "41000", "41000"]
    with local_exchange(path) as venue:
        client = venue.client()
        try:
            venue.exchange.account.transfer(Decimal(1000), to="futures", ts_ms=0)
            client.load_markets()
            order = client.create_order(BTC, "limit", "sell", 0.01, 40500)
            assert order["status"] == "open"
            venue.clock.advance(2 * HOUR_MS)  # the 02:00-03:00 bar trades to 41000
            filled = client.fetch_order(order["id"], BTC)
            assert (filled["status"], filled["average"]) == ("closed", 40500)
        finally:
            client.close()


def test_price_crossing_the_liquidation_price_liquidates() -> None:
    path = ["40000", "40000", "45000", "50000", "50000"]
    with local_exchange(path) as venue:
        spot = venue.client("binance")
        client = venue.client()
        try:
            spot.load_markets()
            spot.transfer("USDT", 1000, "spot", "linear")
            client.load_markets()
            client.set_margin_mode("isolated", BTC)
            client.set_leverage(10, BTC)
            client.create_order(BTC, "market", "sell", 0.1)
            liq = client.fetch_positions([BTC])[0]["liquidationPrice"]
            assert 40000 < liq < 45000
            venue.clock.advance(HOUR_MS)
            assert client.fetch_positions([BTC])[0]["contracts"] == 0.1  # 40000: still alive
            venue.clock.advance(HOUR_MS)  # the bar to 45000 crosses it
            assert client.fetch_positions([BTC]) == []
            (forced,) = [o for o in client.fetch_orders(BTC)
                         if o["clientOrderId"].startswith("autoclose-")]
            assert forced["side"] == "buy"
            assert forced["average"] == pytest.approx(liq, abs=0.1)  # avgPrice at the tick
            balance = client.fetch_balance()["USDT"]["total"]
            assert balance == pytest.approx(1000 - 400 - 2)  # margin lost, 0.05 % taker fee
        finally:
            client.close()
            spot.close()


def _get(url: str) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 -- loopback
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as err:
        headers = dict(err.headers)
        err.close()
        return err.code, headers


def test_request_weight_limit_answers_429_then_418() -> None:
    with local_exchange(weight_per_minute=5) as venue:
        client = venue.client()
        try:
            for _ in range(5):
                client.fetch_time()
            with pytest.raises(ccxt.DDoSProtection, match="429"):
                client.fetch_time()
            status, headers = _get(venue.url + "/fapi/v1/time")
            assert status == 429
            assert int(headers["Retry-After"]) >= 1
            for _ in range(3):
                _get(venue.url + "/fapi/v1/time")
            status, headers = _get(venue.url + "/fapi/v1/time")
            assert status == 418
            assert int(headers["Retry-After"]) > 60
            # The ban is per client: a signed client (keyed by its API key) is unaffected.
            assert client.apiKey == API_KEY
        finally:
            client.close()
