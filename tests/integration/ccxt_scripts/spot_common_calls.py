"""A plain ccxt ``binance`` (spot) script: ticker, book, trades, balance, an order.

Usage: python spot_common_calls.py BASE_URL API_KEY API_SECRET → one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys

import ccxt
from point import point_ccxt_at  # type: ignore[import-not-found]


def main(url: str, key: str, secret: str) -> None:
    ex = point_ccxt_at(ccxt.binance({"apiKey": key, "secret": secret, "timeout": 10000}), url)
    ex.load_markets()
    symbol = "BTC/USDT"
    ticker = ex.fetch_ticker(symbol)
    book = ex.fetch_order_book(symbol, limit=5)
    trades = ex.fetch_trades(symbol, limit=3)
    order = ex.create_order(symbol, "market", "buy", 0.01)
    out = {
        "ticker": {k: ticker[k] for k in ("last", "bid", "ask", "high", "low")},
        "book": {"bids": book["bids"][:2], "asks": book["asks"][:2]},
        "trades": len(trades),
        "order": [order["status"], order["filled"], order["average"]],
        "btc": ex.fetch_balance()["BTC"]["free"],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:4])
