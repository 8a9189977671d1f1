"""Replayed market: a price path per symbol, its funding settlements, and the replay clock.

The local exchange does not invent prices: it replays the bundled real Binance history
(hourly or daily bars, funding at its recorded timestamps) or a scripted path given by a test
or a user, at a chosen speed (``speed`` replay milliseconds per wall millisecond; 3600 = one
replayed hour per real second; 0 = frozen, moved only by :meth:`ReplayClock.advance`).

At replay time ``t`` the price of a symbol is the close of the last bar that has closed by
``t`` (the open of the first bar before that), so no future price leaks to a client. Bar highs
and lows are used only when a bar closes: to fill resting limit orders and to liquidate.

Bundled prices are float64 built from integer cents, so ``Decimal(f"{x:.2f}")`` recovers the
exact exchange strings; a scripted path keeps the precision of its ``decimals``.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from perphedge.errors import InputError

__all__ = [
    "BarClose", "FundingEvent", "PricePath", "ReplayClock", "ReplayMarket",
    "bundled_delivery_paths", "bundled_path",
    "wall_ms",
]


def wall_ms() -> int:
    """The wall clock in Unix milliseconds (auth, rate limits and ``/time`` use it)."""
    return time.time_ns() // 1_000_000


class ReplayClock:
    """Replay time that runs ``speed`` times faster than the wall clock and can be stepped.

    Thread-safe; :meth:`advance` and :meth:`set` let a test move replay time by hand. With
    ``end_ms`` the clock stops there (the end of the data): prices stay at the last real bar
    instead of running on into nothing, and :attr:`ended` tells the server to say so.
    """

    def __init__(self, start_ms: int, speed: float = 0.0, wall: object = None,
                 end_ms: int | None = None) -> None:
        if not 0 <= speed < float("inf"):
            raise InputError("--speed", "a finite number of 0 or more replay ms per wall ms",
                             str(speed))
        self.end_ms = end_ms
        self._wall = wall if callable(wall) else wall_ms
        self._lock = threading.Lock()
        self._anchor_sim = start_ms
        self._anchor_wall = int(self._wall())
        self.speed = speed

    def now_ms(self) -> int:
        """Current replay time in Unix milliseconds."""
        with self._lock:
            now = self._anchor_sim + int((int(self._wall()) - self._anchor_wall) * self.speed)
        return now if self.end_ms is None else min(now, self.end_ms)

    @property
    def ended(self) -> bool:
        """True once replay time has reached ``end_ms`` (never without one)."""
        return self.end_ms is not None and self.now_ms() >= self.end_ms

    def advance(self, ms: int) -> int:
        """Move replay time forward by ``ms`` and return the new time."""
        if ms < 0:
            raise InputError("advance", "a forward step in ms", ms)
        with self._lock:
            self._anchor_sim += ms
        return self.now_ms()

    def set(self, ts_ms: int) -> None:
        """Jump replay time to ``ts_ms`` (used when a saved state is resumed)."""
        with self._lock:
            self._anchor_sim = ts_ms
            self._anchor_wall = int(self._wall())


@dataclass(frozen=True, slots=True)
class BarClose:
    """A bar of ``symbol`` closed at ``ts_ms`` with this high, low and close."""

    ts_ms: int
    symbol: str
    high: Decimal
    low: Decimal
    close: Decimal


@dataclass(frozen=True, slots=True)
class FundingEvent:
    """A funding settlement: ``rate`` per interval (positive: longs pay shorts) at ``mark``."""

    ts_ms: int
    symbol: str
    rate: Decimal
    mark: Decimal


DAY_MS = 86_400_000


def bundled_delivery_paths(perp: PricePath, from_ms: int) -> list[PricePath]:
    """The bundled Binance quarterlies on ``perp``'s base as hourly paths, for a replay that
    starts at ``from_ms`` (none when it does not overlap them).

    As in the backtest (``perphedge.backtest.contracts``), a quarterly's daily close becomes
    known when its day ends, and its premium over spot (``F / S``, with the source's spot
    close) is carried onto every bar of ``perp`` until the next close: open, high, low and close
    are that premium times the perpetual's. The path runs from the bar in which the first close
    is known to the bar that ends at expiry, or to the end of ``perp`` (the local exchange
    delivers at expiry at the contract's last price). A contract is listed only when the replay
    starts inside its path (a listing that appears mid-replay is not modelled).
    """
    from perphedge.adapters.marketdata.bundled_futures import (
        bundled_delivery_instruments,
        bundled_quarterlies,
    )

    base = perp.symbol.removesuffix("USDT")
    closes = bundled_quarterlies(base)
    out: list[PricePath] = []
    bar_close = perp.close_time_ms
    for inst in bundled_delivery_instruments(base):
        mine = [c for c in closes if c.symbol == inst.symbol]
        if not mine or inst.expiry_ms is None:
            continue
        known = np.array([c.open_time_ms + DAY_MS for c in mine], dtype=np.int64)
        premium = np.array([float(c.close / c.spot_close) for c in mine], dtype=np.float64)
        k = np.searchsorted(known, bar_close, side="right") - 1
        keep = (k >= 0) & (bar_close <= inst.expiry_ms)
        if not keep.any():
            continue
        first_ms = int(perp.open_time_ms[keep][0])
        last_ms = min(inst.expiry_ms, int(bar_close[-1]))
        if not first_ms <= from_ms < last_ms:
            continue  # no price of this contract at the replay's start: not listed
        f = premium[k[keep]]
        out.append(PricePath(
            inst.symbol, perp.interval_ms, perp.open_time_ms[keep], f * perp.open[keep],
            f * perp.high[keep], f * perp.low[keep], f * perp.close[keep], decimals=1,
        ))
    return out


@dataclass(frozen=True, slots=True)
class PricePath:
    """Bars (open times, OHLC as float64) and funding settlements of one symbol."""

    symbol: str
    interval_ms: int
    open_time_ms: npt.NDArray[np.int64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    funding_time_ms: tuple[int, ...] = ()
    funding_rate: tuple[Decimal, ...] = ()
    funding_mark: tuple[Decimal | None, ...] = ()
    decimals: int = 2

    @classmethod
    def scripted(
        cls, symbol: str, interval_ms: int, start_ms: int, closes: Sequence[str],
        funding: Iterable[tuple[int, str]] = (), decimals: int = 2,
    ) -> PricePath:
        """Flat bars (open = high = low = close) from ``closes`` every ``interval_ms``."""
        prices = np.array([float(c) for c in closes], dtype=np.float64)
        opens = np.concatenate([prices[:1], prices[:-1]])
        times = start_ms + interval_ms * np.arange(len(prices), dtype=np.int64)
        rows = sorted(funding)
        return cls(
            symbol, interval_ms, times, opens, np.maximum(opens, prices),
            np.minimum(opens, prices), prices, tuple(t for t, _ in rows),
            tuple(Decimal(r) for _, r in rows), tuple(None for _ in rows), decimals,
        )

    @property
    def close_time_ms(self) -> npt.NDArray[np.int64]:
        return self.open_time_ms + self.interval_ms

    def dec(self, value: float) -> Decimal:
        """A path price as the exchange's Decimal string."""
        return Decimal(f"{value:.{self.decimals}f}")

    def price_at(self, ts_ms: int) -> Decimal:
        """Close of the last bar closed by ``ts_ms`` (the first open before any closed)."""
        i = int(np.searchsorted(self.close_time_ms, ts_ms, side="right")) - 1
        return self.dec(float(self.close[i] if i >= 0 else self.open[0]))

    def closed_between(self, after_ms: int, until_ms: int) -> list[BarClose]:
        """Bars that close in ``(after_ms, until_ms]``, oldest first."""
        closes = self.close_time_ms
        i, j = np.searchsorted(closes, [after_ms, until_ms], side="right")
        return [
            BarClose(int(closes[k]), self.symbol, self.dec(float(self.high[k])),
                     self.dec(float(self.low[k])), self.dec(float(self.close[k])))
            for k in range(int(i), int(j))
        ]

    def funding_between(self, after_ms: int, until_ms: int) -> list[FundingEvent]:
        """Settlements in ``(after_ms, until_ms]``, marked at the recorded mark or the path."""
        times = self.funding_time_ms
        i, j = bisect_right(times, after_ms), bisect_right(times, until_ms)
        return [
            FundingEvent(times[k], self.symbol, self.funding_rate[k],
                         self.funding_mark[k] or self.price_at(times[k]))
            for k in range(i, j)
        ]


class ReplayMarket:
    """The price paths of every listed symbol, read at the replay clock's time."""

    def __init__(self, paths: Mapping[str, PricePath], clock: ReplayClock) -> None:
        self.paths = dict(paths)
        self.clock = clock

    def path(self, symbol: str) -> PricePath:
        path = self.paths.get(symbol)
        if path is None:
            raise InputError("symbol", f"one of {', '.join(sorted(self.paths))}", symbol)
        return path

    def price(self, symbol: str, ts_ms: int | None = None) -> Decimal:
        return self.path(symbol).price_at(self.clock.now_ms() if ts_ms is None else ts_ms)

    def events_between(self, after_ms: int, until_ms: int) -> list[BarClose | FundingEvent]:
        """Every bar close and settlement in ``(after_ms, until_ms]``, in time order.

        At equal times the bar close comes first: a settlement at 08:00 pays on the position
        held at 08:00, after the bar that ended then had its chance to liquidate it.
        """
        events: list[BarClose | FundingEvent] = []
        for path in self.paths.values():
            events.extend(path.closed_between(after_ms, until_ms))
            events.extend(path.funding_between(after_ms, until_ms))
        return sorted(events, key=lambda e: (e.ts_ms, isinstance(e, FundingEvent), e.symbol))

    def next_funding(self, symbol: str, now_ms: int) -> tuple[int, Decimal]:
        """Time and rate of the next settlement after ``now_ms``.

        Past the last recorded settlement (the replay stopped at the end of its data) the
        last rate is quoted for one interval after it, as Binance always quotes a next one;
        it is never settled. A path with no funding at all (a delivery contract): 0 and 0.
        """
        path = self.path(symbol)
        times = path.funding_time_ms
        k = bisect_right(times, now_ms)
        if not times:
            return 0, Decimal(0)
        if k >= len(times):
            step = times[-1] - times[-2] if len(times) > 1 else 8 * 3_600_000
            return times[-1] + step, path.funding_rate[-1]
        return times[k], path.funding_rate[k]

    def settled(self, symbol: str, now_ms: int) -> list[FundingEvent]:
        """Every settlement of ``symbol`` up to ``now_ms``."""
        return self.path(symbol).funding_between(-1, now_ms)


#: A step between bars longer than this many bars is a hole in the data.
HOLE_BARS = 3


def data_holes(path: PricePath) -> list[tuple[int, int]]:
    """(last bar before, first bar after) of every hole in ``path``'s bars, oldest first."""
    times = path.open_time_ms
    steps = np.diff(times)
    return [(int(times[k]), int(times[k + 1]))
            for k in np.flatnonzero(steps > max(HOLE_BARS * path.interval_ms, 3 * 86_400_000))]


def continuous_since(path: PricePath) -> int:
    """Open time of the first bar after the last hole (the first bar if there is none)."""
    holes = data_holes(path)
    return holes[-1][1] if holes else int(path.open_time_ms[0])


#: The default replay starts at most this long before the data ends.
MAX_DEFAULT_REPLAY_MS = 365 * 86_400_000


def replay_window(paths: Iterable[PricePath], listings: Iterable[PricePath] = ()
                  ) -> tuple[int, int, int]:
    """(first ms every path has, default start, end ms) of a replay of ``paths``.

    The default start is the first bar after the last hole of any path (every symbol has
    real prices from there to the end), at most ``MAX_DEFAULT_REPLAY_MS`` before the end,
    and no earlier than the first price of ``listings`` (contracts listed only when the
    replay starts inside their prices: the bundled quarterlies).
    """
    chosen = list(paths)
    end_ms = min(int(p.close_time_ms[-1]) for p in chosen)
    first_ms = max(int(p.open_time_ms[0]) for p in chosen)
    default_ms = max(max(continuous_since(p) for p in chosen), end_ms - MAX_DEFAULT_REPLAY_MS)
    starts = [int(p.open_time_ms[0]) for p in listings if len(p.open_time_ms)]
    if starts and min(starts) < end_ms:
        default_ms = max(default_ms, min(starts))
    return first_ms, default_ms, end_ms


def bundled_path(asset: str, interval: str = "1h") -> PricePath:
    """The bundled real Binance history of ``asset`` as a path of its USDT perpetual."""
    from perphedge.adapters.marketdata.history import load_history

    history = load_history(asset, interval=interval)
    marks = tuple(
        None if np.isnan(m) else Decimal(f"{m:.8f}").normalize() for m in history.funding_mark
    )
    opens = np.concatenate([history.spot_open[:1], history.perp_close[:-1]])
    return PricePath(
        f"{asset.upper()}USDT", history.interval_ms, history.open_time_ms, opens,
        history.perp_high, history.perp_low, history.perp_close,
        tuple(int(t) for t in history.funding_time_ms),
        tuple(Decimal(t) for t in history.funding_rate_text), marks,
    )
