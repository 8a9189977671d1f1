"""The real ccxt client against recorded Binance payloads on a loopback server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from decimal import Decimal

import pytest
from pydantic import SecretStr

from perphedge.adapters.exchanges.ccxt_client import (
    Credentials,
    build_client,
    check_base_url,
    credentials_from_env,
)
from perphedge.adapters.exchanges.ccxt_market import CcxtMarketData
from perphedge.domain.types import ContractKind
from perphedge.errors import InputError, RetryableExchangeError, TerminalExchangeError
from tests.integration.binance_fixture_server import (
    BinanceFixtureServer,
    Reply,
    load_fixture,
    recorded_leverage_brackets,
    recorded_routes,
    serve_recorded_binance,
)

KEY = "k3y-visible-to-nobody-0123456789"
SECRET = "s3cret-visible-to-nobody-9876543210"  # noqa: S105 (a made-up secret to hunt for)


@pytest.fixture(autouse=True)
def _no_keys_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Keys in the developer's shell must not change which path these tests take.
    monkeypatch.delenv("PERPHEDGE_API_KEY", raising=False)
    monkeypatch.delenv("PERPHEDGE_API_SECRET", raising=False)


@pytest.fixture
def server() -> Iterator[BinanceFixtureServer]:
    with serve_recorded_binance() as running:
        yield running


@pytest.fixture
def market(server: BinanceFixtureServer) -> Iterator[CcxtMarketData]:
    with CcxtMarketData("binance", base_url=server.url) as live:
        yield live


def _recorded_symbol(symbol: str) -> dict[str, dict[str, str]]:
    info = load_fixture("py_http_futures_market_exchange_info.json")
    raw = next(s for s in info["symbols"] if s["symbol"] == symbol)
    return {f["filterType"]: f for f in raw["filters"]}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_instrument_fields_are_the_recorded_filter_strings(
    market: CcxtMarketData, server: BinanceFixtureServer
) -> None:
    btc = market.instrument("btc")
    filters = _recorded_symbol("BTCUSDT")
    assert btc.symbol == "BTCUSDT"
    assert (btc.base, btc.settle, btc.kind) == ("BTC", "USDT", ContractKind.PERPETUAL)
    # Exact strings, trailing zeros included: "0.10" is not ccxt's float 0.1.
    assert str(btc.tick_size) == filters["PRICE_FILTER"]["tickSize"] == "0.10"
    assert str(btc.lot_step) == filters["LOT_SIZE"]["stepSize"]
    assert str(btc.min_qty) == filters["LOT_SIZE"]["minQty"]
    assert str(btc.max_qty) == filters["LOT_SIZE"]["maxQty"]
    assert str(btc.min_notional) == filters["MIN_NOTIONAL"]["notional"]
    assert btc.funding_interval_hours == 8
    # Markets are restricted to linear: no spot, COIN-M or options lists were requested.
    assert server.paths() == ["/fapi/v1/exchangeInfo", "/fapi/v1/fundingInfo"]


def test_a_4h_funding_interval_is_read_from_funding_info(market: CcxtMarketData) -> None:
    eth = market.instrument("ETH")
    assert eth.funding_interval_hours == 4
    assert str(eth.tick_size) == _recorded_symbol("ETHUSDT")["PRICE_FILTER"]["tickSize"]
    assert market.describe_sources()["funding_interval"] == "live binance fundingInfo"


def test_snapshot_mark_and_funding_are_the_recorded_strings(
    market: CcxtMarketData, server: BinanceFixtureServer
) -> None:
    recorded = load_fixture("py_http_futures_market_premium_index.json")
    snap = market.snapshot(market.instrument("BTC"))
    assert snap.mark_price == Decimal(recorded["markPrice"])
    assert str(snap.mark_price) == "11793.63104562"
    assert str(snap.funding_rate) == recorded["lastFundingRate"]
    assert snap.ts_ms == recorded["time"]
    assert snap.source == "live binance"
    premium = [r for r in server.requests if r.path == "/fapi/v1/premiumIndex"]
    assert [r.query.get("symbol") for r in premium] == ["BTCUSDT"]


def test_without_keys_brackets_are_bundled_and_the_sources_say_so(
    market: CcxtMarketData, server: BinanceFixtureServer
) -> None:
    table = market.brackets(market.instrument("BTC"))
    assert table.symbol == "BTCUSDT"
    assert market.describe_sources()["brackets"] == "bundled (live brackets need API keys)"
    assert "/fapi/v1/leverageBracket" not in server.paths()


def test_with_keys_brackets_come_signed_from_leverage_bracket(
    server: BinanceFixtureServer,
) -> None:
    server.routes["/fapi/v1/leverageBracket"] = Reply(
        200, recorded_leverage_brackets("BTCUSDT", version=1)
    )
    creds = Credentials(SecretStr(KEY), SecretStr(SECRET))
    with CcxtMarketData("binance", base_url=server.url, credentials=creds) as live:
        table = live.brackets(live.instrument("BTC"))
        sources = live.describe_sources()
    first, second, third = table.brackets[:3]
    assert (first.notional_cap_usdt, first.maint_margin_rate) == (Decimal(50000), Decimal("0.004"))
    assert (second.maint_amount_usdt, third.maint_amount_usdt) == (Decimal(50), Decimal(1300))
    assert third.max_leverage == Decimal(50)
    assert sources["brackets"] == "live binance leverage brackets"
    signed = next(r for r in server.requests if r.path == "/fapi/v1/leverageBracket")
    assert signed.query["symbol"] == "BTCUSDT"
    assert "signature" in signed.query
    assert {k.lower(): v for k, v in signed.headers.items()}["x-mbx-apikey"] == KEY
    assert KEY not in repr(creds)
    assert SECRET not in repr(creds)
    assert all(KEY not in v and SECRET not in v for v in sources.values())


def test_a_failed_signed_call_never_shows_key_secret_or_signature(
    server: BinanceFixtureServer,
) -> None:
    server.routes["/fapi/v1/leverageBracket"] = Reply(503, f"upstream down {KEY} {SECRET}")
    creds = Credentials(SecretStr(KEY), SecretStr(SECRET))
    with CcxtMarketData("binance", base_url=server.url, credentials=creds) as live:
        btc = live.instrument("BTC")
        with pytest.raises(RetryableExchangeError) as caught:
            live.brackets(btc)
    message = str(caught.value)
    assert "fetch leverage brackets on binance" in message
    assert "leverageBracket" in message
    assert KEY not in message
    assert SECRET not in message
    assert "signature" not in message
    assert "\n" not in message


def test_unknown_asset_is_an_input_error_naming_the_choices(market: CcxtMarketData) -> None:
    with pytest.raises(InputError) as caught:
        market.instrument("DOGE")
    assert caught.value.field == "--asset"
    assert "BTC, ETH" in caught.value.expected


def test_server_down_is_retryable() -> None:
    down = f"http://127.0.0.1:{_free_port()}"
    with CcxtMarketData("binance", base_url=down) as live, pytest.raises(
        RetryableExchangeError
    ) as caught:
        live.instrument("BTC")
    assert "load markets on binance" in str(caught.value)


def test_a_binance_4xx_rejection_is_terminal(market: CcxtMarketData) -> None:
    # No premiumIndex is recorded for ETHUSDT: the replay answers 400 {"code": -1121}.
    eth = market.instrument("ETH")
    with pytest.raises(TerminalExchangeError) as caught:
        market.snapshot(eth)
    assert "BadSymbol" in str(caught.value)
    assert "-1121" in str(caught.value)


def test_rate_limit_is_retryable_and_auth_rejection_is_terminal() -> None:
    routes = recorded_routes()
    routes["/fapi/v1/exchangeInfo"] = Reply(429, {"code": -1003, "msg": "Too many requests."})
    with serve_recorded_binance(routes) as limited, CcxtMarketData(
        "binance", base_url=limited.url
    ) as live, pytest.raises(RetryableExchangeError, match="429"):
        live.instrument("BTC")
    routes["/fapi/v1/exchangeInfo"] = Reply(
        401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
    )
    with serve_recorded_binance(routes) as refused, CcxtMarketData(
        "binance", base_url=refused.url
    ) as live, pytest.raises(TerminalExchangeError, match="AuthenticationError"):
        live.instrument("BTC")


def test_missing_funding_info_falls_back_to_8h_and_says_so() -> None:
    routes = recorded_routes()
    del routes["/fapi/v1/fundingInfo"]
    with serve_recorded_binance(routes) as server, CcxtMarketData(
        "binance", base_url=server.url
    ) as live:
        assert live.instrument("ETH").funding_interval_hours == 8
        assert live.describe_sources()["funding_interval"].startswith("8 h default")


def test_base_url_override_keeps_every_endpoint_path_prefix() -> None:
    client = build_client("binance", "http://127.0.0.1:8080/")
    try:
        api = client.urls["api"]
        assert api["fapiPublic"] == "http://127.0.0.1:8080/fapi/v1"
        assert api["fapiPublicV2"] == "http://127.0.0.1:8080/fapi/v2"
        assert api["fapiPrivateV3"] == "http://127.0.0.1:8080/fapi/v3"
        assert api["public"] == "http://127.0.0.1:8080/api/v3"
        assert api["sapi"] == "http://127.0.0.1:8080/sapi/v1"
        assert all(v.startswith("http://127.0.0.1:8080/") for v in api.values())
        assert client.options["fetchMarkets"]["types"] == ["linear"]
    finally:
        client.close()


@pytest.mark.parametrize("bad", ["ftp://host", "127.0.0.1:8080", "http://h:1/?x=1", ""])
def test_a_bad_exchange_url_is_an_input_error(bad: str) -> None:
    with pytest.raises(InputError) as caught:
        check_base_url(bad)
    assert caught.value.field == "--exchange-url"


def test_unknown_exchange_id_is_an_input_error() -> None:
    with pytest.raises(InputError) as caught:
        build_client("nosuchexchange")
    assert caught.value.field == "--exchange"
    assert "binance, okx, bybit" in caught.value.expected


def test_half_set_credentials_are_an_input_error_that_hides_the_value() -> None:
    assert credentials_from_env({}) is None
    with pytest.raises(InputError) as caught:
        credentials_from_env({"PERPHEDGE_API_KEY": KEY})
    assert KEY not in str(caught.value)
    assert caught.value.field == "PERPHEDGE_API_SECRET"


def test_base_url_override_keeps_binance_futures_error_classes() -> None:
    import ccxt

    from perphedge.adapters.exchanges.ccxt_client import build_client

    client = build_client("binance", "http://127.0.0.1:9")
    # On the real host ccxt maps -2019 to InsufficientFunds through its "linear" table.
    assert client.exceptions["exact"]["-2019"] is ccxt.InsufficientFunds
    assert client.exceptions["exact"]["-2022"] is ccxt.InvalidOrder
