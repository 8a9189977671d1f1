"""The largest move against a hedge in real price history over a horizon.

A short hedge is hurt by a rise (its isolated margin is eaten); a long hedge by a fall. The
planner compares this move with the hedge's runway to liquidation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from perphedge.domain.types import Side
from perphedge.errors import DataError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class AdverseMove:
    """The worst move against ``side``: from the close at ``start_ms`` to the extreme at ``end_ms``.

    ``move_pct`` is positive and in percent of the starting price (a rise for a short, a fall
    for a long).
    """

    side: Side
    move_pct: float
    start_ms: int
    end_ms: int
    from_price: float
    to_price: float
    horizon_bars: int


def forward_window_extreme(values: FloatArray, window: int, *, largest: bool) -> FloatArray:
    """For each i, the max (or min) of ``values[i+1 : i+1+window]`` (shorter near the end).

    Uses a sparse table: O(n log w) vectorised work, O(n log w) memory.

    >>> forward_window_extreme(np.array([1.0, 5.0, 2.0, 3.0]), 2, largest=True).tolist()
    [5.0, 3.0, 3.0, nan]
    """
    n = values.shape[0]
    reduce = np.fmax if largest else np.fmin
    fill = -np.inf if largest else np.inf
    # shifted[i] = values[i+1], padded so every window is defined.
    shifted = np.full(n + window, fill)
    shifted[: n - 1] = values[1:]
    table = [shifted]
    span = 1
    while span * 2 <= window:
        prev = table[-1]
        nxt = reduce(prev[:-span], prev[span:])
        table.append(np.concatenate([nxt, np.full(span, fill)]))
        span *= 2
    level = table[-1]
    result = reduce(level[:n], level[window - span : window - span + n])
    result[~np.isfinite(result)] = np.nan
    return np.asarray(result, dtype=np.float64)


def largest_adverse_move(
    side: Side,
    open_time_ms: IntArray,
    close: FloatArray,
    high: FloatArray,
    low: FloatArray,
    horizon_bars: int,
) -> AdverseMove:
    """The largest rise (short) or fall (long) from any close to an extreme within the horizon.

    >>> t = np.array([0, 1, 2, 3], dtype=np.int64)
    >>> c = np.array([100.0, 110.0, 90.0, 120.0])
    >>> m = largest_adverse_move(Side.SHORT, t, c, c + 5, c - 5, 2)
    >>> (round(m.move_pct, 2), m.start_ms, m.end_ms)
    (38.89, 2, 3)
    """
    if horizon_bars < 1:
        raise DataError(f"horizon: expected at least 1 bar, got {horizon_bars}")
    if close.shape[0] < 2:
        raise DataError("price history: expected at least 2 bars to measure a move")
    if side is Side.SHORT:
        extreme = forward_window_extreme(high, horizon_bars, largest=True)
        moves = extreme / close - 1.0
        source = high
    else:
        extreme = forward_window_extreme(low, horizon_bars, largest=False)
        moves = 1.0 - extreme / close
        source = low
    start = int(np.nanargmax(moves))
    window = source[start + 1 : start + 1 + horizon_bars]
    offset = int(np.argmax(window) if side is Side.SHORT else np.argmin(window))
    end = start + 1 + offset
    return AdverseMove(
        side=side,
        move_pct=float(moves[start] * 100.0),
        start_ms=int(open_time_ms[start]),
        end_ms=int(open_time_ms[end]),
        from_price=float(close[start]),
        to_price=float(source[end]),
        horizon_bars=horizon_bars,
    )


def largest_adverse_move_across_gaps(
    side: Side,
    open_time_ms: IntArray,
    close: FloatArray,
    high: FloatArray,
    low: FloatArray,
    horizon_bars: int,
    max_step_ms: int,
) -> AdverseMove:
    """:func:`largest_adverse_move` over each run of bars no further apart than ``max_step_ms``.

    A window must not span a hole in the data (three missing years would look like one move).
    """
    breaks = np.flatnonzero(np.diff(open_time_ms) > max_step_ms) + 1
    best: AdverseMove | None = None
    for start, stop in zip(
        np.concatenate([[0], breaks]), np.concatenate([breaks, [open_time_ms.shape[0]]]),
        strict=True,
    ):
        if stop - start < 2:
            continue
        part = slice(int(start), int(stop))
        move = largest_adverse_move(
            side, open_time_ms[part], close[part], high[part], low[part], horizon_bars
        )
        if best is None or move.move_pct > best.move_pct:
            best = move
    if best is None:
        raise DataError("price history: no run of at least 2 consecutive bars")
    return best
