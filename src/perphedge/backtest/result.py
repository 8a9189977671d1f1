"""What a backtest returns: summary figures, events and time series (the report's input).

This is the contract between the backtest engine, the JSON/CLI summary and the HTML report.
Series are float64 arrays sampled at every bar of the replay (for charts); money figures in
the summary and events are Decimals (for accounting and JSON).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

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


@dataclass(frozen=True, slots=True)
class BacktestSeries:
    """Per-bar series for charts, all the same length as ``ts_ms``."""

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

    @property
    def funding_total(self) -> Decimal:
        """Net funding received (negative: paid on balance)."""
        return self.funding_received - self.funding_paid
