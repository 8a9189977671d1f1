"""Use case: plan a hedge from user options, market data and history (``perphedge plan``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from perphedge.domain.adverse_move import AdverseMove, largest_adverse_move_across_gaps
from perphedge.domain.money import to_decimal
from perphedge.domain.types import ExposureKind, MarginMode
from perphedge.errors import InputError
from perphedge.parse import non_negative_amount, positive_amount
from perphedge.planning.hedge_plan import Exposure, HedgePlan, PlanRequest, plan_hedge
from perphedge.services.ports import MarketData, MarketSnapshot, PriceHistory

DAY_MS = 86_400_000
#: A hole in daily history longer than this splits it (2 days: single missing days are joined).
MAX_DAILY_STEP_MS = 3 * DAY_MS


@dataclass(frozen=True, slots=True)
class PlanOptions:
    """Raw user input for a plan, as typed (strings are parsed and checked here)."""

    asset: str
    quantity: str
    purchase: bool = False
    leverage: str = "2"
    margin_mode: str = "isolated"
    price: str | None = None
    usdt_available: str | None = None
    funding_rate: str | None = None
    horizon_days: int = 30


@dataclass(frozen=True, slots=True)
class PlanResult:
    """A plan with the market context it was made in."""

    plan: HedgePlan
    snapshot: MarketSnapshot
    price_source: str
    funding_source: str
    sources: dict[str, str]


def _margin_mode(text: str) -> MarginMode:
    try:
        return MarginMode(text.lower())
    except ValueError:
        raise InputError("--margin-mode", "isolated or cross", text) from None


def _funding_rate(text: str) -> Decimal:
    rate = to_decimal(text, "--funding-rate")
    if abs(rate) >= Decimal("0.05"):
        raise InputError(
            "--funding-rate", "a fraction per funding interval, e.g. 0.0001 for 0.01 %", text
        )
    return rate


def historical_move(
    history: PriceHistory, asset: str, exposure: Exposure, days: int
) -> AdverseMove:
    """The largest move against this hedge in the bundled daily history over ``days``."""
    bars = history.daily_bars(asset)
    return largest_adverse_move_across_gaps(
        exposure.hedge_side, bars.open_time_ms, bars.close, bars.high, bars.low, days,
        MAX_DAILY_STEP_MS,
    )


def make_plan(options: PlanOptions, market: MarketData, history: PriceHistory) -> PlanResult:
    """Parse and check ``options``, gather market data, and run the planner."""
    quantity = positive_amount(options.quantity, "--quantity")
    leverage = positive_amount(options.leverage, "--leverage")
    mode = _margin_mode(options.margin_mode)
    price = positive_amount(options.price, "--price") if options.price is not None else None
    usdt = (
        non_negative_amount(options.usdt_available, "--usdt-available")
        if options.usdt_available is not None
        else None
    )
    rate = _funding_rate(options.funding_rate) if options.funding_rate is not None else None
    if options.horizon_days < 1:
        raise InputError(
            "--horizon-days", "a whole number of days of at least 1", options.horizon_days
        )

    instrument = market.instrument(options.asset)
    kind = ExposureKind.PURCHASE if options.purchase else ExposureKind.HOLDING
    exposure = Exposure(instrument.base, quantity, kind)
    snapshot = market.snapshot(instrument)
    request = PlanRequest(
        exposure=exposure,
        instrument=instrument,
        brackets=market.brackets(instrument),
        mark_price=price if price is not None else snapshot.mark_price,
        leverage=leverage,
        margin_mode=mode,
        usdt_available=usdt,
        funding_rate=rate if rate is not None else snapshot.funding_rate,
        adverse_move=historical_move(history, instrument.base, exposure, options.horizon_days),
    )
    try:
        plan = plan_hedge(request)
    except InputError as err:
        # The planner names its own fields; the user knows them as options.
        field = {"notional": "quantity"}.get(err.field, err.field)
        given = {"quantity": options.quantity, "leverage": options.leverage}.get(field, err.got)
        raise InputError(f"--{field}", err.expected, given) from None
    return PlanResult(
        plan=plan,
        snapshot=snapshot,
        price_source="given" if price is not None else snapshot.source,
        funding_source="given" if rate is not None else snapshot.source,
        sources=market.describe_sources(),
    )
