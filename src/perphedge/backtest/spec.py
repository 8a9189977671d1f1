"""What a backtest is given: the spec (exposure, policy, costs, window) and the history it reads.

Types only, imported by the engine, the replay and the replay's steps alike, so none of them
needs another's module for its annotations (the layers of :mod:`perphedge.backtest` run one
way: engine → replay → steps).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import numpy as np
import numpy.typing as npt

from perphedge.backtest.exposure import ExposureChange
from perphedge.domain.fees import BINANCE_USDM_STANDARD, FeeSchedule
from perphedge.domain.money import ZERO
from perphedge.domain.types import MarginMode
from perphedge.errors import InputError
from perphedge.planning.policies import policy_names

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
HOUR_MS = 3_600_000


class HistoryLike(Protocol):
    """What the engine reads of :class:`perphedge.adapters.marketdata.history.MarketHistory`."""

    @property
    def asset(self) -> str: ...
    @property
    def interval_ms(self) -> int: ...
    @property
    def open_time_ms(self) -> IntArray: ...
    @property
    def spot_close(self) -> FloatArray: ...
    @property
    def perp_high(self) -> FloatArray: ...
    @property
    def perp_low(self) -> FloatArray: ...
    @property
    def perp_close(self) -> FloatArray: ...
    @property
    def perp_is_real(self) -> npt.NDArray[np.bool_]: ...
    @property
    def funding_time_ms(self) -> IntArray: ...
    @property
    def funding_rate_text(self) -> tuple[str, ...]: ...
    @property
    def funding_mark(self) -> FloatArray: ...
    @property
    def sources(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class BacktestSpec:
    """One backtest: the exposure, the policy and its parameters, costs, and the window.

    ``quantity`` is the holding (``purchase`` False, short hedge) or the quantity to buy
    (``purchase`` True, long hedge). ``start_ms``/``end_ms`` (None: the whole history) select
    bars opening in ``[start_ms, end_ms)``.
    """

    asset: str
    quantity: Decimal
    purchase: bool = False
    policy: str = "static"
    leverage: Decimal = Decimal(2)
    margin_mode: MarginMode = MarginMode.ISOLATED
    decision_interval_ms: int = HOUR_MS
    hedge_band_pct: Decimal = Decimal(2)
    leverage_band: tuple[Decimal, Decimal] | None = None
    reserve_usdt: Decimal | None = None
    exposure_changes: tuple[ExposureChange, ...] = ()
    fees: FeeSchedule = BINANCE_USDM_STANDARD
    spot_fee_rate: Decimal = Decimal("0.001")
    slippage_bps: Decimal = ZERO
    start_ms: int | None = None
    end_ms: int | None = None
    rebalance_down: bool = True
    # Carry policies (funding-guard, quarterly, auto): see planning.carry_policies.
    roll_days_before_expiry: int = 7
    switch_to_delivery: bool = False
    funding_threshold_per_year: Decimal = Decimal("0.10")
    # Managed policy triggers, as multiples of the leverage (None: the policy's defaults).
    trigger_up_ratio: Decimal | None = None
    trigger_down_ratio: Decimal | None = None

    def __post_init__(self) -> None:
        if not self.quantity.is_finite() or self.quantity <= 0:
            raise InputError("quantity", "a number greater than 0", str(self.quantity))
        names = policy_names()
        if self.policy not in names:
            raise InputError("policy", f"one of {', '.join(names)}", self.policy)
        if self.decision_interval_ms <= 0:
            raise InputError("decision_interval_ms", "a positive number of ms",
                             self.decision_interval_ms)
        if self.slippage_bps < 0:
            raise InputError("slippage_bps", "0 or more", str(self.slippage_bps))
