"""Exposure changes: parsing the CLI and CSV forms, expanding recurring changes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from perphedge.backtest.exposure import (
    DAY_MS,
    ExposureChange,
    expand_changes,
    parse_exposure,
    parse_exposure_csv,
    parse_rate,
    parse_sell,
)
from perphedge.errors import InputError

D = Decimal
JAN_2 = 1_704_153_600_000  # 2024-01-02 00:00 UTC


def test_rates_accept_plain_and_per_period_forms() -> None:
    assert parse_rate("0.1") == parse_rate("0.1/day").__class__(D("0.1"), every_ms=DAY_MS,
                                                                 note="0.1 recurring")
    assert parse_rate("-0.5/week").every_ms == 7 * DAY_MS
    with pytest.raises(InputError):
        parse_rate("lots")


def test_a_sell_is_a_negative_dated_change() -> None:
    change = parse_sell("2@2024-01-02")
    assert (change.qty_base, change.ts_ms) == (D(-2), JAN_2)
    with pytest.raises(InputError):
        parse_sell("2 on monday")


def test_csv_rows_become_dated_changes_and_bad_columns_are_refused() -> None:
    rows = parse_exposure_csv(f"time,quantity_change\n2024-01-02,0.5\n{JAN_2 + 1},-1\n")
    assert [(r.ts_ms, r.qty_base) for r in rows] == [(JAN_2, D("0.5")), (JAN_2 + 1, D(-1))]
    with pytest.raises(InputError):
        parse_exposure_csv("when,qty\n2024-01-02,1\n")


def test_expansion_keeps_changes_inside_the_window_in_time_order() -> None:
    changes = (ExposureChange(D(-1), ts_ms=DAY_MS + 5), ExposureChange(D(1), every_ms=DAY_MS),
               ExposureChange(D(3), ts_ms=10 * DAY_MS))
    assert expand_changes(changes, 0, 3 * DAY_MS) == [
        (DAY_MS, D(1)), (DAY_MS + 5, D(-1)), (2 * DAY_MS, D(1))]


def test_parse_exposure_combines_every_source() -> None:
    got = parse_exposure(add_daily="0.1", sells=("1@2024-01-02",))
    assert [c.qty_base for c in got] == [D("0.1"), D(-1)]
    with pytest.raises(InputError):
        ExposureChange(D(0), ts_ms=1)
