"""The synthetic order book, through the real ccxt client: spread, depth, slippage, limits.

BTCUSDT is replayed flat at 40,000. The book: 2 bp spread (best bid 39,996, best ask 40,004),
a level every 1 bp, 40,000 USDT a level (0.999 BTC on the asks, 1 BTC on the bids, rounded down
to the lot).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import ccxt
import pytest

from perphedge.exchange.book import BookShape
from tests.integration.local_exchange_fixture import LocalVenue, local_exchange

SYMBOL = "BTC/USDT:USDT"
SHAPE = BookShape(Decimal(2), Decimal(1), Decimal(40000))


@pytest.fixture
def venue() -> Iterator[LocalVenue]:
    with local_exchange(book=SHAPE) as running:
        with running.exchange.lock:
            running.exchange.account.transfer(Decimal(50000), to="futures", ts_ms=0)
        yield running


@pytest.fixture
def client(venue: LocalVenue) -> Any:
    ex = venue.client()
    ex.load_markets()
    return ex


def test_the_book_shows_the_spread_and_the_levels(client: Any) -> None:
    book = client.fetch_order_book(SYMBOL, limit=5)
    assert book["bids"][:2] == [[39996.0, 1.0], [39992.0, 1.0]]  # 40,000 USDT a level
    assert book["asks"][:2] == [[40004.0, 0.999], [40008.0, 0.999]]
    assert len(book["asks"]) == 5


def test_a_market_order_walks_the_levels(client: Any) -> None:
    order = client.create_order(SYMBOL, "market", "buy", 2.5)
    # 0.999 @ 40,004 + 0.999 @ 40,008 + 0.502 @ 40,012
    expected = (0.999 * 40004 + 0.999 * 40008 + 0.502 * 40012) / 2.5
    assert client.fetch_order(order["id"], SYMBOL)["average"] == pytest.approx(expected, abs=0.01)


def test_a_limit_inside_the_spread_rests_and_one_across_takes_up_to_its_price(
    client: Any,
) -> None:
    inside = client.create_order(SYMBOL, "limit", "buy", 0.5, 40000)
    assert client.fetch_order(inside["id"], SYMBOL)["status"] == "open"
    across = client.create_order(SYMBOL, "limit", "buy", 1.5, 40004)
    seen = client.fetch_order(across["id"], SYMBOL)
    assert (seen["status"], seen["filled"], seen["remaining"]) == ("open", 0.999, 0.501)
    assert seen["average"] == 40004


def test_post_only_that_would_take_is_refused_and_ioc_leftovers_expire(client: Any) -> None:
    with pytest.raises(ccxt.InvalidOrder):
        client.create_order(SYMBOL, "limit", "buy", 0.1, 40010, params={"timeInForce": "GTX"})
    ioc = client.create_order(SYMBOL, "limit", "buy", 1.5, 40004,
                              params={"timeInForce": "IOC"})
    seen = client.fetch_order(ioc["id"], SYMBOL)
    assert (seen["status"], seen["filled"]) == ("expired", 0.999)
    assert client.fetch_open_orders(SYMBOL) == []
