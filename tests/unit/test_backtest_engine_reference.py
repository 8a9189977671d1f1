"""Property: the vectorised engine agrees with the bar-by-bar Decimal reference."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from perphedge.backtest.engine import run_backtest
from perphedge.backtest.reference import run_reference
from perphedge.backtest.spec import BacktestSpec
from tests.unit.test_backtest_engine import BRACKETS, INSTRUMENT, history

D = Decimal


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    drift=st.floats(min_value=-0.004, max_value=0.004),
    policy=st.sampled_from(["static", "managed", "reserve"]),
    purchase=st.booleans(),
    leverage=st.sampled_from([D("1.5"), D(2), D(3), D(5)]),
    interval_hours=st.sampled_from([1, 4, 24]),
)
def test_engine_and_reference_agree_on_random_series(
    seed: int, drift: float, policy: str, purchase: bool, leverage: Decimal, interval_hours: int
) -> None:
    rng = np.random.default_rng(seed)
    close = 50000.0 * np.exp(np.cumsum(rng.normal(drift, 0.01, 240)))
    rates = tuple(f"{x:.8f}" for x in rng.normal(0.0001, 0.0004, 40))
    h = history(close, rates=rates, wick=0.004)
    spec = BacktestSpec("BTC", D(2), purchase=purchase, policy=policy, leverage=leverage,
                        decision_interval_ms=interval_hours * 3_600_000)
    fast = run_backtest(spec, h, INSTRUMENT, BRACKETS)
    slow = run_reference(spec, h, INSTRUMENT, BRACKETS)
    assert [e.ts_ms for e in fast.liquidations] == [e.ts_ms for e in slow.liquidations]
    assert fast.funding_total == slow.funding_total
    assert abs(fast.value_end - slow.value_end) <= D("0.01")
    assert fast.fees_total == slow.fees_total
    np.testing.assert_allclose(fast.series.hedged_value, slow.series.hedged_value, rtol=1e-12)
