"""The demo's report file: one offline HTML page with the backtest report's charts.

The run is turned into the report renderer's input (:class:`BacktestResult`: one point per
engine cycle instead of per bar; the engine's orders and margin moves as markers), so the
charts are drawn by the same code as ``perphedge backtest --report``
(:mod:`perphedge.reporting.html_report`). The page around them is the demo's own: its summary
table, the orders with their client ids, the spot events, and what the numbers mean.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import numpy as np
from plotly.offline import get_plotlyjs
from sqlalchemy import select

from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.schema import MarginMoveRow, OrderRow
from perphedge.backtest.result import ActionEvent, BacktestResult, BacktestSeries, LiquidationEvent
from perphedge.demo.scenario import Scenario
from perphedge.demo.summary import SUMMARY_ROWS
from perphedge.demo.tracker import Tracker
from perphedge.demo.view import when
from perphedge.domain.money import ZERO
from perphedge.reporting.html_report import (
    carry_figure,
    leverage_figure,
    price_figure,
    value_figure,
)
from perphedge.sim.account import LiquidationRecord

__all__ = ["as_result", "write_demo_report"]

POLICY_LABEL = "live engine"
CAVEATS = (
    "Prices and funding are Binance's recorded BTCUSDT history, replayed by the local exchange; "
    "spot trades at the perpetual's price (one price path per asset).",
    "The engine ran through the real ccxt client against the local exchange; its clock is the "
    "exchange's replay clock, moved one decision interval per cycle.",
    "Hedged value is the exchange's account: spot at the price, both wallets, isolated margin "
    "and unrealised PnL. Unhedged is the same coins, deposit and sale with no hedge.",
    "The deposit is written into the exchange's account state (Binance has no deposit API); "
    "the sale goes through the spot API.",
)


def _floats(values: Sequence[Decimal | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _actions(orders: Sequence[OrderRow], moves: Sequence[MarginMoveRow]) -> list[ActionEvent]:
    out: list[ActionEvent] = []
    for i, o in enumerate(o for o in orders if o.market == "futures" and o.filled_qty_base > 0):
        kind = "open" if i == 0 else "rebalance"
        out.append(ActionEvent(o.updated_ms, kind, o.filled_qty_base, ZERO,
                               o.avg_price_usdt or ZERO, f"{o.side} {o.client_order_id}"))
    for o in orders:
        if o.market == "spot" and o.filled_qty_base > 0:
            kind = "spot_sell" if o.side == "sell" else "spot_buy"
            out.append(ActionEvent(o.updated_ms, kind, o.filled_qty_base, ZERO,
                                   o.avg_price_usdt or ZERO, o.client_order_id))
    for m in moves:
        kind = "transfer" if m.kind.startswith("transfer") else m.kind
        out.append(ActionEvent(m.ts_ms, kind, ZERO, m.amount_usdt, ZERO, m.kind))
    return sorted(out, key=lambda a: a.ts_ms)


def as_result(scenario: Scenario, tracker: Tracker, store: HedgeStore, hedge_id: str,
              liquidations: Sequence[LiquidationRecord]) -> BacktestResult:
    """The run in the report renderer's shape (figures from the tracker and the store)."""
    pts = tracker.points
    ext = tracker.extremes()
    with store.session() as s:
        moves = list(s.scalars(select(MarginMoveRow).where(MarginMoveRow.hedge_id == hedge_id)
                               .order_by(MarginMoveRow.id)))
    orders = store.orders(hedge_id)
    funding = store.funding_total(hedge_id)
    series = BacktestSeries(
        ts_ms=np.array([p.ts_ms for p in pts], dtype=np.int64),
        price=_floats([p.price_usdt for p in pts]), mark=_floats([p.price_usdt for p in pts]),
        hedged_value=_floats([p.hedged_usdt for p in pts]),
        unhedged_value=_floats([p.unhedged_usdt for p in pts]),
        locked_value=_floats([p.locked_usdt for p in pts]),
        liquidation_price=_floats([p.liquidation_price_usdt for p in pts]),
        funding_cum=_floats([p.funding_usdt for p in pts]),
        fees_cum=_floats([p.fees_usdt for p in pts]),
        effective_leverage=_floats([p.leverage for p in pts]),
        spot_qty=_floats([p.spot_qty for p in pts]), hedge_qty=_floats([p.hedge_qty for p in pts]),
    )
    futures = sum(1 for o in orders if o.market == "futures" and o.filled_qty_base > 0)
    return BacktestResult(
        asset=scenario.asset, policy=POLICY_LABEL, leverage=Decimal(scenario.leverage),
        purchase=False, start_ms=pts[0].ts_ms, end_ms=pts[-1].ts_ms,
        value_start=pts[0].hedged_usdt, value_end=pts[-1].hedged_usdt,
        value_min=ext["hedged_min"], value_max=ext["hedged_max"],
        unhedged_start=pts[0].unhedged_usdt, unhedged_end=pts[-1].unhedged_usdt,
        unhedged_min=ext["unhedged_min"], unhedged_max=ext["unhedged_max"],
        deviation_min_pct=ext["deviation_before_funding_min_pct"],
        deviation_max_pct=ext["deviation_before_funding_max_pct"],
        deviation_min_with_funding_pct=ext["deviation_min_pct"],
        deviation_max_with_funding_pct=ext["deviation_max_pct"],
        funding_received=max(funding, ZERO), funding_paid=max(-funding, ZERO),
        fees_total=store.fees_total(hedge_id), rebalances=max(0, futures - 1),
        margin_moves=len(moves), final_spot_qty=pts[-1].spot_qty,
        final_hedge_qty=pts[-1].hedge_qty,
        liquidations=tuple(LiquidationEvent(r.ts_ms, r.price_usdt, r.margin_lost_usdt)
                           for r in liquidations),
        actions=tuple(_actions(orders, moves)), series=series, notes=CAVEATS,
    )


