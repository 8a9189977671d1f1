"""Garbage from Binance, through the real ccxt client: one ``MalformedReplyError`` naming the
endpoint, never a TypeError, AttributeError, KeyError or InvalidOperation.

Each endpoint the Binance venue reads answers, in turn, the other JSON container (``[]`` for an
object, ``{}`` for a list), an HTML 502 page with status 200, JSON cut short, and a body of the
right shape with a wrong value (``"markPrice": null`` ...). One venue per endpoint, no retries.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from perphedge.adapters.exchanges.ccxt_client import build_async_client
from perphedge.adapters.exchanges.ccxt_venue import BinanceUsdmVenue, RetryPolicy
from perphedge.errors import MalformedReplyError
from tests.integration.binance_fixture_server import Reply, load_fixture
from tests.integration.test_ccxt_venue import CREDS, KEY, SECRET
from tests.integration.venue_fixture_server import (
    HTML_502,
    RawReply,
    VenueFixtureServer,
    serve_venue_fixtures,
)

Call = Callable[[BinanceUsdmVenue], Awaitable[object]]


@dataclass(frozen=True)
class Endpoint:
    """One request the venue makes, how to make it, and a body of the right shape gone bad."""

    method: str
    path: str
    call: Call
    is_list: bool
    wrong: Any  # the right container with a wrong or missing value
    problem: str  # what the message says about ``wrong``
    container_problem: str = ""  # what it says about the other container, when not the usual


def _order(**changes: Any) -> dict[str, Any]:
    return {**load_fixture("rs_http_json__order_response.json"), **changes}


ENDPOINTS = {
    "account modes": Endpoint(
        "GET", "/fapi/v1/positionSide/dual", lambda v: v.account_modes(), False,
        {"dualSidePosition": "maybe"}, "dualSidePosition: expected true or false"),
    "futures balance": Endpoint(
        "GET", "/fapi/v2/account", lambda v: v.balances(), False,
        {"assets": [{"asset": "USDT", "walletBalance": None, "availableBalance": "1"}]},
        "assets[0].walletBalance: expected a value, got None"),
    "spot balance": Endpoint(
        "GET", "/api/v3/account", lambda v: v.balances(), False,
        {"balances": [{"asset": "BTC", "free": "1..5"}]},
        "balances[0].free: expected a decimal number, got the text '1..5'"),
    "positions": Endpoint(
        "GET", "/fapi/v2/positionRisk", lambda v: v.positions(), True,
        [{"symbol": "BTCUSDT", "positionAmt": "-0.5", "entryPrice": "40000",
          "markPrice": None}], "[0].markPrice: expected a value, got None"),
    "mark and funding": Endpoint(
        "GET", "/fapi/v1/premiumIndex", lambda v: v.mark_and_funding("BTCUSDT"), False,
        {"symbol": "BTCUSDT", "markPrice": None, "time": 1},
        "markPrice: expected a value, got None"),
    "spot price": Endpoint(
        "GET", "/api/v3/ticker/price", lambda v: v.spot_price("BTCUSDT"), False,
        {"symbol": "BTCUSDT"}, "price: expected a value, got nothing"),
    "brackets": Endpoint(
        "GET", "/fapi/v1/leverageBracket", lambda v: v.brackets("BTCUSDT"), True,
        [{"symbol": "BTCUSDT", "brackets": [{"bracket": 1, "notionalFloor": 0}]}],
        "[0].brackets[0].notionalCap: expected a value, got nothing",
        # Binance answers one object for one symbol on some versions: {} lists no brackets.
        "binanceusdm sent no leverage brackets for BTCUSDT"),
    "funding payments": Endpoint(
        "GET", "/fapi/v1/income", lambda v: v.funding_history("BTCUSDT", 0), True,
        [{"symbol": "BTCUSDT", "incomeType": "FUNDING_FEE", "income": {}, "time": 1}],
        "[0].income: expected a decimal number, got an object"),
    "funding rates": Endpoint(
        "GET", "/fapi/v1/fundingRate", lambda v: v.funding_rates("BTCUSDT", 0), True,
        [{"symbol": "BTCUSDT", "fundingTime": "soon", "fundingRate": "0.0001"}],
        "[0].fundingTime: expected an integer, got the text 'soon'"),
    "order by client id": Endpoint(
        "GET", "/fapi/v1/order", lambda v: v.fetch_order("BTCUSDT", "ph-x-1"), False,
        _order(side="HOLD"), "side: expected BUY or SELL, got 'HOLD'"),
    "open orders": Endpoint(
        "GET", "/fapi/v1/openOrders", lambda v: v.open_orders(), True,
        [_order(origQty=None)], "[0].origQty: expected a value, got None"),
}

GARBAGE = {
    "other container": None,  # [] for an object, {} for a list
    "html 502 page": HTML_502,
    "cut json": RawReply(200, b'{"symbol":"BTCUSDT","markPrice":"4000'),
}


@dataclass
class Rig:
    """One loopback server and one venue on one event loop, shared by the module's tests
    (building a ccxt client takes longer than all the requests of a test)."""

    server: VenueFixtureServer
    venue: BinanceUsdmVenue
    runner: asyncio.Runner

    def run(self, body: Callable[[BinanceUsdmVenue], Awaitable[None]]) -> None:
        self.runner.run(body(self.venue))


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    with serve_venue_fixtures() as server, asyncio.Runner() as runner:
        async def build() -> BinanceUsdmVenue:
            client = build_async_client("binance", server.url, CREDS, timeout_ms=3_000)
            client.enableRateLimit = False
            return BinanceUsdmVenue(client, secrets=(KEY, SECRET), retry=RetryPolicy.instant(1))

        venue = runner.run(build())
        try:
            yield Rig(server, venue, runner)
        finally:
            runner.run(venue.close())


@pytest.fixture
def server(rig: Rig) -> Iterator[VenueFixtureServer]:
    """The shared server with its recorded routes put back after the test."""
    saved = dict(rig.server.routes)
    yield rig.server
    rig.server.routes.clear()
    rig.server.routes.update(saved)


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_a_garbled_body_is_one_malformed_reply_error_naming_the_endpoint(
        name: str, rig: Rig, server: VenueFixtureServer) -> None:
    endpoint = ENDPOINTS[name]
    cases: list[tuple[str, Reply | RawReply, str]] = [
        (kind, reply or Reply(200, {} if endpoint.is_list else []),
         endpoint.container_problem if endpoint.container_problem and reply is None
         else "expected a list, got an object" if endpoint.is_list and reply is None
         else "expected an object, got a list" if reply is None
         else "an HTML page" if reply is HTML_502 else "cut or garbled JSON")
        for kind, reply in GARBAGE.items()
    ] + [("wrong value", Reply(200, endpoint.wrong), endpoint.problem)]
    messages: list[str] = []

    async def body(venue: BinanceUsdmVenue) -> None:
        for kind, reply, problem in cases:
            server.route(endpoint.method, endpoint.path, reply)
            with pytest.raises(MalformedReplyError) as caught:
                await endpoint.call(venue)
            text = str(caught.value)
            assert text.startswith(f"malformed reply from {endpoint.method} {endpoint.path}: ")
            assert problem in text, (kind, text)
            messages.append(text)

    rig.run(body)
    assert len(messages) == len(cases)


def test_the_message_reads_as_one_line_naming_endpoint_and_shape(
        rig: Rig, server: VenueFixtureServer) -> None:
    server.route("GET", "/fapi/v1/premiumIndex", Reply(200, []))

    async def body(venue: BinanceUsdmVenue) -> None:
        with pytest.raises(MalformedReplyError) as caught:
            await venue.mark_and_funding("BTCUSDT")
        assert str(caught.value) == (
            "malformed reply from GET /fapi/v1/premiumIndex: expected an object, got a list")

    rig.run(body)


def test_an_empty_position_list_is_malformed_not_flat(
        rig: Rig, server: VenueFixtureServer) -> None:
    # v2 positionRisk lists every symbol, flat ones too: `[]` is a garbled reply (the fault
    # soak's halts: read as "no position", a held short looked gone and the hedge halted).
    server.route("GET", "/fapi/v2/positionRisk", Reply(200, []))

    async def body(venue: BinanceUsdmVenue) -> None:
        with pytest.raises(MalformedReplyError) as caught:
            await venue.positions()
        assert str(caught.value).startswith(
            "malformed reply from GET /fapi/v2/positionRisk: expected a row per symbol")

    rig.run(body)


def _exchange_info(**btc_filter_changes: str) -> dict[str, Any]:
    info = copy.deepcopy(load_fixture("py_http_futures_market_exchange_info.json"))
    for symbol in info["symbols"]:
        for f in symbol["filters"]:
            if symbol["symbol"] == "BTCUSDT" and f["filterType"] == "PRICE_FILTER":
                f.update(btc_filter_changes)
    return info


@pytest.mark.parametrize(("listing", "message"), [
    ({"timezone": "UTC", "serverTime": 1, "symbols": []},
     "exchange listed no market BTCUSDT: GET /fapi/v1/exchangeInfo returned 0 symbols"),
    ([], "exchange listed no market BTCUSDT: GET /fapi/v1/exchangeInfo returned 0 symbols"),
    (_exchange_info(tickSize="0"), "malformed reply from GET /fapi/v1/exchangeInfo: "
     "symbols[BTCUSDT]: instrument.tick_size: expected a positive number"),
])
def test_an_empty_or_odd_market_listing_is_the_exchange_s_fault(
        listing: Any, message: str, server: VenueFixtureServer) -> None:
    # A venue of its own: ccxt keeps the first listing it loaded.
    server.route("GET", "/fapi/v1/exchangeInfo", Reply(200, listing))

    async def body() -> None:
        client = build_async_client("binance", server.url, CREDS, timeout_ms=3_000)
        venue = BinanceUsdmVenue(client, retry=RetryPolicy.instant(1))
        try:
            with pytest.raises(MalformedReplyError) as caught:
                await venue.instrument("BTCUSDT")
            assert str(caught.value).startswith(message)
            if not listing or not listing.get("symbols"):
                with pytest.raises(MalformedReplyError, match="listed no linear market"):
                    await venue.delivery_contracts("BTC")
        finally:
            await venue.close()

    asyncio.run(body())
