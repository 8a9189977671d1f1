"""The demo's closing summary: the scoreboard, what the engine recorded, and the exchange's word.

Money comes from two independent places and both are shown: the engine's store (orders with
client ids, fills and their fees, funding payments, margin moves, snapshots) and the exchange's
own ledger (funding credited, liquidations). They should agree; a difference would be a bug.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.schema import FillRow, MarginMoveRow, OrderRow, SnapshotRow
from perphedge.demo.scenario import Scenario
from perphedge.demo.tracker import Tracker
from perphedge.domain.money import to_cents
from perphedge.services.backtest_view import day
from perphedge.sim.account import LiquidationRecord

__all__ = ["SUMMARY_ROWS", "count_store", "money", "pct", "summarize"]


def money(value: Decimal) -> str:
    """USDT to the cent with thousands separators: ``Decimal('98194.9438')`` → ``'98,194.94'``."""
    return f"{to_cents(value):,.2f}"


def pct(value: Decimal) -> str:
    """A percentage to two decimals: ``Decimal('-0.2134')`` → ``'-0.21'``."""
    return f"{value:.2f}"


def count_store(store: HedgeStore, hedge_id: str) -> dict[str, int]:
    """How many orders (and with client ids), fills, funding payments, margin moves, snapshots,
    decisions and exchange errors the engine recorded for the hedge."""
    orders = store.orders(hedge_id)
    with store.session() as s:
        def scalar(query: Any) -> int:
            return int(s.scalar(query) or 0)

        fills = scalar(select(func.count()).select_from(FillRow).join(OrderRow)
                       .where(OrderRow.hedge_id == hedge_id))
        moves = scalar(select(func.count()).select_from(MarginMoveRow)
                       .where(MarginMoveRow.hedge_id == hedge_id))
        snapshots = scalar(select(func.count()).select_from(SnapshotRow)
                           .where(SnapshotRow.hedge_id == hedge_id))
    decisions = store.decisions(hedge_id, limit=1_000_000)
    return {
        "orders": len(orders),
        "orders_with_client_id": sum(1 for o in orders if o.client_order_id),
        "futures_orders": sum(1 for o in orders if o.market == "futures"),
        "spot_orders": sum(1 for o in orders if o.market == "spot"),
        "fills": fills,
        "margin_moves": moves,
        "snapshots": snapshots,
        "decisions": len(decisions),
        "exchange_errors": sum(1 for d in decisions if d.kind == "error"),
    }


#: (label, key) rows of the printed and HTML summary, in order.
SUMMARY_ROWS = (
    ("Window", "window"),
    ("Engine cycles", "cycles"),
    ("Price, start → end", "price"),
    ("Hedged value, start → end", "hedged"),
    ("Unhedged value, start → end", "unhedged"),
    ("Locked value at the end", "locked"),
    ("Deviation from locked, with funding (min / max / end)", "deviation"),
    ("Deviation from locked, before funding (min / max / end)", "deviation_before_funding"),
    ("Funding received (store / exchange ledger)", "funding"),
    ("Fees of the engine's orders (store / exchange ledger)", "fees"),
    ("Orders sent (futures / spot), all with client ids", "orders"),
    ("Fills, margin moves and transfers, snapshots", "records"),
    ("Spot events followed", "events"),
    ("Exchange errors (retried next cycle)", "errors"),
    ("Liquidations", "liquidations"),
)


def summarize(scenario: Scenario, tracker: Tracker, store: HedgeStore, hedge_id: str,
              liquidations: Sequence[LiquidationRecord], cycles: int) -> dict[str, str]:
    """The summary as display strings keyed like :data:`SUMMARY_ROWS`."""
    first, last = tracker.points[0], tracker.last
    ext = tracker.extremes()
    counts = count_store(store, hedge_id)
    funding_store = store.funding_total(hedge_id)
    liq = "; ".join(f"{day(r.ts_ms)} at {money(r.price_usdt)}, lost "
                    f"{money(r.margin_lost_usdt)} USDT" for r in liquidations)
    return {
        "window": f"{day(scenario.start_ms)} → {day(scenario.end_ms)}, a decision every "
                  f"{scenario.decision_interval}",
        "cycles": str(cycles),
        "price": f"{money(first.price_usdt)} → {money(last.price_usdt)} USDT",
        "hedged": f"{money(first.hedged_usdt)} → {money(last.hedged_usdt)} USDT",
        "unhedged": f"{money(first.unhedged_usdt)} → {money(last.unhedged_usdt)} USDT",
        "locked": f"{money(last.locked_usdt)} USDT",
        "deviation": f"{pct(ext['deviation_min_pct'])} % / {pct(ext['deviation_max_pct'])} % / "
                     f"{pct(last.deviation_pct)} %",
        "deviation_before_funding": (
            f"{pct(ext['deviation_before_funding_min_pct'])} % / "
            f"{pct(ext['deviation_before_funding_max_pct'])} % / "
            f"{pct(last.deviation_before_funding_pct)} %"),
        "funding": f"{money(funding_store)} / {money(last.funding_usdt)} USDT",
        "fees": f"{money(store.fees_total(hedge_id))} / {money(last.fees_usdt)} USDT",
        "orders": f"{counts['futures_orders']} / {counts['spot_orders']} "
                  f"({counts['orders_with_client_id']} of {counts['orders']} with client ids)",
        "records": f"{counts['fills']} fills, {counts['margin_moves']} margin moves and "
                   f"transfers, {counts['snapshots']} snapshots",
        "events": "; ".join(o.line.split(":")[0] for o in tracker.outcomes) or "none",
        "errors": str(counts["exchange_errors"]),
        "liquidations": liq or "none",
    }

