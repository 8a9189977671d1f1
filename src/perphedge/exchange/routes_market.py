"""Public market data (tickers, order book, trades, open interest, system status) and the
account's symbol settings and fees: the calls a ccxt user makes first.

What the replay cannot know is stated rather than invented: it has prices but no volume, so
each closed bar appears as ONE public trade of one lot at its close (``aggTrades``/``trades``)
and the 24-hour volume counts those lots; the order book is the synthetic one orders meet
(:mod:`perphedge.exchange.book`); open interest is this account's own position (the only
trader on this exchange).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np

from perphedge.domain.types import MarginMode
from perphedge.exchange import wire
from perphedge.exchange.book import levels
from perphedge.exchange.core import LocalExchange
from perphedge.exchange.errors import api_error
from perphedge.exchange.market import PricePath
from perphedge.exchange.params import Params
from perphedge.exchange.routing import route

_F = "/fapi/v1/"
_S = "/api/v3/"
DAY_MS = 86_400_000
#: Binance's accepted depth limits (USDⓈ-M and spot share these; spot also takes 5000).
_DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000, 5000)


def _symbols(ex: LocalExchange, p: Params, *, spot: bool) -> list[str]:
    if p.get("symbol"):
        return [ex.instrument(p.req("symbol")).symbol]
    return [s for s in sorted(ex.market.paths) if not (spot and "_" in s)]


def _closed(path: PricePath, after_ms: int, until_ms: int) -> range:
    """Indices of the bars that close in ``(after_ms, until_ms]``."""
    closes = path.close_time_ms
    i, j = np.searchsorted(closes, [after_ms, until_ms], side="right")
    return range(int(i), int(j))


def _ticker(ex: LocalExchange, symbol: str, *, spot: bool) -> dict[str, Any]:
    now = ex.now_ms()
    path = ex.market.path(symbol)
    inst = ex.instrument(symbol)
    bars = _closed(path, now - DAY_MS, now)
    last = ex.market.price(symbol, now)
    first_open = path.dec(float(path.open[bars.start])) if bars else last
    high = max((path.dec(float(path.high[k])) for k in bars), default=last)
    low = min((path.dec(float(path.low[k])) for k in bars), default=last)
    lot = inst.lot_step * inst.contract_size
    volume = lot * len(bars)
    change = last - first_open
    quote = sum((path.dec(float(path.close[k])) * lot for k in bars), Decimal(0))
    row: dict[str, Any] = {
        "symbol": symbol, "priceChange": wire.amount(change),
        "priceChangePercent": str((change / first_open * 100).quantize(Decimal("0.001"))),
        "weightedAvgPrice": wire.amount(quote / volume if volume else last),
        "lastPrice": wire.amount(last), "lastQty": str(lot),
        "openPrice": wire.amount(first_open), "highPrice": wire.amount(high),
        "lowPrice": wire.amount(low), "volume": str(volume), "quoteVolume": wire.amount(quote),
        "openTime": now - DAY_MS, "closeTime": now,
        "firstId": bars.start if bars else -1, "lastId": bars.stop - 1 if bars else -1,
        "count": len(bars),
    }
    if spot:
        best = _best(ex, symbol)
        row.update({"prevClosePrice": wire.amount(first_open), "bidPrice": best["bidPrice"],
                    "bidQty": best["bidQty"], "askPrice": best["askPrice"],
                    "askQty": best["askQty"]})
    return row


@route("GET", _F + "ticker/24hr", weight=1)
def futures_ticker_24hr(ex: LocalExchange, p: Params) -> Any:
    rows = [_ticker(ex, s, spot=False) for s in _symbols(ex, p, spot=False)]
    return rows[0] if p.get("symbol") else rows


@route("GET", _S + "ticker/24hr", weight=2)
def spot_ticker_24hr(ex: LocalExchange, p: Params) -> Any:
    rows = [_ticker(ex, s, spot=True) for s in _symbols(ex, p, spot=True)]
    return rows[0] if p.get("symbol") else rows


def _book(ex: LocalExchange, symbol: str, count: int) -> dict[str, list[list[str]]]:
    inst = ex.instrument(symbol)
    mid = ex.market.price(symbol, ex.now_ms())
    lot = inst.lot_step * inst.contract_size
    return {side: [[str(level.price), str(level.qty)]
                   for level in levels(mid, side, ex.config.book, inst.tick_size, lot, count)]
            for side in ("bids", "asks")}


def _best(ex: LocalExchange, symbol: str) -> dict[str, str]:
    book = _book(ex, symbol, 1)
    (bid, bid_qty), (ask, ask_qty) = book["bids"][0], book["asks"][0]
    return {"symbol": symbol, "bidPrice": bid, "bidQty": bid_qty, "askPrice": ask,
            "askQty": ask_qty}


def _depth_limit(p: Params, default: int) -> int:
    limit = p.int_("limit", default) or default
    if limit not in _DEPTH_LIMITS:
        raise api_error(-1102, param="limit")
    return min(limit, 1000)


@route("GET", _F + "depth", weight=10)
def futures_depth(ex: LocalExchange, p: Params) -> Any:
    symbol = ex.instrument(p.req("symbol")).symbol
    now = ex.now_ms()
    return {"lastUpdateId": now, "E": now, "T": now,
            **_book(ex, symbol, _depth_limit(p, 500))}


@route("GET", _S + "depth", weight=5)
def spot_depth(ex: LocalExchange, p: Params) -> Any:
    symbol = ex.instrument(p.req("symbol")).symbol
    return {"lastUpdateId": ex.now_ms(), **_book(ex, symbol, _depth_limit(p, 100))}


@route("GET", _F + "ticker/bookTicker", _S + "ticker/bookTicker", weight=2)
def book_ticker(ex: LocalExchange, p: Params) -> Any:
    rows = [{**_best(ex, s), "time": ex.now_ms()} for s in _symbols(ex, p, spot=False)]
    return rows[0] if p.get("symbol") else rows


def _bar_trades(ex: LocalExchange, p: Params) -> list[tuple[int, Decimal, Decimal, int, bool]]:
    """(id, price, qty, time, buyer is maker) of the closed bars asked for, oldest first."""
    symbol = ex.instrument(p.req("symbol")).symbol
    path = ex.market.path(symbol)
    inst = ex.instrument(symbol)
    now = ex.now_ms()
    limit = max(1, min(p.int_("limit", 500) or 500, 1000))
    start, end, from_id = p.int_("startTime"), p.int_("endTime"), p.int_("fromId")
    done = _closed(path, -1, now)
    if from_id is not None:
        chosen = range(max(from_id, 0), min(done.stop, max(from_id, 0) + limit))
    elif start is not None:
        window = _closed(path, start - 1, min(end or now, now))
        chosen = range(window.start, min(window.stop, window.start + limit))
    else:
        chosen = range(max(0, done.stop - limit), done.stop)
    lot = inst.lot_step * inst.contract_size
    closes = path.close_time_ms
    return [(k, path.dec(float(path.close[k])), lot, int(closes[k]),
             bool(path.close[k] < path.open[k])) for k in chosen]


@route("GET", _F + "aggTrades", _S + "aggTrades", weight=20)
def agg_trades(ex: LocalExchange, p: Params) -> Any:
    return [{"a": k, "p": str(price), "q": str(qty), "f": k, "l": k, "T": ts, "m": maker,
             "M": True} for k, price, qty, ts, maker in _bar_trades(ex, p)]


@route("GET", _F + "trades", _S + "trades", weight=5)
def trades(ex: LocalExchange, p: Params) -> Any:
    return [{"id": k, "price": str(price), "qty": str(qty), "quoteQty": str(price * qty),
             "time": ts, "isBuyerMaker": maker, "isBestMatch": True}
            for k, price, qty, ts, maker in _bar_trades(ex, p)]


@route("GET", _F + "openInterest", weight=1)
def open_interest(ex: LocalExchange, p: Params) -> Any:
    symbol = ex.instrument(p.req("symbol")).symbol
    pos = ex.account.positions.get(symbol)
    size = abs(pos.qty_base) if pos is not None else Decimal(0)
    return {"openInterest": str(size), "symbol": symbol, "time": ex.now_ms()}


@route("GET", "/sapi/v1/system/status", weight=1)
def system_status(ex: LocalExchange, p: Params) -> Any:
    return {"status": 0, "msg": "normal"}


@route("GET", _F + "symbolConfig", weight=5, signed=True)
def symbol_config(ex: LocalExchange, p: Params) -> Any:
    rows = []
    for symbol in _symbols(ex, p, spot=False):
        pos = ex.account.position(symbol)
        cap = ex.account.brackets[symbol].for_notional(Decimal(0)).notional_cap_usdt
        rows.append({"symbol": symbol, "marginType": "ISOLATED" if pos.margin_mode is
                     MarginMode.ISOLATED else "CROSSED", "isAutoAddMargin": "false",
                     "leverage": pos.leverage, "maxNotionalValue": str(cap)})
    return rows


@route("GET", _F + "commissionRate", weight=20, signed=True)
def commission_rate(ex: LocalExchange, p: Params) -> Any:
    symbol = ex.instrument(p.req("symbol")).symbol
    fees = ex.account.fees
    return {"symbol": symbol, "makerCommissionRate": str(fees.maker_rate),
            "takerCommissionRate": str(fees.taker_rate)}
