"""The Binance venue, driven through the real async ccxt client against recorded payloads.

Each test starts a loopback server (``venue_fixture_server``), points a real
``ccxt.async_support.binanceusdm`` at it and checks the venue's values against the raw strings
Binance sent, and the requests the server saw against what Binance expects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TypeVar

import pytest
from pydantic import SecretStr

from perphedge.adapters.exchanges.ccxt_client import Credentials, build_async_client
from perphedge.adapters.exchanges.ccxt_venue import BinanceUsdmVenue, RetryPolicy, open_ccxt_venue
from perphedge.domain.types import MarginMode, Side
from perphedge.engine.venue import Market, OrderRequest, OrderState
from perphedge.errors import (
    AmbiguousOrderError,
    ExchangeError,
    InputError,
    MoneyMoveRefusedError,
    RetryableExchangeError,
    TerminalExchangeError,
)
from tests.integration.binance_fixture_server import Reply, load_fixture
from tests.integration.venue_fixture_server import (
    DROP,
    HTML_502,
    SPOT_ACCOUNT,
    RawReply,
    VenueFixtureServer,
    ccxt_recorded,
    serve_venue_fixtures,
)

KEY, SECRET = "venue-test-key-7f3a", "venue-test-secret-91c2"
CREDS = Credentials(SecretStr(KEY), SecretStr(SECRET))
_T = TypeVar("_T")


class Sleeps:
    """An injected sleep that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def run(
    server: VenueFixtureServer,
    body: Callable[[BinanceUsdmVenue], Awaitable[_T]],
    retry: RetryPolicy | None = None,
) -> _T:
    """Run ``body`` with a Binance venue on ``server``, closing the client afterwards."""

    async def main() -> _T:
        client = build_async_client("binance", server.url, CREDS, timeout_ms=3_000)
        # The loopback server has no rate limits; ccxt's throttle would only slow the tests.
        client.enableRateLimit = False
        policy = retry or RetryPolicy.instant()
        venue = BinanceUsdmVenue(client, secrets=(KEY, SECRET), retry=policy)
        try:
            return await body(venue)
        finally:
            await venue.close()

    return asyncio.run(main())


def short_request(client_id: str = "testOrder123", **kwargs: object) -> OrderRequest:
    return OrderRequest(client_id, Market.FUTURES, "BTCUSDT", Side.SHORT, Decimal("0.001"),
                        **kwargs)  # type: ignore[arg-type]


# -- reads: Decimal values are the raw strings ---------------------------------------------------


def test_positions_are_the_raw_position_risk_strings_and_flat_rows_are_dropped() -> None:
    raw = load_fixture("rs_http_json__position_risk.json")[0]
    with serve_venue_fixtures() as server:
        positions = run(server, lambda v: v.positions())
    assert len(positions) == 1  # the one-way capture's flat BTCUSDT row is not a position
    p = positions[0]
    assert p.symbol == "BTCUSDT"
    assert p.qty_base == Decimal(raw["positionAmt"]) == Decimal("0.001")
    assert str(p.entry_price_usdt) == raw["entryPrice"]
    assert str(p.mark_price_usdt) == raw["markPrice"]
    assert str(p.unrealized_pnl_usdt) == raw["unRealizedProfit"]
    assert str(p.liquidation_price_usdt) == raw["liquidationPrice"]
    assert (p.margin_mode, p.leverage, p.isolated_margin_usdt) == (MarginMode.CROSS, 20, 0)
    assert server.last("GET", "/fapi/v2/positionRisk").params["signature"]


def test_isolated_positions_use_the_wallet_without_unrealised_pnl() -> None:
    hedge_rows = load_fixture("py_http_futures_account_positions_hedge.json")
    with serve_venue_fixtures() as server:
        server.route("GET", "/fapi/v2/positionRisk", Reply(200, hedge_rows))
        long, short = run(server, lambda v: v.positions())
    # The capture has no isolatedWallet: isolatedMargin − unRealizedProfit is the same number.
    assert long.isolated_margin_usdt == Decimal("15517.54150468") - Decimal("2316.83423560")
    assert (long.margin_mode, long.leverage) == (MarginMode.ISOLATED, 10)
    assert short.qty_base == Decimal("-10.000")
    assert short.liquidation_price_usdt == Decimal("7189.95")


def test_balances_read_the_usdt_row_of_the_futures_account_and_free_spot_assets() -> None:
    usdt = ccxt_recorded("fetchBalance", "Linear swap balance")["assets"][0]
    with serve_venue_fixtures() as server:
        balances = run(server, lambda v: v.balances())
    assert str(balances.futures_wallet_usdt) == usdt["walletBalance"] == "31.02261200"
    assert str(balances.futures_available_usdt) == usdt["availableBalance"]
    # Free only (USDT's locked 10 is not spendable), zero balances left out.
    assert balances.spot == {"BTC": Decimal("5.00000000"), "USDT": Decimal("1234.56780000")}
    assert SPOT_ACCOUNT["balances"][1]["free"] == "1234.56780000"
    assert server.count("GET", "/api/v3/account") == 1


