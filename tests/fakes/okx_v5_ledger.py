"""The OKX v5 fake's account history: bills of the trading account (types 1 transfer,
2 trade, 6 margin transfer, 8 funding) and ``/api/v5/trade/fills-history``, in OKX's shape,
from the simulator's ledger and trades. Bill ids are the ledger index (trades: 10**6 + id).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from perphedge.exchange.core import LocalExchange
from perphedge.exchange.orders import TradeRecord
from perphedge.sim.records import LedgerEntry
from tests.fakes.okx_v5_rows import INST_ID, SIM_SYMBOL, contracts, funding_bill, s

_MARGIN = {"margin_add": "160", "margin_remove": "161"}


def _bill(number: int, kind: str, sub: str, entry: LedgerEntry, bal_chg: Decimal,
          **extra: str) -> dict[str, str]:
    return {"billId": str(number), "type": kind, "subType": sub, "instType": "SWAP",
            "instId": extra.pop("instId", ""), "ccy": "USDT", "balChg": s(bal_chg),
            "posBalChg": extra.pop("posBalChg", "0"), "pnl": extra.pop("pnl", "0"),
            "fee": extra.pop("fee", "0"), "mgnMode": "", "ts": str(entry.ts_ms), "bal": "",
            "sz": "", **extra}


def bill_rows(ex: LocalExchange, kind: str, begin: int, end: int) -> list[dict[str, str]]:
    """Bills of ``kind`` between ``begin`` and ``end``, oldest first."""
    out: list[dict[str, str]] = []
    for n, e in enumerate(ex.account.ledger):
        if not begin <= e.ts_ms <= end:
            continue
        if kind == "8" and e.kind == "funding" and e.symbol == SIM_SYMBOL:
            out.append(funding_bill(e, n))
        elif kind == "1" and e.kind == "transfer":
            into = e.note == "to futures"
            out.append(_bill(n, "1", "11" if into else "12", e,
                             e.amount_usdt if into else -e.amount_usdt))
        elif kind == "6" and e.kind in _MARGIN and e.symbol == SIM_SYMBOL:
            add = e.kind == "margin_add"
            out.append(_bill(n, "6", _MARGIN[e.kind], e,
                             -e.amount_usdt if add else e.amount_usdt, instId=INST_ID,
                             posBalChg=s(e.amount_usdt if add else -e.amount_usdt)))
        elif kind == "2" and e.kind == "fill" and e.note.startswith("futures"):
            out.append(_bill(n, "2", "1", e, e.amount_usdt, instId=INST_ID,
                             pnl=s(e.amount_usdt + e.fee_usdt), fee=s(-e.fee_usdt)))
    return out


def _fill(trade: TradeRecord) -> dict[str, Any]:
    return {"instType": "SWAP", "instId": INST_ID, "tradeId": str(trade.trade_id),
            "ordId": str(trade.order_id), "billId": str(10**6 + trade.trade_id),
            "fillPx": s(trade.price), "fillSz": s(contracts(trade.qty)),
            "side": trade.side.lower(), "fee": s(-trade.commission), "feeCcy": "USDT",
            "ts": str(trade.time_ms)}


def fill_rows(ex: LocalExchange, q: dict[str, Any]) -> list[dict[str, Any]]:
    """``fills-history``: newest first, ``begin``/``end``/``ordId``/``after``/``limit``."""
    begin, end = int(q.get("begin", 0)), int(q.get("end", 2**62))
    after = int(q["after"]) if q.get("after") else None
    rows = [_fill(t) for t in ex.book.trades
            if t.market == "futures" and q.get("instType") == "SWAP"
            and q.get("instId") in (None, INST_ID) and begin <= t.time_ms <= end
            and q.get("ordId") in (None, str(t.order_id))]
    rows.reverse()
    if after is not None:
        rows = [r for r in rows if int(r["billId"]) < after]
    return rows[: int(q.get("limit", 100))]
