"""``perphedge carry`` as a user runs it: the real entry point in a subprocess, bundled data."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.conftest import run_cli
from tests.loopback import serve_on_loopback


def test_default_table_is_the_latest_bundled_day() -> None:
    result = run_cli("carry", "--asset", "BTC")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Carry of a BTC hedge on binance at 2026-04-09T00:00:00Z" in out
    for symbol in ("BTCUSDT", "BTCUSDT_260626", "BTCUSDT_260925"):
        assert symbol in out
    assert "BTCUSDT_260327" not in out  # delivered on 2026-03-27
    assert "Short hedge: BTCUSDT_260925" in out
    assert "Long hedge: BTCUSDT " in out
    assert "Traceback" not in result.stderr


def test_json_on_the_golden_day_has_rows_and_recommendations() -> None:
    result = run_cli("carry", "--asset", "btc", "--as-of", "2026-03-19", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["as_of"] == "2026-03-20T00:00:00Z"
    assert data["spot_price"] == "69930"
    rows = {r["symbol"]: r for r in data["rows"]}
    assert list(rows) == ["BTCUSDT", "BTCUSDT_260327", "BTCUSDT_260626"]
    q = rows["BTCUSDT_260626"]
    # Hand arithmetic in tests/unit/test_carry_golden.py.
    assert (q["price"], q["basis_pct"], q["days_to_expiry"]) == ("70360.5", "0.6156", "98.3333")
    assert (q["carry_short_pct_per_year"], q["carry_long_pct_per_year"]) == ("1.9139", "-2.6563")
    perp = rows["BTCUSDT"]
    assert (perp["carry_short_pct_per_year"], perp["carry_long_pct_per_year"]) == (
        "-1.0692", "0.2581")
    assert perp["expiry"] is None
    assert [f["window"] for f in data["funding"]] == ["current", "7d", "30d", "90d"]
    assert data["funding"][2]["settlements"] == 90
    short = data["recommendation"]["short"]
    assert (short["choice"], short["switch"]) == ("BTCUSDT_260626", False)
    assert "better than BTCUSDT" in short["reason"]
    assert data["recommendation"]["long"]["choice"] == "BTCUSDT"


def test_current_position_and_margin_give_hysteresis() -> None:
    result = run_cli("carry", "--asset", "BTC", "--as-of", "2026-03-19", "--current", "BTCUSDT",
                     "--margin-pct", "3", "--json")
    assert result.returncode == 0, result.stderr
    short = json.loads(result.stdout)["recommendation"]["short"]
    assert (short["choice"], short["alternative"], short["switch"]) == (
        "BTCUSDT", "BTCUSDT_260626", False)
    assert "within the 3.00 %/yr margin" in short["reason"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--asset", "DOGE"], "error: --asset: expected one of BTC, ETH"),
        (["--asset", "ETH"], "error: --asset: expected BTC"),
        (["--asset", "BTC", "--as-of", "2020-01-01"], "error: --as-of: expected a date from"),
        (["--asset", "BTC", "--as-of", "yesterday"], "error: --as-of: expected a UTC day such as"),
        (["--asset", "BTC", "--funding-basis", "1y"], "error: --funding-basis: expected one of"),
        (["--asset", "BTC", "--margin-pct", "-1"],
         "error: --margin-pct: expected a number of at least 0, got '-1'"),
        (["--asset", "BTC", "--margin-pct", "nan"], "error: --margin-pct: expected a finite"),
        (["--asset", "BTC", "--exchange-url", "http://127.0.0.1:9"],
         "error: --exchange-url: expected to be used with --live"),
        (["--asset", "BTC", "--exchange", "okx"], "error: --exchange: expected binance"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], needle: str) -> None:
    result = run_cli("carry", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(needle), result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""


# --- --live against a loopback server answering in Binance USDⓈ-M's shape -------------------

DAY_MS = 86_400_000
INDEX = "70000.00000000"
QUARTERLY_PRICE = "70700.0"  # 1 % over the index price


def _exchange_info(shared_data: Path, delivery_ms: int, quarterly: str) -> dict[str, Any]:
    # A real recorded exchangeInfo, with its 2022 quarterly moved to a future delivery date.
    path = shared_data / "api_fixtures" / "nautilus_binance_futures" / (
        "py_http_futures_market_exchange_info.json")
    info = json.loads(path.read_text())
    symbols = [s for s in info["symbols"] if s["symbol"] in ("BTCUSDT", "BTCUSDT_220325")]
    for s in symbols:
        if s["symbol"] == "BTCUSDT_220325":
            s.update(symbol=quarterly, deliveryDate=delivery_ms, contractType="CURRENT_QUARTER")
    info["symbols"] = symbols
    return info


class _Binance(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, Any]] = {}
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self.seen.append(url.path)
        query = dict(parse_qsl(url.query))
        body = self.routes.get(url.path)
        if callable(body):
            body = body(query)
        status = 200 if body is not None else 404
        data = json.dumps(body if body is not None else {"code": -1000, "msg": "no route"})
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data.encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def loopback_binance(shared_data: Path) -> Iterator[tuple[str, str]]:
    now_ms = int(time.time() * 1000)
    delivery = datetime.fromtimestamp((now_ms + 80 * DAY_MS) / 1000, tz=UTC).replace(
        hour=8, minute=0, second=0, microsecond=0)
    delivery_ms = int(delivery.timestamp() * 1000)
    quarterly = f"BTCUSDT_{delivery:%y%m%d}"
    last_ms = now_ms // (8 * 3_600_000) * (8 * 3_600_000)
    history = [{"symbol": "BTCUSDT", "fundingTime": t, "fundingRate": "0.00010000",
                "markPrice": "69990.1"} for t in range(last_ms - 100 * DAY_MS, last_ms + 1,
                                                       8 * 3_600_000)]
    _Binance.seen = []
    _Binance.routes = {
        "/fapi/v1/exchangeInfo": _exchange_info(shared_data, delivery_ms, quarterly),
        "/fapi/v1/premiumIndex": {
            "symbol": "BTCUSDT", "markPrice": "69990.1", "indexPrice": INDEX,
            "estimatedSettlePrice": "69990.0", "lastFundingRate": "0.00020000",
            "interestRate": "0.00010000", "nextFundingTime": last_ms + 8 * 3_600_000,
            "time": now_ms,
        },
        "/fapi/v1/fundingRate": lambda q: [
            h for h in history if h["fundingTime"] >= int(q.get("startTime", 0))
        ][: int(q.get("limit", 100))],
        "/fapi/v1/ticker/24hr": [
            {"symbol": sym, "lastPrice": price, "openPrice": price, "highPrice": price,
             "lowPrice": price, "volume": "1", "quoteVolume": price, "openTime": now_ms - DAY_MS,
             "closeTime": now_ms, "priceChange": "0", "priceChangePercent": "0"}
            for sym, price in (("BTCUSDT", "69990.1"), (quarterly, QUARTERLY_PRICE))
        ],
    }
    with serve_on_loopback(_Binance, "carry-fixture") as url:
        yield url, quarterly


def test_live_reads_funding_and_quarterlies_through_ccxt(
    loopback_binance: tuple[str, str],
) -> None:
    url, quarterly = loopback_binance
    result = run_cli("carry", "--asset", "BTC", "--live", "--exchange-url", url, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["spot_price"] == "70000"
    assert data["spot_source"] == "index price"
    funding = {f["window"]: f for f in data["funding"]}
    # 0.0001 every 8 h in every window: 10.95 %/yr; current = the predicted next rate.
    assert funding["30d"]["annualized_pct"] == "10.95"
    assert funding["90d"]["settlements"] == 270
    assert funding["current"]["rate_per_interval"] == "0.0002"
    rows = {r["symbol"]: r for r in data["rows"]}
    assert list(rows) == ["BTCUSDT", quarterly]
    assert rows[quarterly]["basis_pct"] == "1"
    assert rows[quarterly]["price"] == "70700"
    assert {"/fapi/v1/exchangeInfo", "/fapi/v1/premiumIndex", "/fapi/v1/fundingRate",
            "/fapi/v1/ticker/24hr"} <= set(_Binance.seen)


def test_live_with_the_server_down_is_one_line_not_a_traceback() -> None:
    result = run_cli("carry", "--asset", "BTC", "--live", "--exchange-url",
                     "http://127.0.0.1:9")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith("error: read BTC carry data from binanceusdm")
    assert "Traceback" not in result.stderr
