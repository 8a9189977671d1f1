"""An independent NumPy model of the bench's static hedge, written as segment jumps.

The bench (``bench_backtest.py``) times perphedge's engine against this model: the same
simulation on the same synthetic history, written the way a quant would write it in NumPy.
It imports nothing from perphedge's backtest, planning or sim code; it reads the instrument's
numbers (taker fee rate, lot step, maintenance brackets) as plain floats.

The simulated hedge is the ``static`` policy: at the close of the first bar it moves the margin
(notional / leverage plus the opening fee, up to the cent) from spot cash to an isolated
futures wallet and shorts the held quantity at the perpetual's close; it never adjusts. Funding
settles every 8 h into the isolated wallet (a short receives ``rate * qty * mark``). Between two
settlements the position and its wallet are fixed, so the liquidation price is a constant and
the first bar whose perpetual high reaches it is found with one ``np.argmax`` over the segment;
the mark-to-market is one vectorised expression over the whole series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Market:
    """The instrument's numbers as floats: fee rate, lot step, brackets (floor, mmr, cum)."""

    taker_fee: float
    lot_step: float
    brackets: tuple[tuple[float, float, float], ...]

    def maintenance(self, notional: float) -> tuple[float, float]:
        mmr, cum = self.brackets[0][1], self.brackets[0][2]
        for floor, rate, amount in self.brackets:
            if notional >= floor:
                mmr, cum = rate, amount
        return mmr, cum


@dataclass(frozen=True)
class ModelResult:
    value_end: float
    funding_received: float
    funding_paid: float
    fees_total: float
    liquidations: int
    liquidation_ts_ms: int | None
    hedged_value: F64


def run_static_short(
    open_time_ms: npt.NDArray[np.int64], interval_ms: int, spot_close: F64, perp_high: F64,
    perp_close: F64, funding_time_ms: npt.NDArray[np.int64], funding_rate: F64,
    funding_mark: F64, quantity: float, leverage: float, market: Market,
) -> ModelResult:
    """Hold ``quantity`` spot, short it 1:1 at ``leverage`` (isolated), never adjust."""
    close_ms = open_time_ms + interval_ms
    qty = math.floor(quantity / market.lot_step + 1e-9) * market.lot_step
    entry = float(perp_close[0])
    notional = qty * entry
    fee = notional * market.taker_fee
    transfer = math.ceil((notional / leverage + fee) * 100.0 - 1e-6) / 100.0
    wallet = transfer - fee
    mmr, cum = market.maintenance(notional)
    n = close_ms.shape[0]
    # Funding settled at bar i's close counts if the position is still open at that bar.
    f_bar = np.searchsorted(close_ms, funding_time_ms)
    keep = (funding_time_ms > close_ms[0]) & (f_bar < n)
    f_bar, f_amount = f_bar[keep], (funding_rate * qty * funding_mark)[keep]
    bounds = np.concatenate(([1], f_bar + 1, [n]))  # liquidation checks start at bar 1
    liq_bar = -1
    for k in range(bounds.shape[0] - 1):
        lo, hi = int(bounds[k]), int(bounds[k + 1])
        level = (wallet + cum + qty * entry) / (qty * (1.0 + mmr))
        if hi > lo:
            hit = perp_high[lo:hi] >= level
            j = int(np.argmax(hit))
            if hit[j]:
                liq_bar = lo + j
                break
        if k < f_amount.shape[0]:
            wallet += float(f_amount[k])
    settled = f_amount[: k] if liq_bar >= 0 else f_amount
    # Mark-to-market: the wallet after the fundings settled by each bar's close, vectorised.
    levels = (transfer - fee) + np.concatenate(([0.0], np.cumsum(f_amount)))
    wallets = levels[np.searchsorted(f_bar, np.arange(n), side="right")]
    hedged = qty * spot_close + wallets + qty * (entry - perp_close)
    if liq_bar >= 0:
        hedged[liq_bar:] = qty * spot_close[liq_bar:]
    return ModelResult(
        value_end=float(hedged[-1]),
        funding_received=float(settled[settled > 0].sum()),
        funding_paid=float(-settled[settled < 0].sum()),
        fees_total=fee, liquidations=int(liq_bar >= 0),
        liquidation_ts_ms=int(close_ms[liq_bar]) if liq_bar >= 0 else None,
        hedged_value=hedged,
    )


def market_from(instrument: object, brackets: object, taker_rate: object) -> Market:
    """The instrument's numbers as plain floats (read, not computed, from perphedge's types)."""
    rows = tuple((float(b.notional_floor_usdt), float(b.maint_margin_rate),
                  float(b.maint_amount_usdt)) for b in brackets.brackets)  # type: ignore[attr-defined]
    return Market(float(taker_rate), float(instrument.lot_step), rows)  # type: ignore[attr-defined,arg-type]


def run_on(history: object, quantity: float, leverage: float, market: Market) -> ModelResult:
    """The model on a MarketHistory's arrays (duck-typed: only its NumPy fields are read)."""
    h = history
    return run_static_short(
        h.open_time_ms, h.interval_ms, h.spot_close, h.perp_high, h.perp_close,  # type: ignore[attr-defined]
        h.funding_time_ms, h.funding_rate, h.funding_mark, quantity, leverage, market)  # type: ignore[attr-defined]


def agrees(model: ModelResult, engine: object, rel: float = 1e-4) -> bool:
    """End value and funding within ``rel`` (float vs Decimal), same liquidations and times."""
    e = engine
    liq = e.liquidations  # type: ignore[attr-defined]

    def close(a: float, b: object) -> bool:
        return abs(a - float(b)) <= rel * max(1.0, abs(float(b)))  # type: ignore[arg-type]

    return (close(model.value_end, e.value_end)  # type: ignore[attr-defined]
            and close(model.funding_received, e.funding_received)  # type: ignore[attr-defined]
            and close(model.funding_paid, e.funding_paid)  # type: ignore[attr-defined]
            and close(model.fees_total, e.fees_total)  # type: ignore[attr-defined]
            and model.liquidations == len(liq)
            and model.liquidation_ts_ms == (liq[0].ts_ms if liq else None))
