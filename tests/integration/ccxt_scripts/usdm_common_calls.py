"""A plain ccxt ``binanceusdm`` script: the public and private calls users make first.

Usage: python usdm_common_calls.py BASE_URL API_KEY API_SECRET → one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys

import ccxt
from point import point_ccxt_at  # type: ignore[import-not-found]


def main(url: str, key: str, secret: str) -> None:
    ex = point_ccxt_at(ccxt.binanceusdm({"apiKey": key, "secret": secret, "timeout": 10000}),
                       url)
    ex.load_markets()
    symbol = "BTC/USDT:USDT"
    ticker = ex.fetch_ticker(symbol)
    tickers = ex.fetch_tickers()
    book = ex.fetch_order_book(symbol, limit=10)
    trades = ex.fetch_trades(symbol, limit=5)
    out = {
        "status": ex.fetch_status()["status"],
        "ticker": {k: ticker[k] for k in ("last", "high", "low", "open", "bid", "ask")},
        "tickers": sorted(tickers),
        "book": {"bids": book["bids"][:3], "asks": book["asks"][:3],
                 "depth": [len(book["bids"]), len(book["asks"])]},
        "trades": [[t["price"], t["amount"], t["timestamp"]] for t in trades],
        "ohlcv": len(ex.fetch_ohlcv(symbol, "1h", limit=5)),
        "funding_rate": ex.fetch_funding_rate(symbol)["fundingRate"],
        "open_interest": ex.fetch_open_interest(symbol)["openInterestAmount"],
        "leverage": ex.fetch_leverage(symbol)["longLeverage"],
        "fee": ex.fetch_trading_fee(symbol)["taker"],
        "usdt_free": ex.fetch_balance()["USDT"]["free"],
    }
    ex.set_margin_mode("isolated", symbol)
    ex.set_leverage(3, symbol)
    out["leverage_after"] = ex.fetch_leverage(symbol)["longLeverage"]
    market = ex.create_order(symbol, "market", "sell", 0.01)
    filled = ex.fetch_order(market["id"], symbol)
    out["market_order"] = [filled["status"], filled["filled"], filled["average"]]
    far = ex.create_order(symbol, "limit", "buy", 0.01, round(ticker["last"] * 0.9, 1))
    out["open_orders"] = len(ex.fetch_open_orders(symbol))
    out["cancelled"] = ex.cancel_order(far["id"], symbol)["status"]
    position = next(p for p in ex.fetch_positions([symbol]) if p["contracts"])
    out["position"] = [position["side"], position["contracts"], position["marginMode"]]
    out["my_trades"] = len(ex.fetch_my_trades(symbol))
    out["open_interest_after"] = ex.fetch_open_interest(symbol)["openInterestAmount"]
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:4])
