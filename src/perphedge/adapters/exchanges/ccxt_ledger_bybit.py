"""Bybit v5's own account history as the ``ReadsLedger`` port (a mixin of ``BybitVenue``).

What Bybit offers, through ccxt's raw v5 methods, checked at the edge:

* trades and fees: ``GET /v5/execution/list`` ``execType=Trade`` (``execFee`` > 0 is paid,
  in USDT for linear contracts), read in windows of at most 7 days (Bybit's limit), paged by
  ``cursor``; funding is the same list's ``execType=Funding`` rows (income);
* transfers: none exist on a Unified Trading Account (one wallet; ``transfer`` sends nothing);
* isolated margin changes: Bybit keeps no history of ``/v5/position/add-margin``, so
  ``ledger_margin_moves`` answers None (an unclear margin move cannot be confirmed);
* the clock: ``GET /v5/market/time``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from perphedge.adapters.exchanges.ccxt_ledger_binance_parse import malformed
from perphedge.engine.venue import IncomeEntry, LedgerFill, Market, MoneyMove

__all__ = ["BybitLedgerReads"]

_T = TypeVar("_T")
EXECUTIONS = "GET /v5/execution/list"
WINDOW_MS = 7 * 24 * 3_600_000
PAGE = 100
MAX_CALLS = 40


def _result(body: object, endpoint: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping) or not isinstance(body.get("result"), Mapping):
        raise malformed(endpoint, f"expected an object with a result, got {body!r:.40}")
    result: Mapping[str, Any] = body["result"]
    return result


def _dec(row: Mapping[str, Any], key: str) -> Decimal:
    value = row.get(key)
    try:
        return Decimal(str(value if value not in (None, "") else "x"))
    except ArithmeticError:
        raise malformed(EXECUTIONS, f"{key}: expected a decimal number, got {value!r}"
                        ) from None


def _ms(row: Mapping[str, Any], key: str) -> int:
    value = str(row.get(key, ""))
    if not value.isdigit():
        raise malformed(EXECUTIONS, f"{key}: expected milliseconds, got {row.get(key)!r}")
    return int(value)


class BybitLedgerReads:
    """``ReadsLedger`` for ``BybitVenue`` (``_client``, ``_read``, ``_market``)."""

    _client: Any

    if TYPE_CHECKING:  # provided by CcxtVenue, after this mixin
        async def _read(self, action: str, call: Callable[[], Awaitable[_T]]) -> _T: ...

        async def _market(self, symbol: str) -> dict[str, Any]: ...

    async def ledger_now_ms(self, symbol: str) -> int:
        body = await self._read("fetch bybit time", self._client.publicGetV5MarketTime)
        nanos = str(_result(body, "GET /v5/market/time").get("timeNano", ""))
        if not nanos.isdigit():
            raise malformed("GET /v5/market/time", f"timeNano: expected digits, got {nanos!r}")
        return int(nanos) // 1_000_000

    async def _executions(self, market: Market, symbol: str, kind: str, since_ms: int,
                          order_id: str | None = None,
                          until_ms: int | None = None) -> list[Mapping[str, Any]]:
        """Rows of ``execType=kind``, window by window up to Bybit's clock."""
        category = "spot" if market is Market.SPOT else "linear"
        market_id = symbol if market is Market.SPOT else (await self._market(symbol))["id"]
        now = until_ms if until_ms is not None else await self.ledger_now_ms(symbol)
        rows: list[Mapping[str, Any]] = []
        start, calls = since_ms, 0
        while start <= now and calls < MAX_CALLS:
            params: dict[str, Any] = {"category": category, "symbol": market_id,
                                      "execType": kind, "startTime": start,
                                      "endTime": min(start + WINDOW_MS, now), "limit": PAGE}
            if order_id is not None:
                params["orderId"] = order_id
            while calls < MAX_CALLS:
                calls += 1
                result = _result(await self._read(
                    f"fetch {kind} executions of {symbol}",
                    partial(self._client.privateGetV5ExecutionList, dict(params))), EXECUTIONS)
                page = result.get("list")
                if not isinstance(page, list) or not all(isinstance(r, Mapping) for r in page):
                    raise malformed(EXECUTIONS, f"result.list: expected a list, got {page!r:.40}")
                rows += page
                if not result.get("nextPageCursor") or len(page) < PAGE:
                    break
                params["cursor"] = result["nextPageCursor"]
            start += WINDOW_MS + 1
        return rows

    async def ledger_fills(self, market: Market, symbol: str, since_ms: int,
                           exchange_order_id: str | None = None, *,
                           until_ms: int | None = None) -> list[LedgerFill]:
        since = 0 if exchange_order_id else since_ms
        rows = await self._executions(market, symbol, "Trade", since, exchange_order_id,
                                      until_ms)
        fills = {str(r.get("execId")): LedgerFill(
            trade_id=str(r.get("execId")), exchange_order_id=str(r.get("orderId")),
            symbol=symbol, qty_base=_dec(r, "execQty"), price_usdt=_dec(r, "execPrice"),
            fee_usdt=(_dec(r, "execFee") if market is Market.FUTURES
                      or r.get("feeCurrency") == "USDT" else Decimal(0)),
            ts_ms=_ms(r, "execTime")) for r in rows}
        return sorted(fills.values(), key=lambda f: (f.ts_ms, f.trade_id))

    async def ledger_income(self, since_ms: int, kind: str | None = None) -> list[IncomeEntry]:
        """Funding and trading fees of the linear contracts the venue has loaded."""
        out: list[IncomeEntry] = []
        for exec_type, name in (("Funding", "FUNDING_FEE"), ("Trade", "COMMISSION")):
            if kind not in (None, name):
                continue
            for symbol in await self._linear_ids():
                for r in await self._executions(Market.FUTURES, symbol, exec_type, since_ms):
                    out.append(IncomeEntry(f"{name}:{r.get('execId')}", name, symbol,
                                           -_dec(r, "execFee"), _ms(r, "execTime")))
        return sorted(out, key=lambda e: (e.ts_ms, e.exchange_id))

    async def _linear_ids(self) -> list[str]:
        markets = self._client.markets or {}
        return sorted({str(m["id"]) for m in markets.values()
                       if m.get("swap") and m.get("linear") and m.get("settle") == "USDT"})

    async def ledger_transfers(self, since_ms: int, *,
                               until_ms: int | None = None) -> list[MoneyMove]:
        """A Unified Trading Account has one wallet: no transfer is ever sent (none to find)."""
        return []

    async def ledger_margin_moves(self, symbol: str, since_ms: int, *,
                                  until_ms: int | None = None) -> list[MoneyMove] | None:
        """Bybit keeps no history of isolated margin changes."""
        return None
