"""The bench's independent NumPy model agrees with the engine (static hedge, synthetic bars).

``bench/numpy_model.py`` is the baseline the bench times the engine against (issue #15); it
is only a fair baseline if it simulates the same thing, so this keeps it checked in CI:
a hedge that survives and one that is liquidated, end value and funding within 0.01 %.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from perphedge.backtest.engine import run_backtest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


bench = _load("bench_backtest")
model = _load("numpy_model")

DAYS_30 = 30 * 24 * 60


def _both(leverage: int, bars: int = DAYS_30) -> tuple[Any, Any]:
    history = bench.synthetic_year(bars)
    instrument, brackets = bench._market()
    spec = dataclasses.replace(bench.spec_for(history, policy="static"),
                               leverage=Decimal(leverage))
    market = model.market_from(instrument, brackets, spec.fees.taker_rate)
    ours = model.run_on(history, float(spec.quantity), float(leverage), market)
    return ours, run_backtest(spec, history, instrument, brackets)


@pytest.mark.parametrize("leverage", [2, 5, 10])
def test_liquidated_static_hedge_agrees_with_the_engine(leverage: int) -> None:
    # 30 days: the rally starts on day 7 and lifts the price past the short's liquidation.
    ours, engine = _both(leverage=leverage)
    assert len(engine.liquidations) == 1
    assert ours.liquidations == 1
    assert ours.liquidation_ts_ms == engine.liquidations[0].ts_ms
    assert model.agrees(ours, engine)
    # bar by bar too: the mark-to-market of every minute, not only the end
    assert np.allclose(ours.hedged_value, engine.series.hedged_value, rtol=1e-6)


def test_surviving_static_hedge_agrees_with_the_engine() -> None:
    # 60 days: the same rally spread over a month; a 1x short survives it, funding settles.
    ours, engine = _both(leverage=1, bars=60 * 24 * 60)
    assert engine.liquidations == ()
    assert ours.liquidations == 0
    assert ours.funding_received > 0
    assert model.agrees(ours, engine)
    # bar by bar too: the mark-to-market of every minute, not only the end
    assert np.allclose(ours.hedged_value, engine.series.hedged_value, rtol=1e-6)


def test_a_wrong_liquidation_level_is_caught() -> None:
    # The check can fail: with a maintenance rate ten times too high the model liquidates early.
    history = bench.synthetic_year(DAYS_30)
    instrument, brackets = bench._market()
    spec = bench.spec_for(history, policy="static")
    market = model.market_from(instrument, brackets, spec.fees.taker_rate)
    wrong = dataclasses.replace(
        market, brackets=tuple((f, r * 10, c) for f, r, c in market.brackets))
    ours = model.run_on(history, 5.0, 2.0, wrong)
    assert not model.agrees(ours, run_backtest(spec, history, instrument, brackets))
