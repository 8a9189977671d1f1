"""Carry formulas: worked examples, sign convention, annualisation, fees and hysteresis."""

from __future__ import annotations

import doctest
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import perphedge.domain.carry as carry_module
from perphedge.domain.carry import (
    CarryQuote,
    annualized_basis,
    basis,
    carry_of,
    days_between,
    delivery_quote,
    fee_drag_per_year,
    mean_rate,
    perpetual_quote,
    recommend,
    trailing_rates,
)
from perphedge.domain.fees import BINANCE_USDM_STANDARD
from perphedge.domain.funding import funding_received
from perphedge.domain.types import ContractKind, Side
from perphedge.errors import InputError

TAKER = BINANCE_USDM_STANDARD.taker_rate
rates = st.decimals(min_value=Decimal("-0.003"), max_value=Decimal("0.003"), places=8)
prices = st.decimals(min_value=Decimal(1000), max_value=Decimal(200000), places=1)
day_counts = st.decimals(min_value=Decimal("0.5"), max_value=Decimal(400), places=4)


def test_the_worked_examples_in_the_docstrings_hold() -> None:
    result = doctest.testmod(carry_module)
    assert result.attempted >= 10
    assert result.failed == 0


def test_a_positive_rate_is_income_for_a_short_and_cost_for_a_long() -> None:
    # The funding convention: longs pay shorts at a positive rate; carry reuses it.
    assert carry_of(Side.SHORT, Decimal("0.05")) == Decimal("0.05")
    assert carry_of(Side.LONG, Decimal("0.05")) == Decimal("-0.05")
    assert carry_of(Side.SHORT, Decimal("0.05")) == funding_received(
        Side.SHORT, Decimal(1), Decimal(1), Decimal("0.05"))


def test_contango_is_income_for_a_short_hedge() -> None:
    q = delivery_quote("X", Decimal(101000), Decimal(100000), Decimal(73), Decimal(0))
    assert q.carry(Side.SHORT) == Decimal("0.05")
    assert q.carry(Side.LONG) == Decimal("-0.05")


def test_backwardation_is_income_for_a_long_hedge() -> None:
    q = delivery_quote("X", Decimal(99000), Decimal(100000), Decimal(73), Decimal(0))
    assert q.carry(Side.LONG) == Decimal("0.05")


def test_fee_drag_is_two_taker_fills_spread_over_the_holding() -> None:
    # 2 × 0.0005 × 365 / 365 = 0.1 %/yr: one round trip a year.
    assert fee_drag_per_year(TAKER, Decimal(365)) == Decimal("0.001")
    with pytest.raises(InputError, match="holding_days"):
        fee_drag_per_year(TAKER, Decimal(0))


def test_days_and_trailing_window_bounds() -> None:
    assert days_between(0, 86_400_000 * 7 + 8 * 3_600_000) == Decimal(22) / Decimal(3)
    day = 86_400_000
    settled = [(0, Decimal(1)), (day, Decimal(2)), (2 * day, Decimal(3))]
    # (as_of − 2 d, as_of]: the settlement exactly 2 days back is outside, the one at as_of in.
    assert trailing_rates(settled, 2 * day, 2) == [Decimal(2), Decimal(3)]
    assert mean_rate([Decimal(2), Decimal(3)]) == Decimal("2.5")
    with pytest.raises(InputError, match="rates"):
        mean_rate([])


def test_bad_prices_and_expired_contracts_are_refused() -> None:
    with pytest.raises(InputError, match="spot_price"):
        basis(Decimal(1), Decimal(0))
    with pytest.raises(InputError, match="futures_price"):
        basis(Decimal(-1), Decimal(1))
    with pytest.raises(InputError, match="days_to_expiry"):
        annualized_basis(Decimal("0.01"), Decimal(0))


@settings(max_examples=200, deadline=None)
@given(rates, day_counts)
def test_short_and_long_perpetual_carry_are_opposites_before_fees(
    rate: Decimal, horizon: Decimal
) -> None:
    q = perpetual_quote("P", rate, 8, TAKER, horizon)
    assert q.carry_before_fees(Side.SHORT) == -q.carry_before_fees(Side.LONG)
    # After fees both pay them: the two carries sum to minus twice the drag (to Decimal's
    # 28 significant digits, hence the tolerance).
    total = q.carry(Side.SHORT) + q.carry(Side.LONG)
    assert abs(total + 2 * q.fee_drag_per_year) < Decimal("1e-24")


