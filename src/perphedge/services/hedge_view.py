"""Hedges as JSON-ready dicts (Decimals as exact strings): status rows, history, cycle reports.

The CLI renders these with rich or prints them as JSON; a web layer can return them as they are.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from perphedge.adapters.store.schema import (
    DecisionRow,
    FundingRow,
    HedgeRow,
    MarginMoveRow,
    OrderRow,
    SnapshotRow,
)
from perphedge.config.models import HedgeConfig
from perphedge.domain.money import HUNDRED
from perphedge.engine.loop import CycleReport, state_dict

#: The keys every status row has, in display order.
STATUS_KEYS = ("hedge", "asset", "spot_quantity", "target_quantity", "hedge_quantity", "drift",
               "drift_pct", "mark_price", "liquidation_price", "runway_pct", "margin_ratio",
               "unrealized_pnl", "funding_total", "fees_total", "state", "updated")


def text(value: Decimal | None) -> str | None:
    """A Decimal as its exact plain string (None stays None)."""
    return None if value is None else format(value, "f")


def iso(ts_ms: int | None) -> str | None:
    if ts_ms is None:
        return None
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat(timespec="seconds")


def _dec(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def status_row(hedge: HedgeConfig, row: HedgeRow | None, snapshot: SnapshotRow | None,
               result: DecisionRow | None, funding: Decimal, fees: Decimal) -> dict[str, Any]:
    """One hedge's status from the store (no exchange call): the last cycle's picture."""
    out: dict[str, Any] = dict.fromkeys(STATUS_KEYS)
    out.update(hedge=hedge.name, asset=hedge.asset.upper(), state=row.state if row else "new",
               funding_total=text(funding), fees_total=text(fees))
    if result is not None:
        payload = json.loads(result.payload_json)
        observed, figures = payload.get("observed") or {}, payload.get("figures") or {}
        target, held = _dec(observed.get("target_exposure_qty")), _dec(observed.get("hedge_qty"))
        drift = None if target is None or held is None else held - target
        out.update(
            spot_quantity=observed.get("spot_qty"), target_quantity=text(target),
            hedge_quantity=text(held), drift=text(drift),
            drift_pct=text(drift / target * HUNDRED) if drift is not None and target else None,
            mark_price=observed.get("mark_price"),
            liquidation_price=observed.get("liquidation_price"),
            runway_pct=figures.get("runway_pct"), margin_ratio=figures.get("margin_ratio"),
            updated=iso(result.ts_ms),
        )
    if snapshot is not None:
        out["unrealized_pnl"] = text(snapshot.unrealized_pnl_usdt)
    return out


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
