"""What funding a hedge would have paid over a horizon, measured on funding history.

Pure arithmetic over settlement times and rates (fractions per interval; positive: longs
pay shorts). Used by ``plan --purchase`` to warn, before opening, what a long hedge of a
planned purchase has cost in the past.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class HorizonFunding:
    """Funding a long paid over ``horizon_days`` from each daily start in the history (% of
    notional, positive: paid): the median window, the worst one and when it began."""

    horizon_days: int
    windows: int
    median_pct: float
    worst_pct: float
    worst_start_ms: int


def long_funding_over_horizon(times_ms: npt.NDArray[np.int64],
                              rates: npt.NDArray[np.float64],
                              horizon_days: int) -> HorizonFunding | None:
    """Sum of the rates a long paid in every ``horizon_days`` window starting at a settlement
    at 00:00 UTC (a simple sum: a hedge of constant notional); None when no window fits.

    Three settlements a day at 0.01 % for 30 days: 0.9 % of the notional.

    >>> t = np.arange(0, 40 * DAY_MS, 8 * 3_600_000, dtype=np.int64)
    >>> long_funding_over_horizon(t, np.full(t.shape, 0.0001), 30).median_pct
    0.9
    """
    if times_ms.shape[0] == 0 or horizon_days < 1:
        return None
    cum = np.concatenate([[0.0], np.cumsum(rates)])
    starts = np.flatnonzero(times_ms % DAY_MS == 0)
    ends = np.searchsorted(times_ms, times_ms[starts] + horizon_days * DAY_MS, side="left")
    fits = times_ms[starts] + horizon_days * DAY_MS <= times_ms[-1] + 1
    # A window must not span a hole in the history (more than a day between settlements).
    gaps = np.concatenate([[0], np.cumsum(np.diff(times_ms) > DAY_MS)])
    whole = gaps[np.minimum(ends, times_ms.shape[0]) - 1] == gaps[starts]
    keep = fits & whole
    if not keep.any():
        return None
    paid = (cum[ends[keep]] - cum[starts[keep]]) * 100
    k = int(np.argmax(paid))
    return HorizonFunding(horizon_days, int(keep.sum()), round(float(np.median(paid)), 2),
                          round(float(paid[k]), 2), int(times_ms[starts[keep]][k]))
