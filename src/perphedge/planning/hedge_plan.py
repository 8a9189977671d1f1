"""The opening plan of a hedge: order, margin, liquidation, runway, funding, fees, warnings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from perphedge.domain.adverse_move import AdverseMove
from perphedge.domain.brackets import Bracket, BracketTable
from perphedge.domain.fees import BINANCE_USDM_STANDARD, FeeSchedule
from perphedge.domain.funding import (
    FundingDirection,
    annualized_rate,
    funding_direction,
    funding_received,
    settlements_per_day,
)
from perphedge.domain.instrument import Instrument
from perphedge.domain.liquidation import solve_liquidation
from perphedge.domain.margin import initial_margin
from perphedge.domain.money import HUNDRED, ONE, ZERO
from perphedge.domain.types import ExposureKind, MarginMode, Side
from perphedge.errors import InputError

#: Above this leverage the plan warns: the hedge is then easy to liquidate.
SAFE_LEVERAGE = Decimal(2)


@dataclass(frozen=True, slots=True)
class Exposure:
    """What is to be hedged: a holding to protect (short hedge) or a purchase to lock (long)."""

    asset: str
    qty_base: Decimal
    kind: ExposureKind = ExposureKind.HOLDING

    def __post_init__(self) -> None:
        if not self.qty_base.is_finite() or self.qty_base <= 0:
            raise InputError("quantity", "a number greater than 0", str(self.qty_base))

    @property
    def hedge_side(self) -> Side:
        return self.kind.hedge_side


@dataclass(frozen=True, slots=True)
class PlanRequest:
    """Everything the planner needs; the caller has already fetched it (no I/O here)."""

    exposure: Exposure
    instrument: Instrument
    brackets: BracketTable
    mark_price: Decimal
    leverage: Decimal
    margin_mode: MarginMode = MarginMode.ISOLATED
    fees: FeeSchedule = BINANCE_USDM_STANDARD
    usdt_available: Decimal | None = None
    funding_rate: Decimal | None = None
    adverse_move: AdverseMove | None = None


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An order the plan would send: market, at the reference price for sizing."""

    symbol: str
    side: Side
    qty_base: Decimal
    price_usdt: Decimal
    reduce_only: bool = False

    @property
    def notional_usdt(self) -> Decimal:
        return self.qty_base * self.price_usdt


@dataclass(frozen=True, slots=True)
class FundingEstimate:
    """Funding at the current rate, from the position's point of view (positive: received)."""

    rate_per_interval: Decimal
    interval_hours: int
    received_per_interval_usdt: Decimal
    received_per_day_usdt: Decimal
    annualized_pct: Decimal
    direction: FundingDirection


@dataclass(frozen=True, slots=True)
class RiskFigures:
    """Margin and liquidation of one sized position."""

    wallet_balance_usdt: Decimal
    initial_margin_usdt: Decimal
    maintenance_margin_usdt: Decimal
    entry_bracket: Bracket
    liquidation_price_usdt: Decimal | None
    liquidation_bracket: Bracket | None
    runway_pct: Decimal


@dataclass(frozen=True, slots=True)
class SelfFunded:
    """Sell part of the holding to fund the margin: sell Q/(L+1), hedge L·Q/(L+1)."""

    sell_qty_base: Decimal
    sell_proceeds_usdt: Decimal
    hedge: OrderIntent
    risk: RiskFigures


@dataclass(frozen=True, slots=True)
class PlanWarning:
    """Something the user must know before opening; ``code`` is stable for machines."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class HedgePlan:
    """The result of :func:`plan_hedge`; exact Decimals (presenters round for display)."""

    request: PlanRequest
    order: OrderIntent
    remainder_qty_base: Decimal
    locked_value_usdt: Decimal
    risk: RiskFigures
    funding: FundingEstimate | None
    entry_fee_usdt: Decimal
    margin_shortfall_usdt: Decimal
    self_funded: SelfFunded | None
    warnings: tuple[PlanWarning, ...]


def runway_pct(side: Side, mark_price: Decimal, liquidation_price: Decimal | None) -> Decimal:
    """Percent move of the mark that reaches liquidation (100 when it never can, for a long).

    >>> runway_pct(Side.SHORT, Decimal(100), Decimal(150))
    Decimal('50.0')
    """
    if liquidation_price is None:
        return HUNDRED
    return side.sign * (mark_price - liquidation_price) / mark_price * HUNDRED


def _risk(
    req: PlanRequest, side: Side, qty_base: Decimal, wallet_balance_usdt: Decimal
) -> RiskFigures:
    notional = qty_base * req.mark_price
    entry_bracket = req.brackets.for_notional(notional)
    liquidation = solve_liquidation(
        side, qty_base, req.mark_price, wallet_balance_usdt, req.brackets
    )
    return RiskFigures(
        wallet_balance_usdt=wallet_balance_usdt,
        initial_margin_usdt=initial_margin(notional, req.leverage),
        maintenance_margin_usdt=entry_bracket.maintenance_margin(notional),
        entry_bracket=entry_bracket,
        liquidation_price_usdt=liquidation.price_usdt,
        liquidation_bracket=liquidation.bracket,
        runway_pct=runway_pct(side, req.mark_price, liquidation.price_usdt),
    )


def _wallet_for(req: PlanRequest, margin_usdt: Decimal) -> Decimal:
    """Isolated: the position's margin is its wallet. Cross: the whole available USDT, if more."""
    if req.margin_mode is MarginMode.CROSS and req.usdt_available is not None:
        return max(req.usdt_available, margin_usdt)
    return margin_usdt


