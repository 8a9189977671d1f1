"""Carry policies (funding-guard, quarterly, auto): pure decisions on hand-built states."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perphedge.domain.types import ContractKind, MarginMode, Side
from perphedge.errors import InputError
from perphedge.planning.carry_policies import (
    AutoPolicy,
    FundingGuardPolicy,
    QuarterlyPolicy,
    funding_cost_per_year,
)
from perphedge.planning.hedge_state import AdjustHedge, Alert, ContractQuote, HedgeState, Roll
from perphedge.planning.policies import ManagedPolicy, PolicyParams, get_policy, policy_names

D = Decimal
DAY = 86_400_000
HOUR = 3_600_000
NOW = 1_760_000_000_000 - 1_760_000_000_000 % DAY  # a UTC midnight
PARAMS = PolicyParams(leverage=D(2))
PERP = ContractQuote("BTCUSDT", ContractKind.PERPETUAL, D(100000))


def delivery(symbol: str, days: int, price: str) -> ContractQuote:
    return ContractQuote(symbol, ContractKind.DELIVERY, D(price), NOW + days * DAY)


NEAR = delivery("BTCUSDT_A", 30, "100800")
FAR = delivery("BTCUSDT_B", 120, "102000")


def settlements(rate: str, days: int = 7, end: int = NOW) -> tuple[tuple[int, Decimal], ...]:
    """Every 8 h settlement in the ``days`` before ``end`` at ``rate``."""
    return tuple((end - k * 8 * HOUR, D(rate)) for k in range(days * 3 - 1, -1, -1))


def state(*, symbol: str = "BTCUSDT", hedge: str = "5", mark: str = "100000",
          contracts: tuple[ContractQuote, ...] = (PERP, NEAR, FAR), rate: str = "0.0001",
          side: Side = Side.SHORT) -> HedgeState:
    """A 5 BTC holding hedged at 2x (margin balance = notional / 2), on ``symbol``."""
    qty = D(hedge)
    price = D(mark)
    return HedgeState(
        hedge_side=side, margin_mode=MarginMode.ISOLATED, spot_qty=D(5),
        target_exposure_qty=D(5), hedge_qty=qty, entry_price=price,
        isolated_margin_usdt=qty * price / 2, mark_price=price, spot_price=D(100000),
        spot_usdt=D(260000) if qty == 0 else D(0), futures_wallet_usdt=D(0),
        reserve_usdt=D(0), liquidation_price=None, opened_before=qty > 0,
        hedge_symbol=symbol, now_ms=NOW, contracts=contracts,
        funding_settlements=settlements(rate),
    )


def test_the_carry_policies_are_registered_with_the_others() -> None:
    assert policy_names() == ("static", "managed", "reserve", "funding-guard", "quarterly",
                              "auto")
    assert get_policy("quarterly").name == "quarterly"
    with pytest.raises(InputError):
        get_policy("carry")


def test_a_roll_must_go_somewhere_else_and_a_delivery_quote_needs_its_expiry() -> None:
    with pytest.raises(InputError):
        Roll("BTCUSDT", "BTCUSDT", D(1))
    with pytest.raises(InputError):
        ContractQuote("BTCUSDT_A", ContractKind.DELIVERY, D(1))


def test_quarterly_opens_a_flat_hedge_in_the_nearest_contract_at_its_price() -> None:
    actions = QuarterlyPolicy().decide(state(hedge="0"), PARAMS)
    opens = [a for a in actions if isinstance(a, AdjustHedge)]
    assert opens == [AdjustHedge(D(5), "BTCUSDT_A")]


def test_quarterly_rolls_the_whole_hedge_into_the_next_contract_inside_the_roll_window() -> None:
    expiring = delivery("BTCUSDT_A", 7, "100050")
    s = state(symbol="BTCUSDT_A", contracts=(PERP, expiring, FAR), mark="100050")
    assert QuarterlyPolicy().decide(s, PARAMS) == (Roll("BTCUSDT_A", "BTCUSDT_B", D(5)),)
    eight_days = delivery("BTCUSDT_A", 8, "100050")
    calm = replace(s, contracts=(PERP, eight_days, FAR))
    assert QuarterlyPolicy().decide(calm, PARAMS) == ManagedPolicy().decide(calm, PARAMS)


def test_quarterly_rolls_out_of_a_held_contract_that_left_its_series() -> None:
    # The CME second-month chain: the held contract is no longer quoted once the next one
    # takes its place, though it is still 30 days from expiry.
    s = state(symbol="BTCG20", contracts=(PERP, FAR), mark="100050")
    assert QuarterlyPolicy().decide(s, PARAMS) == (Roll("BTCG20", "BTCUSDT_B", D(5)),)
    still_quoted = replace(s, contracts=(PERP, delivery("BTCG20", 30, "100050"), FAR))
    assert QuarterlyPolicy().decide(still_quoted, PARAMS) == ManagedPolicy().decide(
        still_quoted, PARAMS)


def test_quarterly_falls_back_to_the_perpetual_and_says_so_when_nothing_is_listed() -> None:
    expiring = delivery("BTCUSDT_A", 3, "100010")
    s = state(symbol="BTCUSDT_A", contracts=(PERP, expiring), mark="100010")
    roll, alert = QuarterlyPolicy().decide(s, PARAMS)
    assert roll == Roll("BTCUSDT_A", "BTCUSDT", D(5))
    assert isinstance(alert, Alert)
    assert alert.code == "no_delivery_contract"


def test_funding_cost_is_minus_the_carry_of_the_hedge_side() -> None:
    # 0.01 % per 8 h = 10.95 %/yr paid by longs: a short earns it, a long pays it.
    assert funding_cost_per_year(state(), 7) == D("-0.1095")
    assert funding_cost_per_year(state(side=Side.LONG), 7) == D("0.1095")


def test_funding_guard_alerts_once_when_the_cost_crosses_the_threshold() -> None:
    # A short hedge pays when the rate is negative. Twenty settlements at 0, then one at
    # -0.21 % lands at NOW: the 7-day mean is -0.01 % per 8 h, a cost of 10.95 %/yr.
    quiet = replace(state(), funding_settlements=(
        *settlements("0", end=NOW - 8 * HOUR), (NOW, D("-0.0021"))))
    first = FundingGuardPolicy().decide(quiet, PARAMS)
    assert isinstance(first[0], Alert)
    assert first[0].code == "funding_cost_high"
    assert "10.95" in first[0].message
    later = replace(quiet, now_ms=NOW + HOUR)  # still above, already said: no second alert
    assert not any(isinstance(a, Alert) for a in FundingGuardPolicy().decide(later, PARAMS))
    earning = state(rate="0.0021")
    assert FundingGuardPolicy().decide(earning, PARAMS) == ManagedPolicy().decide(
        earning, PARAMS)


def test_funding_guard_with_switch_rolls_into_the_cheapest_delivery_contract() -> None:
    params = replace(PARAMS, switch_to_delivery=True)
    s = state(rate="-0.0002")
    # NEAR: 0.8 % over 30 days ≈ 9.7 %/yr for a short; FAR: 2 % over 120 days ≈ 6.1 %/yr.
    assert FundingGuardPolicy().decide(s, params) == (Roll("BTCUSDT", "BTCUSDT_A", D(5)),)


def test_auto_leaves_the_perpetual_when_a_delivery_earns_clearly_more() -> None:
    # Short earning 0 on funding; NEAR earns ≈ 9.7 %/yr before fees: beyond the 2 % margin.
    s = state(rate="0")
    assert AutoPolicy().decide(s, PARAMS) == (Roll("BTCUSDT", "BTCUSDT_A", D(5)),)


def quarter_apart(perp_per_year: Decimal, gap: Decimal) -> HedgeState:
    """A short in the perpetual at ``perp_per_year`` funding and one delivery contract whose
    basis earns ``perp_per_year + gap`` per year, 90 days left (same fee drag as the perp's
    90-day horizon, so the carries after fees differ by exactly ``gap``)."""
    basis = (perp_per_year + gap) * 90 / 365
    quarter = ContractQuote("BTCUSDT_Q", ContractKind.DELIVERY,
                            D(100000) * (1 + basis), NOW + 90 * DAY)
    rate = perp_per_year / (3 * 365)
    s = state(contracts=(PERP, quarter))
    return replace(s, funding_settlements=tuple((t, rate) for t, _ in s.funding_settlements))


rates = st.decimals(min_value=D("-0.3"), max_value=D("0.3"), places=4)
inside = st.decimals(min_value=D("-0.0199"), max_value=D("0.0199"), places=4)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(rates, inside), min_size=1, max_size=30))
def test_auto_never_flaps_while_the_carries_stay_within_the_margin(
    path: list[tuple[Decimal, Decimal]],
) -> None:
    held = "BTCUSDT"
    for perp_per_year, gap in path:
        s = replace(quarter_apart(perp_per_year, gap), hedge_symbol=held)
        if held != "BTCUSDT":
            s = replace(s, mark_price=s.contracts[1].price_usdt)
        actions = AutoPolicy().decide(s, PARAMS)
        assert not any(isinstance(a, Roll) for a in actions), (perp_per_year, gap, held)
        held = "BTCUSDT_Q" if held == "BTCUSDT" else "BTCUSDT"  # either contract is held


@settings(max_examples=50, deadline=None)
@given(rates, st.decimals(min_value=D("0.021"), max_value=D("0.2"), places=4))
def test_auto_switches_once_the_gap_passes_the_margin(perp_per_year: Decimal,
                                                      gap: Decimal) -> None:
    actions = AutoPolicy().decide(quarter_apart(perp_per_year, gap), PARAMS)
    assert actions == (Roll("BTCUSDT", "BTCUSDT_Q", D(5)),)


@pytest.mark.parametrize("policy", [FundingGuardPolicy(), QuarterlyPolicy(), AutoPolicy()])
@pytest.mark.parametrize("hedge", ["0", "5"])
def test_without_contracts_or_funding_history_a_carry_policy_acts_as_managed(
    policy: FundingGuardPolicy | QuarterlyPolicy | AutoPolicy, hedge: str,
) -> None:
    # What a caller that fills only the original fields (e.g. an older live observer) sees.
    bare = replace(state(hedge=hedge), contracts=(), funding_settlements=(), hedge_symbol="")
    assert policy.decide(bare, PARAMS) == ManagedPolicy().decide(bare, PARAMS)