ORDER_HEAD = ("time", "client id", "market", "side", "quantity", "reduce-only", "state",
              "filled", "avg price")
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
background:#fafafa}main{max-width:1180px;margin:0 auto;padding:24px}
table{border-collapse:collapse;background:#fff;margin:12px 0;font-size:.92em}
th,td{padding:4px 12px;border-bottom:1px solid #e5e5e5;text-align:left;white-space:nowrap}
.chart{background:#fff;margin:16px 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.ok{color:#1b7d2f;font-weight:600}.sub{color:#666}
"""


def _table(rows: Sequence[Sequence[str]], head: Sequence[str] = ()) -> str:
    top = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table>{'<tr>' + top + '</tr>' if head else ''}{body}</table>"


def render_page(result: BacktestResult, summary: dict[str, str], tracker: Tracker,
                orders: Sequence[OrderRow]) -> str:
    """The whole page (plotly.js inline: it opens offline)."""
    config = {"displaylogo": False, "responsive": True}
    charts = "".join(
        '<div class="chart">' + fig.to_html(full_html=False, include_plotlyjs=False,
                                            config=config) + "</div>"
        for fig in (value_figure([result], 2000), price_figure([result], 2000),
                    carry_figure([result], 2000), leverage_figure([result], 2000)))
    summary_rows = [(label, summary[key]) for label, key in SUMMARY_ROWS]
    order_rows = [(when(o.created_ms), o.client_order_id, o.market, o.side, f"{o.qty_base:f}",
                   "yes" if o.reduce_only else "", o.state, f"{o.filled_qty_base:f}",
                   "" if o.avg_price_usdt is None else f"{o.avg_price_usdt:.2f}")
                  for o in orders]
    events = [(when(o.ts_ms), o.line) for o in tracker.outcomes]
    title = "perphedge demo: the live engine keeps a BTC hedge alive through a rally"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
        f"<script type=\"text/javascript\">{get_plotlyjs()}</script></head><body><main>"
        f"<h1>{html.escape(title)}</h1><p class=\"sub\">{html.escape(summary['window'])}. "
        "Charts are interactive: drag to zoom, double-click to reset.</p>"
        f"<h2>Summary</h2>{_table(summary_rows)}"
        f"<h2>Spot events</h2>{_table(events, ('replay time', 'what happened'))}"
        f"<h2>Charts</h2>{charts}"
        f"<h2>Orders the engine sent</h2>{_table(order_rows, ORDER_HEAD)}"
        "<h2>How to read this</h2><ul>"
        + "".join(f"<li>{html.escape(c)}</li>" for c in CAVEATS)
        + "</ul></main></body></html>\n"
    )


def write_demo_report(path: Path, result: BacktestResult, summary: dict[str, str],
                      tracker: Tracker, orders: Sequence[OrderRow]) -> Path:
    """Write the page to ``path`` (folders created); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_page(result, summary, tracker, orders), encoding="utf-8")
    return path
