"""A backtest as one self-contained HTML page: verdict, figures, interactive charts, caveats.

The page embeds plotly.js (about 4.8 MB) inline, so it opens offline, from an e-mail attachment
or an air-gapped machine; nothing is fetched. Series are thinned to the bars that keep each
chart's highs and lows (:func:`perphedge.reporting.extreme_indices`), so a year of minute bars
still gives a file of a few MB. A PNG of the main chart is written next to the page.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from perphedge.backtest.result import BacktestResult
from perphedge.domain.money import plain
from perphedge.reporting import MAX_POINTS, FloatArray, extreme_indices
from perphedge.reporting.instruments_section import instruments_section
from perphedge.reporting.png_chart import (
    LOCKED_COLOUR,
    UNHEDGED_COLOUR,
    as_datetimes,
    policy_colour,
    write_value_png,
)
from perphedge.services.backtest_view import (
    MARGIN_KINDS,
    REBALANCE_KINDS,
    day,
    hedge_side,
    result_to_dict,
    verdict,
)

CHART_TITLES = (
    "Hedged vs unhedged value",
    "Price and liquidation price",
    "Cumulative funding and fees",
    "Effective leverage",
)

#: (label, key in the summary dict, unit) rows of the figures table.
SUMMARY_ROWS = (
    ("Hedged value at start", "value_start", "USDT"),
    ("Hedged value at end", "value_end", "USDT"),
    ("Hedged value, lowest", "value_min", "USDT"),
    ("Hedged value, highest", "value_max", "USDT"),
    ("Unhedged value at start", "unhedged_start", "USDT"),
    ("Unhedged value at end", "unhedged_end", "USDT"),
    ("Unhedged value, lowest", "unhedged_min", "USDT"),
    ("Unhedged value, highest", "unhedged_max", "USDT"),
    ("Deviation from locked, lowest (before funding)", "deviation_min_pct", "%"),
    ("Deviation from locked, highest (before funding)", "deviation_max_pct", "%"),
    ("Deviation from locked, lowest (with funding)", "deviation_min_with_funding_pct", "%"),
    ("Deviation from locked, highest (with funding)", "deviation_max_with_funding_pct", "%"),
    ("Funding received", "funding_received", "USDT"),
    ("Funding paid", "funding_paid", "USDT"),
    ("Fees", "fees_total", "USDT"),
    ("Rebalances", "rebalances", ""),
    ("Margin moves", "margin_moves", ""),
    ("Final spot quantity", "final_spot_quantity", ""),
    ("Final hedge quantity", "final_hedge_quantity", ""),
)

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
background:#fafafa}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:1.5em;margin:0 0 4px}
.sub{color:#666;margin:0 0 16px}
.verdict{background:#fff;border-left:5px solid #1f77b4;padding:12px 16px;font-size:1.05em;
line-height:1.5;box-shadow:0 1px 3px rgba(0,0,0,.08)}
table{border-collapse:collapse;background:#fff;margin:12px 0;font-size:.92em}
th,td{padding:4px 12px;border-bottom:1px solid #e5e5e5;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
td.liq{color:#b00020;font-weight:600}
.figures{overflow-x:auto;max-width:100%}
.figures td:first-child{white-space:normal;min-width:9em}
.figures th{white-space:normal;vertical-align:bottom}
.figures td.events{white-space:normal;min-width:9em;text-align:left}
.chart{background:#fff;margin:16px 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.caveats li{margin:4px 0;color:#444}
footer{color:#888;font-size:.85em;margin-top:24px}
"""


@dataclass(frozen=True, slots=True)
class ReportFiles:
    """Where the report was written."""

    html_path: Path
    png_path: Path
    html_bytes: int


def report_title(results: Sequence[BacktestResult], quantity: Decimal | None) -> str:
    """``'BTC hedge backtest: 5 BTC holding, 2023-01-01 to 2024-01-01, 2x static short'``."""
    first = results[0]
    held = f"{plain(quantity)} {first.asset}" if quantity is not None else first.asset
    what = "purchase" if first.purchase else "holding"
    if len(results) == 1:
        how = f"{plain(first.leverage)}x {first.policy} {hedge_side(first)}"
    else:
        how = f"{plain(first.leverage)}x {hedge_side(first)}, policies " + ", ".join(
            r.policy for r in results)
    return (f"{first.asset} hedge backtest: {held} {what}, "
            f"{day(first.start_ms)} to {day(first.end_ms)}, {how}")


def _line(x: np.ndarray, y: FloatArray, name: str, colour: str, **line: Any) -> go.Scatter:
    return go.Scatter(x=x, y=y, name=name, mode="lines", line={"color": colour, "width": 1.4,
                      **line})


def _thin(result: BacktestResult, series: list[FloatArray], budget: int) -> np.ndarray:
    return extreme_indices(int(result.series.ts_ms.shape[0]), series, budget)


