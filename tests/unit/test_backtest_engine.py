"""The vectorised backtest engine on synthetic MarketHistory-shaped inputs."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt
import pytest

from perphedge.adapters.marketdata.bundled import BundledMarketData, bundled_brackets
from perphedge.backtest.engine import run_backtest
from perphedge.backtest.exposure import DAY_MS, ExposureChange
from perphedge.backtest.spec import BacktestSpec
from perphedge.domain.liquidation import solve_liquidation
from perphedge.domain.types import Side

D = Decimal
HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
INSTRUMENT = BundledMarketData().instrument("BTC")
BRACKETS = bundled_brackets("BTCUSDT")


@dataclass(frozen=True)
class History:
    """The fields of perphedge.adapters.marketdata.history.MarketHistory the engine reads."""

    asset: str
    interval_ms: int
    open_time_ms: npt.NDArray[np.int64]
    spot_close: npt.NDArray[np.float64]
    perp_high: npt.NDArray[np.float64]
    perp_low: npt.NDArray[np.float64]
    perp_close: npt.NDArray[np.float64]
    perp_is_real: npt.NDArray[np.bool_]
    funding_time_ms: npt.NDArray[np.int64]
    funding_rate_text: tuple[str, ...]
    funding_mark: npt.NDArray[np.float64]
    sources: tuple[str, ...]


def history(close: npt.NDArray[np.float64], *, rates: tuple[str, ...] | None = None,
            wick: float = 0.002, marks: bool = False) -> History:
    n = close.shape[0]
    close = np.round(close, 2)
    t = T0 + np.arange(n, dtype=np.int64) * HOUR
    ft = np.arange(T0 + 8 * HOUR, int(t[-1]) + HOUR, 8 * HOUR, dtype=np.int64)
    text = rates if rates is not None else tuple("0.0001" for _ in ft)
    fund_bar = (ft - T0) // HOUR - 1
    fmark = np.round(close[fund_bar] * 1.0003, 2) if marks else np.full(ft.shape, np.nan)
    return History("BTC", HOUR, t, close, np.round(close * (1 + wick), 2),
                   np.round(close * (1 - wick), 2), close, np.ones(n, bool), ft, text[: len(ft)],
                   fmark, ("synthetic",))


def rally(n: int, gain: float, start: float = 90000.0) -> npt.NDArray[np.float64]:
    return start * np.exp(np.linspace(0.0, np.log(1.0 + gain), n))


def test_static_short_is_liquidated_at_the_bar_the_bracket_formula_says() -> None:
    h = history(rally(24 * 60, 1.0), rates=tuple("0" for _ in range(200)))
    result = run_backtest(BacktestSpec("BTC", D(5), policy="static"), h, INSTRUMENT, BRACKETS)
    entry = D(repr(float(h.perp_close[0])))
    expected = solve_liquidation(Side.SHORT, D(5), entry, D(5) * entry / 2, BRACKETS).price_usdt
    assert expected is not None
    bar = int(np.argmax(h.perp_high[1:] >= float(expected))) + 1
    (event,) = result.liquidations
    assert event.price_usdt == expected
    assert event.ts_ms == int(h.open_time_ms[bar]) + HOUR
    assert event.margin_lost_usdt == D(5) * entry / 2
    assert result.final_hedge_qty == 0
    assert np.isnan(result.series.liquidation_price[bar])


def test_static_long_hedge_of_a_purchase_is_liquidated_in_a_crash() -> None:
    h = history(rally(24 * 30, -0.6), rates=tuple("0" for _ in range(200)))
    spec = BacktestSpec("BTC", D(3), purchase=True, policy="static", leverage=D(3))
    result = run_backtest(spec, h, INSTRUMENT, BRACKETS)
    entry = D(repr(float(h.perp_close[0])))
    expected = solve_liquidation(Side.LONG, D(3), entry, D(3) * entry / 3, BRACKETS).price_usdt
    assert expected is not None
    bar = int(np.argmax(h.perp_low[1:] <= float(expected))) + 1
    (event,) = result.liquidations
    assert (event.price_usdt, event.ts_ms) == (expected, int(h.open_time_ms[bar]) + HOUR)


@pytest.mark.parametrize("purchase", [False, True])
def test_managed_survives_a_150_pct_move_and_keeps_the_hedge_in_its_band(purchase: bool) -> None:
    path = rally(24 * 90, 1.5) if not purchase else rally(24 * 90, -0.6)
    h = history(path)
    spec = BacktestSpec("BTC", D(5), purchase=purchase, policy="managed")
    result = run_backtest(spec, h, INSTRUMENT, BRACKETS)
    assert result.liquidations == ()
    assert result.margin_moves > 0
    s = result.series
    if purchase:
        # Never more than the cash can buy: funding and fees paid shrink it a little.
        assert np.all(s.hedge_qty <= 5.0)
        assert np.all(s.hedge_qty >= 4.8)
    else:  # both legs move by the same lot-rounded quantity
        assert np.all(np.abs(s.hedge_qty - s.spot_qty) < 1e-9)
    assert np.nanmax(s.effective_leverage) < 2.6  # the upper trigger 1.25 x the target, hourly
    # Locked: the hedged value stays within a few percent of the locked value.
    assert abs(result.deviation_min_pct) < 3
    assert abs(result.deviation_max_pct) < 3


def test_funding_total_equals_an_independent_decimal_sum_of_the_rate_strings() -> None:
    rng = np.random.default_rng(7)
    rates = tuple(f"{x:.8f}" for x in rng.normal(0.0001, 0.0003, 200))
    h = history(np.full(24 * 20, 60000.0), rates=rates, marks=True)
    result = run_backtest(BacktestSpec("BTC", D(2), policy="static"), h, INSTRUMENT, BRACKETS)
    first_close = int(h.open_time_ms[0]) + HOUR
    expected = sum(
        (D(2) * D(repr(float(m))) * D(r)
         for t, r, m in zip(h.funding_time_ms, h.funding_rate_text, h.funding_mark, strict=True)
         if t > first_close),
        D(0),
    )
    assert result.funding_total == expected
    assert result.series.funding_cum[-1] == pytest.approx(float(expected))


def test_a_miner_adding_a_tenth_a_day_is_followed_by_the_managed_hedge() -> None:
    h = history(rally(24 * 30, 0.2))
    spec = BacktestSpec("BTC", D(5), policy="managed",
                        exposure_changes=(ExposureChange(D("0.1"), every_ms=DAY_MS),))
    result = run_backtest(spec, h, INSTRUMENT, BRACKETS)
    # Part of each addition is sold to fund the margin its hedge needs (no outside capital).
    assert result.final_spot_qty > D(6)
    assert abs(result.final_hedge_qty - result.final_spot_qty) <= result.final_spot_qty * D("0.02")
    changes = [a for a in result.actions if a.kind == "exposure_change"]
    assert len(changes) == 29
    assert result.series.locked_value[-1] > result.series.locked_value[0]


def test_every_series_has_one_value_per_bar_and_values_start_equal() -> None:
    h = history(rally(300, 0.1))
    result = run_backtest(BacktestSpec("BTC", D(1), policy="reserve"), h, INSTRUMENT, BRACKETS)
    s = result.series
    for name in ("price", "mark", "hedged_value", "unhedged_value", "locked_value",
                 "liquidation_price", "funding_cum", "fees_cum", "effective_leverage",
                 "spot_qty", "hedge_qty"):
        assert getattr(s, name).shape == s.ts_ms.shape, name
    assert abs(result.value_start - result.unhedged_start) <= result.fees_total


def test_a_remembered_touch_scan_finds_what_a_fresh_scan_finds() -> None:
    """TouchScan over contiguous segments, with levels that change and come back, is
    first_touch of each segment."""
    import numpy as np

    from perphedge.backtest.segments import TouchScan, first_touch

    rng = np.random.default_rng(7)
    for rising in (True, False):
        series = rng.normal(100.0, 3.0, 2_000).cumsum() / 30 + 100.0
        scan = TouchScan(series, rising=rising)
        start = 1
        levels = [float(np.quantile(series, q)) for q in (0.2, 0.5, 0.8, 0.95)]
        while start < series.shape[0]:
            stop = min(series.shape[0], start + int(rng.integers(1, 40)))
            level = levels[int(rng.integers(0, len(levels)))] if rng.random() < 0.1 else (
                scan.level if scan.level == scan.level else levels[0])
            assert scan.first(start, stop, level) == first_touch(series, start, stop, level,
                                                                 rising=rising)
            start = stop
