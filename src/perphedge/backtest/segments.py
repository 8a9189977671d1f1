"""Vectorised scans of the backtest: event bars, first liquidation touch, piecewise series.

Float64 only: these find *where* things happen; the account maths stays in Decimal.
A bar i covers ``[open_time_ms[i], open_time_ms[i] + interval_ms)``; its close is at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def close_times(open_time_ms: IntArray, interval_ms: int) -> IntArray:
    """Close time of every bar (ms)."""
    return np.asarray(open_time_ms + np.int64(interval_ms), dtype=np.int64)


@dataclass(frozen=True, slots=True)
class BarCloses:
    """The bars' close times (``open_time_ms + interval_ms``), looked up without an array of
    them: half a million of them cost as much as a static year's whole event loop.

    >>> closes = BarCloses(np.array([0, 10, 20]), 10)
    >>> closes.search([10, 11, 31]).tolist(), closes.last
    ([0, 1, 3], 30)
    """

    open_time_ms: IntArray
    interval_ms: int

    def __len__(self) -> int:
        return int(self.open_time_ms.shape[0])

    @property
    def first(self) -> int:
        return int(self.open_time_ms[0]) + self.interval_ms

    @property
    def last(self) -> int:
        return int(self.open_time_ms[-1]) + self.interval_ms

    def search(self, ts_ms: npt.ArrayLike) -> IntArray:
        """For each time, the first bar whose close is at or after it (len(bars) when none)."""
        keys = np.asarray(ts_ms, dtype=np.int64) - np.int64(self.interval_ms)
        return np.asarray(np.searchsorted(self.open_time_ms, keys, side="left"), dtype=np.int64)

    def of(self, bars: IntArray) -> IntArray:
        """The close times of ``bars``."""
        return np.asarray(self.open_time_ms[bars] + np.int64(self.interval_ms), dtype=np.int64)

    def array(self) -> IntArray:
        """Every close time."""
        return close_times(self.open_time_ms, self.interval_ms)


def decision_bars(closes: BarCloses, decision_interval_ms: int) -> IntArray:
    """Bars whose close falls on a multiple of the decision interval (UTC), and bar 0.

    >>> decision_bars(BarCloses(np.array([0, 3600000, 7200000]), 3600000), 7200000).tolist()
    [0, 1]
    """
    n = len(closes)
    step = int(decision_interval_ms)
    first = -(-closes.first // step) * step
    if (closes.last - first) // step < n // 8:
        # Few grid times: look each up (the closes are strictly increasing) instead of
        # dividing every close, which costs more than the rest of a static replay's setup.
        at = closes.search(np.arange(first, closes.last + 1, step, dtype=np.int64))
        at = at[at < n]
        on_grid = at[closes.of(at) % np.int64(step) == 0]
    else:
        on_grid = np.flatnonzero(closes.array() % np.int64(step) == 0)
    return unique_ints(np.concatenate([np.zeros(1, dtype=np.int64), on_grid.astype(np.int64)]))


def unique_ints(values: npt.ArrayLike) -> IntArray:
    """The distinct values, sorted: ``np.unique`` by sorting (NumPy 2's hash-based unique of
    ten thousand ints costs more than a static replay's event loop).

    >>> unique_ints([3, 1, 3, 2]).tolist()
    [1, 2, 3]
    """
    out = np.sort(np.asarray(values, dtype=np.int64))
    if out.shape[0] < 2:
        return out
    keep = np.empty(out.shape[0], dtype=np.bool_)
    keep[0] = True
    np.not_equal(out[1:], out[:-1], out=keep[1:])
    return out[keep]


def bars_closing_at_or_after(closes: BarCloses, ts_ms: npt.ArrayLike) -> IntArray:
    """For each time, the first bar whose close is at or after it (len(bars) when none).

    A funding settlement on the hour maps to the bar that closes exactly then.

    >>> bars_closing_at_or_after(BarCloses(np.array([0, 10, 20]), 10), [10, 11, 31]).tolist()
    [0, 1, 3]
    """
    return closes.search(ts_ms)


def first_touch(
    adverse: FloatArray, start: int, stop: int, level: float, *, rising: bool
) -> int | None:
    """First index in ``[start, stop)`` where ``adverse`` reaches ``level``, else None.

    ``rising``: a short is hurt by highs ≥ level; otherwise a long by lows ≤ level.

    >>> first_touch(np.array([1.0, 5.0, 7.0, 9.0]), 1, 4, 6.5, rising=True)
    2
    """
    if stop <= start:
        return None
    window = adverse[start:stop]
    hit = window >= level if rising else window <= level
    k = int(np.argmax(hit))
    return start + k if bool(hit[k]) else None


class TouchScan:
    """:func:`first_touch` of one series, remembering what it has already scanned.

    Deciding every bar makes every segment one bar long, and a NumPy call per bar costs more
    than the scan itself. While the level stays the same (the position has not changed), bars
    already found clear are not scanned again: the next scan runs from where the last one
    stopped, in chunks that double, so each bar is looked at about once per level.

    >>> scan = TouchScan(np.array([1.0, 5.0, 7.0, 9.0, 2.0]), rising=True)
    >>> [scan.first(i, i + 1, 6.5) for i in range(1, 5)]
    [None, 2, 3, None]
    """

    FIRST_CHUNK = 64

    def __init__(self, adverse: FloatArray, *, rising: bool) -> None:
        self.adverse = adverse
        self.rising = rising
        self.level = float("nan")
        self.start = 0  # the scan of ``level`` covers [start, clear_until) ...
        self.clear_until = 0
        self.hit: int | None = None  # ... and found its first touch here (None: not yet)

    def first(self, start: int, stop: int, level: float) -> int | None:
        """The first index in ``[start, stop)`` where the series reaches ``level``, else None."""
        if stop <= start:
            return None
        known = self.start <= start and (
            start <= self.hit if self.hit is not None else start <= self.clear_until)
        if level != self.level or not known:
            self.level, self.start, self.clear_until, self.hit = level, start, start, None
        chunk = self.FIRST_CHUNK
        while self.hit is None and self.clear_until < stop:
            end = min(self.adverse.shape[0], self.clear_until + chunk)
            self.hit = first_touch(self.adverse, self.clear_until, end, level,
                                   rising=self.rising)
            self.clear_until = end if self.hit is None else self.hit
            chunk *= 2
        if self.hit is not None and self.hit < stop:
            return self.hit
        return None


def piecewise(starts: IntArray, values: FloatArray, n: int) -> FloatArray:
    """Expand step values: ``values[p]`` holds from ``starts[p]`` until the next start.

    >>> piecewise(np.array([0, 2, 2, 3]), np.array([1.0, 2.0, 3.0, 4.0]), 5).tolist()
    [1.0, 1.0, 3.0, 4.0, 4.0]
    """
    lengths = np.diff(np.append(starts, n))
    return np.asarray(np.repeat(values, lengths), dtype=np.float64)


def first_exit(marks: FloatArray, decides: npt.NDArray[np.bool_], start: int, stop: int,
               lo: float, hi: float) -> int | None:
    """First decision bar in ``[start, stop)`` whose mark leaves ``[lo, hi]`` (NaN leaves).

    Scanned in chunks that double, as :class:`TouchScan` does: a band that breaks soon costs
    one small NumPy call, a band that holds for months a few large ones.

    >>> first_exit(np.array([5.0, 6.0, 9.0, 9.5, 4.0]), np.array([1, 1, 0, 1, 1], bool),
    ...            1, 5, 5.5, 9.2)
    3
    """
    chunk = TouchScan.FIRST_CHUNK
    i = start
    while i < stop:
        end = min(stop, i + chunk)
        w = marks[i:end]
        out = ~((w >= lo) & (w <= hi)) & decides[i:end]
        k = int(np.argmax(out))
        if bool(out[k]):
            return i + k
        i = end
        chunk *= 2
    return None