def _at_bars(result: BacktestResult, ts_ms: list[int]) -> np.ndarray:
    """For each time, the index of the bar it falls in (for placing markers on a line)."""
    ts = result.series.ts_ms
    at = np.searchsorted(ts, np.asarray(ts_ms, dtype=np.int64), side="right") - 1
    return np.clip(at, 0, len(ts) - 1)


def _markers(fig: go.Figure, result: BacktestResult, y: FloatArray, colour: str) -> None:
    """Liquidations (crosses) and hedge/margin actions (triangles, dots) on line ``y``."""
    groups = (
        ("liquidation", [(e.ts_ms, f"liquidated at {e.price_usdt} USDT, margin lost "
                          f"{e.margin_lost_usdt} USDT") for e in result.liquidations],
         {"symbol": "x", "size": 13, "line": {"width": 1, "color": "black"}}),
        ("rebalance", [(a.ts_ms, f"{a.kind} {a.qty_base} at {a.price_usdt} {a.note}".strip())
                       for a in result.actions if a.kind in REBALANCE_KINDS],
         {"symbol": "triangle-up", "size": 8}),
        ("margin move", [(a.ts_ms, f"{a.kind} {a.amount_usdt} USDT {a.note}".strip())
                         for a in result.actions if a.kind in MARGIN_KINDS],
         {"symbol": "circle", "size": 6}),
    )
    for label, events, marker in groups:
        if not events:
            continue
        at = _at_bars(result, [t for t, _ in events])
        fig.add_trace(go.Scatter(
            x=as_datetimes([t for t, _ in events]), y=y[at], mode="markers",
            name=f"{result.policy}: {label}", text=[text for _, text in events],
            hoverinfo="x+text", marker={"color": colour, **marker},
        ))


def _layout(fig: go.Figure, title: str, y_title: str) -> go.Figure:
    fig.update_layout(title={"text": title}, height=430, margin={"l": 70, "r": 20, "t": 50,
                      "b": 40}, yaxis_title=y_title, hovermode="x unified",
                      legend={"orientation": "h", "y": -0.15}, template="plotly_white")
    return fig


def value_figure(results: Sequence[BacktestResult], budget: int) -> go.Figure:
    """Hedged value per policy against the unhedged holding and the locked value."""
    fig = go.Figure()
    first = results[0]
    idx = _thin(first, [first.series.unhedged_value, first.series.locked_value], budget)
    x = as_datetimes(first.series.ts_ms[idx])
    fig.add_trace(_line(x, first.series.unhedged_value[idx], "unhedged", UNHEDGED_COLOUR))
    fig.add_trace(_line(x, first.series.locked_value[idx], "locked", LOCKED_COLOUR, dash="dash"))
    for i, r in enumerate(results):
        colour = policy_colour(r.policy, i)
        idx = _thin(r, [r.series.hedged_value], budget)
        fig.add_trace(_line(as_datetimes(r.series.ts_ms[idx]), r.series.hedged_value[idx],
                            f"hedged: {r.policy}", colour, width=2))
        _markers(fig, r, r.series.hedged_value, colour)
        if r.reserve_start_usdt > 0 and r is not first:
            # The reserve is cash the hedge starts with: its hedged line starts above the
            # others by that much, so it is compared with its own locked line.
            idx = _thin(r, [r.series.locked_value], budget)
            fig.add_trace(_line(as_datetimes(r.series.ts_ms[idx]), r.series.locked_value[idx],
                                f"locked + {plain(r.reserve_start_usdt)} USDT reserve: "
                                f"{r.policy}", colour, dash="dash", width=1))
    return _layout(fig, CHART_TITLES[0], "USDT")


def price_figure(results: Sequence[BacktestResult], budget: int) -> go.Figure:
    """Spot price with each policy's liquidation price: the gap is the hedge's runway."""
    fig = go.Figure()
    first = results[0]
    idx = _thin(first, [first.series.price], budget)
    fig.add_trace(_line(as_datetimes(first.series.ts_ms[idx]), first.series.price[idx],
                        f"{first.asset} spot", UNHEDGED_COLOUR))
    for i, r in enumerate(results):
        colour = policy_colour(r.policy, i)
        idx = _thin(r, [r.series.liquidation_price], budget)
        fig.add_trace(_line(as_datetimes(r.series.ts_ms[idx]), r.series.liquidation_price[idx],
                            f"liquidation price: {r.policy}", colour, dash="dot"))
        if r.liquidations:
            fig.add_trace(go.Scatter(
                x=as_datetimes([e.ts_ms for e in r.liquidations]),
                y=[float(e.price_usdt) for e in r.liquidations], mode="markers",
                name=f"{r.policy}: liquidation", hoverinfo="x+y+name",
                marker={"symbol": "x", "size": 13, "color": colour,
                        "line": {"width": 1, "color": "black"}},
            ))
    return _layout(fig, CHART_TITLES[1], "USDT per " + first.asset)


