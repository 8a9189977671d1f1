"""Real market history for the backtest: hourly or daily bars of spot and perpetual, and funding.

The bundled files (``data/history_*.npz``, ``data/funding_binance_*.npz``, built by
``scripts/build_bundled_data.py``, sources in ``data/PROVENANCE.md``) are parsed once per process
and cached; ``load_history`` then slices views, so a backtest pays the ~30 ms load only once.
Prices are USDT per unit of the asset (float64, for the backtest's vectorised maths); funding
rates are fractions per 8 h settlement, positive when longs pay shorts, and keep the exchange's
exact strings in ``funding_rate_text`` for Decimal sums.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from perphedge.errors import DataError, InputError
from perphedge.parse import TIMEFRAMES_MS, parse_timeframe

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: The bundled history's bar intervals (names and lengths from ``perphedge.parse``'s table).
BUNDLED_INTERVALS = ("1h", "1d")
INTERVALS_MS = {name: TIMEFRAMES_MS[name] for name in BUNDLED_INTERVALS}
DAY_MS = INTERVALS_MS["1d"]
BUNDLED_ASSETS = ("BTC", "ETH")
_PRICE_SCALE = 100.0  # bundled prices are int64 USDT cents (every source has ≤ 2 decimals)

__all__ = ["BUNDLED_ASSETS", "INTERVALS_MS", "MarketHistory", "coverage", "load_history"]


@dataclass(frozen=True, slots=True)
class MarketHistory:
    """Bars of one asset (spot and perpetual, USDT) and the funding settlements they span.

    ``perp_*`` hold the perpetual where the data has it and spot as a stated stand-in elsewhere
    (``perp_is_real`` False); ``sources`` says in words what stands in for what, and when.
    Funding settlements lie inside ``[open_time_ms[0], open_time_ms[-1] + interval_ms)``.
    """

    asset: str
    interval_ms: int
    open_time_ms: IntArray
    spot_open: FloatArray
    spot_high: FloatArray
    spot_low: FloatArray
    spot_close: FloatArray
    perp_high: FloatArray
    perp_low: FloatArray
    perp_close: FloatArray
    perp_is_real: npt.NDArray[np.bool_]
    funding_time_ms: IntArray
    funding_rate: FloatArray
    funding_rate_text: tuple[str, ...]
    funding_mark: FloatArray
    sources: tuple[str, ...]

    def __post_init__(self) -> None:
        n = self.open_time_ms.shape[0]
        bars = (self.spot_open, self.spot_high, self.spot_low, self.spot_close,
                self.perp_high, self.perp_low, self.perp_close, self.perp_is_real)
        if any(a.shape != (n,) for a in bars):
            raise DataError(f"{self.asset} history: every bar array must have {n} rows")
        m = self.funding_time_ms.shape[0]
        if (self.funding_rate.shape != (m,) or self.funding_mark.shape != (m,)
                or len(self.funding_rate_text) != m):
            raise DataError(f"{self.asset} history: every funding array must have {m} rows")
        if n > 1 and not bool(np.all(np.diff(self.open_time_ms) > 0)):
            raise DataError(f"{self.asset} history: bar open times must be strictly increasing")
        if self.interval_ms <= 0:
            raise DataError(f"{self.asset} history: interval_ms must be positive, "
                            f"was {self.interval_ms}")

    def __len__(self) -> int:
        return int(self.open_time_ms.shape[0])

    @property
    def end_ms(self) -> int:
        """The end of the last bar (exclusive), in ms; 0 when there are no bars."""
        return int(self.open_time_ms[-1]) + self.interval_ms if len(self) else 0

    def slice(self, start_ms: int, end_ms: int) -> MarketHistory:
        """Bars opening in ``[start_ms, end_ms)`` and the settlements inside their span (views)."""
        i, j = np.searchsorted(self.open_time_ms, [start_ms, end_ms], side="left")
        if i >= j:
            f0 = f1 = 0
        else:
            span_end = int(self.open_time_ms[j - 1]) + self.interval_ms
            f0, f1 = np.searchsorted(
                self.funding_time_ms, [int(self.open_time_ms[i]), span_end], side="left")
        return MarketHistory(
            asset=self.asset,
            interval_ms=self.interval_ms,
            open_time_ms=self.open_time_ms[i:j],
            spot_open=self.spot_open[i:j],
            spot_high=self.spot_high[i:j],
            spot_low=self.spot_low[i:j],
            spot_close=self.spot_close[i:j],
            perp_high=self.perp_high[i:j],
            perp_low=self.perp_low[i:j],
            perp_close=self.perp_close[i:j],
            perp_is_real=self.perp_is_real[i:j],
            funding_time_ms=self.funding_time_ms[f0:f1],
            funding_rate=self.funding_rate[f0:f1],
            funding_rate_text=self.funding_rate_text[f0:f1],
            funding_mark=self.funding_mark[f0:f1],
            sources=self.sources,
        )


def _interval_ms(interval: str) -> int:
    return parse_timeframe(interval, "--interval", BUNDLED_INTERVALS)


def _bundled_asset(asset: str) -> str:
    name = asset.upper()
    if name not in BUNDLED_ASSETS:
        raise InputError("--asset", f"one of {', '.join(BUNDLED_ASSETS)} (bundled history)", asset)
    return name


def iso_utc(ts_ms: int, interval_ms: int = INTERVALS_MS["1h"]) -> str:
    """``1502946000000`` → ``'2017-08-17 05:00'`` (UTC); date only for daily data."""
    moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%d" if interval_ms >= INTERVALS_MS["1d"] else "%Y-%m-%d %H:%M")


@dataclass(frozen=True, slots=True)
class _Bundled:
    """A whole bundled series plus its source notes as (start ms, end ms, text) segments."""

    history: MarketHistory
    notes: tuple[tuple[int, int, str], ...]
    funding_note: str

    def sources_for(self, start_ms: int, end_ms: int) -> tuple[str, ...]:
        """The notes of the segments overlapping ``[start_ms, end_ms)``, dates clipped to it."""
        step = self.history.interval_ms
        out = [
            f"{iso_utc(max(s, start_ms), step)} .. {iso_utc(min(e, end_ms) - step, step)} {text}"
            for s, e, text in self.notes
            if s < end_ms and e > start_ms
        ]
        return (*out, self.funding_note)


def bundled_file(name: str) -> dict[str, npt.NDArray[Any]]:
    """The arrays of one bundled ``.npz`` file of ``perphedge/data``."""
    path = resources.files("perphedge.data").joinpath(name)
    try:
        with path.open("rb") as handle, np.load(handle, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except FileNotFoundError as e:
        raise DataError(f"bundled history file {name} is missing; reinstall perphedge") from e


def _standin_ratio(times: npt.NDArray[np.int64], perp_real: npt.NDArray[np.bool_],
                   spot_real: npt.NDArray[Any] | None, spot_close: npt.NDArray[np.float64],
                   perp_close: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Perp/spot close ratio per bar: real where both markets traded, linearly interpolated
    in time between the nearest such bars elsewhere, flat beyond the ends of each stretch
    without a hole over 3 days; a stand-in perpetual so carries the basis across a seam
    instead of jumping to spot (docs/data.md; the build script does the same for spot)."""
    both = perp_real if spot_real is None else perp_real & spot_real.astype(np.bool_)
    out = np.ones(times.shape[0])
    cuts = np.flatnonzero(np.diff(times) > 3 * INTERVALS_MS["1d"]) + 1
    bounds = [0, *cuts.tolist(), times.shape[0]]
    for a, b in itertools.pairwise(bounds):
        k = both[a:b]
        if bool(k.any()):
            known = perp_close[a:b][k] / spot_close[a:b][k]
            # Held flat beyond the ends at the median of the 24 nearest real bars, not one
            # bar's ratio (a source's first bars can be off: ETH 2020-08-02 02:00 +0.39 %).
            known[0], known[-1] = np.median(known[:24]), np.median(known[-24:])
            out[a:b] = np.interp(times[a:b].astype(np.float64),
                                 times[a:b][k].astype(np.float64), known)
    return out


