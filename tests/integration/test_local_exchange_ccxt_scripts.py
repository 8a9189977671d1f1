"""Plain ccxt scripts (``binanceusdm`` and spot ``binance``) against ``perphedge exchange serve``.

The scripts in ``ccxt_scripts/`` import nothing from perphedge: they are what a ccxt user
writes, pointed at the server with the snippet from docs/local_exchange.md. The server runs
as a user starts it (a subprocess), and the replay's length is checked against the wall clock.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from perphedge.exchange.market import bundled_delivery_paths, bundled_path, replay_window
from tests.conftest import run_cli

SCRIPTS = Path(__file__).with_name("ccxt_scripts")
KEY, SECRET = "script-key", "script-secret"
HOUR_MS = 3_600_000


@contextmanager
def serving(*extra: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "perphedge", "exchange", "serve", "--port", "0",
         "--api-key", KEY, "--api-secret", SECRET, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    with proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith("local exchange on "), line
            yield line.split(" on ", 1)[1].split(" ", 1)[0], proc
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def run_script(name: str, url: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, name, url, KEY, SECRET], cwd=SCRIPTS,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    with serving("--speed", "0", "--start", "2026-03-01", "--deposit", "USDT=100000",
                 "--deposit", "futures:USDT=50000", "--spread-bps", "2", "--book-step-bps",
                 "1", "--depth-usdt", "50000") as (url, _):
        yield url


def test_a_plain_binanceusdm_script_makes_the_common_calls(served: str) -> None:
    out = run_script("usdm_common_calls.py", served)
    assert out["status"] == "ok"
    ticker = out["ticker"]
    assert isinstance(ticker, dict)
    last, bid, ask = ticker["last"], ticker["bid"], ticker["ask"]
    assert ticker["low"] <= last <= ticker["high"]
    assert "BTC/USDT:USDT" in out["tickers"]
    book = out["book"]
    assert isinstance(book, dict)
    best_bid, best_ask = book["bids"][0][0], book["asks"][0][0]
    assert best_bid < last < best_ask  # a 2 bp spread around the replayed price
    assert abs((best_ask - best_bid) / last - 0.0002) < 0.00002
    assert book["depth"] == [10, 10]
    assert bid is None or bid == best_bid
    assert ask is None or ask == best_ask
    assert len(out["trades"]) == 5
    assert out["ohlcv"] == 5
    assert out["funding_rate"] is not None
    assert out["open_interest"] == 0
    assert out["fee"] == 0.0005
    assert out["usdt_free"] == 50000  # --deposit futures:USDT funded the futures wallet
    assert out["leverage_after"] == 3
    status, filled, average = out["market_order"]
    assert (status, filled) == ("closed", 0.01)
    assert average < last  # a market sell meets the bids, below the replayed price
    assert out["open_orders"] == 1
    assert out["cancelled"] == "canceled"
    assert out["position"] == ["short", 0.01, "isolated"]
    assert out["my_trades"] == 1
    assert out["open_interest_after"] == 0.01


def test_a_plain_binance_spot_script_makes_the_common_calls(served: str) -> None:
    out = run_script("spot_common_calls.py", served)
    ticker = out["ticker"]
    assert isinstance(ticker, dict)
    assert ticker["bid"] < ticker["last"] < ticker["ask"]
    assert out["trades"] == 3
    status, filled, average = out["order"]
    assert (status, filled) == ("closed", 0.01)
    assert average > ticker["last"]  # a market buy meets the asks
    assert out["btc"] == 0.01


def test_a_default_replay_still_has_real_prices_after_an_hour() -> None:
    """At the default speed (one replayed hour per wall second) an hour of serving replays
    150 days: the default start leaves more than that before the data ends."""
    paths = [bundled_path(asset, "1h") for asset in ("BTC", "ETH")]
    quarterlies = bundled_delivery_paths(paths[0], int(paths[0].close_time_ms[-1]) - 1)
    _, start_ms, end_ms = replay_window(paths, quarterlies)
    assert len(quarterlies) == 2  # the default replay lists the bundled quarterlies
    replayed_in_an_hour_ms = 3600 * 1000 * 3600
    assert start_ms + replayed_in_an_hour_ms < end_ms
    for path in paths:  # real bars all the way: no hole inside the default window
        steps = [int(b) - int(a) for a, b in zip(path.open_time_ms, path.open_time_ms[1:],
                                                 strict=False) if a >= start_ms]
        assert max(steps) <= 3 * 86_400_000


def test_the_replay_says_when_it_reaches_the_end_of_the_data_and_stops_there() -> None:
    paths = [bundled_path(asset, "1h") for asset in ("BTC", "ETH")]
    _, _, end_ms = replay_window(paths)
    start = time.strftime("%Y-%m-%dT%H:%M", time.gmtime((end_ms - 2 * HOUR_MS) / 1000))
    with serving("--speed", "7200", "--start", start) as (url, proc):
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("replay reached the end of the data at "), line
        time.sleep(1.5)  # the wall clock runs on; the replay clock does not
        premium = httpx.get(f"{url}/fapi/v1/premiumIndex", params={"symbol": "BTCUSDT"},
                            timeout=10).json()
    btc = paths[0]
    assert premium["time"] == end_ms
    assert premium["markPrice"] == f"{float(btc.close[-1]):.8f}"
    assert premium["nextFundingTime"] > end_ms
    assert "E" not in premium["lastFundingRate"]


def test_carry_live_works_against_the_local_exchange(served: str) -> None:
    result = run_cli("carry", "--asset", "BTC", "--live", "--exchange-url", served, "--json",
                     timeout=120)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["as_of"].startswith("2026-03-01")  # the exchange's replay time, not the wall
    assert {r["symbol"] for r in data["rows"]} >= {"BTCUSDT", "BTCUSDT_260327"}
