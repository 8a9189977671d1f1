"""Which failed order sends prove a refusal (one table per exchange), and which errors count as
the exchange's garbage rather than perphedge's bugs.

The messages are ccxt's own: ``<exchange id> <the exchange's JSON body>`` for a reply with an
error code, ``<id> <METHOD> <url>`` when the transport failed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import pytest

from perphedge.adapters.exchanges.ccxt_refusals import (
    BINANCE_REFUSALS,
    BYBIT_REFUSALS,
    OKX_REFUSALS,
    refusal,
)
from perphedge.adapters.exchanges.ccxt_reply import raised_inside_ccxt, reply_object
from perphedge.adapters.exchanges.ccxt_venue_base import CcxtVenueBase
from perphedge.errors import MalformedReplyError


def _binance(code: int, msg: str) -> str:
    return f'binanceusdm {{"code":{code},"msg":"{msg}"}}'


def _okx(s_code: str, top: str = "1") -> str:
    return (f'okx {{"code":"{top}","data":[{{"clOrdId":"phZbtcZ1","ordId":"","sCode":"{s_code}",'
            f'"sMsg":"refused","tag":""}}],"inTime":"1","msg":"All operations failed"}}')


def _bybit(code: int) -> str:
    return f'bybit {{"retCode":{code},"retMsg":"refused","result":{{}},"time":1}}'


REFUSED = [
    ("binanceusdm", ccxt.InsufficientFunds(_binance(-2019, "Margin is insufficient.")), -2019),
    ("binanceusdm", ccxt.InvalidOrder(_binance(-1111, "Precision is over the maximum.")), -1111),
    ("binanceusdm", ccxt.InvalidOrder(_binance(-4164, "Order's notional must be no smaller")),
     -4164),
    ("binanceusdm", ccxt.InvalidOrder(_binance(-2022, "ReduceOnly Order is rejected.")), -2022),
    ("binanceusdm", ccxt.BadRequest(_binance(-1102, "Mandatory parameter 'quantity'")), -1102),
    ("okx", ccxt.InsufficientFunds(_okx("51008")), "51008"),
    ("okx", ccxt.InvalidOrder(_okx("51169")), "51169"),
    ("okx", ccxt.AuthenticationError('okx {"msg":"Invalid Sign","code":"50113"}'), "50113"),
    ("bybit", ccxt.InsufficientFunds(_bybit(110007)), 110007),
    ("bybit", ccxt.InvalidOrder(_bybit(110017)), 110017),
    ("bybit", ccxt.BadRequest(_bybit(10001)), 10001),
]

UNCERTAIN = [
    # A reply cut mid-body: ccxt's plain ExchangeError, no code at all.
    ("binanceusdm", ccxt.ExchangeError("binanceusdm POST http://h/fapi/v1/order")),
    ("binanceusdm", ccxt.RequestTimeout("binanceusdm POST http://h/fapi/v1/order")),
    ("binanceusdm", ccxt.ExchangeNotAvailable(_binance(-1001, "Internal error"))),
    ("binanceusdm", ccxt.ExchangeError(_binance(-1007, "Timeout waiting for response"))),
    ("binanceusdm", ccxt.ExchangeError(_binance(-1000, "An unknown error occurred"))),
    # A duplicate client id says the order exists: read it, do not call it refused.
    ("binanceusdm", ccxt.InvalidOrder(_binance(-4116, "ClientOrderId is duplicated."))),
    ("binanceusdm", ccxt.BadResponse("malformed reply from POST /fapi/v1/order: expected JSON")),
    ("okx", ccxt.ExchangeNotAvailable(
        'okx {"code":"50001","msg":"Service unavailable","data":[]}')),
    ("okx", ccxt.ExchangeError('okx {"code":"50004","msg":"Endpoint request timeout","data":[]}')),
    ("okx", ccxt.InvalidOrder(_okx("51016"))),
    ("bybit", ccxt.ExchangeNotAvailable(_bybit(10016))),
    ("bybit", ccxt.InvalidOrder(_bybit(110072))),
    ("gate", ccxt.ExchangeError("gate POST http://h/api/v4/futures/usdt/orders")),
]


@pytest.mark.parametrize(("exchange", "err", "code"), REFUSED,
                         ids=[f"{e}{c}" for e, _, c in REFUSED])
def test_a_documented_refusal_code_proves_the_order_was_not_placed(
        exchange: str, err: ccxt.BaseError, code: object) -> None:
    table: dict[Any, str] = {"binanceusdm": dict(BINANCE_REFUSALS), "okx": dict(OKX_REFUSALS),
                             "bybit": dict(BYBIT_REFUSALS)}[exchange]
    assert refusal(exchange, err) == f"{exchange.removesuffix('usdm')} {code}: {table[code]}"


@pytest.mark.parametrize(("exchange", "err"), UNCERTAIN,
                         ids=[f"{e}-{str(x)[:40]}" for e, x in UNCERTAIN])
def test_anything_else_proves_nothing_and_the_order_is_read_back(
        exchange: str, err: ccxt.BaseError) -> None:
    assert refusal(exchange, err) is None


def test_other_exchanges_fall_back_to_ccxt_s_refusal_classes() -> None:
    assert refusal("gate", ccxt.InsufficientFunds("gate BALANCE_NOT_ENOUGH")) == (
        "gate InsufficientFunds")


def test_an_error_raised_by_ccxt_on_garbage_is_malformed_and_our_own_bug_is_not() -> None:
    async def main() -> tuple[BaseException, BaseException]:
        client = ccxt_async.okx()
        venue = CcxtVenueBase(client)
        try:
            with pytest.raises(MalformedReplyError) as garbage:
                # ccxt's own parse of an OKX position whose size is not a number.
                await venue._once("read a position", _async(client.parse_position,
                                                             {"pos": "x"}))

            def our_bug() -> None:
                raise TypeError("a bug in perphedge")

            with pytest.raises(TypeError) as bug:
                await venue._once("read", _async(our_bug))
        finally:
            await client.close()
        return garbage.value, bug.value

    garbage, bug = asyncio.run(main())
    assert "ccxt could not read it (ValueError" in str(garbage)
    assert raised_inside_ccxt(garbage.__cause__)  # type: ignore[arg-type]
    assert not raised_inside_ccxt(bug)


def _async(fn: Any, *args: Any) -> Any:
    async def call() -> Any:
        return fn(*args)

    return call


def test_the_reader_names_the_key_and_what_came() -> None:
    row = reply_object({"markPrice": None, "time": "soon", "assets": [{"free": "1e"}]},
                       "GET /x")
    with pytest.raises(MalformedReplyError, match=r"^malformed reply from GET /x: markPrice: "
                       "expected a value, got None$"):
        row.dec("markPrice")
    with pytest.raises(MalformedReplyError, match="time: expected an integer, got the text"):
        row.integer("time")
    with pytest.raises(MalformedReplyError, match=r"assets\[0\].free: expected a decimal"):
        row.objects("assets")[0].dec("free")
    with pytest.raises(MalformedReplyError, match="expected an object, got an HTML page"):
        reply_object("<!DOCTYPE html><html>502</html>", "GET /x")
