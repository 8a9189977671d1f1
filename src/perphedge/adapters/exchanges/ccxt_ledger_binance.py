"""Binance's own account history as the ``ReadsLedger`` port, through ccxt's raw endpoints.

A mixin of :class:`~perphedge.adapters.exchanges.ccxt_venue_binance.BinanceUsdmVenue`: trades with
their commission (``GET /fapi/v1/userTrades``, spot ``GET /api/v3/myTrades``), the futures
wallet's income (``GET /fapi/v1/income``), wallet transfers (``GET /sapi/v1/asset/transfer``,
types MAIN_UMFUTURE and UMFUTURE_MAIN) and isolated margin changes (``GET
/fapi/v1/positionMargin/history``). Every read is paged and bounded, retried like any read,
and checked at the edge (:mod:`perphedge.adapters.exchanges.ccxt_ledger_binance_parse`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from perphedge.adapters.exchanges import ccxt_ledger_binance_parse as parse
from perphedge.engine.venue import IncomeEntry, LedgerFill, Market, MoneyMove

__all__ = ["BinanceLedgerReads"]

_T = TypeVar("_T")
#: Page sizes Binance allows, and a bound on pages per call (the cursor moves on next time).
TRADES_PAGE = 1000
INCOME_PAGE = 1000
TRANSFER_PAGE = 100
MARGIN_PAGE = 500
MAX_PAGES = 20
#: Binance answers trades for at most 7 days (spot: 24 hours) between ``startTime`` and
#: ``endTime``; the calls one trade read may make.
TRADES_WINDOW_MS = 7 * 24 * 3_600_000
SPOT_TRADES_WINDOW_MS = 24 * 3_600_000
MAX_CALLS = 50


class BinanceLedgerReads:
    """``ReadsLedger`` for a venue that has ``_client`` (``binanceusdm``) and ``_read``."""

    _client: Any

    if TYPE_CHECKING:  # provided by CcxtVenueBase, which comes after this mixin
        async def _read(self, action: str, call: Callable[[], Awaitable[_T]]) -> _T: ...

    async def ledger_now_ms(self, symbol: str) -> int:
        """``GET /fapi/v1/premiumIndex``'s ``time`` (the server's clock; a replaying local
        exchange answers its replay time, which its history uses too)."""
        body = await self._read(
            f"fetch premium index of {symbol}",
            lambda: self._client.fapiPublicGetPremiumIndex({"symbol": symbol}))
        return parse.server_time(body, "GET /fapi/v1/premiumIndex")

    async def ledger_fills(self, market: Market, symbol: str, since_ms: int,
                           exchange_order_id: str | None = None, *,
                           until_ms: int | None = None) -> list[LedgerFill]:
        """Trades from ``since_ms`` on, in windows Binance allows between ``startTime`` and
        ``endTime`` (7 days for futures, 24 hours for spot), each paged by ``fromId``; one
        order's trades at once."""
        spot = market is Market.SPOT
        endpoint = "GET /api/v3/myTrades" if spot else "GET /fapi/v1/userTrades"
        method = self._client.privateGetMyTrades if spot else self._client.fapiPrivateGetUserTrades
        if exchange_order_id is not None:
            body = await self._read(f"fetch trades of order {exchange_order_id}", partial(
                method, {"symbol": symbol, "orderId": exchange_order_id}))
            return sorted(parse.fills(body, endpoint), key=lambda f: (f.ts_ms, f.trade_id))
        now = until_ms if until_ms is not None else await self.ledger_now_ms(symbol)
        window = SPOT_TRADES_WINDOW_MS if spot else TRADES_WINDOW_MS
        out: dict[str, LedgerFill] = {}
        start, calls = since_ms, 0
        while start <= now and calls < MAX_CALLS:
            params: dict[str, Any] = {"symbol": symbol, "startTime": start,
                                      "endTime": min(start + window - 1, now),
                                      "limit": TRADES_PAGE}
            while calls < MAX_CALLS:
                calls += 1
                page = parse.fills(await self._read(
                    f"fetch trades of {symbol}", partial(method, dict(params))), endpoint)
                out.update((f.trade_id, f) for f in page)
                if len(page) < TRADES_PAGE:
                    break
                # Binance: fromId takes over from the times (both may not be sent).
                params = {"symbol": symbol, "limit": TRADES_PAGE,
                          "fromId": max(int(f.trade_id) for f in page) + 1}
            start += window
        return sorted((f for f in out.values() if f.ts_ms <= now),
                      key=lambda f: (f.ts_ms, f.trade_id))

    async def ledger_income(self, since_ms: int, kind: str | None = None) -> list[IncomeEntry]:
        """``GET /fapi/v1/income`` from ``since_ms`` on (all symbols), page by page."""
        out: list[IncomeEntry] = []
        start = since_ms
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"startTime": start, "limit": INCOME_PAGE}
            if kind is not None:
                params["incomeType"] = kind
            body = await self._read(
                "fetch income history", partial(self._client.fapiPrivateGetIncome, params))
            page = parse.income(body, "GET /fapi/v1/income")
            out.extend(page)
            if len(body) < INCOME_PAGE or not page:
                break
            start = page[-1].ts_ms + 1
        return out

    async def ledger_transfers(self, since_ms: int, *,
                               until_ms: int | None = None) -> list[MoneyMove]:
        """``GET /sapi/v1/asset/transfer`` for both directions from ``since_ms`` on."""
        out: list[MoneyMove] = []
        for kind in parse.TRANSFER_KINDS:
            for current in range(1, MAX_PAGES + 1):
                params: dict[str, Any] = {"type": kind, "startTime": since_ms,
                                          "current": current, "size": TRANSFER_PAGE}
                if until_ms is not None:
                    params["endTime"] = until_ms
                body = await self._read(
                    f"fetch {kind} transfers",
                    partial(self._client.sapiGetAssetTransfer, params))
                total, page = parse.transfers(body, "GET /sapi/v1/asset/transfer")
                out.extend(page)
                if current * TRANSFER_PAGE >= total:
                    break
        return sorted(out, key=lambda m: (m.ts_ms, m.exchange_id))

    async def ledger_margin_moves(self, symbol: str, since_ms: int, *,
                                  until_ms: int | None = None) -> list[MoneyMove]:
        """``GET /fapi/v1/positionMargin/history`` (both types) from ``since_ms`` on."""
        out: list[MoneyMove] = []
        start = since_ms
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"symbol": symbol, "startTime": start,
                                      "limit": MARGIN_PAGE}
            if until_ms is not None:
                params["endTime"] = until_ms
            body = await self._read(
                f"fetch margin changes of {symbol}",
                partial(self._client.fapiPrivateGetPositionMarginHistory, params))
            page = parse.margin_moves(body, "GET /fapi/v1/positionMargin/history")
            out.extend(m for m in page if m.exchange_id not in {o.exchange_id for o in out})
            if len(page) < MARGIN_PAGE:
                break
            start = page[-1].ts_ms
        return sorted(out, key=lambda m: (m.ts_ms, m.exchange_id))
