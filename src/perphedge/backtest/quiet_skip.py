"""Skipping the backtest decisions that would decide nothing (quiet stretches).

After a decision that returned no actions, the policy's quiet band
(:mod:`perphedge.planning.quiet_bands`) says which marks leave it doing nothing; the engine
jumps over the decision bars whose mark stays inside, found with a chunked vectorised scan
(:func:`~perphedge.backtest.segments.first_exit`); the funding bars inside settle as one segment
jump (:meth:`QuietSkip.jump`, :mod:`.funding_run`). ``tests/unit/test_backtest_quiet.py`` proves
the result identical to deciding at every decision bar.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from perphedge.backtest.contracts import ContractBook
from perphedge.backtest.funding_run import FundingRun
from perphedge.backtest.replay import Replay, dec
from perphedge.backtest.segments import BarCloses, first_exit, unique_ints
from perphedge.domain.money import ZERO
from perphedge.domain.types import MarginMode
from perphedge.planning.quiet_bands import QUIET_BANDS, quiet_alerts, quiet_band

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(slots=True)
class QuietSkip:
    """Skips decisions that would decide nothing: the policy's quiet band, found vectorised.

    After a decision that returned no actions, the policy names the band of hedge marks inside
    which it would again do nothing while the account stays as it is
    (:func:`perphedge.planning.quiet_bands.quiet_band`). That opens a *quiet stretch*: until the
    next event that changes more than the funding (an exposure change, a delivery, the last bar)
    or a liquidation, every decision bar whose mark stays in the band would see the same state
    but for the mark, the spot price, the time and the funding settled, and would do nothing.
    The band is taken for the margin base (isolated margin or futures wallet) and the funding
    paid moved by ± :data:`CUSHION` of the margin base, the intersection of both: funding bars
    inside the stretch settle their funding and skip the decision while the funding settled
    since the stretch began stays within that cushion (past it, they decide). The stretch ends
    at the first decision bar whose mark leaves the band (:func:`first_exit`).

    A skipped decision changes no state but the account's last mark, which :meth:`catch_up`
    sets as the last skipped decision would have. Only for a book of one contract (no roll to
    another), and not for a purchase that is all bought (its snapshot values the unit cost at
    every event bar).
    """

    marks: FloatArray  # the hedge contract's mark as the policy sees it
    decides: npt.NDArray[np.bool_]
    decision_bars: IntArray  # the same, as sorted bar indices
    walls: IntArray  # events other than decisions and funding: a stretch ends before them
    funding: IntArray  # bars with a funding settlement
    events: list[int]
    symbol: str
    closes: BarCloses  # when an alert is due again
    until: int = -1  # the current stretch skips decisions at bars before this one
    drift: Decimal = ZERO  # funding settled since the stretch began (net received)
    cushion: Decimal = ZERO
    skipped: bool = False  # the last event settled its funding and skipped its decision
    _floor: float | None = None  # the lowest mark (NaN: none), found when first needed
    _missing: IntArray | None = None  # decision bars with no mark

    CUSHION = Decimal("0.01")

    @classmethod
    def build(cls, policy: str, events: list[int], decisions: Collection[int],
              walls: Collection[int], funding: Collection[int], book: ContractBook,
              perp_close: FloatArray, closes: BarCloses) -> QuietSkip | None:
        """For a replay's events (``walls``: exposure changes and deliveries), or None when the
        policy has no quiet band or the book holds more than one contract."""
        if len(book.instruments) != 1 or policy not in QUIET_BANDS:
            return None
        n = perp_close.shape[0]
        marks = book.marks[0]  # the one contract is the perpetual: its marks are perp_close
        decides = np.zeros(n, dtype=np.bool_)
        decision_bars = np.sort(np.fromiter(decisions, np.int64))
        decides[decision_bars] = True
        every_wall = unique_ints(np.concatenate([np.fromiter(walls, np.int64), [0, n - 1]]))
        return cls(np.asarray(marks, dtype=np.float64), decides, decision_bars, every_wall,
                   unique_ints(np.fromiter(funding, np.int64)), events, book.instruments[0].symbol,
                   closes)

    def begin(self, replay: Replay, e: int) -> None:
        """After event ``e`` was processed: open a quiet stretch if its decision was quiet."""
        self.until, self.drift, self.skipped = -1, ZERO, False
        state = replay.quiet_state
        if state is None or (replay.spec.purchase and replay.target_qty <= 0):
            return
        k = int(np.searchsorted(self.walls, e, side="right"))
        if k >= self.walls.shape[0]:
            return
        policy, params = replay.spec.policy, replay.params
        isolated = state.margin_mode is MarginMode.ISOLATED
        base = state.isolated_margin_usdt if isolated else state.futures_wallet_usdt
        cushion = abs(base) * self.CUSHION
        bands = []
        alerts: set[str] = set()
        for c in (-cushion, cushion):
            moved = replace(state, funding_paid_usdt=state.funding_paid_usdt - c)
            moved = (replace(moved, isolated_margin_usdt=base + c) if isolated
                     else replace(moved, futures_wallet_usdt=base + c))
            bands.append(quiet_band(policy, moved, params))
            alerts |= quiet_alerts(policy, moved, params)
        if bands[0] is None or bands[1] is None:
            return
        lo, hi = max(bands[0][0], bands[1][0]), min(bands[0][1], bands[1][1])
        wall = int(self.walls[k])
        for code in alerts:  # an alert the policy may return must not be due in the stretch
            due = replay.alert_next_due(code)
            if due is None:
                return
            wall = min(wall, int(self.closes.search([due])[0]))
        if wall <= e + 1:
            return
        exit_bar = self.first_exit(e + 1, wall, float(lo), float(hi))
        self.until = wall if exit_bar is None else exit_bar
        self.cushion = cushion

    def first_exit(self, start: int, stop: int, lo: float, hi: float) -> int | None:
        """First decision bar in ``[start, stop)`` whose mark leaves ``[lo, hi]``.

        A band with no upper bound and a lower one below every mark (static's) is left only
        where a mark is missing: those bars are found once, not scanned for at every stretch.
        """
        if hi == float("inf"):
            if self._floor is None:
                at = self.marks[self.decision_bars]  # only decision bars can leave
                self._floor = float(np.fmin.reduce(at)) if at.shape[0] else float("nan")
                self._missing = self.decision_bars[np.isnan(at)]
            if lo <= self._floor:
                assert self._missing is not None  # noqa: S101  -- set with the floor
                k = int(np.searchsorted(self._missing, start, side="left"))
                if k < self._missing.shape[0] and int(self._missing[k]) < stop:
                    return int(self._missing[k])
                return None
        return first_exit(self.marks, self.decides, start, stop, lo, hi)

    def settle_funding(self, replay: Replay, funding: Sequence[int], decision: bool,
                       e: int) -> None:
        """A funding bar inside the stretch: settle, and decide only past the cushion."""
        before = replay.funding_in - replay.funding_out
        for k in funding:
            replay.settle_funding(k, e)
        self.drift += replay.funding_in - replay.funding_out - before
        self.skipped = abs(self.drift) <= self.cushion and decision
        if abs(self.drift) > self.cushion:
            replay.quiet_state = None
            if decision:
                replay.decide(e)
            replay.snapshot(e)
            self.begin(replay, e)
            return
        replay.snapshot(e)

    def jump(self, replay: Replay, run: FundingRun, e: int, idx: int, n: int) -> int | None:
        """From event ``idx`` (bar ``e``) inside the stretch: settle its funding bars up to the
        cushion and find a liquidation on the way, in one segment jump (:mod:`.funding_run`).

        Returns the index of the next event to process, or None when no funding bar surely
        settles inside the cushion (the plain scan does then, and the replay the next bar).
        """
        at = run.stretch(e, self.until)
        applied = run.within_cushion(at, self.drift, self.cushion)
        if applied == 0:  # the next funding bar may decide: the replay settles it
            return None
        run_at = slice(at.start, at.start + applied)
        bars = run.bars(run_at)
        end = self.until if applied == at.stop - at.start else int(run.funding_bars[run_at.stop])
        events = self.events
        end_idx = bisect_left(events, end, idx + 1)
        stop = events[end_idx] + 1 if end_idx < len(events) else n
        run.nets.clear()
        hit, settled, lp = run.first_touch(bars, run.payments(run_at), e + 1, stop)
        if hit < 0:
            run.settle(bars[settled:applied])
        for net in run.nets:
            self.drift += net
        if hit >= 0:
            end_idx = bisect_left(events, hit, idx + 1)
        self.catch_up(replay, e, run.last_decision(idx, end_idx))
        if hit >= 0:
            self.until = -1  # the account changes: decide again
            replay.liquidate(hit, lp)
            replay.snapshot(hit)
        return end_idx

    def next_index(self, e: int, idx: int) -> int:
        """Index (in the events) of the next event to process after event ``idx`` (bar e)."""
        if e >= self.until:
            return idx + 1
        k = int(np.searchsorted(self.funding, e, side="right"))
        nxt = self.until if k >= self.funding.shape[0] else min(self.until, int(self.funding[k]))
        return bisect_left(self.events, nxt, idx + 1)

    def catch_up(self, replay: Replay, e: int, last_skipped: int | None) -> None:
        """The account's last mark as the last skipped decision left it (a decision marks the
        contract): at ``last_skipped`` (a jumped decision bar), else at ``e`` if its decision
        was skipped."""
        bar = last_skipped if last_skipped is not None else (e if self.skipped else None)
        self.skipped = False
        if bar is None:
            return
        price = float(self.marks[bar])
        if price == price:
            replay.account.mark(self.symbol, dec(price))
