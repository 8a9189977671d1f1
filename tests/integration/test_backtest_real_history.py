"""The managed short hedge on all of the bundled history, and runs that meet a hole in the data."""

from __future__ import annotations

from decimal import Decimal

import pytest

from perphedge.errors import InputError
from perphedge.parse import parse_time_ms
from perphedge.services.backtest_service import BacktestOptions, run_backtests


def _ms(day: str) -> int:
    return parse_time_ms(day, "day")


@pytest.mark.parametrize("asset", ["BTC", "ETH"])
def test_managed_short_is_never_liquidated_on_the_bundled_history(asset: str) -> None:
    # From the first day of the data (BTC: to 2026-03; ETH: to the 2021-06 hole).
    run = run_backtests(BacktestOptions(asset=asset, quantity=Decimal(5),
                                        start_ms=_ms("2017-08-17"), policy="managed"))
    (result,) = run.results
    assert result.liquidations == ()
    # Hedged value within a few percent of the locked value before funding, through 2017's
    # +1,900 % and 2020's crash (the hourly decisions leave some drift inside the band).
    assert Decimal(-6) < result.deviation_min_pct <= result.deviation_max_pct < Decimal(1)


def test_a_run_stops_at_a_hole_in_the_data_and_says_so() -> None:
    run = run_backtests(BacktestOptions(asset="ETH", quantity=Decimal(5),
                                        start_ms=_ms("2021-01-01"), policy="static"))
    assert any("hole" in note for note in run.sources)
    assert run.results[0].end_ms <= 1623283200000 + 3_600_000  # 2021-06-10 00:00 + one bar


def test_an_end_past_a_hole_is_refused() -> None:
    with pytest.raises(InputError, match="before the hole in the ETH data") as err:
        run_backtests(BacktestOptions(asset="ETH", quantity=Decimal(5),
                                      start_ms=_ms("2021-01-01"), end_ms=_ms("2026-01-01")))
    assert err.value.field == "--end"
