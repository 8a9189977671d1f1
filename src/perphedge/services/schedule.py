"""Deadlines of the service's cycles: every hedge on its own grid, with no drift.

A cycle that runs late does not push the later ones back: the next deadline is the previous
*deadline* plus the interval, and deadlines already missed are skipped rather than run in a
burst to catch up.
"""

from __future__ import annotations


def next_deadline(previous_ms: int, interval_ms: int, now_ms: int) -> int:
    """The first ``previous_ms + k × interval_ms`` (k ≥ 1) strictly after ``now_ms``.

    A 10 s grid from 0: a cycle that ended at 3 s runs next at 10 s; one that ended at 25 s
    (missing 10 s and 20 s) runs next at 30 s.

    >>> next_deadline(0, 10_000, 3_000)
    10000
    >>> next_deadline(0, 10_000, 25_000)
    30000
    >>> next_deadline(0, 10_000, 10_000)
    20000
    """
    if interval_ms <= 0:
        raise ValueError(f"interval_ms must be positive, was {interval_ms}")
    steps = max(1, (now_ms - previous_ms) // interval_ms + 1)
    return previous_ms + steps * interval_ms


def skipped(previous_ms: int, interval_ms: int, next_ms: int) -> int:
    """How many deadlines between ``previous_ms`` and ``next_ms`` were skipped.

    >>> skipped(0, 10_000, 30_000)
    2
    """
    return max(0, (next_ms - previous_ms) // interval_ms - 1)
