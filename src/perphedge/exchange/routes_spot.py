"""Spot (``/api/v3/...``) and wallet (``/sapi/...``) endpoints that ccxt's ``binance`` calls.

Spot trades at the replayed price of the symbol's perpetual (the replay has one price path
per asset); transfers move USDT between the spot wallet and the USDⓈ-M wallet.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from perphedge.exchange import wire
from perphedge.exchange.core import LocalExchange, rejection_to_api
from perphedge.exchange.errors import BinanceApiError, api_error
from perphedge.exchange.params import Params
from perphedge.exchange.routes_futures import find_order
from perphedge.exchange.routes_ledger import transfer_id
from perphedge.exchange.routing import route
from perphedge.sim.account import SimRejection

_S = "/api/v3/"
#: Universal-transfer types between spot ("MAIN") and USDⓈ-M ("UMFUTURE"), and the legacy
#: ``/sapi/v1/futures/transfer`` types 1 (spot → USDⓈ-M) and 2 (back).
_TRANSFER_TO = {"MAIN_UMFUTURE": "futures", "UMFUTURE_MAIN": "spot", "1": "futures",
                "2": "spot"}


@route("GET", _S + "ping")
def ping(ex: LocalExchange, p: Params) -> Any:
    return {}


@route("GET", _S + "exchangeInfo", weight=20)
def exchange_info(ex: LocalExchange, p: Params) -> Any:
    from perphedge.exchange.listing import spot_exchange_info

    return spot_exchange_info(ex)


@route("GET", _S + "ticker/price", weight=2)
def ticker_price(ex: LocalExchange, p: Params) -> Any:
    """One symbol's last price (the replayed price spot orders fill at); without ``symbol``,
    every replayed symbol (weight 4 on Binance; counted as 2 here)."""
    now = ex.now_ms()

    def row(symbol: str) -> dict[str, Any]:
        return {"symbol": symbol, "price": wire.amount(ex.market.price(symbol, now))}

    symbol = p.get("symbol")
    if symbol is not None:
        return row(ex.instrument(symbol).symbol)
    return [row(s) for s in sorted(ex.market.paths)]


@route("GET", _S + "account", weight=20, signed=True)
def account(ex: LocalExchange, p: Params) -> Any:
    return wire.spot_account(ex.account, ex.now_ms())


@route("POST", _S + "order", signed=True)
def new_order(ex: LocalExchange, p: Params) -> Any:
    symbol = ex.instrument(p.req("symbol")).symbol
    side, kind = p.req("side").upper(), p.req("type").upper()
    if side not in ("BUY", "SELL"):
        raise api_error(-1117)
    if kind not in ("MARKET", "LIMIT"):
        raise api_error(-1116)
    qty = p.dec("quantity", required=False)
    quote = p.dec("quoteOrderQty", required=False)
    price = p.req_dec("price") if kind == "LIMIT" else Decimal(0)
    if qty is None and quote is not None and kind == "MARKET":
        # A quote-amount market buy: the base quantity that this USDT buys at the price now.
        qty = (quote / ex.market.price(symbol)).quantize(Decimal("0.00001"), "ROUND_DOWN")
    if qty is None:
        raise api_error(-1102, param="quantity")
    order = ex.book.new_order(
        client_order_id=p.get("newClientOrderId") or "", market="spot", symbol=symbol,
        side=side, type=kind, orig_qty=qty, price=price,
        time_in_force=p.get("timeInForce") or "GTC", reduce_only=False, time_ms=ex.now_ms(),
    )
    ex.place(order)
    reply = wire.spot_order(order)
    # Binance answers MARKET orders with FULL by default (LIMIT: also when asked): the fills.
    resp_type = (p.get("newOrderRespType") or ("FULL" if kind == "MARKET" else "ACK")).upper()
    if resp_type == "FULL":
        reply["fills"] = [wire.spot_fill(t) for t in ex.book.trades
                          if t.market == "spot" and t.order_id == order.order_id]
    return reply


@route("GET", _S + "order", weight=4, signed=True)
def query_order(ex: LocalExchange, p: Params) -> Any:
    return wire.spot_order(find_order(ex, p, "spot", -2013))


@route("DELETE", _S + "order", signed=True)
def cancel_order(ex: LocalExchange, p: Params) -> Any:
    order = find_order(ex, p, "spot", -2011)
    if not order.is_open:
        raise api_error(-2011)
    order.status, order.update_time_ms = "CANCELED", ex.now_ms()
    return wire.spot_order(order)


@route("GET", _S + "openOrders", weight=6, signed=True)
def open_orders(ex: LocalExchange, p: Params) -> Any:
    symbol = ex.instrument(p.req("symbol")).symbol if p.get("symbol") else None
    return [wire.spot_order(o) for o in ex.book.open_orders("spot", symbol)]


@route("GET", _S + "myTrades", weight=20, signed=True)
def my_trades(ex: LocalExchange, p: Params) -> Any:
    symbol = ex.instrument(p.req("symbol")).symbol
    order_id = p.int_("orderId")  # Binance: only this order's trades when given
    return [wire.spot_trade(t) for t in ex.book.trades
            if t.market == "spot" and t.symbol == symbol
            and (order_id is None or t.order_id == order_id)]


@route("POST", "/sapi/v1/asset/transfer", "/sapi/v1/futures/transfer", weight=900, signed=True)
def transfer(ex: LocalExchange, p: Params) -> Any:
    if p.req("asset").upper() != "USDT":
        raise BinanceApiError(-5002, "Only USDT moves between spot and USDⓈ-M here.")
    to = _TRANSFER_TO.get(p.req("type").upper())
    if to is None:
        raise BinanceApiError(-1102, f"Transfer type {p.req('type')} is not supported.")
    value = p.req_dec("amount")
    try:
        ex.account.transfer(value, to=to, ts_ms=ex.now_ms())
    except SimRejection as err:
        raise rejection_to_api(err) from None
    # The id its history shows (routes_ledger): from the ledger entry just appended.
    return {"tranId": transfer_id(len(ex.account.ledger) - 1)}
