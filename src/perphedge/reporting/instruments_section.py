"""The report's "Perpetual vs delivery contracts" section: a table and a carry chart.

Shown for ``perphedge backtest --compare-instruments``. The chart puts each run's cumulative
funding next to its basis-and-other P&L (hedged − locked − funding + fees), so a perpetual
hedge's funding and a delivery hedge's converging premium read on one axis. Figures come from
:func:`perphedge.services.backtest_view.instruments_comparison`; nothing is computed here.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from perphedge.backtest.result import BacktestResult
from perphedge.reporting import extreme_indices
from perphedge.reporting.png_chart import as_datetimes, policy_colour
from perphedge.services.backtest_view import carry_series, instruments_comparison

CHART_TITLE = "Carry: funding (perpetual) vs basis and other P&L (delivery)"

#: (header, key) columns of the section's table.
COLUMNS = (
    ("Policy", "policy"),
    ("Contracts held", "contracts"),
    ("Deviation from locked, with funding (%)", "deviation"),
    ("Result vs locked (USDT)", "result_vs_locked"),
    ("Funding (USDT)", "funding_total"),
    ("Basis and other P&L (USDT)", "basis_and_other_pnl"),
    ("Fees incl. rolls (USDT)", "fees_total"),
    ("Roll fees (USDT)", "roll_fees"),
    ("Rolls", "rolls"),
    ("Deliveries", "deliveries_settled"),
)


def carry_chart(results: Sequence[BacktestResult], budget: int) -> go.Figure:
    """Per run: cumulative funding (solid) and basis-and-other P&L (dotted), USDT."""
    fig = go.Figure()
    for i, r in enumerate(results):
        funding, basis = carry_series(r)
        idx = extreme_indices(int(r.series.ts_ms.shape[0]), [funding, basis], budget)
        x = as_datetimes(r.series.ts_ms[idx])
        colour = policy_colour(r.policy, i)
        fig.add_trace(go.Scatter(x=x, y=funding[idx], name=f"funding: {r.policy}",
                                 mode="lines", line={"color": colour, "width": 2}))
        fig.add_trace(go.Scatter(x=x, y=basis[idx], name=f"basis and other: {r.policy}",
                                 mode="lines", line={"color": colour, "width": 1.4,
                                                     "dash": "dot"}))
    fig.update_layout(title={"text": CHART_TITLE}, height=430, yaxis_title="USDT",
                      hovermode="x unified", legend={"orientation": "h", "y": -0.15},
                      template="plotly_white",
                      margin={"l": 70, "r": 20, "t": 50, "b": 40})
    return fig


def _table(rows: Sequence[dict[str, Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h, _ in COLUMNS)
    body = []
    for row in rows:
        cells = {**row, "contracts": ", ".join(row["contracts_held"]),
                 "deviation": f"{row['deviation_min_pct']} .. {row['deviation_max_pct']}"}
        body.append("<tr>" + "".join(f"<td>{html.escape(str(cells[k]))}</td>"
                                     for _, k in COLUMNS) + "</tr>")
    return f"<div class=\"figures\"><table><tr>{head}</tr>{''.join(body)}</table></div>"


def instruments_section(results: Sequence[BacktestResult], budget: int,
                        config: dict[str, Any]) -> str:
    """The whole section as HTML (plotly.js is already inline in the page's head)."""
    comparison = instruments_comparison(results)
    chart = carry_chart(results, budget).to_html(full_html=False, include_plotlyjs=False,
                                                 config=config)
    verdict = (f'<p class="verdict">{html.escape(comparison["verdict"])}</p>'
               if comparison["verdict"] else "")
    return (f'<h2 id="instruments">Perpetual vs delivery contracts</h2>{verdict}'
            f'{_table(comparison["rows"])}<div class="chart">{chart}</div>')
