"""A quiet stretch's funding settlements as one segment jump.

Inside a quiet stretch (:mod:`.quiet_skip`) no decision runs and the position is fixed; only
funding settles, and each payment moves the margin base (isolated margin, or the futures wallet
in cross) and with it the liquidation price. Settling them one event at a time cost a Decimal
liquidation solve, a snapshot and a scan call per settlement. Here the run is done at once:

1. each payment is worked out in float, to find the bars that surely settle with the funding
   since the stretch began inside the cushion (the next bar is left to the replay, in Decimal);
2. the liquidation level after each payment is the closed form of the margin base within a
   bracket (:func:`liquidation_levels`, float), and one ``fmax.reduceat`` (``fmin`` for a long)
   finds the segments whose extreme comes within 1e-9 (of the level plus the entry) of it;
3. only there is the Decimal liquidation price solved and the segment scanned against it, as the
   step-by-step engine does (a segment that does not touch is passed over);
4. the payments before the liquidation (or all) are booked through the account as before, and
   their pieces recorded in one go (:meth:`~perphedge.backtest.replay.Replay.settle_funding_run`).

``tests/unit/test_backtest_quiet.py`` requires the result equal to deciding every bar.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from perphedge.backtest.replay import Replay
from perphedge.backtest.segments import first_touch
from perphedge.domain.brackets import BracketTable
from perphedge.domain.types import MarginMode, Side

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: The float levels are within about 1e-12 of the Decimal ones (relative to the entry price); a
#: segment is looked at in Decimal when its extreme comes this close to its float level.
NEAR = 1e-9


#: A bracket as floats: (maintenance rate, maintenance amount, notional floor, notional cap).
BracketRow = tuple[float, float, float, float]


def bracket_rows(table: BracketTable) -> tuple[BracketRow, ...]:
    """The table's brackets as floats, in order (for :func:`liquidation_levels`)."""
    return tuple((float(b.maint_margin_rate), float(b.maint_amount_usdt),
                  float(b.notional_floor_usdt), float(b.notional_cap_usdt))
                 for b in table.brackets)


def liquidation_levels(side: Side, qty_base: float, entry_price: float, wallets: FloatArray,
                       rows: Sequence[BracketRow]) -> FloatArray:
    """Liquidation price for each wallet balance, in float (NaN: none), for the scan only.

    The float twin of :func:`perphedge.domain.liquidation.solve_liquidation` (isolated, or
    cross with no other position): the first bracket whose own notional holds the candidate.

    >>> from perphedge.domain.brackets import Bracket
    >>> t = BracketTable("X", (Bracket(1, Decimal(0), Decimal(10**9), Decimal("0.004"),
    ...                                Decimal(0), Decimal(125)),))
    >>> levels = liquidation_levels(Side.SHORT, 1.0, 100.0, np.array([50.0]), bracket_rows(t))
    >>> levels.round(4).tolist()
    [149.4024]
    """
    s = float(side.sign)

    def candidate(w: FloatArray | float, mmr: float, cum: float) -> FloatArray | float:
        return (w + cum - s * qty_base * entry_price) / (qty_base * mmr - s * qty_base)

    def bracket_of(w: float) -> int | None:
        for r, (mmr, cum, floor, cap) in enumerate(rows):
            c = float(candidate(w, mmr, cum))
            if c > 0 and floor <= qty_base * c <= cap:
                return r
        return None

    # The level, and so its bracket, is monotone in the wallet: when the lowest and the
    # highest wallet share a bracket, every wallet does.
    r = bracket_of(float(np.min(wallets)))
    if r is not None and r == bracket_of(float(np.max(wallets))):
        return np.asarray(candidate(wallets, rows[r][0], rows[r][1]), dtype=np.float64)
    out = np.full(wallets.shape[0], np.nan)
    for mmr, cum, floor, cap in reversed(rows):  # the first bracket that holds wins
        c = np.asarray(candidate(wallets, mmr, cum), dtype=np.float64)
        holds = (c > 0) & (qty_base * c >= floor) & (qty_base * c <= cap)
        out = np.where(holds, c, out)
    return out


