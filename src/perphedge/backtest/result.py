"""What a backtest returns: summary figures, events and time series (the report's input).

This is the contract between the backtest engine, the JSON/CLI summary and the HTML report.
Series are float64 arrays sampled at every bar of the replay (for charts); money figures in
the summary and events are Decimals (for accounting and JSON).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class LiquidationEvent:
    """The hedge was liquidated at ``price_usdt``; ``margin_lost_usdt`` went with it."""

    ts_ms: int
    price_usdt: Decimal
    margin_lost_usdt: Decimal


@dataclass(frozen=True, slots=True)
class ActionEvent:
    """A decision the policy took: ``kind`` is open, rebalance, margin_add, margin_remove,
    spot_sell, spot_buy, transfer, close, reserve_exhausted, exposure_change, roll, delivery,
    and the carry policies' alerts (funding_cost_high, no_delivery_contract)."""

    ts_ms: int
    kind: str
    qty_base: Decimal
    amount_usdt: Decimal
    price_usdt: Decimal
    note: str = ""


class SeriesSource(Protocol):
    """Computes a series of :class:`BacktestSeries` by name, when it is first read."""

    def series(self, name: str) -> npt.NDArray[Any] | None:
        """The series ``name`` (a field of :class:`BacktestSeries`)."""
        ...


@dataclass(frozen=True)
class BacktestSeries:
    """Per-bar series for charts, all the same length as ``ts_ms``.

    Built from arrays, or by the engine with :meth:`lazy`: the series a summary needs are
    given, the chart-only ones are computed from a :class:`SeriesSource` when first read and
    then kept (a sweep reads none of them; building all twelve cost more than the replay).
    """

    ts_ms: IntArray
    price: FloatArray  # spot close (USDT)
    mark: FloatArray  # perpetual close used as mark (spot where the data has no perp)
    hedged_value: FloatArray  # spot + futures wallet + unrealised PnL + reserve (USDT)
    unhedged_value: FloatArray  # the same holding with no hedge (USDT)
    locked_value: FloatArray  # the value the hedge is meant to lock (USDT)
    liquidation_price: FloatArray  # NaN when flat or not liquidatable
    funding_cum: FloatArray  # cumulative funding received (negative: paid), USDT
    fees_cum: FloatArray  # cumulative fees paid, USDT (positive)
    effective_leverage: FloatArray  # notional / margin balance; NaN when flat
    spot_qty: FloatArray
    hedge_qty: FloatArray
    #: Purchase: locked cost + net funding paid + fees, per unit to buy (None: a holding).
    effective_price: FloatArray | None = None

    @classmethod
    def lazy(cls, source: SeriesSource, **given: npt.NDArray[Any] | None) -> BacktestSeries:
        """Series with ``given`` ones set, the others computed by ``source`` on first read."""
        series = cls.__new__(cls)
        for name, value in given.items():
            object.__setattr__(series, name, value)
        object.__setattr__(series, "_source", source)
        return series

    if not TYPE_CHECKING:  # the fields are typed above; mypy must not see every name as one

        def __getattr__(self, name: str) -> npt.NDArray[Any] | None:
            # Only called for a field not set yet: compute it once, keep it.
            source = self.__dict__.get("_source")
            if source is None or name not in self.__dataclass_fields__:
                raise AttributeError(name)
            value = source.series(name)
            object.__setattr__(self, name, value)
            return value

    def __getstate__(self) -> dict[str, Any]:
        """Every series computed (the source stays behind): pickles as an eager one."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """One backtest run: inputs echoed, figures, events, series."""

    asset: str
    policy: str
    leverage: Decimal
    purchase: bool
    start_ms: int
    end_ms: int
    value_start: Decimal
    value_end: Decimal
    value_min: Decimal
    value_max: Decimal
    unhedged_start: Decimal
    unhedged_end: Decimal
    unhedged_min: Decimal
    unhedged_max: Decimal
    deviation_min_pct: Decimal  # hedged value vs locked value, excluding funding
    deviation_max_pct: Decimal
    deviation_min_with_funding_pct: Decimal
    deviation_max_with_funding_pct: Decimal
    funding_received: Decimal
    funding_paid: Decimal  # positive number
    fees_total: Decimal
    rebalances: int
    margin_moves: int
    final_spot_qty: Decimal
    final_hedge_qty: Decimal
    liquidations: tuple[LiquidationEvent, ...]
    actions: tuple[ActionEvent, ...]
    series: BacktestSeries
    notes: tuple[str, ...] = field(default=())
    rolls: int = 0  # hedge moved from one contract to another (each: two taker fills)
    roll_fees: Decimal = Decimal(0)  # fees of those fills (also in fees_total)
    deliveries_settled: int = 0  # positions closed by delivery at expiry
    contracts_held: tuple[str, ...] = ()  # contracts the hedge was held in, first use first
    #: USDT set aside at the start for margin top-ups (reserve policy; in the hedged value).
    reserve_start_usdt: Decimal = Decimal(0)
    refusals: int = 0  # orders and spot trades the account refused
    effective_price_end: Decimal | None = None  # purchase: effective locked price at the end
    effective_price_max: Decimal | None = None  # and its highest over the run

    @property
    def fees_pct(self) -> Decimal:
        """Fees as a percentage of the value at the start (0 when that value is 0)."""
        if self.value_start == 0:
            return Decimal(0)
        return (self.fees_total / self.value_start * 100).quantize(Decimal("0.0001"))

    @property
    def funding_total(self) -> Decimal:
        """Net funding received (negative: paid on balance)."""
        return self.funding_received - self.funding_paid
