"""Brackets, rounding, funding and fees: the small formulas everything else stands on."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perphedge.adapters.marketdata.bundled import BundledMarketData, bundled_brackets
from perphedge.domain.brackets import BracketTable
from perphedge.domain.fees import BINANCE_USDM_STANDARD
from perphedge.domain.funding import (
    FundingDirection,
    annualized_rate,
    funding_direction,
    funding_received,
)
from perphedge.domain.money import floor_to_step, to_decimal
from perphedge.domain.types import Side
from perphedge.errors import DataError, InputError

BTC = bundled_brackets("BTCUSDT")
INSTRUMENT = BundledMarketData().instrument("BTC")


def test_bundled_btc_table_is_the_2024_05_30_binance_table() -> None:
    b = BTC.for_notional(Decimal(600000))
    assert (b.number, b.maint_margin_rate, b.maint_amount_usdt, b.max_leverage) == (
        3, Decimal("0.0065"), Decimal(950), Decimal(75)
    )
    assert BTC.for_notional(Decimal("599999.99")).number == 2
    assert len(BTC.brackets) == 12


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=0, max_value=Decimal("1.7e9"), places=2))
def test_maintenance_margin_is_continuous_across_bracket_edges(notional: Decimal) -> None:
    for bracket in BTC.brackets:
        edge = bracket.notional_cap_usdt
        if edge < BTC.max_notional_usdt:
            left = bracket.maintenance_margin(edge)
            assert BTC.for_notional(edge).maintenance_margin(edge) == left
    assert BTC.maintenance_margin(notional) >= 0


def test_table_with_broken_continuity_is_rejected() -> None:
    good = BTC.brackets
    second = dataclasses.replace(good[1], maint_amount_usdt=Decimal(51))
    broken = (good[0], second)
    with pytest.raises(DataError, match="continuity"):
        BracketTable("X", broken)


def test_notional_beyond_the_table_names_the_limit() -> None:
    with pytest.raises(InputError, match="at most 1800000000"):
        BTC.for_notional(Decimal("2e9"))


@settings(max_examples=300, deadline=None)
@given(st.decimals(min_value=0, max_value=Decimal(10000), places=8))
def test_rounding_never_increases_size(qty: Decimal) -> None:
    rounded = INSTRUMENT.round_qty(qty)
    assert rounded <= qty
    assert qty - rounded < INSTRUMENT.lot_step
    assert rounded % INSTRUMENT.lot_step == 0


def test_prices_round_to_the_tick_in_the_safe_direction() -> None:
    assert INSTRUMENT.round_price(Decimal("90000.07"), Side.LONG) == Decimal("90000.0")
    assert INSTRUMENT.round_price(Decimal("90000.01"), Side.SHORT) == Decimal("90000.1")


def test_order_below_min_notional_is_rejected_with_the_minimum_quantity() -> None:
    with pytest.raises(InputError, match=r"at least 100 USDT notional .* that is 0.002 BTC"):
        INSTRUMENT.check_order(Decimal("0.001"), Decimal(90000))


@settings(max_examples=300, deadline=None)
@given(
    st.decimals(min_value=Decimal("0.001"), max_value=Decimal(1000), places=3),
    st.decimals(min_value=Decimal(1), max_value=Decimal(200000), places=2),
    st.decimals(min_value=Decimal("-0.003"), max_value=Decimal("0.003"), places=8),
)
def test_funding_flips_sign_with_side(qty: Decimal, mark: Decimal, rate: Decimal) -> None:
    short = funding_received(Side.SHORT, qty, mark, rate)
    long = funding_received(Side.LONG, qty, mark, rate)
    assert short == -long
    assert short == qty * mark * rate  # positive rate: longs pay, shorts receive
    if rate > 0:
        assert funding_direction(Side.SHORT, rate) is FundingDirection.RECEIVE
        assert funding_direction(Side.LONG, rate) is FundingDirection.PAY
    elif rate < 0:
        assert funding_direction(Side.SHORT, rate) is FundingDirection.PAY


def test_annualisation_uses_the_interval() -> None:
    assert annualized_rate(Decimal("0.0001"), 8) == Decimal("0.1095")
    assert annualized_rate(Decimal("0.0001"), 4) == Decimal("0.2190")


def test_standard_fee_is_five_basis_points_taker() -> None:
    assert BINANCE_USDM_STANDARD.fee(Decimal(450000)) == Decimal(225)
    assert BINANCE_USDM_STANDARD.fee(Decimal(450000), taker=False) == Decimal(90)


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "abc", "", "1e", True])
def test_non_numbers_are_rejected(bad: object) -> None:
    with pytest.raises(InputError):
        to_decimal(bad, "--quantity")


def test_floor_to_step_of_exact_multiple_is_identity() -> None:
    assert floor_to_step(Decimal("5.000"), Decimal("0.001")) == Decimal("5.000")
