"""userTrades/myTrades filtered by orderId, as Binance does (the venue reads fees this way)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.local_exchange_fixture import LocalVenue, local_exchange


@pytest.fixture
def venue() -> Iterator[LocalVenue]:
    with local_exchange() as running:
        yield running


def test_trades_of_one_order_only(venue: LocalVenue) -> None:
    futures: Any = venue.client("binanceusdm")
    spot: Any = venue.client("binance")
    try:
        spot.load_markets()
        spot.transfer("USDT", 5000, "spot", "linear")
        futures.load_markets()
        first = futures.create_order("BTC/USDT:USDT", "market", "sell", 0.01)
        second = futures.create_order("BTC/USDT:USDT", "market", "sell", 0.02)
        mine = futures.fetch_my_trades("BTC/USDT:USDT", params={"orderId": second["id"]})
        assert [t["order"] for t in mine] == [second["id"]]
        assert len(futures.fetch_my_trades("BTC/USDT:USDT")) == 2
        assert first["id"] != second["id"]

        bought = spot.create_order("BTC/USDT", "market", "buy", 0.001)
        spot.create_order("BTC/USDT", "market", "buy", 0.002)
        only = spot.fetch_my_trades("BTC/USDT", params={"orderId": bought["id"]})
        assert [t["order"] for t in only] == [bought["id"]]
    finally:
        futures.close()
        spot.close()


def test_a_full_spot_reply_lists_its_fills_with_the_commission(venue: LocalVenue) -> None:
    spot: Any = venue.client("binance")
    try:
        spot.load_markets()
        reply = spot.privatePostOrder({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                       "quantity": "0.01", "newOrderRespType": "FULL"})
        (fill,) = reply["fills"]
        assert fill["qty"] == "0.01"
        assert fill["commissionAsset"] == "USDT"
        assert Decimal(fill["commission"]) == Decimal(fill["price"]) * Decimal("0.01") / 1000
    finally:
        spot.close()
