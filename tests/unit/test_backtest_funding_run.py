"""The funding run's float liquidation levels agree with the Decimal solve they stand in for.

:func:`perphedge.backtest.funding_run.liquidation_levels` only picks the segment to check (the
check itself is the Decimal price); it must stay within :data:`NEAR` of the Decimal solve, or a
liquidation could be missed. Long and short, margins up and down across bracket boundaries
(a long's level below every price may be missing in float: the run checks such extremes in
Decimal).
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from perphedge.adapters.marketdata.bundled import BundledMarketData, bundled_brackets
from perphedge.backtest.funding_run import NEAR, bracket_rows, liquidation_levels
from perphedge.domain.liquidation import solve_liquidation
from perphedge.domain.types import Side

TABLE = bundled_brackets(BundledMarketData().instrument("BTC").symbol)
ROWS = bracket_rows(TABLE)


@settings(max_examples=300, deadline=None)
@given(
    side=st.sampled_from([Side.SHORT, Side.LONG]),
    qty=st.sampled_from(["0.5", "5", "40", "150"]),
    entry=st.floats(min_value=3_000, max_value=120_000),
    leverage=st.floats(min_value=1, max_value=20),
    moves=st.lists(st.floats(min_value=-0.3, max_value=0.3), min_size=1, max_size=12),
)
def test_float_levels_agree_with_the_decimal_solve(
    side: Side, qty: str, entry: float, leverage: float, moves: list[float],
) -> None:
    size, price = Decimal(qty), Decimal(repr(round(entry, 2)))
    start = size * price / Decimal(repr(leverage))
    margins = [start * (1 + Decimal(repr(m))) for m in moves]
    ours = liquidation_levels(side, float(size), float(price),
                              np.array([float(m) for m in margins]), ROWS)
    for level, margin in zip(ours.tolist(), margins, strict=True):
        exact = solve_liquidation(side, size, price, margin, TABLE).price_usdt
        if exact is None or exact < Decimal("1e-8"):  # below every price: none in float
            assert np.isnan(level) or level < 1e-8
        else:
            # what the run's slack allows, a thousand times over
            assert abs(level - float(exact)) <= NEAR * 1e-3 * (float(exact) + float(price))


def test_a_level_in_the_wrong_bracket_would_be_caught() -> None:
    # The check can fail: the first bracket's level for a short far past it is not the solve's.
    size, price = Decimal(150), Decimal(90_000)
    margin = size * price / 2
    exact = solve_liquidation(Side.SHORT, size, price, margin, TABLE).price_usdt
    assert exact is not None
    first = TABLE.brackets[0]
    wrong = (float(margin) + float(first.maint_amount_usdt) + 150 * 90_000) / (
        150 * float(first.maint_margin_rate) + 150)
    ours = liquidation_levels(Side.SHORT, 150.0, 90_000.0, np.array([float(margin)]), ROWS)
    slack = NEAR * (float(exact) + 90_000)
    assert abs(float(ours[0]) - float(exact)) <= slack
    assert abs(wrong - float(exact)) > slack
