"""The shapes a hedge is shown in: one pydantic model per answer, shared by the CLI and the API.

``perphedge status --json`` prints :class:`HedgeView` rows and ``GET /api/hedges`` returns the
same model, so the two never drift apart. Decimals serialise as exact strings (pydantic's JSON
mode), never as floats.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LegPnl(_Frozen):
    """Realised and unrealised PnL of one leg in USDT (None: not known yet)."""

    realized: Decimal
    unrealized: Decimal | None


class HedgeView(_Frozen):
    """One hedge as of its last cycle, with its accounts (USDT unless named otherwise)."""

    name: str
    asset: str
    kind: str = Field(description="holding (short hedge) or purchase (long hedge)")
    state: str
    spot_quantity: Decimal | None = None
    target_quantity: Decimal | None = None
    hedge_quantity: Decimal | None = None
    drift: Decimal | None = Field(None, description="hedge − target, in the asset")
    drift_pct: Decimal | None = None
    mark_price: Decimal | None = None
    liquidation_price: Decimal | None = None
    runway_pct: Decimal | None = Field(None, description="% move of the mark to liquidation")
    margin_ratio: Decimal | None = Field(
        None, description="maintenance margin / margin balance (1: liquidation)")
    hedge_entry_price: Decimal | None = None
    locked_value: Decimal | None = Field(None, description="hedge size × average entry")
    hedged_value: Decimal | None = Field(
        None, description="holding: spot at mark + hedge PnL + funding − fees; "
                          "purchase: cost to buy at mark − that")
    deviation_pct: Decimal | None = Field(None, description="(hedged − locked) / locked × 100")
    unrealized_pnl: Decimal | None = None
    realized_pnl: Decimal | None = None
    hedge_leg: LegPnl | None = None
    spot_leg: LegPnl | None = None
    funding_total: Decimal = Field(description="net funding, > 0 received")
    funding_received: Decimal
    funding_paid: Decimal
    funding_is: Literal["income", "cost"]
    fees_total: Decimal
    effective_locked_price: Decimal | None = Field(
        None, description="price per unit locked after realised PnL, funding and fees")
    hedge_effectiveness: Decimal | None = Field(
        None, description="dollar offset −ΔPnL(hedge) / ΔPnL(exposure) over the snapshots")
    last_cycle_at: str | None = None
    lease_holder: str | None = None


class HistoryPage(_Frozen):
    """One page of a hedge's history, newest first within each list."""

    hedge: str
    offset: int
    limit: int
    decisions: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    fills: list[dict[str, Any]]
    funding: list[dict[str, Any]]
    margin_moves: list[dict[str, Any]]
    alerts: list[dict[str, Any]]


class SeriesPoint(_Frozen):
    """One snapshot with the values the charts draw."""

    time: str
    ts_ms: int
    spot_quantity: Decimal
    hedge_quantity: Decimal
    mark_price: Decimal
    liquidation_price: Decimal | None
    unhedged_value: Decimal
    hedged_value: Decimal
    funding_cumulative: Decimal
    fees_cumulative: Decimal


class Series(_Frozen):
    """Snapshots of a hedge over time, oldest first."""

    hedge: str
    points: list[SeriesPoint]


class StateChange(_Frozen):
    """The answer to pause and resume."""

    hedge: str
    state: str


class CloseAnswer(_Frozen):
    """What a close did (``sent``) or would do (a dry run): the exact orders, one per line."""

    hedge: str
    sent: bool
    status: str
    orders: list[str]
    lines: list[str]