def test_hedge_mode_is_detected_from_position_side_dual() -> None:
    with serve_venue_fixtures() as server:
        modes = run(server, lambda v: v.account_modes())
        assert (modes.hedge_mode, modes.multi_assets_margin) == (True, False)
        server.route("GET", "/fapi/v1/positionSide/dual", Reply(200, {"dualSidePosition": False}))
        server.route("GET", "/fapi/v1/multiAssetsMargin", Reply(200, {"multiAssetsMargin": True}))
        modes = run(server, lambda v: v.account_modes())
    assert (modes.hedge_mode, modes.multi_assets_margin) == (False, True)


def test_mark_funding_instrument_brackets_and_funding_history() -> None:
    premium = load_fixture("py_http_futures_market_premium_index.json")
    income = ccxt_recorded("fetchFundingHistory", "fetch portfolio margin funding history")[0]

    async def body(v: BinanceUsdmVenue) -> tuple[object, ...]:
        return (
            await v.mark_and_funding("BTCUSDT"), await v.instrument("ETHUSDT"),
            await v.brackets("BTCUSDT"), await v.funding_history("BTCUSDT", 1_707_000_000_000),
        )

    with serve_venue_fixtures() as server:
        mark, eth, brackets, payments = run(server, body)
        income_params = server.last("GET", "/fapi/v1/income").params
    assert str(mark.mark_price_usdt) == premium["markPrice"]  # type: ignore[attr-defined]
    assert str(mark.funding_rate) == premium["lastFundingRate"]  # type: ignore[attr-defined]
    assert mark.next_funding_ms == premium["nextFundingTime"]  # type: ignore[attr-defined]
    assert eth.funding_interval_hours == 4  # type: ignore[attr-defined]
    assert brackets.brackets[0].number == 1  # type: ignore[attr-defined]
    assert [(p.ts_ms, str(p.amount_usdt)) for p in payments] == [  # type: ignore[attr-defined]
        (int(income["time"]), income["income"])
    ]
    assert income_params["incomeType"] == "FUNDING_FEE"
    assert income_params["startTime"] == "1707000000000"


# -- orders --------------------------------------------------------------------------------------


def test_place_order_sends_the_client_id_and_exact_quantity_and_maps_the_reply() -> None:
    raw = load_fixture("rs_http_json__order_response.json")
    with serve_venue_fixtures() as server:
        order = run(server, lambda v: v.place_order(short_request(reduce_only=True)))
        sent = server.last("POST", "/fapi/v1/order").params
    assert sent["newClientOrderId"] == "testOrder123"
    assert (sent["side"], sent["type"], sent["quantity"]) == ("SELL", "MARKET", "0.001")
    assert sent["reduceOnly"] == "true"
    assert "signature" in sent
    assert KEY not in sent.values()
    assert order.client_order_id == raw["clientOrderId"]
    assert order.exchange_order_id == str(raw["orderId"])
    assert order.state is OrderState.SUBMITTED
    assert order.qty_base == Decimal(raw["origQty"])
    assert (order.filled_qty_base, order.avg_price_usdt) == (0, None)
    assert order.ts_ms == raw["updateTime"]


def test_a_dropped_connection_during_place_order_is_ambiguous_and_never_resent() -> None:
    async def read_then_order(v: BinanceUsdmVenue) -> object:
        # A read first, so the order goes out on a reused keep-alive connection: the case in
        # which aiohttp itself resends idempotent requests (it must not resend this POST).
        await v.positions()
        return await v.place_order(short_request("ph-drop-1"))

    with serve_venue_fixtures() as server:
        server.route("POST", "/fapi/v1/order", DROP)
        with pytest.raises(AmbiguousOrderError) as caught:
            run(server, read_then_order)
        assert server.count("POST", "/fapi/v1/order") == 1
    assert caught.value.client_order_id == "ph-drop-1"
    assert isinstance(caught.value, RetryableExchangeError)


def test_a_5xx_during_place_order_is_ambiguous_and_a_rejection_is_terminal() -> None:
    with serve_venue_fixtures() as server:
        server.route("POST", "/fapi/v1/order", Reply(503, {"code": -1001, "msg": "Internal"}))
        with pytest.raises(AmbiguousOrderError):
            run(server, lambda v: v.place_order(short_request("ph-5xx")))
        assert server.count("POST", "/fapi/v1/order") == 1
        server.route("POST", "/fapi/v1/order",
                     Reply(400, {"code": -2019, "msg": "Margin is insufficient."}))
        with pytest.raises(TerminalExchangeError, match="Margin is insufficient") as caught:
            run(server, lambda v: v.place_order(short_request("ph-nomargin")))
    assert not isinstance(caught.value, AmbiguousOrderError)
    assert KEY not in str(caught.value)
    assert SECRET not in str(caught.value)


