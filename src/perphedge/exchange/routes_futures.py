"""USDⓈ-M endpoints (``/fapi/...``) that ccxt's ``binanceusdm`` calls for a hedge.

Each handler reads Binance's parameters, calls the simulator through ``LocalExchange`` and
returns what Binance returns (built in :mod:`perphedge.exchange.wire`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from perphedge.domain.types import MarginMode
from perphedge.exchange import wire
from perphedge.exchange.core import LocalExchange, rejection_to_api
from perphedge.exchange.errors import BinanceApiError, api_error
from perphedge.exchange.market import wall_ms
from perphedge.exchange.orders import OrderRecord
from perphedge.exchange.params import Params
from perphedge.exchange.routing import route
from perphedge.sim.account import SimRejection

_F = "/fapi/v1/"


@route("GET", _F + "ping")
def ping(ex: LocalExchange, p: Params) -> Any:
    return {}


@route("GET", _F + "time", "/api/v3/time")
def server_time(ex: LocalExchange, p: Params) -> Any:
    # The wall clock, not the replay clock: clients sign with theirs and may sync to ours.
    return {"serverTime": wall_ms()}


@route("GET", _F + "exchangeInfo", weight=1)
def exchange_info(ex: LocalExchange, p: Params) -> Any:
    from perphedge.exchange.listing import futures_exchange_info

    return futures_exchange_info(ex)


@route("GET", _F + "premiumIndex")
def premium_index(ex: LocalExchange, p: Params) -> Any:
    now = ex.now_ms()

    def row(symbol: str) -> dict[str, Any]:
        mark = ex.market.price(symbol, now)
        next_ts, rate = ex.market.next_funding(symbol, now)
        return {
            "symbol": symbol, "markPrice": wire.amount(mark), "indexPrice": wire.amount(mark),
            "estimatedSettlePrice": wire.amount(mark), "lastFundingRate": wire.amount(rate),
            "interestRate": "0.00010000", "nextFundingTime": next_ts, "time": now,
        }

    symbol = p.get("symbol")
    if symbol is not None:
        return row(ex.instrument(symbol).symbol)
    return [row(s) for s in sorted(ex.market.paths)]


@route("GET", _F + "fundingRate")
def funding_rate(ex: LocalExchange, p: Params) -> Any:
    symbols = [ex.instrument(p.req("symbol")).symbol] if p.get("symbol") else sorted(
        ex.market.paths)
    start, end = p.int_("startTime", 0) or 0, p.int_("endTime") or ex.now_ms()
    limit = min(p.int_("limit", 100) or 100, 1000)
    events = sorted(
        (e for s in symbols for e in ex.market.settled(s, min(end, ex.now_ms()))
         if e.ts_ms >= start),
        key=lambda e: (e.ts_ms, e.symbol),
    )
    rows = [
        {"symbol": e.symbol, "fundingTime": e.ts_ms, "fundingRate": wire.amount(e.rate),
         "markPrice": wire.amount(e.mark)}
        for e in events
    ]
    # Binance returns the oldest ``limit`` rows after startTime, else the latest ``limit``.
    return rows[:limit] if p.get("startTime") else rows[-limit:]


@route("GET", _F + "fundingInfo")
def funding_info(ex: LocalExchange, p: Params) -> Any:
    # Binance lists only symbols with a non-default interval; every replayed one is 8 h.
    return []


@route("GET", _F + "klines", _F + "markPriceKlines", "/api/v3/klines", weight=5)
def klines(ex: LocalExchange, p: Params) -> Any:
    from perphedge.exchange.listing import klines as rows

    return rows(ex, p)


@route("GET", _F + "leverageBracket", signed=True)
def leverage_bracket(ex: LocalExchange, p: Params) -> Any:
    symbol = p.get("symbol")
    if symbol is not None:
        return [wire.leverage_brackets(ex.account.brackets[ex.instrument(symbol).symbol])]
    return [wire.leverage_brackets(ex.account.brackets[s]) for s in sorted(ex.market.paths)]


def _marks(ex: LocalExchange) -> dict[str, Decimal]:
    now = ex.now_ms()
    return {s: ex.market.price(s, now) for s in sorted(ex.market.paths)}


@route("GET", "/fapi/v2/account", "/fapi/v3/account", weight=5, signed=True)
def account(ex: LocalExchange, p: Params) -> Any:
    return wire.futures_account(ex.account, _marks(ex), ex.now_ms())


@route("GET", "/fapi/v2/balance", "/fapi/v3/balance", weight=5, signed=True)
def balance(ex: LocalExchange, p: Params) -> Any:
    body = wire.futures_account(ex.account, _marks(ex), ex.now_ms())
    asset = body["assets"][0]
    return [{
        "accountAlias": "local", "asset": "USDT", "balance": asset["walletBalance"],
        "crossWalletBalance": asset["crossWalletBalance"], "crossUnPnl": asset["crossUnPnl"],
        "availableBalance": asset["availableBalance"],
        "maxWithdrawAmount": asset["maxWithdrawAmount"], "marginAvailable": True,
        "updateTime": asset["updateTime"],
    }]


@route("GET", "/fapi/v2/positionRisk", weight=5, signed=True)
def position_risk_v2(ex: LocalExchange, p: Params) -> Any:
    return _position_risk(ex, p, v3=False)


@route("GET", "/fapi/v3/positionRisk", weight=5, signed=True)
def position_risk_v3(ex: LocalExchange, p: Params) -> Any:
    return _position_risk(ex, p, v3=True)


def _position_risk(ex: LocalExchange, p: Params, *, v3: bool) -> list[dict[str, Any]]:
    marks, now = _marks(ex), ex.now_ms()
    symbols = [ex.instrument(p.req("symbol")).symbol] if p.get("symbol") else list(marks)
    rows = []
    for symbol in symbols:
        pos = ex.account.position(symbol)
        if v3:
            if pos.qty_base:
                rows.append(wire.position_risk_v3(ex.account, pos, marks[symbol], now))
        else:
            cap = ex.account.brackets[symbol].max_notional_usdt
            rows.append(wire.position_risk_v2(ex.account, pos, marks[symbol], now, cap))
    return rows


@route("GET", _F + "positionSide/dual", weight=30, signed=True)
def position_side_dual(ex: LocalExchange, p: Params) -> Any:
    return {"dualSidePosition": False}


@route("GET", _F + "multiAssetsMargin", weight=30, signed=True)
def multi_assets_margin(ex: LocalExchange, p: Params) -> Any:
    return {"multiAssetsMargin": False}


@route("POST", _F + "marginType", signed=True)
def margin_type(ex: LocalExchange, p: Params) -> Any:
    symbol = ex.instrument(p.req("symbol")).symbol
    wanted = p.req("marginType").upper()
    modes = {"ISOLATED": MarginMode.ISOLATED, "CROSSED": MarginMode.CROSS}
    if wanted not in modes:
        raise api_error(-1102, param="marginType")
    _sim(lambda: ex.account.set_margin_mode(symbol, modes[wanted]))
    return {"code": 200, "msg": "success"}


@route("POST", _F + "leverage", signed=True)
def leverage(ex: LocalExchange, p: Params) -> Any:
    symbol = ex.instrument(p.req("symbol")).symbol
    lev = p.int_("leverage")
    if lev is None:
        raise api_error(-1102, param="leverage")
    _sim(lambda: ex.account.set_leverage(symbol, lev))
    cap = ex.account.brackets[symbol].for_notional(Decimal(0)).notional_cap_usdt
    return {"leverage": lev, "maxNotionalValue": str(cap), "symbol": symbol}


@route("POST", _F + "positionMargin", signed=True)
def position_margin(ex: LocalExchange, p: Params) -> Any:
    symbol = ex.instrument(p.req("symbol")).symbol
    value = p.req_dec("amount")
    kind = p.int_("type")
    if kind not in (1, 2):
        raise api_error(-1102, param="type")
    now = ex.now_ms()
    if kind == 1:
        _sim(lambda: ex.account.add_margin(symbol, value, now))
    else:
        _sim(lambda: ex.account.reduce_margin(symbol, value, now))
    return {"amount": float(value), "code": 200, "msg": "Successfully modify position margin.",
            "type": kind}


def _sim(call: Any) -> None:
    """Run a simulator call; its rejection becomes Binance's error."""
    try:
        call()
    except SimRejection as err:
        raise rejection_to_api(err) from None


