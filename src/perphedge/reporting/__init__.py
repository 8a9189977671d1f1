"""Backtest reports: a self-contained HTML page (plotly) and a PNG of its main chart (matplotlib).

Renderers take ``BacktestResult`` values and the plain dictionaries of
:mod:`perphedge.services.backtest_view`; they compute nothing about money themselves. This
module holds what both renderers share: picking which bars to draw.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

#: Points per chart: enough to show every swing at screen width, small enough for a light file.
MAX_POINTS = 5_000

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def extreme_indices(n: int, series: list[FloatArray], max_points: int = MAX_POINTS) -> IntArray:
    """Indices of about ``max_points`` bars that keep every series' highs and lows visible.

    The bars are cut into equal buckets; each bucket keeps, for every series, the bar of its
    minimum and of its maximum (NaN ignored), plus the first and last bar overall. A plain
    stride would skip the one bar where a liquidation wick touched, which is the point of the
    chart. At most ``max_points`` indices are returned, sorted and unique.

    >>> extreme_indices(5, [np.array([1.0, 9.0, 2.0, 0.0, 3.0])], max_points=10).tolist()
    [0, 1, 2, 3, 4]
    >>> extreme_indices(6, [np.array([1.0, 9.0, 2.0, 0.0, 3.0, 4.0])], max_points=4).tolist()
    [0, 1, 3, 5]
    """
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    # Each bucket contributes up to 2 indices per series; 2 slots are kept for the ends.
    buckets = max(1, (max_points - 2) // (2 * max(1, len(series))))
    size = -(-n // buckets)  # ceiling division
    padded = buckets * size
    offsets = np.arange(buckets, dtype=np.int64) * size
    picked = [np.array([0, n - 1], dtype=np.int64)]
    for values in series:
        flat = np.full(padded, np.nan)
        flat[:n] = values
        grid = flat.reshape(buckets, size)
        # NaN must never win: +inf for the minimum, -inf for the maximum.
        lows = np.where(np.isnan(grid), np.inf, grid).argmin(axis=1)
        highs = np.where(np.isnan(grid), -np.inf, grid).argmax(axis=1)
        picked.extend((offsets + lows, offsets + highs))
    out = np.unique(np.concatenate(picked))
    return out[out < n][:max_points]
