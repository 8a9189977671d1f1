"""Binance's history replies checked at the edge: the documented shapes decode exactly; any
other shape is one retryable error naming the endpoint and what was wrong."""

from __future__ import annotations

from decimal import Decimal

import pytest

from perphedge.adapters.exchanges import ccxt_ledger_binance_parse as parse
from perphedge.engine.venue import MoneyMove
from perphedge.errors import RetryableExchangeError

TRADES = "GET /fapi/v1/userTrades"


def test_documented_rows_decode_to_exact_decimals() -> None:
    # Binance's documented examples (userTrades, income, asset/transfer, margin history).
    fill = parse.fills([{
        "buyer": False, "commission": "-0.07819010", "commissionAsset": "USDT", "id": 698759,
        "maker": False, "orderId": 25851813, "price": "7819.01", "qty": "0.002",
        "quoteQty": "15.63802", "realizedPnl": "-0.91539999", "side": "SELL",
        "positionSide": "SHORT", "symbol": "BTCUSDT", "time": 1569514978020,
    }], TRADES)[0]
    assert (fill.trade_id, fill.exchange_order_id, fill.qty_base, fill.fee_usdt) == (
        "698759", "25851813", Decimal("0.002"), Decimal("-0.07819010"))
    bnb = parse.fills([{"id": 1, "orderId": 2, "symbol": "BTCUSDT", "qty": "1", "price": "1",
                        "commission": "0.1", "commissionAsset": "BNB", "time": 1}], TRADES)
    assert bnb[0].fee_usdt == 0  # not a USDT fee
    income = parse.income([{"symbol": "", "incomeType": "TRANSFER", "income": "-0.37500000",
                            "asset": "USDT", "info": "TRANSFER", "time": 1570608000000,
                            "tranId": 9689322392, "tradeId": ""}], "GET /fapi/v1/income")
    assert income[0].exchange_id == "TRANSFER:9689322392"
    assert income[0].amount_usdt == Decimal("-0.375")
    total, moves = parse.transfers({"total": 2, "rows": [
        {"asset": "USDT", "amount": "1", "type": "MAIN_UMFUTURE", "status": "CONFIRMED",
         "tranId": 11415955596, "timestamp": 1544433328000},
        {"asset": "USDT", "amount": "2", "type": "MAIN_UMFUTURE", "status": "FAILED",
         "tranId": 11366865406, "timestamp": 1544433328000}]}, "GET /sapi/v1/asset/transfer")
    assert total == 2
    assert moves == [MoneyMove("11415955596", "transfer_futures", Decimal("1"), 1544433328000)]
    assert parse.transfers({"total": 0}, "GET /sapi/v1/asset/transfer") == (0, [])
    margin = parse.margin_moves([
        {"symbol": "BTCUSDT", "type": 1, "deltaType": "USER_ADJUST", "amount": "23.36332311",
         "asset": "USDT", "time": 1578047897183, "positionSide": "BOTH"},
        {"symbol": "BTCUSDT", "type": 1, "deltaType": "USER_ADJUST", "amount": "23.36332311",
         "asset": "USDT", "time": 1578047897183, "positionSide": "BOTH"},
    ], "GET /fapi/v1/positionMargin/history")
    # Two identical moves in one millisecond stay two.
    assert [m.exchange_id for m in margin] == [
        "BTCUSDT:margin_add:1578047897183:23.36332311#1",
        "BTCUSDT:margin_add:1578047897183:23.36332311#2"]


@pytest.mark.parametrize(("decode", "body", "message"), [
    (lambda b: parse.fills(b, TRADES), {"code": 0},
     "malformed reply from GET /fapi/v1/userTrades: expected a list, got dict"),
    (lambda b: parse.fills(b, TRADES), ["<html>"],
     "malformed reply from GET /fapi/v1/userTrades: [0]: expected an object, got str"),
    (lambda b: parse.fills(b, TRADES), [{"id": 1, "orderId": 2, "symbol": "BTCUSDT",
                                         "qty": None, "price": "1", "commission": "0",
                                         "time": 1}],
     "malformed reply from GET /fapi/v1/userTrades: [0].qty: expected a decimal number, "
     "got None"),
    (lambda b: parse.income(b, "GET /fapi/v1/income"),
     [{"incomeType": "COMMISSION", "income": "1", "asset": "USDT", "tranId": 1,
       "time": "soon"}],
     "malformed reply from GET /fapi/v1/income: [0].time: expected an integer, got 'soon'"),
    (lambda b: parse.transfers(b, "GET /sapi/v1/asset/transfer"), [],
     "malformed reply from GET /sapi/v1/asset/transfer: expected an object, got list"),
    (lambda b: parse.margin_moves(b, "GET /fapi/v1/positionMargin/history"),
     [{"symbol": "BTCUSDT", "type": 3, "amount": "1", "time": 1}],
     "malformed reply from GET /fapi/v1/positionMargin/history: [0].type: expected 1 or 2, "
     "got 3"),
])
def test_a_wrong_shape_is_one_error_naming_the_endpoint(decode: object, body: object,
                                                        message: str) -> None:
    with pytest.raises(RetryableExchangeError) as caught:
        decode(body)  # type: ignore[operator]
    assert str(caught.value) == message
