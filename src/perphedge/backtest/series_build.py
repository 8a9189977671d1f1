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
from typing import TYPE_CHECKING

import numpy as np

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


def _column(replay: ReplayState, name: str, n: int) -> FloatArray:
    starts = np.fromiter((p.start for p in replay.pieces), np.int64)
    values = np.fromiter((getattr(p, name) for p in replay.pieces), np.float64)
    return piecewise(starts, values, n)


def build_result(replay: ReplayState, stand_in_marks: int) -> BacktestResult:
    """Series from the piecewise state, summary figures, events and notes."""
    h = replay.history
    spec = replay.spec
    n = h.open_time_ms.shape[0]
    col = {name: _column(replay, name, n) for name in (
        "spot_qty", "hedge_qty", "entry", "usdt", "margin_base", "liq", "funding_cum",
        "fees_cum", "locked", "unhedged_qty", "unhedged_cash", "unit_cost")}
    spot = h.spot_close
    rows = _column(replay, "contract", n).astype(np.int64)
    held_mark = replay.book.marks_for(rows)
    # The held contract's mark; the perp close where it has none (flat after a delivery).
    mark = np.where(np.isnan(held_mark), h.perp_close, held_mark)
    q = col["hedge_qty"]
    pos_value = np.where(q != 0, q * (mark - col["entry"]), 0.0)
    total = col["usdt"] + col["spot_qty"] * spot + pos_value
    if spec.purchase:
        factor = col["unit_cost"] / spot
        # The reserve is not part of the purchase: it is valued at face, not as a bet.
        reserve = float(replay.reserve_start)
        hedged = (total - reserve) * factor + reserve
        unhedged = (col["unhedged_cash"] - reserve) * factor + reserve
        # Each payment costs the purchasing power it had when paid (not at today's price).
        paid_now = np.diff(col["funding_cum"], prepend=0.0)
        funding_units = np.cumsum(paid_now * factor)
    else:
        hedged = total
        unhedged = col["unhedged_qty"] * spot + col["unhedged_cash"]
        funding_units = col["funding_cum"]
    locked = col["locked"]
    deviation = (hedged - locked) / locked * 100.0
    deviation_ex = (hedged - funding_units - locked) / locked * 100.0
    balance = col["margin_base"] + pos_value
    with np.errstate(divide="ignore", invalid="ignore"):
        lev = np.where((q != 0) & (balance > 0), np.abs(q) * mark / balance, np.nan)
    effective = None
    if spec.purchase:
        with np.errstate(divide="ignore", invalid="ignore"):
            qty = _column(replay, "target_qty", n)
            effective = np.where(qty > 0, col["unit_cost"] + (col["fees_cum"] - col[
                "funding_cum"]) / qty, np.nan)
    series = BacktestSeries(
        ts_ms=h.open_time_ms + np.int64(h.interval_ms), price=spot, mark=mark,
        hedged_value=hedged, unhedged_value=unhedged, locked_value=locked,
        liquidation_price=col["liq"], funding_cum=col["funding_cum"],
        fees_cum=col["fees_cum"], effective_leverage=lev,
        spot_qty=col["spot_qty"], hedge_qty=np.abs(q), effective_price=effective,
    )
    acct = replay.account
    symbol = replay.hedge_symbol
    base = replay.instrument.base
    end_spot = Decimal(repr(float(spot[-1])))
    acct.mark(symbol, Decimal(repr(float(mark[-1]))))
    value_end = acct.equity_usdt({base: end_spot})
    if spec.purchase:
        cost = Decimal(repr(float(col["unit_cost"][-1])))
        value_end = (value_end - replay.reserve_start) * cost / end_spot + replay.reserve_start
    pos = acct.position(symbol)
    return BacktestResult(
        asset=spec.asset, policy=spec.policy, leverage=spec.leverage, purchase=spec.purchase,
        start_ms=int(h.open_time_ms[0]), end_ms=int(h.open_time_ms[-1]) + int(h.interval_ms),
        value_start=_cents(hedged[0]), value_end=to_cents(value_end),
        value_min=_cents(np.min(hedged)), value_max=_cents(np.max(hedged)),
        unhedged_start=_cents(unhedged[0]), unhedged_end=_cents(unhedged[-1]),
        unhedged_min=_cents(np.min(unhedged)), unhedged_max=_cents(np.max(unhedged)),
        deviation_min_pct=_pct(np.min(deviation_ex)), deviation_max_pct=_pct(np.max(deviation_ex)),
        deviation_min_with_funding_pct=_pct(np.min(deviation)),
        deviation_max_with_funding_pct=_pct(np.max(deviation)),
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


def _maybe_cents(values: FloatArray | None, *, last: bool) -> Decimal | None:
    if values is None or not bool(np.isfinite(values).any()):
        return None
    finite = values[np.isfinite(values)]
    return _cents(finite[-1] if last else np.max(finite))


def _contracts_held(replay: ReplayState) -> tuple[str, ...]:
    """Contracts the hedge was held in, in order of first use."""
    held: list[str] = []
    for p in replay.pieces:
        symbol = replay.book.instruments[p.contract].symbol
        if p.hedge_qty != 0 and symbol not in held:
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
