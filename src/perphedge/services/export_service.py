"""The hedge's accounts for tax or NAV: one row per UTC day, and every fill, funding payment and
transfer, as tables of exact Decimals.

The daily row is the accounts (:mod:`perphedge.services.accounts`) as of the day's last
snapshot, with the day's own funding, fees and realised hedge PnL next to the running totals, so
the daily columns sum to the totals of the listed rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.schema import FillRow, OrderRow
from perphedge.services.accounts import Trade, effective_locked_price, hedged_value
from perphedge.services.accounts_running import walk
from perphedge.services.hedge_read import (
    HedgeIdentity,
    funding,
    margin_moves,
    snapshots,
    trades,
)
from perphedge.services.hedge_view import iso

#: Divided figures (prices per unit) are exported to 1e-8 USDT.
EXACT = Decimal("0.00000001")
DAY_MS = 86_400_000
#: Enough rows to export a hedge's whole life in one page.
ALL_ROWS = 10_000_000

Rows = list[dict[str, Any]]

#: The columns of each table, in file order.
COLUMNS: dict[str, list[str]] = {
    "daily": ["date", "snapshot_time", "spot_quantity", "hedge_quantity", "mark_price",
              "liquidation_price", "unhedged_value", "locked_value", "hedged_value",
              "hedge_unrealized_pnl", "hedge_realized_pnl_day", "funding_day", "fees_day",
              "hedge_realized_pnl_total", "funding_total", "fees_total",
              "effective_locked_price"],
    "fills": ["time", "client_order_id", "trade_id", "market", "symbol", "side", "quantity",
              "price", "fee"],
    "funding": ["time", "amount"],
    "transfers": ["time", "kind", "amount", "from_reserve", "note"],
}


@dataclass(frozen=True)
class Export:
    """The tables of one export, by name (``daily``, ``fills``, ``funding``, ``transfers``)."""

    hedge: str
    tables: dict[str, Rows]


def _in(ts_ms: int, from_ms: int | None, to_ms: int | None) -> bool:
    return (from_ms is None or ts_ms >= from_ms) and (to_ms is None or ts_ms <= to_ms)


def _day(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).date().isoformat()


def _day_end_ms(day: str) -> int:
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    return int((start + timedelta(days=1)).timestamp() * 1000) - 1


def _q(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(EXACT)


def daily_rows(kind: str, all_trades: tuple[Trade, ...], pays: list[tuple[int, Decimal]],
               snaps: list[Any], from_ms: int | None, to_ms: int | None) -> Rows:
    """One row per UTC day that has a snapshot in the range: the accounts at its last one."""
    last_of_day: dict[str, Any] = {}
    for snap in snaps:
        if _in(snap.ts_ms, from_ms, to_ms):
            last_of_day[_day(snap.ts_ms)] = snap
    days = sorted(last_of_day)
    if not days:
        return []
    # The totals just before the first day, then at each day's end.
    ends = [_day_end_ms(days[0]) - DAY_MS, *(_day_end_ms(d) for d in days)]
    running = list(walk(all_trades, pays, ends))
    rows: Rows = []
    for day, before, run in zip(days, running, running[1:], strict=False):
        snap = last_of_day[day]
        exposure = snap.hedge_qty_base if kind == "purchase" else snap.spot_qty_base
        pos = run.position
        qty = abs(pos.qty)
        rows.append({
            "date": day, "snapshot_time": iso(snap.ts_ms),
            "spot_quantity": snap.spot_qty_base, "hedge_quantity": snap.hedge_qty_base,
            "mark_price": snap.mark_price_usdt, "liquidation_price": snap.liquidation_price_usdt,
            "unhedged_value": exposure * snap.mark_price_usdt,
            "locked_value": qty * pos.entry if qty else None,
            "hedged_value": hedged_value(kind, pos, run.funding - run.fees, snap.spot_qty_base,
                                         exposure, snap.mark_price_usdt),
            "hedge_unrealized_pnl": pos.unrealised(snap.mark_price_usdt) if qty else None,
            "hedge_realized_pnl_day": pos.realised - before.position.realised,
            "funding_day": run.funding - before.funding,
            "fees_day": run.fees - before.fees,
            "hedge_realized_pnl_total": pos.realised,
            "funding_total": run.funding, "fees_total": run.fees,
            "effective_locked_price": _q(effective_locked_price(
                kind, qty, pos.entry, pos.realised, run.funding, run.fees)),
        })
    return rows


def build_export(store: HedgeStore, who: HedgeIdentity, from_ms: int | None = None,
                 to_ms: int | None = None) -> Export:
    """Every table of the export of ``who`` between ``from_ms`` and ``to_ms`` (inclusive)."""
    row = store.hedge(who.name)
    kind = row.exposure_kind if row is not None else who.kind
    all_trades = trades(store, who.name)
    pays = funding(store, who.name)
    return Export(who.name, {
        "daily": daily_rows(kind, all_trades, pays, snapshots(store, who.name, limit=ALL_ROWS),
                            from_ms, to_ms),
        "fills": fill_rows(store, who.name, from_ms, to_ms),
        "funding": [{"time": iso(ts), "amount": amount} for ts, amount in pays
                    if _in(ts, from_ms, to_ms)],
        "transfers": [{"time": iso(m.ts_ms), "kind": m.kind, "amount": m.amount_usdt,
                       "from_reserve": m.from_reserve, "note": m.note}
                      for m in margin_moves(store, who.name) if _in(m.ts_ms, from_ms, to_ms)],
    })


def fill_rows(store: HedgeStore, hedge: str, from_ms: int | None, to_ms: int | None) -> Rows:
    """Every fill of the hedge's orders in the range, oldest first."""
    query = (select(FillRow, OrderRow.client_order_id, OrderRow.market, OrderRow.symbol,
                    OrderRow.side).join(OrderRow).where(OrderRow.hedge_id == hedge)
             .order_by(FillRow.ts_ms, FillRow.id))
    with store.session() as s:
        rows = s.execute(query).all()
    return [{"time": iso(f.ts_ms), "client_order_id": cid, "trade_id": f.trade_id,
             "market": market, "symbol": symbol, "side": side, "quantity": f.qty_base,
             "price": f.price_usdt, "fee": f.fee_usdt}
            for f, cid, market, symbol, side in rows if _in(f.ts_ms, from_ms, to_ms)]