@route("POST", _F + "order", signed=True)
def new_order(ex: LocalExchange, p: Params) -> Any:
    instrument = ex.instrument(p.req("symbol"))
    side, kind = p.req("side").upper(), p.req("type").upper()
    if side not in ("BUY", "SELL"):
        raise api_error(-1117)
    if kind not in ("MARKET", "LIMIT"):
        raise api_error(-1116)
    if (p.get("positionSide") or "BOTH").upper() != "BOTH":
        raise api_error(-4061)  # one-way mode only: LONG/SHORT belong to hedge mode
    qty = p.req_dec("quantity")
    price = p.req_dec("price") if kind == "LIMIT" else Decimal(0)
    if kind == "LIMIT" and price % instrument.tick_size:
        raise api_error(-1111)
    order = ex.book.new_order(
        client_order_id=p.get("newClientOrderId") or "", market="futures",
        symbol=instrument.symbol, side=side, type=kind, orig_qty=qty, price=price,
        time_in_force=(p.get("timeInForce") or "GTC") if kind == "LIMIT" else "GTC",
        reduce_only=p.flag("reduceOnly"), time_ms=ex.now_ms(),
    )
    if kind == "LIMIT" and qty * price < instrument.min_notional and not order.reduce_only:
        del ex.book.orders[order.order_id]
        raise api_error(-4164, min_notional=instrument.min_notional)
    ex.place(order)
    return wire.futures_order(order, instrument)


