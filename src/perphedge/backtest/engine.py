"""The backtest engine: replay a hedge policy on history, vectorised between decision points.

Timeline (bar i covers [open_i, open_i + interval); its close is at the end):

1. At each event close (a decision bar, a bar in which a funding settlement or an exposure
   change falls, and the first and last bars) the replay settles funding (on the position held
   through the bar), applies exposure changes, runs the policy and executes its actions — all
   in Decimal through :class:`~perphedge.sim.account.SimAccount`.
2. Between event closes the position is fixed, so the first bar whose adverse extreme (perp
   high for a short, perp low for a long) reaches the liquidation price is found with one
   vectorised scan; the series are built at the end from piecewise-constant state.
3. After a decision that did nothing, the decisions that would again do nothing are skipped
   (:mod:`.quiet_skip`), and the funding settled meanwhile is settled as one segment jump
   (:mod:`.funding_run`).

Funding is settled on the funding file's mark where present, else on the perp close of the bar
that closes at (or just after) the settlement — a stated stand-in. :mod:`.reference` runs the
same model bar by bar as the oracle.

The hedge may also be held in delivery contracts (:mod:`.contracts`): no funding, marks from
carried-forward daily closes, delivery at expiry at the spot close, rolls between contracts.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from perphedge.backtest.contracts import ContractBook, DeliveryCurve
from perphedge.backtest.exposure import expand_changes
from perphedge.backtest.funding_run import FundingRun
from perphedge.backtest.quiet_skip import QuietSkip
from perphedge.backtest.replay import Replay
from perphedge.backtest.result import BacktestResult
from perphedge.backtest.segments import (
    BarCloses,
    TouchScan,
    bars_closing_at_or_after,
    decision_bars,
    unique_ints,
)
from perphedge.backtest.series_build import build_result
from perphedge.backtest.spec import BacktestSpec, HistoryLike
from perphedge.domain.brackets import BracketTable
from perphedge.domain.instrument import Instrument
from perphedge.errors import DataError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class HistoryView:
    """A window of a history (array views), with the same fields the engine reads."""

    asset: str
    interval_ms: int
    open_time_ms: IntArray
    spot_close: FloatArray
    perp_high: FloatArray
    perp_low: FloatArray
    perp_close: FloatArray
    perp_is_real: npt.NDArray[np.bool_]
    funding_time_ms: IntArray
    funding_rate_text: tuple[str, ...]
    funding_mark: FloatArray
    sources: tuple[str, ...]


def window(history: HistoryLike, start_ms: int | None, end_ms: int | None) -> HistoryView:
    """Bars opening in ``[start_ms, end_ms)`` and the settlements within their span."""
    t = history.open_time_ms
    i = 0 if start_ms is None else int(np.searchsorted(t, start_ms, side="left"))
    j = t.shape[0] if end_ms is None else int(np.searchsorted(t, end_ms, side="left"))
    if j - i < 2:
        raise DataError(f"{history.asset} history: fewer than 2 bars in the backtest window")
    span = (int(t[i]), int(t[j - 1]) + int(history.interval_ms))
    f0, f1 = (int(x) for x in np.searchsorted(history.funding_time_ms, span, side="left"))
    return HistoryView(
        history.asset, int(history.interval_ms), t[i:j], history.spot_close[i:j],
        history.perp_high[i:j], history.perp_low[i:j], history.perp_close[i:j],
        history.perp_is_real[i:j], history.funding_time_ms[f0:f1],
        tuple(history.funding_rate_text[f0:f1]), history.funding_mark[f0:f1], history.sources,
    )


@dataclass(slots=True)
class EventPlan:
    """Which bars are events, and what happens at each."""

    events: list[int]
    decisions: set[int]
    funding: dict[int, list[int]] = field(default_factory=dict)
    exposure: dict[int, list[Decimal]] = field(default_factory=dict)
    deliveries: dict[int, list[str]] = field(default_factory=dict)
    stand_in_marks: int = 0

    @classmethod
    def build(cls, spec: BacktestSpec, h: HistoryView,
              book: ContractBook | None = None) -> EventPlan:
        n = h.open_time_ms.shape[0]
        closes = BarCloses(h.open_time_ms, h.interval_ms)
        decisions = decision_bars(closes, spec.decision_interval_ms)
        fund_bars = bars_closing_at_or_after(closes, h.funding_time_ms)
        plan = cls(events=[], decisions=set(decisions.tolist()))
        inside = fund_bars < n
        plan.stand_in_marks = int(np.count_nonzero(np.isnan(h.funding_mark[inside])))
        for k, bar in enumerate(fund_bars.tolist()):
            if bar < n:
                plan.funding.setdefault(bar, []).append(k)
        changes = expand_changes(spec.exposure_changes, int(h.open_time_ms[0]), closes.last)
        if changes:
            bars = bars_closing_at_or_after(closes, np.array([c[0] for c in changes]))
            for bar, (_, qty) in zip(bars.tolist(), changes, strict=True):
                plan.exposure.setdefault(bar, []).append(qty)
        if book is not None:
            plan.deliveries = book.expiry_bars(closes)
        every = np.concatenate([decisions, np.fromiter(plan.funding, np.int64),
                                np.fromiter(plan.exposure, np.int64),
                                np.fromiter(plan.deliveries, np.int64), [0, n - 1]])
        plan.events = unique_ints(every).tolist()
        return plan


def process_events(replay: Replay, plan: EventPlan, i: int) -> None:
    """Everything at bar ``i``'s close, in order: funding, delivery, exposure, decision."""
    for k in plan.funding.get(i, ()):
        replay.settle_funding(k, i)
    for symbol in plan.deliveries.get(i, ()):
        replay.settle_delivery(symbol, i)
    changes: Sequence[Decimal] = plan.exposure.get(i, ())
    for qty in changes:
        replay.change_exposure(qty, i)
    if i in plan.decisions or changes:
        replay.decide(i)
    replay.snapshot(i)


