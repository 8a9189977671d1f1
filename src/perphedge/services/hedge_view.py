"""Hedges as JSON-ready dicts (Decimals as exact strings): history and cycle reports.

The CLI renders these with rich or prints them as JSON; a web layer can return them as they are.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from perphedge.adapters.store.schema import DecisionRow, FundingRow, MarginMoveRow, OrderRow
from perphedge.engine.loop import CycleReport, state_dict


def text(value: Decimal | None) -> str | None:
    """A Decimal as its exact plain string (None stays None)."""
    return None if value is None else format(value, "f")


def iso(ts_ms: int | None) -> str | None:
    if ts_ms is None:
        return None
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat(timespec="seconds")


def order_dict(row: OrderRow) -> dict[str, Any]:
    return {
        "client_order_id": row.client_order_id, "exchange_order_id": row.exchange_order_id,
        "time": iso(row.created_ms), "market": row.market, "symbol": row.symbol,
        "side": row.side, "type": row.order_type, "quantity": text(row.qty_base),
        "reduce_only": row.reduce_only, "state": row.state,
        "filled": text(row.filled_qty_base), "avg_price": text(row.avg_price_usdt),
        "note": row.note,
    }


def history_dict(hedge: str, decisions: Sequence[DecisionRow], orders: Sequence[OrderRow],
                 funding: Sequence[FundingRow],
                 moves: Sequence[MarginMoveRow]) -> dict[str, Any]:
    """The audit log (newest first), orders, funding payments and margin moves of a hedge."""
    return {
        "hedge": hedge,
        "decisions": [{"time": iso(d.ts_ms), "kind": d.kind, **json.loads(d.payload_json)}
                      for d in decisions],
        "orders": [order_dict(o) for o in orders],
        "funding": [{"time": iso(f.ts_ms), "symbol": f.symbol, "amount": text(f.amount_usdt)}
                    for f in funding],
        "margin_moves": [{"time": iso(m.ts_ms), "kind": m.kind, "amount": text(m.amount_usdt),
                          "from_reserve": m.from_reserve} for m in moves],
    }


def report_dict(report: CycleReport) -> dict[str, Any]:
    """A cycle report: status, what was seen (if anything) and what was done."""
    return {
        "hedge": report.hedge_id, "time": iso(report.ts_ms), "status": report.status,
        "observed": None if report.state is None else state_dict(report.state),
        "figures": {k: text(v) for k, v in report.figures.items()},
        "lines": list(report.lines),
    }
