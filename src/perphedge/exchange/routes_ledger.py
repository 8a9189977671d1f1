"""The account's history endpoints Binance serves and the local exchange lacked before:
``GET /sapi/v1/asset/transfer`` (universal-transfer history) and ``GET
/fapi/v1/positionMargin/history`` (isolated margin changes).

Both are read from the simulator's ledger. A transfer's ``tranId`` is built from its ledger
index (:func:`transfer_id`), so the id ``POST /sapi/v1/asset/transfer`` answered is the one the
history shows, also after the exchange's state was saved and resumed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from perphedge.domain.money import plain
from perphedge.exchange.core import LocalExchange
from perphedge.exchange.errors import BinanceApiError, api_error
from perphedge.exchange.params import Params
from perphedge.exchange.routing import route
from perphedge.sim.records import LedgerEntry

#: Transfer ids start here (Binance's are large integers); id = base + ledger index.
TRANSFER_ID_BASE = 900_000_000
#: Universal-transfer type → the ledger entry's note (the destination wallet).
_TRANSFER_NOTES = {"MAIN_UMFUTURE": "to futures", "UMFUTURE_MAIN": "to spot"}
_MARGIN_TYPES = {"margin_add": 1, "margin_remove": 2}


def transfer_id(ledger_index: int) -> int:
    """The ``tranId`` of the transfer at ``ledger_index`` of the account's ledger.

    >>> transfer_id(12)
    900000012
    """
    return TRANSFER_ID_BASE + ledger_index


def transfer_rows(ledger: Sequence[LedgerEntry], kind: str, start_ms: int,
                  end_ms: int) -> list[dict[str, Any]]:
    """Universal-transfer history rows of ``kind`` (MAIN_UMFUTURE | UMFUTURE_MAIN), newest
    first as Binance lists them."""
    note = _TRANSFER_NOTES[kind]
    rows = [
        {"asset": "USDT", "amount": plain(e.amount_usdt), "type": kind,
         "status": "CONFIRMED", "tranId": transfer_id(i), "timestamp": e.ts_ms}
        for i, e in enumerate(ledger)
        if e.kind == "transfer" and e.note == note and start_ms <= e.ts_ms <= end_ms
    ]
    rows.reverse()
    return rows


def margin_rows(ledger: Sequence[LedgerEntry], symbol: str, kind: int | None, start_ms: int,
                end_ms: int) -> list[dict[str, Any]]:
    """``positionMargin/history`` rows of ``symbol`` (type 1 add, 2 reduce), oldest first."""
    return [
        {"symbol": symbol, "type": _MARGIN_TYPES[e.kind], "deltaType": "USER_ADJUST",
         "amount": plain(e.amount_usdt), "asset": "USDT", "time": e.ts_ms,
         "positionSide": "BOTH"}
        for e in ledger
        if e.kind in _MARGIN_TYPES and e.symbol == symbol and start_ms <= e.ts_ms <= end_ms
        and kind in (None, _MARGIN_TYPES[e.kind])
    ]


@route("GET", "/sapi/v1/asset/transfer", weight=1, signed=True)
def transfer_history(ex: LocalExchange, p: Params) -> Any:
    """Binance: ``type`` required; ``startTime``/``endTime``; pages by ``current`` (from 1)
    and ``size`` (default 10, at most 100); ``{"total": 0}`` when there is nothing."""
    kind = p.req("type").upper()
    if kind not in _TRANSFER_NOTES:
        raise BinanceApiError(-1102, f"Transfer type {p.req('type')} is not supported.")
    start, end = p.int_("startTime", 0) or 0, p.int_("endTime") or ex.now_ms()
    current = max(p.int_("current", 1) or 1, 1)
    size = min(max(p.int_("size", 10) or 10, 1), 100)
    rows = transfer_rows(ex.account.ledger, kind, start, end)
    page = rows[(current - 1) * size: current * size]
    return {"total": len(rows), "rows": page} if rows else {"total": 0}


@route("GET", "/fapi/v1/positionMargin/history", weight=1, signed=True)
def position_margin_history(ex: LocalExchange, p: Params) -> Any:
    """Binance: ``symbol`` required; ``type`` 1 (add) or 2 (reduce); ``startTime``,
    ``endTime``, ``limit`` (default 500); oldest first."""
    symbol = ex.instrument(p.req("symbol")).symbol
    kind = p.int_("type")
    if kind not in (None, 1, 2):
        raise api_error(-1102, param="type")
    start, end = p.int_("startTime", 0) or 0, p.int_("endTime") or ex.now_ms()
    limit = min(p.int_("limit", 500) or 500, 1000)
    return margin_rows(ex.account.ledger, symbol, kind, start, end)[:limit]