def find_order(ex: LocalExchange, p: Params, market: str, code: int) -> OrderRecord:
    symbol = ex.instrument(p.req("symbol")).symbol
    order_id, client_id = p.get("orderId"), p.get("origClientOrderId")
    if order_id is None and client_id is None:
        raise BinanceApiError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, "
                              "but both were empty/null!")
    order = ex.book.find(market, symbol, order_id, client_id)
    if order is None:
        raise api_error(code)
    return order


@route("GET", _F + "order", signed=True)
def query_order(ex: LocalExchange, p: Params) -> Any:
    order = find_order(ex, p, "futures", -2013)
    return wire.futures_order(order, ex.instrument(order.symbol))


@route("DELETE", _F + "order", signed=True)
def cancel_order(ex: LocalExchange, p: Params) -> Any:
    order = find_order(ex, p, "futures", -2011)
    if not order.is_open:
        raise api_error(-2011)
    order.status, order.update_time_ms = "CANCELED", ex.now_ms()
    return wire.futures_order(order, ex.instrument(order.symbol))


@route("GET", _F + "openOrders", weight=1, signed=True)
def open_orders(ex: LocalExchange, p: Params) -> Any:
    symbol = ex.instrument(p.req("symbol")).symbol if p.get("symbol") else None
    return [wire.futures_order(o, ex.instrument(o.symbol))
            for o in ex.book.open_orders("futures", symbol)]


@route("GET", _F + "allOrders", weight=5, signed=True)
def all_orders(ex: LocalExchange, p: Params) -> Any:
    symbol = ex.instrument(p.req("symbol")).symbol
    return [wire.futures_order(o, ex.instrument(o.symbol)) for o in ex.book.orders.values()
            if o.market == "futures" and o.symbol == symbol]


@route("GET", _F + "userTrades", weight=5, signed=True)
def user_trades(ex: LocalExchange, p: Params) -> Any:
    symbol = ex.instrument(p.req("symbol")).symbol
    start, end = p.int_("startTime", 0) or 0, p.int_("endTime")
    limit = min(p.int_("limit", 500) or 500, 1000)
    order_id = p.int_("orderId")  # Binance: only this order's trades when given
    from_id = p.int_("fromId")  # Binance: trades from this id on, oldest first
    rows = [wire.futures_trade(t) for t in ex.book.trades
            if t.market == "futures" and t.symbol == symbol and t.time_ms >= start
            and (end is None or t.time_ms <= end)
            and (order_id is None or t.order_id == order_id)
            and (from_id is None or t.trade_id >= from_id)]
    # From a start (time or id) Binance answers the oldest rows after it, else the latest.
    return rows[:limit] if p.get("startTime") or from_id is not None else rows[-limit:]


@route("GET", _F + "income", weight=30, signed=True)
def income_history(ex: LocalExchange, p: Params) -> Any:
    symbol, kind = p.get("symbol"), p.get("incomeType")
    start, end = p.int_("startTime", 0) or 0, p.int_("endTime") or ex.now_ms()
    limit = min(p.int_("limit", 100) or 100, 1000)
    futures_kinds = ("funding", "transfer", "liquidation")
    entries = [
        (i, e) for i, e in enumerate(ex.account.ledger)
        if (e.kind in futures_kinds or (e.kind == "fill" and e.note.startswith("futures")))
        and start <= e.ts_ms <= end
    ]
    rows = [r for r in wire.income(entries)
            if (kind is None or r["incomeType"] == kind)
            and (symbol is None or r["symbol"] in (symbol, ""))]
    return rows[:limit] if p.get("startTime") else rows[-limit:]


@route("GET", _F + "forceOrders", weight=20, signed=True)
def force_orders(ex: LocalExchange, p: Params) -> Any:
    return [wire.futures_order(o, ex.instrument(o.symbol)) for o in ex.book.orders.values()
            if o.market == "futures" and o.client_order_id.startswith("autoclose-")]