class _Scans:
    """One :class:`TouchScan` per contract the hedge is held in."""

    def __init__(self, book: ContractBook, rising: bool) -> None:
        self.book = book
        self.rising = rising
        self.scans: dict[str, TouchScan] = {}

    def first(self, symbol: str, start: int, stop: int, level: float) -> int | None:
        scan = self.scans.get(symbol)
        if scan is None:
            scan = self.scans[symbol] = TouchScan(self.book.adverse(symbol, rising=self.rising),
                                                  rising=self.rising)
        return scan.first(start, stop, level)


def _segment(replay: Replay, events: list[int], quiet: QuietSkip | None, scans: _Scans,
             e: int, idx: int, n: int) -> int:
    """After event ``idx`` (bar ``e``): find a liquidation before the next event to process
    (the next event, or past a quiet stretch's skipped decisions); returns that event's index."""
    nxt = idx + 1 if quiet is None else quiet.next_index(e, idx)
    stop = events[nxt] + 1 if nxt < len(events) else n
    symbol = replay.hedge_symbol
    lp = replay.account.liquidation_price(symbol)
    hit = None if lp is None else scans.first(symbol, e + 1, stop, float(lp))
    if hit is not None:
        # The decisions skipped are those before the liquidation bar; it comes next.
        nxt = bisect_left(events, hit, idx + 1)
    if quiet is not None:
        quiet.catch_up(replay, e, events[nxt - 1] if nxt - 1 > idx else None)
    if hit is not None and lp is not None:
        if quiet is not None:
            quiet.until = -1  # the account changes: decide again
        replay.liquidate(hit, lp)
        replay.snapshot(hit)
    return nxt


def run_backtest(spec: BacktestSpec, history: HistoryLike, instrument: Instrument,
                 brackets: BracketTable,
                 deliveries: Sequence[DeliveryCurve] = (), *,
                 skip_quiet: bool = True) -> BacktestResult:
    """Replay ``spec`` on ``history``; the policy runs only at decision points.

    ``deliveries`` are the delivery contracts the hedge may be held in (carry policies); when
    given, every policy starts with the cash to open at the dearest contract's first price, so
    runs with and without delivery contracts start from the same capital.

    ``skip_quiet``: after a decision that did nothing, the decisions that would see only the
    mark move inside the policy's quiet band are skipped
    (:class:`~perphedge.backtest.quiet_skip.QuietSkip`); the result is
    identical either way (``tests/unit/test_backtest_quiet.py``). False only in tests and bench.
    """
    h = window(history, spec.start_ms, spec.end_ms)
    closes = BarCloses(h.open_time_ms, h.interval_ms)
    book = ContractBook.build(instrument, h.perp_close, h.perp_high, h.perp_low,
                              closes.array() if deliveries else None, deliveries, h.spot_close)
    plan = EventPlan.build(spec, h, book)
    replay = Replay.start(spec, h, instrument, brackets, book)
    n = h.open_time_ms.shape[0]
    rising = not spec.purchase
    scans = _Scans(book, rising)
    events = plan.events
    quiet = QuietSkip.build(spec.policy, plan.events, plan.decisions,
                            (*plan.exposure, *plan.deliveries), plan.funding, book,
                            h.perp_close, closes) if skip_quiet else None
    run = None if quiet is None else FundingRun(
        replay, plan.funding, quiet.funding, events, plan.decisions,
        book.adverse(replay.hedge_symbol, rising=rising), rising=rising)
    idx = 0
    while idx < len(events):
        e = events[idx]
        if quiet is not None and e < quiet.until:
            quiet.settle_funding(replay, plan.funding.get(e, ()), e in plan.decisions, e)
        else:
            replay.quiet_state = None
            process_events(replay, plan, e)
            if quiet is not None:
                quiet.begin(replay, e)
        jumped = None
        if quiet is not None and run is not None and e < quiet.until:
            jumped = quiet.jump(replay, run, e, idx, n)
        idx = _segment(replay, events, quiet, scans, e, idx, n) if jumped is None else jumped
    return build_result(replay, plan.stand_in_marks)
