"""``perphedge plan --live`` as a user runs it, against recorded Binance payloads on loopback."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from tests.conftest import run_cli
from tests.integration.binance_fixture_server import (
    BinanceFixtureServer,
    Reply,
    load_fixture,
    recorded_leverage_brackets,
    serve_recorded_binance,
)

#: Keys in the developer's shell must not switch the run to the signed-brackets path.
NO_KEYS = {"PERPHEDGE_API_KEY": "", "PERPHEDGE_API_SECRET": "", "PERPHEDGE_EXCHANGE_URL": ""}


@pytest.fixture
def server() -> Iterator[BinanceFixtureServer]:
    with serve_recorded_binance() as running:
        yield running


def test_live_json_plan_prices_at_the_recorded_mark_and_says_live(
    server: BinanceFixtureServer,
) -> None:
    recorded = load_fixture("py_http_futures_market_premium_index.json")
    result = run_cli(
        "plan", "--asset", "BTC", "--quantity", "5", "--live", "--exchange-url", server.url,
        "--json", env=NO_KEYS,
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["entry_price"] == recorded["markPrice"]
    assert plan["funding_rate"] == recorded["lastFundingRate"]
    assert plan["price_source"] == "live binance"
    assert plan["funding_source"] == "live binance"
    assert plan["sources"]["specs"] == "live binance markets"
    assert plan["sources"]["brackets"] == "bundled (live brackets need API keys)"
    assert plan["symbol"] == "BTCUSDT"
    assert plan["quantity"] == "5"
    assert server.paths() == [
        "/fapi/v1/exchangeInfo", "/fapi/v1/fundingInfo", "/fapi/v1/premiumIndex",
    ]


def test_exchange_url_can_come_from_the_environment(server: BinanceFixtureServer) -> None:
    result = run_cli(
        "plan", "--asset", "BTC", "--quantity", "0.5", "--live",
        env={**NO_KEYS, "PERPHEDGE_EXCHANGE_URL": server.url},
    )
    assert result.returncode == 0, result.stderr
    assert "11793.63104562" in result.stdout
    assert "live binance" in result.stdout
    assert "/fapi/v1/premiumIndex" in server.paths()


def test_exchange_down_is_one_line_and_exit_1() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_cli(
        "plan", "--asset", "BTC", "--quantity", "5", "--live",
        "--exchange-url", f"http://127.0.0.1:{port}", env=NO_KEYS,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: load markets on binance: NetworkError")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_bad_exchange_url_and_unknown_exchange_exit_2() -> None:
    bad_url = run_cli(
        "plan", "--asset", "BTC", "--quantity", "5", "--live", "--exchange-url", "127.0.0.1:1",
        env=NO_KEYS,
    )
    assert bad_url.returncode == 2
    assert bad_url.stderr.startswith("error: --exchange-url: expected an http(s) base URL")
    unknown = run_cli(
        "plan", "--asset", "BTC", "--quantity", "5", "--live", "--exchange", "nosuchexchange",
        env=NO_KEYS,
    )
    assert unknown.returncode == 2
    assert "--exchange: expected a ccxt exchange id such as binance, okx, bybit" in unknown.stderr


def test_with_keys_the_plan_uses_live_brackets_and_never_prints_the_keys(
    server: BinanceFixtureServer,
) -> None:
    key, secret = "e2e-key-0000111122223333", "e2e-secret-4444555566667777"
    server.routes["/fapi/v1/leverageBracket"] = Reply(
        200, recorded_leverage_brackets("BTCUSDT", version=1)
    )
    result = run_cli(
        "plan", "--asset", "BTC", "--quantity", "5", "--live", "--exchange-url", server.url,
        "--json", env={**NO_KEYS, "PERPHEDGE_API_KEY": key, "PERPHEDGE_API_SECRET": secret},
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["sources"]["brackets"] == "live binance leverage brackets"
    # 5 × 11793.63 ≈ 58,968 USDT sits in the recorded table's bracket 2 (50,000–250,000).
    assert plan["entry_bracket"] == 2
    assert plan["maintenance_margin_rate"] == "0.005"
    for text in (result.stdout, result.stderr):
        assert key not in text
        assert secret not in text
