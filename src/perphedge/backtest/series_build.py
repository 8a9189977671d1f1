"""Turn a finished replay into a :class:`~perphedge.backtest.result.BacktestResult`.

Value definitions (USDT):

* holding — hedged value = spot held × spot close + spot USDT + futures wallet + isolated
  margins + unrealised PnL at the perp close. Unhedged = the same holding (with exposure
  changes) and the same starting USDT, no hedge. Locked = the starting value, plus each
  exposure change × the spot close when it happened.
* purchase — value in units of the locked cost: purchasing power of every USDT the buyer has
  (cash + futures wallet + margins + uPnL), i.e. ``USDT / spot close``, times the locked cost
  per unit ``c`` (cost basis / quantity to buy). A perfect long hedge of q at cost c keeps
  ``USDT = q × price`` and so value = q × c, the locked cost. Unhedged = the idle cash valued
  the same way.

Deviation = (hedged − locked) / locked × 100; "without funding" subtracts the cumulative
funding (in the same units) first. Money totals are exact Decimals from the account; min/max
and deviations come from the float series, rounded to the cent / 0.0001 %.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from perphedge.backtest.result import BacktestResult, BacktestSeries
from perphedge.backtest.segments import FloatArray, piecewise
from perphedge.domain.money import ZERO, to_cents

if TYPE_CHECKING:
    from perphedge.backtest.replay_state import ReplayState

PCT_STEP = Decimal("0.0001")

#: Stated stand-ins of a replay with delivery contracts (see :mod:`.contracts`).
DELIVERY_NOTES = (
    "delivery contracts: daily closes only; each hour's mark is the latest daily close's "
    "premium over spot (F/S) times the hour's spot close, and the liquidation scan uses that "
    "premium times the perp high/low (a stated stand-in: the contract's own intraday swings "
    "are not seen)",
    "delivery contracts: the perpetual's margin brackets stand in for theirs; delivery at "
    "08:00 UTC on the expiry date at the spot close of that hour, with no fee",
)


def _cents(x: float) -> Decimal:
    return to_cents(Decimal(repr(float(x))))


def _pct(x: float) -> Decimal:
    return Decimal(repr(float(x))).quantize(PCT_STEP)


class _Columns:
    """The pieces' columns over the bars, each expanded once: a column that is the same in
    every piece stays one float (NumPy broadcasts it to the same values as the expanded array).
    """

    def __init__(self, replay: ReplayState, n: int) -> None:
        pieces = replay.pieces
        self.pieces = pieces
        self.n = n
        self.starts = np.array(pieces.starts, dtype=np.int64)
        self._cache: dict[str, float | FloatArray] = {}

    def get(self, name: str) -> float | FloatArray:
        """The column per bar, or its one value when it never changes (bit for bit)."""
        got = self._cache.get(name)
        if got is None:
            values = self.pieces.column(name)
            bits = values.view(np.int64)
            if int(self.starts[0]) == 0 and bool(np.all(bits == bits[0])):
                got = float(values[0])
            else:
                got = piecewise(self.starts, values, self.n)
            self._cache[name] = got
        return got

    def take(self, name: str) -> float | FloatArray:
        """:meth:`get`, the caller owning the array (it is not kept)."""
        got = self.get(name)
        del self._cache[name]
        return got

    def bars(self, name: str) -> FloatArray:
        """The column per bar, always as an array."""
        got = self.get(name)
        if isinstance(got, float):
            return np.full(self.n, got)
        return got


class _ChartSeries:
    """The series only charts read, computed on first read (:meth:`BacktestSeries.lazy`)."""

    def __init__(self, replay: ReplayState, cols: _Columns, mark: FloatArray,
                 unhedged: FloatArray | None) -> None:
        self.history = replay.history
        self.cols = cols
        self.mark = mark
        self.unhedged = unhedged

    def series(self, name: str) -> npt.NDArray[Any] | None:
        cols, h = self.cols, self.history
        if name == "ts_ms":
            return h.open_time_ms + np.int64(h.interval_ms)
        if name == "unhedged_value":
            if self.unhedged is None:  # a holding: the same expression as its extremes
                self.unhedged = cols.get("unhedged_qty") * h.spot_close + cols.get(
                    "unhedged_cash")
            return self.unhedged
        if name == "effective_leverage":
            q = cols.bars("hedge_qty")
            pos_value = _position_value(q, self.mark, cols.get("entry"))
            balance = cols.get("margin_base") + pos_value
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where((q != 0) & (balance > 0), np.abs(q) * self.mark / balance,
                                np.nan)
        if name == "hedge_qty":
            return np.abs(cols.bars("hedge_qty"))
        column = {"locked_value": "locked", "liquidation_price": "liq"}.get(name, name)
        return cols.bars(column)


def _position_value(q: float | FloatArray, mark: FloatArray, entry: float | FloatArray,
                    out: FloatArray | None = None) -> FloatArray:
    """``q × (mark − entry)`` where the hedge is open, else 0 (per bar; into ``out`` if given
    and the quantity never changes)."""
    if isinstance(q, float):
        if q == 0:
            return np.zeros(mark.shape[0])
        out = np.subtract(mark, entry, out=out)
        out *= q
        return out
    return np.where(q != 0, q * (mark - entry), 0.0)


def _extremes(x: FloatArray) -> tuple[float, float]:
    return float(np.min(x)), float(np.max(x))


def _pct_of(x: float | FloatArray, locked: float | FloatArray) -> float | FloatArray:
    """(x − locked) / locked × 100, the deviation from the locked value."""
    return (x - locked) / locked * 100.0


def _deviation_extremes(x: FloatArray, locked: float | FloatArray) -> tuple[float, float]:
    """Lowest and highest deviation of ``x`` from ``locked``.

    With one positive locked value, (x − L) / L × 100 is a non-decreasing function of x in
    floating point too (each rounded step is), so its extremes are those of x's extremes:
    bit for bit the same figures without a pass over the bars.
    """
    if isinstance(locked, float) and locked > 0:
        lo, hi = _extremes(x)
        return float(_pct_of(lo, locked)), float(_pct_of(hi, locked))
    return _extremes(np.asarray(_pct_of(x, locked)))


def _value_extremes(cols: _Columns, hedged: FloatArray, funding_units: FloatArray | None,
                    scratch: FloatArray) -> tuple[float, float, float, float, float, float]:
    """Lowest and highest hedged value, deviation, and deviation without funding
    (``funding_units`` None: the funding is the pieces' own column, in USDT).

    When the funding is the pieces' own column and the locked value one positive number, each
    piece's lowest and highest hedged value give them all: ``x − c`` and the deviation are
    non-decreasing in x in floating point too, so no pass over the bars subtracts anything.
    """
    locked = cols.get("locked")
    if funding_units is None and isinstance(locked, float) and locked > 0:
        lows = np.minimum.reduceat(hedged, cols.starts)
        highs = np.maximum.reduceat(hedged, cols.starts)
        funding = cols.pieces.column("funding_cum")
        lo, hi = float(np.min(lows)), float(np.max(highs))
        ex_lo, ex_hi = float(np.min(lows - funding)), float(np.max(highs - funding))
        return (lo, hi, float(_pct_of(lo, locked)), float(_pct_of(hi, locked)),
                float(_pct_of(ex_lo, locked)), float(_pct_of(ex_hi, locked)))
    if funding_units is None:
        funding_units = cols.bars("funding_cum")
    lo, hi = _extremes(hedged)
    dev = _deviation_extremes(hedged, locked)
    dev_ex = _deviation_extremes(np.subtract(hedged, funding_units, out=scratch), locked)
    return lo, hi, *dev, *dev_ex


def build_result(replay: ReplayState, stand_in_marks: int) -> BacktestResult:
    """Series from the piecewise state, summary figures, events and notes."""
    h = replay.history
    spec = replay.spec
    n = h.open_time_ms.shape[0]
    cols = _Columns(replay, n)
    spot = h.spot_close
    if len(replay.book.instruments) == 1:
        mark = h.perp_close  # the one contract's marks are the perp closes
    else:
        rows = cols.bars("contract").astype(np.int64)
        held_mark = replay.book.marks_for(rows)
        # The held contract's mark; the perp close where it has none (flat after a delivery).
        mark = np.where(np.isnan(held_mark), h.perp_close, held_mark)
    total = np.multiply(spot, cols.get("spot_qty"))
    usdt = cols.take("usdt")
    total += usdt
    # The bars' USDT is spent: its array (if it is one) takes the position's value.
    pos_value = _position_value(cols.get("hedge_qty"), mark, cols.get("entry"),
                                usdt if isinstance(usdt, np.ndarray) else None)
    total += pos_value
    scratch = pos_value  # an array of ours, reused below for hedged − funding
    unhedged: FloatArray | None = None
    if spec.purchase:
        unit_cost = cols.bars("unit_cost")
        factor = unit_cost / spot
        # The reserve is not part of the purchase: it is valued at face, not as a bet.
        reserve = float(replay.reserve_start)
        hedged = (total - reserve) * factor + reserve
        unhedged = (cols.get("unhedged_cash") - reserve) * factor + reserve
        # Each payment costs the purchasing power it had when paid (not at today's price).
        paid_now = np.diff(cols.bars("funding_cum"), prepend=0.0)
        funding_units: FloatArray | None = np.cumsum(paid_now * factor)
        unhedged_ends = (float(unhedged[0]), float(unhedged[-1]), *_extremes(unhedged))
    else:
        hedged = total
        funding_units = None  # the pieces' own column
        unhedged_ends = _holding_unhedged(cols.get("unhedged_qty"), cols.get("unhedged_cash"),
                                          spot)
    hedged_min, hedged_max, dev_min, dev_max, dev_ex_min, dev_ex_max = _value_extremes(
        cols, hedged, funding_units, scratch)
    effective = None
    if spec.purchase:
        with np.errstate(divide="ignore", invalid="ignore"):
            qty = cols.bars("target_qty")
            effective = np.where(qty > 0, cols.bars("unit_cost") + (
                cols.get("fees_cum") - cols.bars("funding_cum")) / qty, np.nan)
    series = BacktestSeries.lazy(
        _ChartSeries(replay, cols, mark, unhedged), price=spot, mark=mark,
        hedged_value=hedged, effective_price=effective)
    acct = replay.account
    symbol = replay.hedge_symbol
    base = replay.instrument.base
    end_spot = Decimal(repr(float(spot[-1])))
    acct.mark(symbol, Decimal(repr(float(mark[-1]))))
    value_end = acct.equity_usdt({base: end_spot})
    if spec.purchase:
        cost = Decimal(repr(float(cols.bars("unit_cost")[-1])))
        value_end = (value_end - replay.reserve_start) * cost / end_spot + replay.reserve_start
    pos = acct.position(symbol)
    return BacktestResult(
        asset=spec.asset, policy=spec.policy, leverage=spec.leverage, purchase=spec.purchase,
        start_ms=int(h.open_time_ms[0]), end_ms=int(h.open_time_ms[-1]) + int(h.interval_ms),
        value_start=_cents(hedged[0]), value_end=to_cents(value_end),
        value_min=_cents(hedged_min), value_max=_cents(hedged_max),
        unhedged_start=_cents(unhedged_ends[0]), unhedged_end=_cents(unhedged_ends[1]),
        unhedged_min=_cents(unhedged_ends[2]), unhedged_max=_cents(unhedged_ends[3]),
        deviation_min_pct=_pct(dev_ex_min), deviation_max_pct=_pct(dev_ex_max),
        deviation_min_with_funding_pct=_pct(dev_min),
        deviation_max_with_funding_pct=_pct(dev_max),
        funding_received=replay.funding_in, funding_paid=replay.funding_out,
        fees_total=acct.fees_paid_usdt, rebalances=replay.rebalances,
        margin_moves=replay.margin_moves, final_spot_qty=acct.spot.get(base, ZERO),
        final_hedge_qty=pos.size_base, liquidations=tuple(replay.liquidations),
        actions=tuple(replay.actions), series=series,
        notes=tuple(_notes(replay, stand_in_marks)),
        rolls=replay.rolls, roll_fees=replay.roll_fees,
        deliveries_settled=replay.deliveries_settled,
        contracts_held=_contracts_held(replay), refusals=replay.refusals,
        effective_price_end=_maybe_cents(effective, last=True),
        effective_price_max=_maybe_cents(effective, last=False),
        reserve_start_usdt=to_cents(replay.reserve_start),
    )


def _holding_unhedged(qty: float | FloatArray, cash: float | FloatArray,
                      spot: FloatArray) -> tuple[float, float, float, float]:
    """First, last, lowest and highest of a holding's unhedged value ``qty × spot + cash``.

    With one quantity ≥ 0 and one cash amount, the value is a non-decreasing function of the
    spot price in floating point too, so its extremes come from the spot's (bit for bit).
    """
    if isinstance(qty, float) and isinstance(cash, float) and qty >= 0:
        lo, hi = _extremes(spot)
        return (qty * float(spot[0]) + cash, qty * float(spot[-1]) + cash,
                qty * lo + cash, qty * hi + cash)
    value = np.asarray(qty * spot + cash)
    return (float(value[0]), float(value[-1]), *_extremes(value))


def _maybe_cents(values: FloatArray | None, *, last: bool) -> Decimal | None:
    if values is None or not bool(np.isfinite(values).any()):
        return None
    finite = values[np.isfinite(values)]
    return _cents(finite[-1] if last else np.max(finite))


def _contracts_held(replay: ReplayState) -> tuple[str, ...]:
    """Contracts the hedge was held in, in order of first use."""
    held: list[str] = []
    columns = replay.pieces.columns
    for contract, qty in zip(columns["contract"], columns["hedge_qty"], strict=True):
        symbol = replay.book.instruments[int(contract)].symbol
        if qty != 0 and symbol not in held:
            held.append(symbol)
    return tuple(held)


def _notes(replay: ReplayState, stand_in_marks: int) -> list[str]:
    h = replay.history
    out = list(replay.notes)
    if stand_in_marks:
        out.append(f"{stand_in_marks} funding settlements had no recorded mark price; the perp "
                   "close of the bar ending at the settlement stands in")
    if not bool(np.all(h.perp_is_real)):
        out.append("where no perpetual prices exist, spot prices stand in for the perp")
    if replay.spec.purchase:
        out.append("purchase: values are purchasing power in units of the locked cost")
    if len(replay.book.instruments) > 1:
        out.extend(DELIVERY_NOTES)
    out.extend(h.sources)
    return out