@cache
def _bundled(asset: str, interval: str) -> _Bundled:
    bars = bundled_file(f"history_{asset}_{interval}.npz")
    funding = bundled_file(f"funding_binance_{asset}USDT.npz")
    times = np.cumsum(bars["open_time_delta_ms"], dtype=np.int64)
    spot = {k: bars[f"spot_{k}_cents"] / _PRICE_SCALE for k in ("open", "high", "low", "close")}
    real = bars["perp_is_real"].astype(np.bool_)
    perp = {}
    for k in ("high", "low", "close"):
        column = spot[k].copy()  # spot stands in where the perpetual has no bar
        column[real] = bars[f"perp_{k}_cents"] / _PRICE_SCALE
        perp[k] = column
    ratio = _standin_ratio(times, real, bars.get("spot_is_real"), spot["close"],
                           perp["close"])
    for k in ("high", "low", "close"):
        perp[k][~real] = np.round(spot[k][~real] * ratio[~real], 2)
    rate_text = funding["funding_rate_text"]
    history = MarketHistory(
        asset=asset,
        interval_ms=INTERVALS_MS[interval],
        open_time_ms=times,
        spot_open=spot["open"], spot_high=spot["high"],
        spot_low=spot["low"], spot_close=spot["close"],
        perp_high=perp["high"], perp_low=perp["low"], perp_close=perp["close"],
        perp_is_real=real,
        funding_time_ms=funding["funding_time_ms"].astype(np.int64),
        funding_rate=rate_text.astype(np.float64),
        funding_rate_text=tuple(rate_text.tolist()),
        funding_mark=funding["funding_mark"].astype(np.float64),
        sources=(),
    )
    # The funding files run past the last bar; keep only settlements the bars span.
    history = history.slice(int(times[0]), int(times[-1]) + INTERVALS_MS[interval])
    notes = tuple(zip(bars["note_start_ms"].tolist(), bars["note_end_ms"].tolist(),
                      bars["note_text"].tolist(), strict=True))
    return _Bundled(history, notes, str(funding["note_text"][0]))


