"""Use case: plan a hedge from user options, market data and history (``perphedge plan``).

Options arrive as typed values (the CLI parses the user's text with ``perphedge.parse``); the
checks that need the contract or the brackets (a notional above the largest bracket) are the
planner's, and are reported here under the CLI option's name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal

from perphedge.domain.adverse_move import AdverseMove, largest_adverse_move_across_gaps
from perphedge.domain.funding_history import long_funding_over_horizon
from perphedge.domain.types import ExposureKind, MarginMode
from perphedge.errors import InputError
from perphedge.planning.hedge_plan import (
    Exposure,
    HedgePlan,
    PlanRequest,
    PlanWarning,
    plan_hedge,
)
from perphedge.services.ports import MarketData, MarketSnapshot, PriceHistory

DAY_MS = 86_400_000
#: A hole in daily history longer than this splits it (2 days: single missing days are joined).
MAX_DAILY_STEP_MS = 3 * DAY_MS


#: --funding-rate is a fraction per funding interval: this far from 0 it is a percent typed.
MAX_FUNDING_RATE = Decimal("0.05")


@dataclass(frozen=True, slots=True)
class PlanOptions:
    """What to plan, as typed values: what ``perphedge.parse`` makes of the user's text at the
    edge (the CLI). None: the market data's price or funding rate, and no USDT limit."""

    asset: str
    quantity: Decimal
    purchase: bool = False
    leverage: Decimal = Decimal(2)
    margin_mode: MarginMode = MarginMode.ISOLATED
    price: Decimal | None = None
    usdt_available: Decimal | None = None
    funding_rate: Decimal | None = None
    horizon_days: int = 30


@dataclass(frozen=True, slots=True)
class PlanResult:
    """A plan with the market context it was made in."""

    plan: HedgePlan
    snapshot: MarketSnapshot
    price_source: str
    funding_source: str
    sources: dict[str, str]


def historical_move(
    history: PriceHistory, asset: str, exposure: Exposure, days: int
) -> AdverseMove:
    """The largest move against this hedge in the bundled daily history over ``days``."""
    bars = history.daily_bars(asset)
    return largest_adverse_move_across_gaps(
        exposure.hedge_side, bars.open_time_ms, bars.close, bars.high, bars.low, days,
        MAX_DAILY_STEP_MS,
    )


def _purchase_funding(history: PriceHistory, asset: str, notional: Decimal,
                      days: int) -> list[PlanWarning]:
    """What a long hedge of this purchase would have paid in funding over ``days``, in
    history (median and worst window), when the history port has funding."""
    read = getattr(history, "funding_history", None)
    if read is None:
        return []
    times, rates = read(asset)
    seen = long_funding_over_horizon(times, rates, days)
    if seen is None:
        return []
    worst_day = datetime.fromtimestamp(seen.worst_start_ms / 1000, tz=UTC).date()
    usdt = notional / 100
    return [PlanWarning("purchase_funding", (
        f"a long hedge pays funding while the rate is positive: over {days} days in the "
        f"bundled history ({seen.windows} windows) a long paid a median "
        f"{seen.median_pct:.2f} % of its notional ({usdt * Decimal(repr(seen.median_pct)):.2f}"
        f" USDT here) and at worst {seen.worst_pct:.2f} % "
        f"({usdt * Decimal(repr(seen.worst_pct)):.2f} USDT, from {worst_day}); the managed "
        "policy cuts the hedge to what the cash can still buy as funding drains it"))]


def make_plan(options: PlanOptions, market: MarketData, history: PriceHistory) -> PlanResult:
    """Check ``options`` against the market, gather market data, and run the planner."""
    quantity, leverage, price = options.quantity, options.leverage, options.price
    rate = options.funding_rate
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
        margin_mode=options.margin_mode,
        usdt_available=options.usdt_available,
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
    if options.purchase:
        plan = replace(plan, warnings=(*plan.warnings, *_purchase_funding(
            history, instrument.base, plan.locked_value_usdt, options.horizon_days)))
    return PlanResult(
        plan=plan,
        snapshot=snapshot,
        price_source="given" if price is not None else snapshot.source,
        funding_source="given" if rate is not None else snapshot.source,
        sources=market.describe_sources(),
    )
