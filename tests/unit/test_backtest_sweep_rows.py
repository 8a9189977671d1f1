"""Sweep rows carry what the hedge-quality grid needs, and the end of the data they covered."""

from __future__ import annotations

from decimal import Decimal

from perphedge.parse import parse_time_ms
from perphedge.services.backtest_service import BacktestOptions, run_sweep
from perphedge.services.backtest_view import sweep_to_dict


def _rows() -> list[dict[str, object]]:
    options = BacktestOptions(asset="BTC", quantity=Decimal(5),
                              start_ms=parse_time_ms("2026-02-01", "--start"),
                              end_ms=parse_time_ms("2026-03-20", "--end"), policy="managed")
    return sweep_to_dict(run_sweep(options))["rows"]  # type: ignore[no-any-return]


def test_a_sweep_row_ends_where_the_data_ends_not_where_it_was_asked_to() -> None:
    rows = _rows()
    assert [r["end"] for r in rows] == ["2026-03-19T20:00:00Z"] * 2


def test_a_sweep_row_carries_value_deviation_fees_rebalances_and_refusals() -> None:
    row = _rows()[0]
    for key in ("value_start", "deviation_min_pct", "deviation_max_pct", "fees_pct",
                "rebalances", "refusals"):
        assert key in row
    assert float(row["value_start"]) > 0  # type: ignore[arg-type]
    fees_pct = float(row["fees_total"]) / float(row["value_start"]) * 100  # type: ignore[arg-type]
    assert abs(float(row["fees_pct"]) - fees_pct) < 0.01  # type: ignore[arg-type]
    assert float(row["deviation_min_pct"]) <= float(row["deviation_max_pct"])  # type: ignore[arg-type]