def coverage(asset: str, interval: str = "1h") -> tuple[int, int]:
    """First and last bar open time (ms) of the bundled history of ``asset``."""
    times = _bundled(_bundled_asset(asset), _check(interval)).history.open_time_ms
    return int(times[0]), int(times[-1])


def _check(interval: str) -> str:
    _interval_ms(interval)
    return interval


def check_range(history: MarketHistory, start_ms: int | None, end_ms: int | None,
                what: str) -> tuple[int, int]:
    """``start_ms``/``end_ms`` defaulted to the data's span, or InputError naming the option."""
    first, last = int(history.open_time_ms[0]), int(history.open_time_ms[-1])
    step = history.interval_ms
    expected = f"a date between {iso_utc(first, step)} and {iso_utc(last, step)} for {what}"
    start = first if start_ms is None else start_ms
    end = history.end_ms if end_ms is None else end_ms
    # Dates are typed as days: the first and last day of the data count even when their
    # first bar opens after midnight (BTC's starts 2017-08-17 05:00) or the last ends early.
    if start == first - first % DAY_MS:
        start = first
    last_day_end = history.end_ms - history.end_ms % DAY_MS + DAY_MS
    if history.end_ms < end and end == last_day_end:
        end = history.end_ms
    if not first <= start <= last:
        raise InputError("--start", expected, iso_utc(start, step))
    if not first < end <= history.end_ms:
        raise InputError("--end", expected, iso_utc(end, step))
    if end <= start:
        raise InputError("--end", f"a date after --start ({iso_utc(start, step)})",
                         iso_utc(end, step))
    return start, end


def load_history(asset: str, *, start_ms: int | None = None, end_ms: int | None = None,
                 interval: str = "1h", path: Path | None = None) -> MarketHistory:
    """History of ``asset`` over ``[start_ms, end_ms)`` (default: all of it).

    ``path`` given: the user's own CSV/Parquet file or download folder (see ``docs/data.md``);
    otherwise the bundled Binance history. Dates outside the data raise ``InputError`` on
    ``--start``/``--end``; a range that falls entirely inside a hole raises ``DataError``.
    """
    if path is not None:
        from perphedge.adapters.marketdata.user_history import load_user_history

        interval_ms = parse_timeframe(interval, "--data-interval")
        full = load_user_history(path, asset=asset.upper(), interval_ms=interval_ms)
        start, end = check_range(full, start_ms, end_ms, f"{asset.upper()} in {path}")
        return _non_empty(full.slice(start, end), start, end)
    bundled = _bundled(_bundled_asset(asset), _check(interval))
    start, end = check_range(bundled.history, start_ms, end_ms, asset.upper())
    sliced = _non_empty(bundled.history.slice(start, end), start, end)
    return _with_sources(sliced, bundled.sources_for(start, end))


def _non_empty(history: MarketHistory, start_ms: int, end_ms: int) -> MarketHistory:
    if not len(history):
        step = history.interval_ms
        raise DataError(f"no {history.asset} bars between {iso_utc(start_ms, step)} and "
                        f"{iso_utc(end_ms, step)} (a hole in the data); choose other dates")
    return history


def _with_sources(history: MarketHistory, sources: tuple[str, ...]) -> MarketHistory:
    return replace(history, sources=sources)
