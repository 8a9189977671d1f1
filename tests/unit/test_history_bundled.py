"""The bundled market history: shapes, invariants, exact funding strings, range errors."""

from __future__ import annotations

import csv
import time
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from perphedge.adapters.marketdata.history import MarketHistory, coverage, load_history
from perphedge.errors import DataError, InputError
from tests.conftest import SHARED_DATA

SHARED = SHARED_DATA
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module", params=[("BTC", "1h"), ("ETH", "1h"), ("BTC", "1d"), ("ETH", "1d")])
def history(request: pytest.FixtureRequest) -> MarketHistory:
    asset, interval = request.param
    return load_history(asset, interval=interval)


def test_every_array_has_one_row_per_bar(history: MarketHistory) -> None:
    n = len(history)
    assert n > 1000
    for name in ("spot_open", "spot_high", "spot_low", "spot_close",
                 "perp_high", "perp_low", "perp_close", "perp_is_real"):
        assert getattr(history, name).shape == (n,), name
    assert history.open_time_ms.dtype == np.int64
    assert history.spot_close.dtype == np.float64
    assert len(history.funding_rate_text) == history.funding_time_ms.shape[0]


def test_bar_times_increase_on_the_interval_grid(history: MarketHistory) -> None:
    assert np.all(np.diff(history.open_time_ms) > 0)
    assert np.all(history.open_time_ms % history.interval_ms == 0)


def test_high_is_at_least_low_and_brackets_open_and_close(history: MarketHistory) -> None:
    h = history
    assert np.all(h.spot_high >= h.spot_low)
    assert np.all(h.perp_high >= h.perp_low)
    assert np.all((h.spot_low <= h.spot_close) & (h.spot_close <= h.spot_high))
    assert np.all((h.spot_low <= h.spot_open) & (h.spot_open <= h.spot_high))
    assert np.all((h.perp_low <= h.perp_close) & (h.perp_close <= h.perp_high))
    assert not np.any(np.isnan(h.spot_close) | np.isnan(h.perp_close))


def test_funding_lies_inside_the_bars_and_on_the_hour(history: MarketHistory) -> None:
    t = history.funding_time_ms
    assert t[0] >= history.open_time_ms[0]
    assert t[-1] < history.open_time_ms[-1] + history.interval_ms
    assert np.all(t % HOUR_MS == 0)
    assert np.all(np.diff(t) == 8 * HOUR_MS)  # Binance funding is continuous for both assets
    assert np.array_equal(history.funding_rate, np.array(history.funding_rate_text, dtype=float))


def test_spot_scaled_by_the_nearest_real_basis_stands_in_where_the_perpetual_has_no_bar(
        history: MarketHistory) -> None:
    stand_in = ~history.perp_is_real
    assert stand_in.any()
    assert history.perp_is_real.any()
    basis = history.perp_close / history.spot_close - 1
    # The stand-in carries the basis of the nearest real bars (docs/data.md), never a jump
    # to zero at the seam: within 1 % of spot, and continuous where real bars stop.
    assert np.all(np.abs(basis[stand_in]) < 0.01)
    seams = np.flatnonzero(np.diff(stand_in.astype(np.int8)) != 0)
    steps = np.diff(history.open_time_ms)
    inside = [k for k in seams if steps[k] == history.interval_ms]
    assert inside
    assert all(abs(basis[k + 1] - basis[k]) < 0.003 for k in inside)


def test_btc_hourly_spans_2017_to_2026_with_the_perp_standing_in_at_the_end() -> None:
    first, last = coverage("BTC")
    assert first == ms("2017-08-17T05:00")
    assert last == ms("2026-03-19T19:00")
    h = load_history("BTC", start_ms=ms("2026-01-19T00:00"), end_ms=ms("2026-01-21T00:00"))
    assert len(h) == 48
    assert h.perp_is_real.all()
    assert any("stands in" in s and s.startswith("2026-01-20 07:00") for s in h.sources)


def test_real_prices_are_the_source_strings() -> None:
    # 2017-08-17 05:00 in the shared spot file: 4308.83, 4328.69, 4291.37, 4315.32
    h = load_history("BTC", start_ms=ms("2017-08-17T05:00"), end_ms=ms("2017-08-17T06:00"))
    assert (h.spot_open[0], h.spot_high[0], h.spot_low[0], h.spot_close[0]) == (
        4308.83, 4328.69, 4291.37, 4315.32)
    # March 2020: the perp daily low 3621.81 was below spot's 3782.13
    d = load_history("BTC", interval="1d", start_ms=ms("2020-03-13T00:00"),
                     end_ms=ms("2020-03-14T00:00"))
    assert d.perp_low[0] == 3621.81
    assert d.spot_low[0] == 3782.13
    assert d.perp_is_real[0]


