"""One page of a hedge's history: decisions with reasons, orders, fills, funding, margin moves,
alerts. Each list is newest first and paged by the same ``offset``/``limit``."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Select, and_, or_, select

from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.schema import (
    DecisionRow,
    FillRow,
    FundingRow,
    MarginMoveRow,
    OrderRow,
)
from perphedge.services.hedge_models import HistoryPage
from perphedge.services.hedge_read import sent_alerts
from perphedge.services.hedge_view import iso, order_dict, text

#: The largest page the API serves.
MAX_PAGE = 500


def _page(store: HedgeStore, query: Select[*tuple[Any, ...]], offset: int,
          limit: int) -> list[Any]:
    with store.session() as s:
        return list(s.execute(query.offset(offset).limit(limit)).all())


def decision_dict(row: DecisionRow) -> dict[str, Any]:
    """An audit row with its reasons: the calls or lines of the decision, or its error."""
    payload: dict[str, Any] = json.loads(row.payload_json)
    reasons = payload.get("lines") or payload.get("calls") or [
        _describe(a) for a in payload.get("actions") or []]
    if payload.get("error"):
        reasons = [str(payload["error"]), *reasons]
    if not reasons and row.kind == "decision":
        reasons = [_why_idle(payload)]
    return {"id": row.id, "time": iso(row.ts_ms), "ts_ms": row.ts_ms, "kind": row.kind,
            "status": payload.get("status"), "policy": payload.get("policy"),
            "reasons": [str(r) for r in reasons],
            "actions": payload.get("actions", []), "dry_run": payload.get("dry_run")}


def _describe(action: dict[str, Any]) -> str:
    """An action without venue calls (an alert, a hold): its type and fields."""
    fields = ", ".join(f"{k} {v}" for k, v in action.items() if k != "type" and v is not None)
    return f"{action.get('type', 'action')}: {fields}" if fields else str(action.get("type"))


def _why_idle(payload: dict[str, Any]) -> str:
    """Why nothing was done: what the policy saw (hedge against target, runway)."""
    seen, figures = payload.get("observed") or {}, payload.get("figures") or {}
    if seen.get("hedge_qty") is None:
        return "nothing to do"
    runway = figures.get("runway_pct")
    tail = f", runway {float(runway):.2f} %" if runway is not None else ""
    return (f"nothing to do: hedge {seen.get('hedge_qty')} for target "
            f"{seen.get('target_exposure_qty')}{tail}")


def audit_alerts(store: HedgeStore, hedge: str, offset: int = 0,
                 limit: int = 100) -> list[dict[str, Any]]:
    """Alerts from the audit log (newest first): each Alert a policy raised, and each refused or
    failed cycle (also when no ``serve`` sent alerts: ``run`` or the web alone)."""
    query = (select(DecisionRow).where(
        DecisionRow.hedge_id == hedge,
        or_(DecisionRow.kind.in_(("refused", "error")),
            and_(DecisionRow.kind == "decision", DecisionRow.payload_json.contains('"Alert"'))))
        .order_by(DecisionRow.ts_ms.desc(), DecisionRow.id.desc()))
    out: list[dict[str, Any]] = []
    for (row,) in _page(store, query, 0, offset + limit):
        payload: dict[str, Any] = json.loads(row.payload_json)
        if row.kind == "decision":
            out += [{"time": iso(row.ts_ms), "ts_ms": row.ts_ms, "code": a.get("code"),
                     "message": a.get("message"), "source": "engine"}
                    for a in payload.get("actions") or [] if a.get("type") == "Alert"]
        else:
            text_ = payload.get("error") or "; ".join(payload.get("lines") or [])
            out.append({"time": iso(row.ts_ms), "ts_ms": row.ts_ms, "code": row.kind,
                        "message": str(text_), "source": "engine"})
    return out[offset:offset + limit]


def alerts(store: HedgeStore, hedge: str, offset: int = 0, limit: int = 100
           ) -> list[dict[str, Any]]:
    """What the engine raised (the audit log, ``source`` "engine") and what ``serve`` sent
    (its ``alerts`` rows, ``source`` "notifier"), newest first, one page of both together."""
    both = audit_alerts(store, hedge, 0, offset + limit) + sent_alerts(store, hedge,
                                                                        offset + limit)
    both.sort(key=lambda a: int(a["ts_ms"]), reverse=True)
    return both[offset:offset + limit]


def history_page(store: HedgeStore, hedge: str, offset: int = 0, limit: int = 100) -> HistoryPage:
    """Page ``offset // limit`` of every list of the hedge's history."""
    decisions = _page(store, select(DecisionRow).where(DecisionRow.hedge_id == hedge)
                      .order_by(DecisionRow.ts_ms.desc(), DecisionRow.id.desc()), offset, limit)
    orders = _page(store, select(OrderRow).where(OrderRow.hedge_id == hedge)
                   .order_by(OrderRow.id.desc()), offset, limit)
    fills = _page(store, select(FillRow, OrderRow.client_order_id, OrderRow.market,
                                OrderRow.side).join(OrderRow)
                  .where(OrderRow.hedge_id == hedge)
                  .order_by(FillRow.ts_ms.desc(), FillRow.id.desc()), offset, limit)
    funding = _page(store, select(FundingRow).where(FundingRow.hedge_id == hedge)
                    .order_by(FundingRow.ts_ms.desc()), offset, limit)
    moves = _page(store, select(MarginMoveRow).where(MarginMoveRow.hedge_id == hedge)
                  .order_by(MarginMoveRow.ts_ms.desc(), MarginMoveRow.id.desc()), offset, limit)
    return HistoryPage(
        hedge=hedge, offset=offset, limit=limit,
        decisions=[decision_dict(d) for (d,) in decisions],
        orders=[order_dict(o) for (o,) in orders],
        fills=[{"time": iso(f.ts_ms), "client_order_id": cid, "market": market, "side": side,
                "trade_id": f.trade_id, "quantity": text(f.qty_base),
                "price": text(f.price_usdt), "fee": text(f.fee_usdt)}
               for f, cid, market, side in fills],
        funding=[{"time": iso(f.ts_ms), "symbol": f.symbol, "amount": text(f.amount_usdt),
                  "rate": text(f.rate)} for (f,) in funding],
        margin_moves=[{"time": iso(m.ts_ms), "kind": m.kind, "amount": text(m.amount_usdt),
                       "from_reserve": m.from_reserve, "note": m.note} for (m,) in moves],
        alerts=alerts(store, hedge, offset, limit),
    )
