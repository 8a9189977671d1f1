"""The contracts a backtest hedge may be held in: the perpetual and dated delivery contracts.

Delivery prices in the bundled data are **daily closes only**. What is carried forward onto
the hourly bars is the contract's latest known daily close *as a premium over spot*
(``F / S`` of that close, with the source's own spot close), applied to each hour's price:
mark = premium × spot close, and premium × perp high (low) in the liquidation scan. A daily bar
that opens at 00:00 holds the close known at the next 00:00. This is a stated stand-in: the
premium is held for a day, and the contract's own intraday swings are not seen. Carrying the
*price* forward instead would freeze the mark for 24 hours while spot moves (on the bundled
2025-10 .. 2026-03 BTC data that showed the hedged value straying −6.8 % .. +10.8 % from the
locked value, an artefact of stale prices, not of the hedge). A contract has no mark before its
first close and none after its delivery.

Delivery happens at ``expiry_ms`` (Binance: 08:00 UTC on the date in the symbol) at the spot
price of the bar that closes then — the price the contract converges to.

A contract of a *rolled series* (the CME second-month chain) leaves the series before its
expiry: ``last_quote_ms`` is the moment the next contract takes its place. After it the
contract is no longer quoted to the policy (which rolls out of it), while its mark is still
carried — the roll closes it at its last premium over spot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from perphedge.domain.instrument import Instrument
from perphedge.domain.types import ContractKind
from perphedge.errors import InputError
from perphedge.planning.hedge_state import ContractQuote

if TYPE_CHECKING:
    from perphedge.backtest.segments import BarCloses

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class DeliveryCurve:
    """One delivery contract's daily closes, the spot close at the same moments, and the time
    each close is known (ms)."""

    instrument: Instrument
    known_ms: IntArray
    close: FloatArray
    spot_close: FloatArray
    last_quote_ms: int | None = None  # leaves a rolled series then (None: quoted to expiry)

    def __post_init__(self) -> None:
        if self.instrument.kind is not ContractKind.DELIVERY or self.instrument.expiry_ms is None:
            raise InputError("delivery curve", "a delivery contract with an expiry",
                             self.instrument.symbol)
        if not self.known_ms.shape == self.close.shape == self.spot_close.shape:
            raise InputError("delivery curve", "as many times as closes", self.close.shape)

    @property
    def expiry_ms(self) -> int:
        assert self.instrument.expiry_ms is not None  # noqa: S101  -- checked in __post_init__
        return self.instrument.expiry_ms


def carried_premium(curve: DeliveryCurve, bar_close_ms: IntArray) -> FloatArray:
    """``F / S`` of the latest close known at each bar close; NaN before the first and after
    delivery.

    Closes 101 over spot 100 known at t=20 and 99 over 100 at t=40, delivery at t=50:

    >>> import numpy as np
    >>> from perphedge.domain.instrument import Instrument
    >>> from decimal import Decimal as D
    >>> inst = Instrument("X_1", "X", "USDT", ContractKind.DELIVERY, D("0.1"), D("0.001"),
    ...                   D("0.001"), D(0), expiry_ms=50, funding_interval_hours=None)
    >>> c = DeliveryCurve(inst, np.array([20, 40]), np.array([101.0, 99.0]),
    ...                   np.array([100.0, 100.0]))
    >>> carried_premium(c, np.array([10, 20, 30, 40, 50, 60])).tolist()
    [nan, 1.01, 1.01, 0.99, 0.99, nan]
    """
    premium = curve.close / curve.spot_close
    k = np.searchsorted(curve.known_ms, bar_close_ms, side="right") - 1
    out = np.where(k >= 0, premium[np.clip(k, 0, None)], np.nan)
    out[bar_close_ms > curve.expiry_ms] = np.nan
    return np.asarray(out, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class ContractBook:
    """Every contract of a replay on its bars: row 0 the perpetual, then the deliveries.

    ``marks[r, i]`` is contract r's mark at bar i's close (NaN: not tradable then);
    ``premiums[r, i]`` the carried ``F / S`` of a delivery row (1 for the perpetual's row,
    which uses its own prices).
    """

    instruments: tuple[Instrument, ...]
    marks: FloatArray
    premiums: FloatArray
    perp_high: FloatArray
    perp_low: FloatArray
    rows: dict[str, int]  # symbol → row, looked up at every decision
    quoted_until: tuple[int | None, ...] = ()  # per row: not quoted from then on (None: always)

    @classmethod
    def build(cls, perp: Instrument, perp_close: FloatArray, perp_high: FloatArray,
              perp_low: FloatArray, bar_close_ms: IntArray | None,
              deliveries: Sequence[DeliveryCurve],
              spot_close: FloatArray | None = None) -> ContractBook:
        """Row 0 the perpetual's closes; a delivery's marks = its premium × ``spot_close``
        (``bar_close_ms``: the bars' close times, needed only with deliveries)."""
        if deliveries:
            assert bar_close_ms is not None  # noqa: S101  -- the engine passes them with deliveries
            premiums = np.vstack([np.ones_like(perp_close),
                                  *(carried_premium(d, bar_close_ms) for d in deliveries)])
            spot = perp_close if spot_close is None else spot_close
            marks = premiums * spot
            marks[0] = perp_close
        else:  # the perpetual alone: views, no copy of a year of bars (neither is written)
            premiums = np.broadcast_to(np.float64(1.0), (1, perp_close.shape[0]))
            marks = np.asarray(perp_close, dtype=np.float64).reshape(1, -1)
        instruments = (perp, *(d.instrument for d in deliveries))
        return cls(instruments, marks, premiums, perp_high, perp_low,
                   {inst.symbol: r for r, inst in enumerate(instruments)},
                   (None, *(d.last_quote_ms for d in deliveries)))

    @property
    def perpetual(self) -> Instrument:
        return self.instruments[0]

    def row(self, symbol: str) -> int:
        return self.rows[symbol]

    def adverse(self, symbol: str, *, rising: bool) -> FloatArray:
        """Series the liquidation scan reads: perp highs/lows, times the premium of a delivery."""
        extreme = self.perp_high if rising else self.perp_low
        r = self.row(symbol)
        if r == 0:
            return extreme
        return np.asarray(self.premiums[r] * extreme, dtype=np.float64)

    def quotes(self, i: int, now_ms: int) -> tuple[ContractQuote, ...]:
        """Contracts tradable at bar ``i``'s close (a mark, not yet delivered, still in its
        series)."""
        out = []
        for r, inst in enumerate(self.instruments):
            price = float(self.marks[r, i])
            if price != price or price <= 0:  # NaN: no price known yet, or delivered
                continue
            if inst.expiry_ms is not None and inst.expiry_ms <= now_ms:
                continue
            until = self.quoted_until[r] if r < len(self.quoted_until) else None
            if until is not None and until <= now_ms:  # left its rolled series
                continue
            out.append(ContractQuote(inst.symbol, inst.kind, Decimal(repr(price)),
                                     inst.expiry_ms))
        return tuple(out)

    def expiry_bars(self, closes: BarCloses) -> dict[int, list[str]]:
        """Bar of each delivery inside the bars (the bar closing at or just after expiry)."""
        n = len(closes)
        out: dict[int, list[str]] = {}
        for inst in self.instruments[1:]:
            assert inst.expiry_ms is not None  # noqa: S101  -- deliveries have expiries
            bar = int(closes.search([inst.expiry_ms])[0])
            if bar < n and closes.first <= inst.expiry_ms:
                out.setdefault(bar, []).append(inst.symbol)
        return out

    def marks_for(self, rows: npt.NDArray[np.int64]) -> FloatArray:
        """Per bar, the mark of the contract in ``rows[i]`` (the held contract's mark)."""
        return np.asarray(self.marks[rows, np.arange(rows.shape[0])], dtype=np.float64)
