"""The user's own CSV/Parquet history: round trips, stand-ins and one-line column errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from perphedge.adapters.marketdata.history import MarketHistory, load_history
from perphedge.errors import DataError, InputError

HOUR_MS = 3_600_000
JAN_1 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


@pytest.fixture(scope="module")
def real() -> MarketHistory:
    """Two real days of BTC, 2024-01-01 and 02, from the bundled history."""
    return load_history("BTC", start_ms=JAN_1, end_ms=JAN_1 + 48 * HOUR_MS)


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _bar_rows(h: MarketHistory, iso: bool) -> list[list[object]]:
    rows: list[list[object]] = []
    for i, t in enumerate(h.open_time_ms.tolist()):
        when: object = np.datetime64(t, "ms").astype(str) + "Z" if iso else t
        rows.append([when, *(repr(float(a[i])) for a in
                             (h.spot_open, h.spot_high, h.spot_low, h.spot_close))])
    return rows


@pytest.mark.parametrize("iso", [False, True])
def test_a_csv_round_trips_with_ms_or_iso_times(real: MarketHistory, tmp_path: Path,
                                                iso: bool) -> None:
    bars = _write_csv(tmp_path / "btc.csv", ["open_time", "open", "high", "low", "close"],
                      _bar_rows(real, iso))
    # Settlement times with the API's ms lateness; rates as exact strings.
    _write_csv(tmp_path / "funding.csv", ["funding_time", "funding_rate"],
               [[t + 3, r] for t, r in zip(real.funding_time_ms.tolist(), real.funding_rate_text,
                                           strict=True)])
    h = load_history("btc", path=bars)
    assert np.array_equal(h.open_time_ms, real.open_time_ms)
    assert np.array_equal(h.spot_close, real.spot_close)
    assert np.array_equal(h.perp_close, real.spot_close)  # spot stands in for the perp
    assert not h.perp_is_real.any()
    assert h.funding_rate_text == real.funding_rate_text
    assert np.array_equal(h.funding_time_ms, real.funding_time_ms)
    assert h.asset == "BTC"


def test_a_parquet_with_perp_columns_and_dates_slices(real: MarketHistory, tmp_path: Path) -> None:
    table = pa.table({
        "open_time": pa.array(real.open_time_ms), "open": real.spot_open,
        "high": real.spot_high, "low": real.spot_low, "close": real.spot_close,
        "perp_high": real.spot_high + 5, "perp_low": real.spot_low - 5,
        "perp_close": real.spot_close + 1,
    })
    pq.write_table(table, tmp_path / "bars_1h.parquet")
    h = load_history("BTC", path=tmp_path, start_ms=JAN_1 + 24 * HOUR_MS)
    assert len(h) == 24
    assert h.perp_is_real.all()
    assert np.array_equal(h.perp_close, real.spot_close[24:] + 1)
    assert h.funding_time_ms.size == 0
    with pytest.raises(InputError, match=r"--start: expected a date between 2024-01-01 00:00"):
        load_history("BTC", path=tmp_path, start_ms=JAN_1 - HOUR_MS)


def test_a_missing_column_is_named(real: MarketHistory, tmp_path: Path) -> None:
    rows = [r[:4] for r in _bar_rows(real, False)]
    bars = _write_csv(tmp_path / "btc.csv", ["open_time", "open", "high", "low"], rows)
    with pytest.raises(DataError, match=r"missing column 'close'") as info:
        load_history("BTC", path=bars)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [("close", "abc", "column 'close'"), ("open_time", "yesterday", "column 'open_time'"),
     ("open_time", str(JAN_1), "column 'open_time' repeats")],
)
def test_a_bad_value_names_its_column(real: MarketHistory, tmp_path: Path, column: str,
                                      value: str, message: str) -> None:
    header = ["open_time", "open", "high", "low", "close"]
    rows = _bar_rows(real, False)
    rows[1][header.index(column)] = value
    bars = _write_csv(tmp_path / "btc.csv", header, rows)
    with pytest.raises(DataError, match=message):
        load_history("BTC", path=bars)


def test_high_below_low_is_refused(real: MarketHistory, tmp_path: Path) -> None:
    rows = _bar_rows(real, False)
    rows[3][2], rows[3][3] = rows[3][3], rows[3][2]
    bars = _write_csv(tmp_path / "btc.csv", ["open_time", "open", "high", "low", "close"], rows)
    with pytest.raises(DataError, match="'high' is below 'low'"):
        load_history("BTC", path=bars)


def test_hourly_bars_read_as_daily_are_refused(real: MarketHistory, tmp_path: Path) -> None:
    bars = _write_csv(tmp_path / "btc.csv", ["open_time", "open", "high", "low", "close"],
                      _bar_rows(real, False))
    with pytest.raises(DataError, match="not on a 1d grid"):
        load_history("BTC", path=bars, interval="1d")


def test_a_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_history("BTC", path=tmp_path / "nope.csv")
    with pytest.raises(DataError, match="no bars_1h"):
        load_history("BTC", path=tmp_path)


def test_a_funding_file_without_rates_names_the_column(real: MarketHistory,
                                                       tmp_path: Path) -> None:
    bars = _write_csv(tmp_path / "btc.csv", ["open_time", "open", "high", "low", "close"],
                      _bar_rows(real, False))
    _write_csv(tmp_path / "funding.csv", ["funding_time", "rate"], [[JAN_1, "0.0001"]])
    with pytest.raises(DataError, match="missing column 'funding_rate'"):
        load_history("BTC", path=bars)
