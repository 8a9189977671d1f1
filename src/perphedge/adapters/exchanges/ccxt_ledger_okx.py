"""OKX's own account history as the ``ReadsLedger`` port (a mixin of ``OkxVenue``).

Through ccxt's raw v5 methods, checked at the edge:

* trades: ``GET /api/v5/trade/fills-history`` (3 months; ``fillSz`` in contracts, × ``ctVal``;
  ``fee`` negative when charged, so the port's fee is ``−fee`` in USDT);
* transfers: trading-account bills ``GET /api/v5/account/bills-archive`` ``type=1`` (subType 11
  in from the funding account → ``transfer_futures``, 12 out → ``transfer_spot``), id ``billId``;
* isolated margin changes: bills ``type=6`` (subType 160 manual increase, 161 decrease);
* income: bills 8 (funding), 2 (trade: fee and PnL) and 1 (transfer) as Binance's income kinds.

Pages are newest first; older pages are asked with ``after=<billId>`` until ``begin``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from perphedge.adapters.exchanges.ccxt_ledger_binance_parse import malformed
from perphedge.engine.venue import IncomeEntry, LedgerFill, Market, MoneyMove

__all__ = ["OkxLedgerReads", "okx_rows"]

_T = TypeVar("_T")
PAGE = 100
MAX_PAGES = 20
BILLS = "GET /api/v5/account/bills-archive"
FILLS = "GET /api/v5/trade/fills-history"
_TRANSFER_SUBTYPES = {"11": "transfer_futures", "12": "transfer_spot"}
_MARGIN_SUBTYPES = {"160": "margin_add", "161": "margin_remove"}


def okx_rows(body: object, endpoint: str) -> list[Mapping[str, Any]]:
    """The ``data`` rows of an OKX v5 reply ``{"code": "0", "data": [...]}``."""
    if not isinstance(body, Mapping):
        raise malformed(endpoint, f"expected an object, got {type(body).__name__}")
    data = body.get("data")
    if not isinstance(data, list) or not all(isinstance(r, Mapping) for r in data):
        raise malformed(endpoint, f"data: expected a list of objects, got {data!r:.40}")
    return data


def _dec(row: Mapping[str, Any], key: str, endpoint: str) -> Decimal:
    value = row.get(key)
    try:
        return Decimal(str(value if value not in (None, "") else "x"))
    except ArithmeticError:
        raise malformed(endpoint, f"{key}: expected a decimal number, got {value!r}") from None


def _ts(row: Mapping[str, Any], endpoint: str) -> int:
    value = str(row.get("ts", ""))
    if not value.isdigit():
        raise malformed(endpoint, f"ts: expected milliseconds, got {row.get('ts')!r}")
    return int(value)


class OkxLedgerReads:
    """``ReadsLedger`` for ``OkxVenue`` (``_client``, ``_read``, ``_market``)."""

    _client: Any

    if TYPE_CHECKING:  # provided by CcxtVenue, after this mixin
        async def _read(self, action: str, call: Callable[[], Awaitable[_T]]) -> _T: ...

        async def _market(self, symbol: str) -> dict[str, Any]: ...

    async def ledger_now_ms(self, symbol: str) -> int:
        """``ts`` of ``GET /api/v5/public/funding-rate`` (OKX's clock)."""
        market = await self._market(symbol)
        body = await self._read(f"fetch funding rate of {symbol}", partial(
            self._client.publicGetPublicFundingRate, {"instId": market["id"]}))
        rows = okx_rows(body, "GET /api/v5/public/funding-rate")
        if not rows:
            raise malformed("GET /api/v5/public/funding-rate", "data: no row")
        return _ts(rows[0], "GET /api/v5/public/funding-rate")

    async def _pages(self, method: Any, params: dict[str, Any], since_ms: int,
                     endpoint: str, cursor: str,
                     until_ms: int | None = None) -> list[Mapping[str, Any]]:
        out: list[Mapping[str, Any]] = []
        params = {**params, "begin": str(since_ms), "limit": str(PAGE)}
        if until_ms is not None:
            params["end"] = str(until_ms)
        for _ in range(MAX_PAGES):
            body = await self._read(f"fetch {endpoint}", partial(method, dict(params)))
            page = okx_rows(body, endpoint)
            out.extend(page)
            if len(page) < PAGE:
                break
            params["after"] = str(page[-1].get(cursor, ""))
        return out

    async def _bills(self, bill_type: str, since_ms: int,
                     until_ms: int | None = None) -> list[Mapping[str, Any]]:
        rows = await self._pages(self._client.privateGetAccountBillsArchive,
                                 {"type": bill_type, "ccy": "USDT"}, since_ms, BILLS, "billId",
                                 until_ms)
        return sorted((r for r in rows if _ts(r, BILLS) >= since_ms),
                      key=lambda r: (_ts(r, BILLS), str(r.get("billId"))))

    async def ledger_fills(self, market: Market, symbol: str, since_ms: int,
                           exchange_order_id: str | None = None, *,
                           until_ms: int | None = None) -> list[LedgerFill]:
        if market is Market.SPOT:
            # The engine's spot ids are Binance-style (BTCUSDT); OKX's is BTC-USDT.
            size = Decimal(1)
            params: dict[str, Any] = {"instType": "SPOT",
                                      "instId": symbol.removesuffix("USDT") + "-USDT"}
        else:
            swap = await self._market(symbol)
            size = Decimal(str((swap.get("info") or {}).get("ctVal") or "1"))
            params = {"instType": "SWAP", "instId": swap["id"]}
        if exchange_order_id is not None:
            params["ordId"] = exchange_order_id
        rows = await self._pages(self._client.privateGetTradeFillsHistory, params,
                                 0 if exchange_order_id else since_ms, FILLS, "billId",
                                 until_ms)
        out = [LedgerFill(
            trade_id=str(r.get("tradeId") or ""), exchange_order_id=str(r.get("ordId") or ""),
            symbol=symbol, qty_base=_dec(r, "fillSz", FILLS) * size,
            price_usdt=_dec(r, "fillPx", FILLS),
            fee_usdt=-_dec(r, "fee", FILLS) if r.get("feeCcy") == "USDT" else Decimal(0),
            ts_ms=_ts(r, FILLS)) for r in rows]
        return sorted(out, key=lambda f: (f.ts_ms, f.trade_id))

    async def ledger_income(self, since_ms: int, kind: str | None = None) -> list[IncomeEntry]:
        out: list[IncomeEntry] = []
        for bill_type, fields in (("8", (("FUNDING_FEE", "balChg"),)),
                                  ("2", (("COMMISSION", "fee"), ("REALIZED_PNL", "pnl"))),
                                  ("1", (("TRANSFER", "balChg"),))):
            if kind is not None and kind not in {name for name, _ in fields}:
                continue
            for row in await self._bills(bill_type, since_ms):
                for name, key in fields:
                    amount = _dec(row, key, BILLS) if row.get(key) not in (None, "") else None
                    if amount and (kind is None or kind == name):
                        out.append(IncomeEntry(f"{name}:{row.get('billId')}", name,
                                               str(row.get("instId") or ""), amount,
                                               _ts(row, BILLS)))
        return sorted(out, key=lambda e: (e.ts_ms, e.exchange_id))

    async def ledger_transfers(self, since_ms: int, *,
                               until_ms: int | None = None) -> list[MoneyMove]:
        return [MoneyMove(str(r.get("billId")), _TRANSFER_SUBTYPES[str(r.get("subType"))],
                          abs(_dec(r, "balChg", BILLS)), _ts(r, BILLS))
                for r in await self._bills("1", since_ms, until_ms)
                if str(r.get("subType")) in _TRANSFER_SUBTYPES]

    async def ledger_margin_moves(self, symbol: str, since_ms: int, *,
                                  until_ms: int | None = None) -> list[MoneyMove]:
        inst_id = (await self._market(symbol))["id"]
        moves = []
        for r in await self._bills("6", since_ms, until_ms):
            kind = _MARGIN_SUBTYPES.get(str(r.get("subType")))
            if kind is None or r.get("instId") != inst_id:
                continue
            amount = abs(_dec(r, "posBalChg", BILLS)) or abs(_dec(r, "balChg", BILLS))
            moves.append(MoneyMove(str(r.get("billId")), kind, amount, _ts(r, BILLS), symbol))
        return moves