def test_fetch_order_by_client_id_reads_fills_and_fee_and_unknown_is_none() -> None:
    filled = ccxt_recorded("fetchOrders", "fetch portfolio margin orders")[0]
    with serve_venue_fixtures() as server:
        order = run(server, lambda v: v.fetch_order("BTCUSDT", "ph-known"))
        assert server.last("GET", "/fapi/v1/order").params["origClientOrderId"] == "ph-known"
        trades_params = server.last("GET", "/fapi/v1/userTrades").params
        server.route("GET", "/fapi/v1/order",
                     Reply(400, {"code": -2013, "msg": "Order does not exist."}))
        server.route("GET", "/api/v3/order",
                     Reply(400, {"code": -2013, "msg": "Order does not exist."}))
        missing = run(server, lambda v: v.fetch_order("BTCUSDT", "ph-never-sent"))
        # Unknown to futures: asked at spot too (a killed process's spot order).
        assert server.last("GET", "/api/v3/order").params["origClientOrderId"] == (
            "ph-never-sent")
    assert missing is None
    assert order is not None
    assert order.state is OrderState.FILLED
    assert str(order.avg_price_usdt) == filled["avgPrice"] == "47279.40000"
    assert str(order.filled_qty_base) == filled["executedQty"]
    assert order.side is Side.LONG
    assert str(order.fee_usdt) == "0.14626840"  # the recorded trade's USDT commission
    assert trades_params["orderId"] == filled["orderId"]


def test_open_orders_and_cancel_map_raw_orders() -> None:
    row = ccxt_recorded("fetchOpenOrder", "swap open order")
    canceled = dict(row, status="CANCELED")
    with serve_venue_fixtures() as server:
        server.route("DELETE", "/fapi/v1/order", Reply(200, canceled))
        orders = run(server, lambda v: v.open_orders("LTCUSDT"))
        cancel = run(server, lambda v: v.cancel_order("LTCUSDT", row["clientOrderId"]))
        assert server.last("DELETE", "/fapi/v1/order").params["origClientOrderId"] == (
            row["clientOrderId"]
        )
    assert [(o.symbol, str(o.qty_base), o.state) for o in orders] == [
        ("LTCUSDT", "0.200", OrderState.SUBMITTED)
    ]
    assert orders[0].ts_ms == int(row["updateTime"])
    assert cancel.state is OrderState.CANCELED


# -- settings, margin, transfers, retries --------------------------------------------------------


def test_margin_type_already_set_is_success_and_other_refusals_are_terminal() -> None:
    with serve_venue_fixtures() as server:
        server.route("POST", "/fapi/v1/marginType",
                     Reply(400, {"code": -4046, "msg": "No need to change margin type."}))
        run(server, lambda v: v.set_margin_mode("BTCUSDT", MarginMode.ISOLATED))
        assert server.last("POST", "/fapi/v1/marginType").params["marginType"] == "ISOLATED"
        server.route("POST", "/fapi/v1/marginType", Reply(400, {
            "code": -4048, "msg": "Margin type cannot be changed if there exists position."}))
        with pytest.raises(TerminalExchangeError, match="exists position"):
            run(server, lambda v: v.set_margin_mode("BTCUSDT", MarginMode.CROSS))


def test_leverage_margin_moves_and_transfers_send_exact_strings() -> None:
    ok = Reply(200, {"code": 200, "msg": "Successfully modify position margin."})

    async def body(v: BinanceUsdmVenue) -> None:
        await v.set_leverage("BTCUSDT", 3)
        await v.add_margin("BTCUSDT", Decimal("12.5"))
        await v.reduce_margin("BTCUSDT", Decimal("1E+1"))
        await v.transfer(Decimal("100.10"), to=Market.FUTURES)
        await v.transfer(Decimal("5"), to=Market.SPOT)

    with serve_venue_fixtures() as server:
        server.route("POST", "/fapi/v1/leverage", Reply(200, {"symbol": "BTCUSDT", "leverage": 3}))
        server.route("POST", "/fapi/v1/positionMargin", ok)
        server.route("POST", "/sapi/v1/asset/transfer", Reply(200, {"tranId": 13526853623}))
        run(server, body)
        margins = [s.params for s in server.seen if s.path == "/fapi/v1/positionMargin"]
        transfers = [s.params for s in server.seen if s.path == "/sapi/v1/asset/transfer"]
        assert server.last("POST", "/fapi/v1/leverage").params["leverage"] == "3"
    assert [(m["amount"], m["type"]) for m in margins] == [("12.5", "1"), ("10", "2")]
    assert [(t["type"], t["asset"], t["amount"]) for t in transfers] == [
        ("MAIN_UMFUTURE", "USDT", "100.10"), ("UMFUTURE_MAIN", "USDT", "5"),
    ]
    with serve_venue_fixtures() as server, pytest.raises(InputError, match="amount_usdt"):
        run(server, lambda v: v.transfer(Decimal(0), to=Market.SPOT))
    assert server.count("POST", "/sapi/v1/asset/transfer") == 0



