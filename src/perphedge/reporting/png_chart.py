"""The report's main chart as a PNG: hedged, unhedged and locked value, liquidations marked.

Drawn with matplotlib's Agg canvas on a ``Figure`` object (not ``pyplot``), so it needs no
display, touches no global state and is safe to call from a web worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from perphedge.backtest.result import BacktestResult
from perphedge.reporting import MAX_POINTS, FloatArray, extreme_indices

#: One colour per policy, the same in the HTML report, so the two read alike.
POLICY_COLOURS = {"static": "#d62728", "managed": "#1f77b4", "reserve": "#2ca02c"}
OTHER_COLOURS = ("#9467bd", "#8c564b", "#e377c2", "#17becf")
UNHEDGED_COLOUR = "#7f7f7f"
LOCKED_COLOUR = "#222222"


def policy_colour(policy: str, index: int) -> str:
    """The colour of ``policy`` (a fixed one for the known policies)."""
    return POLICY_COLOURS.get(policy, OTHER_COLOURS[index % len(OTHER_COLOURS)])


def as_datetimes(ts_ms: Sequence[int] | np.ndarray) -> np.ndarray:
    """Epoch milliseconds as ``datetime64[ms]`` (both plotly and matplotlib read them as UTC)."""
    return np.asarray(ts_ms, dtype=np.int64).astype("datetime64[ms]")


def _value_series(results: Sequence[BacktestResult]) -> list[FloatArray]:
    first = results[0].series
    return [first.unhedged_value, first.locked_value, *(r.series.hedged_value for r in results)]


def write_value_png(
    path: Path, results: Sequence[BacktestResult], title: str, *, max_points: int = MAX_POINTS
) -> Path:
    """Write the value chart of ``results`` (same data, one line per policy) to ``path``."""
    if not results:
        raise ValueError("write_value_png needs at least one result")
    first = results[0].series
    n = int(first.ts_ms.shape[0])
    idx = extreme_indices(n, _value_series(results), max_points)
    when = as_datetimes(first.ts_ms[idx])

    fig = Figure(figsize=(11, 5.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(when, first.unhedged_value[idx], color=UNHEDGED_COLOUR, lw=1.0, label="unhedged")
    ax.plot(when, first.locked_value[idx], color=LOCKED_COLOUR, lw=1.0, ls="--", label="locked")
    for i, result in enumerate(results):
        colour = policy_colour(result.policy, i)
        series = result.series
        label = f"hedged: {result.policy} {result.leverage}x"
        ax.plot(as_datetimes(series.ts_ms[idx]), series.hedged_value[idx], color=colour,
                lw=1.4, label=label)
        if result.liquidations:
            liq_ms = np.array([e.ts_ms for e in result.liquidations], dtype=np.int64)
            # The value at the bar of each liquidation (searchsorted: the bar it falls in).
            at = np.clip(np.searchsorted(series.ts_ms, liq_ms, side="right") - 1, 0, n - 1)
            ax.scatter(as_datetimes(liq_ms), series.hedged_value[at], marker="X", s=90,
                       color=colour, edgecolors="black", zorder=5,
                       label=f"{result.policy} liquidated")
    ax.set_title(title, fontsize=12)
    ax.set_ylabel("value (USDT)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
