"""``perphedge data download`` as a user runs it, against a loopback server of real history."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from perphedge.cli.app import main
from tests.conftest import run_cli
from tests.integration.test_history_fapi_server import serve_history


def test_download_then_rerun_adds_only_new_rows(tmp_path: Path) -> None:
    with serve_history() as (url, state):
        args = ("data", "download", "--symbol", "BTC/USDT:USDT", "--since", "2024-03-01",
                "--exchange-url", url, "--dir", str(tmp_path))
        first = run_cli(*args, "--until", "2024-03-02")
        second = run_cli(*args, "--until", "2024-03-03T00:00")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "ohlcv_1h" in first.stdout
    assert "funding" in first.stdout
    assert f"saved in {tmp_path / 'binance' / 'BTCUSDT'}" in second.stdout
    bars = pq.read_table(tmp_path / "binance" / "BTCUSDT" / "ohlcv_1h.parquet")
    times = bars.column("open_time").to_pylist()
    assert len(times) == len(set(times)) == 48
    starts = [int(q["startTime"]) for p, q in state.requests if p == "/fapi/v1/klines"]
    assert starts == [1_709_251_200_000, 1_709_337_600_000]  # 03-01, then only 03-02


def test_the_data_dir_comes_from_the_environment(tmp_path: Path) -> None:
    result = run_cli("data", "dir", env={"PERPHEDGE_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path)


def test_a_bad_date_is_one_line_and_exit_2() -> None:
    result = run_cli("data", "download", "--symbol", "BTC/USDT:USDT", "--since", "1st of May",
                     "--exchange-url", "http://127.0.0.1:9")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --since: expected a UTC date or time such as 2024-03-01, 2024-03-01T08:00 or "
        "2024-03-01T08:00Z, or now, got '1st of May'"]


def test_an_unreachable_exchange_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    result = run_cli("data", "download", "--symbol", "BTC/USDT:USDT", "--since", "2024-03-01",
                     "--until", "2024-03-02", "--exchange-url", "http://127.0.0.1:9",
                     "--dir", str(tmp_path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: load binance markets")


def test_data_latest_explains_the_three_latest_dates(capsys: pytest.CaptureFixture[str]) -> None:
    main(["data", "latest", "--asset", "BTC"])
    out = capsys.readouterr().out
    for command, day in (("plan", "2026-10-03"), ("carry", "2026-04-09"),
                         ("backtest", "2026-03-19")):
        line = next(x for x in out.splitlines() if f" {command} " in x)
        assert day in line, out