@pytest.mark.parametrize(("reply", "refused"), [
    (Reply(429, {"code": -1003, "msg": "Too many requests."}), True),
    (Reply(400, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}),
     True),
    (Reply(503, {"code": -1001, "msg": "Internal error; unable to process your request."}),
     False),
    (HTML_502, False),
])
def test_a_transfer_the_exchange_documents_as_refused_did_not_happen(
        reply: Reply | RawReply, refused: bool) -> None:
    """A documented refusal is ``MoneyMoveRefusedError`` (nothing to look for in the history,
    nothing in doubt); any other failure may hide a transfer that happened."""
    with serve_venue_fixtures() as server:
        server.route("POST", "/sapi/v1/asset/transfer", reply)
        with pytest.raises(ExchangeError) as caught:
            run(server, lambda v: v.transfer(Decimal("10"), to=Market.FUTURES))
        assert server.count("POST", "/sapi/v1/asset/transfer") == 1  # sent once
    assert isinstance(caught.value, MoneyMoveRefusedError) is refused, caught.value

def test_reads_are_retried_with_backoff_then_succeed() -> None:
    sleeps = Sleeps()
    rows = load_fixture("rs_http_json__position_risk.json")
    with serve_venue_fixtures() as server:
        server.route("GET", "/fapi/v2/positionRisk",
                     Reply(503, {"code": -1001, "msg": "busy"}),
                     Reply(504, {"code": -1007, "msg": "Timeout waiting for response"}),
                     Reply(200, rows))
        positions = run(server, lambda v: v.positions(), RetryPolicy(attempts=4, sleep=sleeps))
        assert server.count("GET", "/fapi/v2/positionRisk") == 3
    assert len(positions) == 1
    assert sleeps.delays == [0.5, 1.0]


def test_reads_give_up_after_the_bounded_attempts() -> None:
    sleeps = Sleeps()
    with serve_venue_fixtures() as server:
        server.route("GET", "/fapi/v2/positionRisk", Reply(503, {"code": -1001, "msg": "busy"}))
        with pytest.raises(RetryableExchangeError, match="fetch positions on binanceusdm"):
            run(server, lambda v: v.positions(), RetryPolicy(attempts=3, sleep=sleeps))
        assert server.count("GET", "/fapi/v2/positionRisk") == 3
    assert len(sleeps.delays) == 2


def test_open_ccxt_venue_needs_keys_and_picks_the_binance_venue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PERPHEDGE_API_KEY", raising=False)
    monkeypatch.delenv("PERPHEDGE_API_SECRET", raising=False)
    with pytest.raises(InputError, match="PERPHEDGE_API_KEY"):
        open_ccxt_venue("binance")

    async def build(exchange: str) -> str:
        venue = open_ccxt_venue(exchange, "http://127.0.0.1:9", CREDS)
        try:
            return f"{type(venue).__name__} {venue.name}"
        finally:
            await venue.close()

    # Only the class picked is checked here: OKX and Bybit run against loopback fakes in
    # tests/integration/test_ccxt_okx.py and tests/integration/test_ccxt_bybit.py.
    assert asyncio.run(build("binance")) == "BinanceUsdmVenue binanceusdm"
    assert asyncio.run(build("okx")) == "OkxVenue okx"
    assert asyncio.run(build("bybit")) == "BybitVenue bybit"


def test_a_configured_account_gets_its_exchange_s_venue(monkeypatch: pytest.MonkeyPatch) -> None:
    from perphedge.config.loader import parse_config
    from perphedge.services.compose import ccxt_venue

    monkeypatch.setenv("K", "key")
    monkeypatch.setenv("S", "secret")
    monkeypatch.setenv("P", "passphrase")
    config = parse_config({"accounts": {
        name: {"exchange": name, "api_key_env": "K", "api_secret_env": "S",
               "api_passphrase_env": "P", "url": "http://127.0.0.1:9"}
        for name in ("binance", "okx", "bybit", "gate")}})

    async def built(name: str) -> str:
        venue = ccxt_venue(name, config)
        try:
            return type(venue).__name__
        finally:
            await venue.close()

    assert [asyncio.run(built(n)) for n in ("binance", "okx", "bybit", "gate")] == [
        "BinanceUsdmVenue", "OkxVenue", "BybitVenue", "CcxtVenue"]