@pytest.mark.parametrize(
    ("asset", "when", "rate"),
    [
        ("BTC", "2020-03-13T08:00", "-0.00300000"),
        ("BTC", "2019-10-02T16:00", "-0.00052458"),
        ("BTC", "2024-12-05T08:00", "0.00072446"),
        ("BTC", "2026-02-07T00:00", "-0.00015178"),  # stamped 00:00:00.003 by the API
        ("ETH", "2021-05-19T16:00", "-0.00356332"),
    ],
)
def test_funding_strings_are_exactly_those_of_the_shared_csvs(asset: str, when: str,
                                                              rate: str) -> None:
    h = load_history(asset, interval="1d")
    i = int(np.searchsorted(h.funding_time_ms, ms(when)))
    assert h.funding_time_ms[i] == ms(when)
    assert h.funding_rate_text[i] == rate
    assert Decimal(h.funding_rate_text[i]) == Decimal(rate)


def test_funding_strings_match_the_shared_csv_row_for_row() -> None:
    path = SHARED / "funding" / "binance_BTCUSDT_funding_8h_2019-09-10_2024-08-09.csv"
    with path.open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["funding_time_utc"] < "2024-07-19"]
    h = load_history("BTC", interval="1d", end_ms=ms("2024-07-19T00:00"))
    by_time = dict(zip(h.funding_time_ms.tolist(), h.funding_rate_text, strict=True))
    for r in rows:
        hour = round(int(r["funding_time_ms"]) / HOUR_MS) * HOUR_MS
        assert by_time[hour] == r["funding_rate"], r["funding_time_utc"]
    assert len(rows) == len(by_time)


def test_marks_are_present_from_mid_2024_and_nan_before() -> None:
    h = load_history("BTC", interval="1d")
    cut = int(np.searchsorted(h.funding_time_ms, ms("2024-07-19T00:00")))
    assert np.all(np.isnan(h.funding_mark[:cut]))
    assert not np.any(np.isnan(h.funding_mark[cut:]))


def test_slice_takes_bars_in_range_and_the_funding_they_span() -> None:
    h = load_history("BTC")
    s = h.slice(ms("2024-01-01T00:00"), ms("2024-01-02T00:00"))
    assert len(s) == 24
    assert s.funding_time_ms.tolist() == [ms("2024-01-01T00:00"), ms("2024-01-01T08:00"),
                                          ms("2024-01-01T16:00")]
    assert len(h.slice(ms("2030-01-01T00:00"), ms("2031-01-01T00:00"))) == 0


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [("2016-01-01T00:00", None, "--start"), (None, "2027-01-01T00:00", "--end"),
     ("2024-01-02T00:00", "2024-01-01T00:00", "--end")],
)
def test_dates_outside_the_data_name_the_option(start: str | None, end: str | None,
                                                field: str) -> None:
    with pytest.raises(InputError) as info:
        load_history("BTC", start_ms=start and ms(start), end_ms=end and ms(end))
    assert info.value.field == field
    assert "for BTC" in str(info.value) or "after --start" in str(info.value)


def test_the_out_of_range_message_names_the_span() -> None:
    with pytest.raises(InputError, match=r"between 2017-08-17 05:00 and 2026-03-19 19:00 for BTC"):
        load_history("BTC", start_ms=ms("2010-01-01T00:00"))


def test_a_range_inside_a_hole_is_a_data_error() -> None:
    with pytest.raises(DataError, match="no ETH bars"):
        load_history("ETH", start_ms=ms("2022-01-01T00:00"), end_ms=ms("2022-02-01T00:00"))


def test_unknown_asset_and_interval_are_input_errors() -> None:
    with pytest.raises(InputError, match="--asset"):
        load_history("DOGE")
    with pytest.raises(InputError, match="--interval"):
        load_history("BTC", interval="5m")


def test_loading_is_cached_and_fast() -> None:
    load_history("BTC")
    started = time.perf_counter()
    for _ in range(20):
        load_history("BTC", start_ms=ms("2022-01-01T00:00"), end_ms=ms("2023-01-01T00:00"))
    assert (time.perf_counter() - started) / 20 < 0.01