def carry_figure(results: Sequence[BacktestResult], budget: int) -> go.Figure:
    """Cumulative funding received (negative: paid) and cumulative fees paid, per policy."""
    fig = go.Figure()
    for i, r in enumerate(results):
        colour = policy_colour(r.policy, i)
        idx = _thin(r, [r.series.funding_cum, r.series.fees_cum], budget)
        x = as_datetimes(r.series.ts_ms[idx])
        fig.add_trace(_line(x, r.series.funding_cum[idx], f"funding received: {r.policy}",
                            colour, width=2))
        fig.add_trace(_line(x, -r.series.fees_cum[idx], f"fees paid (negative): {r.policy}",
                            colour, dash="dot"))
    return _layout(fig, CHART_TITLES[2], "USDT")


def leverage_figure(results: Sequence[BacktestResult], budget: int) -> go.Figure:
    """Notional over margin balance: how close to the edge each hedge ran."""
    fig = go.Figure()
    for i, r in enumerate(results):
        idx = _thin(r, [r.series.effective_leverage], budget)
        fig.add_trace(_line(as_datetimes(r.series.ts_ms[idx]), r.series.effective_leverage[idx],
                            f"leverage: {r.policy}", policy_colour(r.policy, i), width=2))
    return _layout(fig, CHART_TITLES[3], "x")


def _summary_table(summaries: Sequence[dict[str, Any]]) -> str:
    head = "".join(f"<th>{html.escape(s['policy'])} {html.escape(s['leverage'])}x</th>"
                   for s in summaries)
    rows = [f"<tr><th>Figure</th>{head}</tr>"]
    if any(Decimal(s["reserve_start"]) > 0 for s in summaries):
        cells = "".join(f"<td>{html.escape(s['reserve_start'])} USDT</td>" for s in summaries)
        rows.append(f"<tr><td>Reserve set aside at start (in the hedged value)</td>{cells}</tr>")
    for label, key, unit in SUMMARY_ROWS:
        cells = "".join(f"<td>{html.escape(str(s[key]))} {unit}</td>" for s in summaries)
        rows.append(f"<tr><td>{html.escape(label)}</td>{cells}</tr>")
    liq = "".join(
        ('<td class="events liq">' + "<br>".join(
            f"{html.escape(e['time'])} at {html.escape(e['price'])}, lost "
            f"{html.escape(e['margin_lost'])} USDT" for e in s["liquidations"]) + "</td>")
        if s["liquidations"] else "<td>none</td>"  # good news is not styled as an alarm
        for s in summaries)
    rows.append(f"<tr><td>Liquidations</td>{liq}</tr>")
    return '<div class="figures"><table>' + "".join(rows) + "</table></div>"


def render_html(
    results: Sequence[BacktestResult], *, quantity: Decimal | None = None,
    caveats: Sequence[str] = (), max_points: int = MAX_POINTS, instruments: bool = False,
) -> str:
    """The whole page as a string (plotly.js inline, no external resources).

    ``instruments`` adds the perpetual-vs-delivery section (``--compare-instruments``).
    """
    if not results:
        raise ValueError("render_html needs at least one result")
    budget = max(100, max_points // len(results))
    figures = (value_figure(results, budget), price_figure(results, budget),
               carry_figure(results, budget), leverage_figure(results, budget))
    config = {"displaylogo": False, "responsive": True}
    charts = "".join(
        '<div class="chart">'
        + fig.to_html(full_html=False, include_plotlyjs=False, config=config)
        + "</div>" for fig in figures)
    # The engine's notes repeat some data sources; each caveat is listed once.
    unique = dict.fromkeys([*caveats, *(n for r in results for n in r.notes)])
    items = "".join(f"<li>{html.escape(c)}</li>" for c in unique)
    title = report_title(results, quantity)
    section = instruments_section(results, budget, config) if instruments else ""
    summaries = [result_to_dict(r, quantity=quantity) for r in results]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
        f"<script type=\"text/javascript\">{get_plotlyjs()}</script></head><body><main>"
        f"<h1>{html.escape(title)}</h1>"
        "<p class=\"sub\">perphedge backtest on real market history. Charts are interactive: "
        "drag to zoom, double-click to reset, click a legend entry to hide it.</p>"
        f"<p class=\"verdict\">{html.escape(verdict(results))}</p>"
        f"<h2>Figures</h2>{_summary_table(summaries)}{section}"
        f"<h2>Charts</h2>{charts}"
        f"<h2>Caveats</h2><ul class=\"caveats\">{items}</ul>"
        "<footer>Generated by perphedge. Money figures are rounded to the cent; charts "
        "show the bars that keep each series' highs and lows.</footer>"
        "</main></body></html>\n"
    )


def write_report(
    path: Path, results: Sequence[BacktestResult], *, quantity: Decimal | None = None,
    caveats: Sequence[str] = (), max_points: int = MAX_POINTS, instruments: bool = False,
) -> ReportFiles:
    """Write the HTML page to ``path`` and the main chart to ``path`` with a ``.png`` suffix."""
    page = render_html(results, quantity=quantity, caveats=caveats, max_points=max_points,
                       instruments=instruments)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    png = write_value_png(path.with_suffix(".png"), results, report_title(results, quantity),
                          max_points=max_points)
    return ReportFiles(path, png, len(page.encode("utf-8")))