@settings(max_examples=200, deadline=None)
@given(prices, prices, day_counts)
def test_short_and_long_delivery_carry_are_opposites_before_fees(
    futures: Decimal, spot: Decimal, days: Decimal
) -> None:
    q = delivery_quote("D", futures, spot, days, TAKER)
    assert q.carry_before_fees(Side.SHORT) == -q.carry_before_fees(Side.LONG)
    assert (q.carry_before_fees(Side.SHORT) > 0) == (futures > spot)


@settings(max_examples=200, deadline=None)
@given(rates)
def test_annualised_funding_scales_with_the_interval(rate: Decimal) -> None:
    # The same rate every 4 h is paid twice as often as every 8 h, so twice the yearly carry.
    four = perpetual_quote("P", rate, 4, TAKER, Decimal(90))
    eight = perpetual_quote("P", rate, 8, TAKER, Decimal(90))
    assert four.paid_by_longs_per_year == 2 * eight.paid_by_longs_per_year
    assert eight.paid_by_longs_per_year == rate * 3 * 365


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=Decimal("-0.05"), max_value=Decimal("0.05"), places=6), day_counts)
def test_annualised_basis_times_days_over_365_gives_back_the_basis(
    b: Decimal, days: Decimal
) -> None:
    yearly = annualized_basis(b, days)
    assert abs(yearly * days / 365 - b) < Decimal("1e-20")


def _q(symbol: str, rate: str, kind: ContractKind = ContractKind.DELIVERY) -> CarryQuote:
    return CarryQuote(symbol, kind, Decimal(rate), Decimal(0), Decimal(90))


def test_recommendation_picks_the_higher_carry_for_each_side() -> None:
    perp, q = _q("P", "0.01", ContractKind.PERPETUAL), _q("Q", "0.03")
    short = recommend(Side.SHORT, [perp, q])
    assert (short.choice.symbol, short.alternative and short.alternative.symbol) == ("Q", "P")
    assert short.advantage_per_year == Decimal("0.02")
    assert "Q earns 3.00 %/yr for a short hedge after fees, 2.00 %/yr better than P" in short.reason
    long = recommend(Side.LONG, [perp, q])
    assert long.choice.symbol == "P"
    assert "costs 1.00 %/yr" in long.reason


def test_hysteresis_keeps_the_current_instrument_within_the_margin() -> None:
    perp, q = _q("P", "0.03", ContractKind.PERPETUAL), _q("Q", "0.034")
    kept = recommend(Side.SHORT, [perp, q], current="P", margin_per_year=Decimal("0.005"))
    assert (kept.choice.symbol, kept.switch) == ("P", False)
    assert kept.advantage_per_year == Decimal("-0.004")
    assert "within the 0.50 %/yr margin" in kept.reason
    moved = recommend(Side.SHORT, [perp, q], current="P", margin_per_year=Decimal("0.003"))
    assert (moved.choice.symbol, moved.switch) == ("Q", True)
    assert moved.reason.startswith("switch from P to Q")
    best = recommend(Side.SHORT, [perp, q], current="Q")
    assert (best.choice.symbol, best.switch, best.alternative) == ("Q", False, None)


@settings(max_examples=200, deadline=None)
@given(st.lists(rates, min_size=2, max_size=5), st.integers(0, 4),
       st.decimals(min_value=0, max_value=Decimal("0.02"), places=4))
def test_hysteresis_never_flaps_back(
    carries: list[Decimal], held_index: int, margin: Decimal
) -> None:
    quotes = [_q(f"I{i}", str(c * 1000)) for i, c in enumerate(carries)]
    held = quotes[held_index % len(quotes)].symbol
    first = recommend(Side.SHORT, quotes, current=held, margin_per_year=margin)
    # Having moved (or stayed), an unchanged market never sends the hedge anywhere else.
    again = recommend(Side.SHORT, quotes, current=first.choice.symbol, margin_per_year=margin)
    assert again.choice.symbol == first.choice.symbol
    assert not again.switch
    assert first.choice.carry(Side.SHORT) >= max(q.carry(Side.SHORT) for q in quotes) - margin