class FundingRun:
    """Settles the funding of quiet stretches by segment jumps (one per replay)."""

    def __init__(self, replay: Replay, funding: Mapping[int, Sequence[int]],
                 funding_bars: IntArray, events: list[int], decisions: Collection[int],
                 adverse: FloatArray, *, rising: bool) -> None:
        self.replay = replay
        self.funding = funding
        self.funding_bars = funding_bars
        self.events = events
        self.decisions = decisions
        self.adverse = adverse
        self.rising = rising
        self.nets: list[Decimal] = []  # net funding of each bar booked, in order
        self._per_unit: FloatArray | None = None
        self._rows: tuple[BracketRow, ...] | None = None  # the hedge contract's brackets

    def stretch(self, e: int, until: int) -> slice:
        """Where the funding bars after ``e`` and before ``until`` sit among all of them."""
        lo, hi = (int(x) for x in np.searchsorted(self.funding_bars, (e, until), side="left"))
        lo += int(lo < self.funding_bars.shape[0] and self.funding_bars[lo] == e)
        return slice(lo, max(lo, hi))

    def bars(self, at: slice) -> list[int]:
        """The funding bars ``at``."""
        return [int(b) for b in self.funding_bars[at].tolist()]

    def payments(self, at: slice) -> FloatArray:
        """The funding payment to the position as it stands (received > 0) at the funding bars
        ``at``, in float: for the scan and for the cushion's bounds, never booked."""
        replay = self.replay
        pos = replay.account.position(replay.hedge_symbol)
        side = pos.side
        if side is None:
            return np.zeros(at.stop - at.start)
        if self._per_unit is None:
            self._per_unit = self._mark_times_rate()
        return np.asarray(-side.sign * float(pos.size_base) * self._per_unit[at],
                          dtype=np.float64)

    def _mark_times_rate(self) -> FloatArray:
        """Per funding bar: the sum of mark × rate of its settlements (float)."""
        h = self.replay.history
        bars = self.funding_bars.tolist()
        owner = [j for j, bar in enumerate(bars) for _ in self.funding[bar]]
        rows = [k for bar in bars for k in self.funding[bar]]
        mark = h.funding_mark[rows]
        price = np.where(np.isnan(mark), h.perp_close[self.funding_bars[owner]], mark)
        rate = np.array([h.funding_rate_text[k] for k in rows], dtype=np.float64)
        return np.asarray(np.bincount(owner, weights=price * rate, minlength=len(bars)),
                          dtype=np.float64)

    def within_cushion(self, at: slice, drift: Decimal, cushion: Decimal) -> int:
        """How many of the funding bars ``at`` surely settle with the funding since the stretch
        began inside ``cushion``: the float sums are within far less than 1e-9 of the Decimal
        ones, and a bar that comes closer than that is left to the replay to settle and judge
        in Decimal. Summed in chunks that grow (a cushion often lasts a few bars)."""
        first, stop = int(at.start), int(at.stop)
        if self.replay.account.position(self.replay.hedge_symbol).side is None:
            return stop - first  # flat: nothing settles, the funding since stays as it is
        bound = float(cushion) * (1 - NEAR) - NEAR
        total, lo, chunk = float(drift), first, 8
        while lo < stop:
            hi = min(stop, lo + chunk)
            sums = total + np.cumsum(self.payments(slice(lo, hi)))
            outside = np.flatnonzero(np.abs(sums) > bound)
            if outside.shape[0]:
                return lo - first + int(outside[0])
            total, lo, chunk = float(sums[-1]), hi, chunk * 4
        return stop - first

    def first_touch(self, bars: list[int], paid: FloatArray, start: int,
                    stop: int) -> tuple[int, int, Decimal]:
        """The liquidation in ``[start, stop)`` with the payments ``paid`` at ``bars`` settling
        on the way: (bar, payments settled before it, Decimal price), or (-1, 0, 0) for none.
        Books nothing but the payments before a found liquidation."""
        replay = self.replay
        account, symbol = replay.account, replay.hedge_symbol
        pos = account.position(symbol)
        side = pos.side
        if side is None or stop <= start:
            return -1, 0, Decimal(0)
        isolated = pos.margin_mode is MarginMode.ISOLATED
        base = float(pos.isolated_margin_usdt if isolated else account.futures_wallet_usdt)
        size, entry = float(pos.size_base), float(pos.entry_price)
        margins = base + np.cumsum(np.concatenate(([0.0], paid)))
        if self._rows is None:
            self._rows = bracket_rows(account.brackets[symbol])
        levels = liquidation_levels(side, size, entry, margins, self._rows)
        # No float level (a long's near 0): any extreme at or past 0 is checked in Decimal.
        levels = np.nan_to_num(levels, nan=0.0)
        offsets = np.array([start, *(b + 1 for b in bars)], dtype=np.int64)
        window = self.adverse[start:stop]
        # The float closed form is off by about 1e-16 of the entry's scale (the margin and
        # the entry notional cancel in it); the slack is far wider than that.
        slack = NEAR * (np.abs(levels) + entry)
        if self.rising:
            extreme = np.fmax.reduceat(window, offsets - start)
            near = np.flatnonzero(extreme >= levels - slack)
        else:
            extreme = np.fmin.reduceat(window, offsets - start)
            near = np.flatnonzero(extreme <= levels + slack)
        settled = 0
        for j in near.tolist():
            self.settle(bars[settled:j])
            settled = j
            lp = account.liquidation_price(symbol)
            if lp is None:
                continue
            hi = int(offsets[j + 1]) if j + 1 < offsets.shape[0] else stop
            hit = first_touch(self.adverse, int(offsets[j]), hi, float(lp), rising=self.rising)
            if hit is not None:
                return hit, j, lp
        return -1, settled, Decimal(0)

    def settle(self, bars: list[int]) -> None:
        """Book the payments at ``bars``; each bar's net funding is added to :attr:`nets`."""
        self.nets.extend(self.replay.settle_funding_run(bars, self.funding))

    def last_decision(self, idx: int, end_idx: int) -> int | None:
        """The last decision bar among the events strictly between ``idx`` and ``end_idx``."""
        for j in range(end_idx - 1, idx, -1):
            if self.events[j] in self.decisions:
                return self.events[j]
        return None
