"""``Downloader`` with the real ccxt client against a loopback server of real BTC history."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from perphedge.adapters.exchanges.ccxt_client import build_client
from perphedge.adapters.marketdata.ccxt_download import Downloader, DownloadSpec, data_dir
from perphedge.adapters.marketdata.history import load_history
from perphedge.errors import InputError
from tests.integration.test_history_fapi_server import HistoryServerState, serve_history

HOUR_MS = 3_600_000
JAN_1 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
DAY_MS = 24 * HOUR_MS


@pytest.fixture
def server() -> Iterator[tuple[str, HistoryServerState]]:
    with serve_history() as running:
        yield running


def _download(url: str, root: Path, since: int, until: int, progress: list[tuple[str, int, int]]
              | None = None) -> list[object]:
    client = build_client("binance", url)
    seen = progress if progress is not None else []
    downloader = Downloader(client, "binance", root, lambda *a: seen.append(a))
    reports = downloader.download(DownloadSpec("BTC/USDT:USDT", since, until, "1h", page_limit=30))
    return list(reports)


def _table(path: Path) -> dict[str, list[object]]:
    table = pq.read_table(path)
    return {n: table.column(n).to_pylist() for n in table.column_names}


def test_download_pages_through_and_saves_exactly_the_served_rows(
        server: tuple[str, HistoryServerState], tmp_path: Path) -> None:
    url, state = server
    progress: list[tuple[str, int, int]] = []
    reports = _download(url, tmp_path, JAN_1, JAN_1 + 5 * DAY_MS, progress)
    folder = tmp_path / "binance" / "BTCUSDT"
    bars = _table(folder / "ohlcv_1h.parquet")
    served = [r for r in state.klines if JAN_1 <= r[0] < JAN_1 + 5 * DAY_MS]
    assert bars["open_time"] == [r[0] for r in served]
    assert bars["perp_close"] == [float(r[4]) for r in served]
    assert bars["perp_high"] == [float(r[2]) for r in served]
    marks = _table(folder / "mark_1h.parquet")
    assert marks["mark_close"] == [float(r[4]) for r in state.marks
                                   if JAN_1 <= r[0] < JAN_1 + 5 * DAY_MS]
    funding = _table(folder / "funding.parquet")
    want = [f for f in state.funding if JAN_1 <= f["fundingTime"] < JAN_1 + 5 * DAY_MS]
    assert funding["funding_rate"] == [f["fundingRate"] for f in want]  # exact strings
    assert funding["funding_time"] == [f["fundingTime"] for f in want]
    kline_calls = [q for p, q in state.requests if p == "/fapi/v1/klines"]
    assert len(kline_calls) == 4  # 120 bars in pages of 30
    assert all(q["limit"] == "30" for q in kline_calls)
    assert [int(q["startTime"]) for q in kline_calls] == [JAN_1 + i * 30 * HOUR_MS
                                                         for i in range(4)]
    assert sum(p == "/fapi/v1/markPriceKlines" for p, _ in state.requests) == 4
    assert [r.new_rows for r in reports] == [120, 120, 15]  # type: ignore[attr-defined]
    assert progress[-1][1] == progress[-1][2]


def test_a_rerun_downloads_only_the_new_part_and_never_duplicates(
        server: tuple[str, HistoryServerState], tmp_path: Path) -> None:
    url, state = server
    _download(url, tmp_path, JAN_1, JAN_1 + 2 * DAY_MS)
    state.requests.clear()
    reports = _download(url, tmp_path, JAN_1, JAN_1 + 3 * DAY_MS)
    starts = [int(q["startTime"]) for p, q in state.requests if p == "/fapi/v1/klines"]
    assert starts[0] == JAN_1 + 2 * DAY_MS
    assert [r.new_rows for r in reports] == [24, 24, 3]  # type: ignore[attr-defined]
    bars = _table(tmp_path / "binance" / "BTCUSDT" / "ohlcv_1h.parquet")
    assert bars["open_time"] == [JAN_1 + i * HOUR_MS for i in range(72)]
    state.requests.clear()
    again = _download(url, tmp_path, JAN_1, JAN_1 + 3 * DAY_MS)
    assert [r.new_rows for r in again] == [0, 0, 0]  # type: ignore[attr-defined]
    # Only one question remains: is there a settlement after the last stored one?
    calls = [(p, q) for p, q in state.requests if p != "/fapi/v1/exchangeInfo"]
    assert [(p, int(q["startTime"])) for p, q in calls] == [
        ("/fapi/v1/fundingRate", JAN_1 + 2 * DAY_MS + 16 * HOUR_MS + 3)]


def test_an_earlier_since_fills_in_before_the_stored_rows(
        server: tuple[str, HistoryServerState], tmp_path: Path) -> None:
    url, _ = server
    _download(url, tmp_path, JAN_1 + DAY_MS, JAN_1 + 2 * DAY_MS)
    reports = _download(url, tmp_path, JAN_1, JAN_1 + 2 * DAY_MS)
    assert reports[0].new_rows == 24  # type: ignore[attr-defined]
    bars = _table(tmp_path / "binance" / "BTCUSDT" / "ohlcv_1h.parquet")
    assert bars["open_time"] == [JAN_1 + i * HOUR_MS for i in range(48)]


def test_the_download_loads_as_history_with_exact_funding(
        server: tuple[str, HistoryServerState], tmp_path: Path) -> None:
    url, _ = server
    _download(url, tmp_path, JAN_1, JAN_1 + 5 * DAY_MS)
    h = load_history("BTC", path=tmp_path / "binance" / "BTCUSDT")
    bundled = load_history("BTC", start_ms=JAN_1, end_ms=JAN_1 + 5 * DAY_MS)
    assert np.array_equal(h.open_time_ms, bundled.open_time_ms)
    assert np.array_equal(h.perp_close, bundled.spot_close)  # what the server served as klines
    assert h.perp_is_real.all()
    assert h.funding_rate_text == bundled.funding_rate_text
    assert np.array_equal(h.funding_time_ms, bundled.funding_time_ms)  # rounded to the hour
    total = sum(Decimal(r) for r in h.funding_rate_text)
    assert total == sum(Decimal(r) for r in bundled.funding_rate_text)
    assert any("stands in" in s for s in h.sources)


def test_an_unknown_symbol_or_timeframe_names_the_option(
        server: tuple[str, HistoryServerState], tmp_path: Path) -> None:
    url, _ = server
    downloader = Downloader(build_client("binance", url), "binance", tmp_path)
    with pytest.raises(InputError, match="--symbol"):
        downloader.download(DownloadSpec("DOGE/USDT:USDT", JAN_1, JAN_1 + DAY_MS))
    with pytest.raises(InputError, match="--timeframe"):
        downloader.download(DownloadSpec("BTC/USDT:USDT", JAN_1, JAN_1 + DAY_MS, "7m"))


def test_the_data_dir_is_the_option_then_the_env_then_the_platform_dir(tmp_path: Path) -> None:
    assert data_dir(tmp_path, {"PERPHEDGE_DATA_DIR": "/elsewhere"}) == tmp_path
    assert data_dir(None, {"PERPHEDGE_DATA_DIR": "/elsewhere"}) == Path("/elsewhere")
    assert data_dir(None, {}).name == "perphedge"
