"""The Bybit v5 fake's history: ``execType=Trade`` rows of ``/v5/execution/list`` from the
simulator's trades, and ``/v5/market/time`` on the replay clock (the time its rows carry)."""

from __future__ import annotations

from typing import Any

from perphedge.exchange.core import LocalExchange
from tests.fakes.bybit_v5_account import num, order_uuid


def trade_rows(ex: LocalExchange, symbol: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Linear trades between ``startTime`` and ``endTime`` (of ``orderId``), newest first."""
    start = int(params.get("startTime") or 0)
    end = int(params.get("endTime") or 2**62)
    rows = [{
        "symbol": t.symbol, "orderId": order_uuid(t.order_id), "orderLinkId": "",
        "execId": f"trade-{t.trade_id}", "execPrice": num(t.price), "execQty": num(t.qty),
        "execFee": num(t.commission), "feeCurrency": "", "execType": "Trade",
        "execTime": str(t.time_ms), "side": t.side.title(), "isMaker": t.maker,
    } for t in ex.book.trades
        if t.market == "futures" and t.symbol == symbol and start <= t.time_ms <= end
        and params.get("orderId") in (None, order_uuid(t.order_id))]
    return sorted(rows, key=lambda r: -int(r["execTime"]))


def market_time(now_ms: int) -> dict[str, str]:
    return {"timeSecond": str(now_ms // 1000), "timeNano": str(now_ms * 1_000_000)}
