"""``perphedge exchange serve`` as a user starts it, driven by the real ccxt client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ccxt
import pytest

from perphedge.cli.app import main
from tests.integration.local_exchange_fixture import point_ccxt_at


def test_serve_refuses_a_non_loopback_host(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["exchange", "serve", "--host", "0.0.0.0", "--port", "0"])  # noqa: S104
    assert exit_info.value.code == 2
    assert "--host: expected a loopback address" in capsys.readouterr().err


def test_served_bundled_replay_answers_ccxt(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "perphedge", "exchange", "serve", "--port", "0", "--speed", "0",
         "--start", "2024-03-01", "--state", str(state), "--deposit", "USDT=5000",
         "--api-key", "k", "--api-secret", "s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    client = None
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "replay at 2024-03-01T00:00:00+00:00" in line
        url = line.split(" on ", 1)[1].split(" ", 1)[0]
        client = point_ccxt_at(ccxt.binance({"apiKey": "k", "secret": "s", "timeout": 5000}), url)
        client.load_markets()
        assert client.fetch_balance()["USDT"]["total"] == 5000
        # The first hourly bar of 2024-03-01 is closed an hour later: before, the open shows.
        ticker_bars = client.fetch_ohlcv("BTC/USDT", "1h", limit=1)
        assert ticker_bars[-1][0] < 1_709_251_200_000
        assert state.exists()
    finally:
        if client is not None:
            client.close()
        proc.terminate()
        proc.communicate(timeout=10)
