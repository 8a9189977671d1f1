"""The hedge planner: golden plans for long and short, isolated and cross, and its warnings."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perphedge.adapters.marketdata.bundled import BundledMarketData, bundled_brackets
from perphedge.domain.adverse_move import AdverseMove, largest_adverse_move_across_gaps
from perphedge.domain.funding import FundingDirection
from perphedge.domain.money import to_cents
from perphedge.domain.types import ExposureKind, MarginMode, Side
from perphedge.errors import InputError
from perphedge.planning.hedge_plan import Exposure, PlanRequest, plan_hedge

BTC = BundledMarketData().instrument("BTC")
BRACKETS = bundled_brackets("BTCUSDT")


def request(qty: str = "5", *, purchase: bool = False, **kw: object) -> PlanRequest:
    kind = ExposureKind.PURCHASE if purchase else ExposureKind.HOLDING
    fields: dict[str, object] = {
        "exposure": Exposure("BTC", Decimal(qty), kind),
        "instrument": BTC,
        "brackets": BRACKETS,
        "mark_price": Decimal(90000),
        "leverage": Decimal(2),
    }
    fields.update(kw)
    return PlanRequest(**fields)  # type: ignore[arg-type]


def codes(plan_warnings: object) -> set[str]:
    return {w.code for w in plan_warnings}  # type: ignore[attr-defined]


def test_short_isolated_2x_golden() -> None:
    plan = plan_hedge(request(funding_rate=Decimal("0.0001")))
    assert plan.order.side is Side.SHORT
    assert plan.order.qty_base == Decimal(5)
    assert plan.order.notional_usdt == Decimal(450000)
    assert plan.risk.initial_margin_usdt == Decimal(225000)
    assert plan.risk.maintenance_margin_usdt == Decimal(2200)
    assert plan.risk.entry_bracket.maint_margin_rate == Decimal("0.005")
    assert plan.risk.liquidation_price_usdt is not None
    assert to_cents(plan.risk.liquidation_price_usdt) == Decimal("134316.94")
    assert plan.risk.runway_pct.quantize(Decimal("0.01")) == Decimal("49.24")
    assert plan.entry_fee_usdt == Decimal(225)
    assert plan.funding is not None
    assert plan.funding.direction is FundingDirection.RECEIVE
    assert plan.funding.received_per_interval_usdt == Decimal(45)
    assert plan.funding.received_per_day_usdt == Decimal(135)
    assert plan.funding.annualized_pct == Decimal("10.95")
    assert codes(plan.warnings) == set()


def test_long_purchase_pays_positive_funding_and_is_warned() -> None:
    plan = plan_hedge(request("3", purchase=True, funding_rate=Decimal("0.0001")))
    assert plan.order.side is Side.LONG
    assert plan.funding is not None
    assert plan.funding.direction is FundingDirection.PAY
    assert plan.funding.received_per_day_usdt == Decimal(-81)
    # 3 BTC long at 90,000, 2x: WB 135,000, bracket 2 → LP = (135000+50−270000)/(3×0.005−3)
    assert plan.risk.liquidation_price_usdt is not None
    assert to_cents(plan.risk.liquidation_price_usdt) == Decimal("45209.38")
    assert "funding_paid" in codes(plan.warnings)
    assert plan.self_funded is None


def test_cross_uses_the_whole_available_wallet() -> None:
    isolated = plan_hedge(request(usdt_available=Decimal(300000)))
    cross = plan_hedge(request(usdt_available=Decimal(300000), margin_mode=MarginMode.CROSS))
    assert isolated.risk.wallet_balance_usdt == Decimal(225000)
    assert cross.risk.wallet_balance_usdt == Decimal(300000)
    assert cross.risk.liquidation_price_usdt is not None
    assert isolated.risk.liquidation_price_usdt is not None
    assert cross.risk.liquidation_price_usdt > isolated.risk.liquidation_price_usdt


def test_shortfall_offers_the_self_funded_alternative() -> None:
    # 5 BTC at 2x: sell 5/3 = 1.667 (after rounding the hedge down to 3.333), hedge 3.333.
    plan = plan_hedge(request(usdt_available=Decimal(1000)))
    assert plan.margin_shortfall_usdt == Decimal(224000)
    sf = plan.self_funded
    assert sf is not None
    assert sf.hedge.qty_base == Decimal("3.333")
    assert sf.sell_qty_base == Decimal("1.667")
    assert sf.sell_proceeds_usdt == Decimal("150030")
    assert sf.sell_proceeds_usdt >= sf.risk.initial_margin_usdt
    # Locked value is the same: the sold part is cash, the rest is hedged.
    assert sf.sell_proceeds_usdt + sf.hedge.notional_usdt == plan.locked_value_usdt
    assert "margin_shortfall" in codes(plan.warnings)


def test_rounding_remainder_is_reported() -> None:
    plan = plan_hedge(request("5.0004"))
    assert plan.order.qty_base == Decimal("5.000")
    assert plan.remainder_qty_base == Decimal("0.0004")
    assert "rounding_remainder" in codes(plan.warnings)


def test_high_leverage_and_short_runway_are_warned() -> None:
    move = AdverseMove(Side.SHORT, 45.0, 0, 86_400_000 * 20, 100.0, 145.0, 30)
    plan = plan_hedge(request(leverage=Decimal(5), adverse_move=move))
    assert {"leverage_above_2", "runway_below_history"} <= codes(plan.warnings)
    message = next(w.message for w in plan.warnings if w.code == "runway_below_history")
    assert "45.0%" in message
    assert "1970-01-01" in message


def test_leverage_above_the_bracket_maximum_is_rejected() -> None:
    with pytest.raises(InputError, match="at most 100x") as err:
        plan_hedge(request(leverage=Decimal(101)))
    assert err.value.field == "leverage"


def test_quantity_below_minimum_after_rounding_is_rejected() -> None:
    with pytest.raises(InputError) as err:
        plan_hedge(request("0.0009"))
    assert err.value.field == "quantity"


@settings(max_examples=100, deadline=None)
@given(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal(50), places=4),
    st.integers(min_value=1, max_value=10),
    st.booleans(),
)
def test_plan_invariants(qty: Decimal, lev: int, purchase: bool) -> None:
    plan = plan_hedge(request(str(qty), purchase=purchase, leverage=Decimal(lev)))
    assert plan.order.qty_base + plan.remainder_qty_base == qty
    assert plan.order.qty_base <= qty
    lp = plan.risk.liquidation_price_usdt
    if plan.order.side is Side.SHORT:
        assert lp is not None
        assert lp > Decimal(90000)
    else:
        assert lp is None or lp < Decimal(90000)


def test_adverse_move_does_not_span_holes_in_the_data() -> None:
    day = 86_400_000
    t = np.array([0, day, 2 * day, 500 * day, 501 * day], dtype=np.int64)
    close = np.array([100.0, 100.0, 100.0, 400.0, 410.0])
    move = largest_adverse_move_across_gaps(Side.SHORT, t, close, close, close, 30, 3 * day)
    # Without splitting, 100 → 410 would look like a 310 % move in 30 bars.
    assert round(move.move_pct, 2) == 2.5
