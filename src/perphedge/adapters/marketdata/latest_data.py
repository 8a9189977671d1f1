"""Where each bundled data set ends: the one explanation of "the latest data".

The bundled data sets end on different days, and each command reads the one it needs:
``plan`` the last funding settlement with a mark price (its entry price and funding rate),
``carry`` the last day that has both quarterly closes and a full funding look-back, and
``backtest`` the last hourly bar. ``perphedge data latest`` prints the three, from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from perphedge.adapters.marketdata.bundled import BundledMarketData
from perphedge.adapters.marketdata.bundled_futures import BundledCarrySource
from perphedge.adapters.marketdata.history import coverage
from perphedge.domain.carry import DAY_MS
from perphedge.errors import InputError

HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class LatestData:
    """The last instant (UTC ms) of one bundled data set and the command that reads it."""

    command: str
    data_set: str
    last_ms: int


def latest_bundled(asset: str = "BTC") -> tuple[LatestData, ...]:
    """The end of every bundled data set ``asset`` has, one row per command."""
    market = BundledMarketData()
    snapshot = market.snapshot(market.instrument(asset))
    rows = [LatestData("plan", "funding settlement with a mark price (entry price, funding "
                       "rate)", snapshot.ts_ms)]
    try:
        days = BundledCarrySource().days(asset)
    except InputError:
        days = []
    if days:
        rows.append(LatestData("carry", "day with quarterly closes and 90 days of funding "
                               "(--as-of)", days[-1] + DAY_MS))
    rows.append(LatestData("backtest", "hourly bar of spot and perpetual (--end)",
                           coverage(asset)[1] + HOUR_MS))
    return tuple(rows)