def _funding(req: PlanRequest, side: Side, qty_base: Decimal) -> FundingEstimate | None:
    interval = req.instrument.funding_interval_hours
    if req.funding_rate is None or interval is None:
        return None
    per_interval = funding_received(side, qty_base, req.mark_price, req.funding_rate)
    received_rate = -side.sign * req.funding_rate
    return FundingEstimate(
        rate_per_interval=req.funding_rate,
        interval_hours=interval,
        received_per_interval_usdt=per_interval,
        received_per_day_usdt=per_interval * settlements_per_day(interval),
        annualized_pct=annualized_rate(received_rate, interval) * HUNDRED,
        direction=funding_direction(side, req.funding_rate),
    )


def _self_funded(req: PlanRequest, side: Side) -> SelfFunded | None:
    exposure = req.exposure
    if exposure.kind is not ExposureKind.HOLDING:
        return None
    lev = req.leverage
    hedge_qty = req.instrument.round_qty(exposure.qty_base * lev / (lev + ONE))
    if hedge_qty < req.instrument.min_qty:
        return None
    sell_qty = exposure.qty_base - hedge_qty
    proceeds = sell_qty * req.mark_price
    hedge = OrderIntent(req.instrument.symbol, side, hedge_qty, req.mark_price)
    return SelfFunded(sell_qty, proceeds, hedge, _risk(req, side, hedge_qty, proceeds))


def _date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def _warnings(
    req: PlanRequest,
    risk: RiskFigures,
    funding: FundingEstimate | None,
    remainder: Decimal,
    shortfall: Decimal,
) -> tuple[PlanWarning, ...]:
    side = req.exposure.hedge_side
    base = req.instrument.base
    out: list[PlanWarning] = []
    if req.leverage > SAFE_LEVERAGE:
        out.append(PlanWarning(
            "leverage_above_2",
            f"leverage {req.leverage}x is above 2x: a {risk.runway_pct:.1f}% move "
            f"{'up' if side is Side.SHORT else 'down'} liquidates the hedge and breaks it",
        ))
    if risk.runway_pct <= 0:
        out.append(PlanWarning(
            "liquidated_at_entry",
            "the margin does not cover maintenance: the position would be liquidated at once",
        ))
    move = req.adverse_move
    if move is not None and risk.runway_pct < Decimal(str(round(move.move_pct, 6))):
        direction = "rose" if side is Side.SHORT else "fell"
        out.append(PlanWarning(
            "runway_below_history",
            f"runway {risk.runway_pct:.1f}% is smaller than real history: {base} {direction} "
            f"{move.move_pct:.1f}% within {move.horizon_bars} days, from {move.from_price:,.2f} "
            f"on {_date(move.start_ms)} to {move.to_price:,.2f} on {_date(move.end_ms)}; "
            f"without margin top-ups this hedge would have been liquidated",
        ))
    if funding is not None and funding.direction is FundingDirection.PAY:
        out.append(PlanWarning(
            "funding_paid",
            f"at the current rate this {side.value} hedge pays funding: "
            f"{-funding.received_per_day_usdt:,.2f} USDT a day "
            f"({-funding.annualized_pct:.2f}% a year of the notional)",
        ))
    if remainder > 0:
        out.append(PlanWarning(
            "rounding_remainder",
            f"{remainder} {base} stays unhedged: the order is rounded down to the lot step "
            f"{req.instrument.lot_step}",
        ))
    if shortfall > 0:
        out.append(PlanWarning(
            "margin_shortfall",
            f"available {req.usdt_available} USDT is {shortfall:,.2f} short of the initial "
            f"margin; see the self-funded alternative",
        ))
    return tuple(out)


def plan_hedge(req: PlanRequest) -> HedgePlan:
    """Size and price the hedge for ``req``: the core of ``perphedge plan``.

    Raises :class:`InputError` for a leverage outside (0, bracket max] or an order below the
    instrument's minimums after rounding down.
    """
    instrument = req.instrument
    side = req.exposure.hedge_side
    if not req.mark_price.is_finite() or req.mark_price <= 0:
        raise InputError("price", "a number greater than 0", str(req.mark_price))
    if not req.leverage.is_finite() or req.leverage <= 0:
        raise InputError("leverage", "a number greater than 0", str(req.leverage))
    qty = instrument.round_qty(req.exposure.qty_base)
    instrument.check_order(qty, req.mark_price)
    notional = qty * req.mark_price
    max_lev = req.brackets.max_leverage(notional)
    if req.leverage > max_lev:
        raise InputError(
            "leverage",
            f"at most {max_lev}x for a {instrument.symbol} position of {notional:,.0f} USDT",
            str(req.leverage),
        )
    order = OrderIntent(instrument.symbol, side, qty, req.mark_price)
    margin = initial_margin(notional, req.leverage)
    risk = _risk(req, side, qty, _wallet_for(req, margin))
    funding = _funding(req, side, qty)
    shortfall = ZERO
    self_funded = None
    if req.usdt_available is not None and req.usdt_available < margin:
        shortfall = margin - req.usdt_available
        self_funded = _self_funded(req, side)
    remainder = req.exposure.qty_base - qty
    return HedgePlan(
        request=req,
        order=order,
        remainder_qty_base=remainder,
        locked_value_usdt=req.exposure.qty_base * req.mark_price,
        risk=risk,
        funding=funding,
        entry_fee_usdt=req.fees.fee(notional),
        margin_shortfall_usdt=shortfall,
        self_funded=self_funded,
        warnings=_warnings(req, risk, funding, remainder, shortfall),
    )
