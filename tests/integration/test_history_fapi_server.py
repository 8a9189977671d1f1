"""A loopback Binance USDⓈ-M history server answering from the real bundled BTC history.

Serves what ``perphedge data download`` asks for, in Binance's response shapes (numbers as
strings, as in the recorded ``py_http_futures_market_klines.json`` and
``py_http_futures_market_funding_rate.json``):

* ``/fapi/v1/exchangeInfo``: the recorded exchangeInfo (shared/data/api_fixtures);
* ``/fapi/v1/klines``: the bundled BTC hourly bars (spot OHLC where the perp has no bar);
* ``/fapi/v1/markPriceKlines``: the same bars with the perp high/low/close as mark;
* ``/fapi/v1/fundingRate``: the bundled BTCUSDT settlements (exact strings, mark price).

``startTime``/``endTime``/``limit`` slice the data as Binance does (limit capped at 1500 for
klines and 1000 for funding). Every request is logged; anything else gets a Binance-shaped 404.
The tests below check the server itself against the recorded payloads' shapes.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from perphedge.adapters.marketdata.history import load_history
from tests.loopback import serve_on_loopback

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO.parent / "shared" / "data" / "api_fixtures" / "nautilus_binance_futures"
HOUR_MS = 3_600_000


def _num(x: float) -> str:
    return f"{x:.2f}"


@dataclass
class HistoryServerState:
    """The data served and the requests seen (path, query)."""

    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        h = load_history("BTC", start_ms=1_672_531_200_000, end_ms=1_735_689_600_000)  # 2023-24
        self.times = h.open_time_ms
        self.klines = [
            [int(t), _num(o), _num(hi), _num(lo), _num(c), "1234.567", int(t) + HOUR_MS - 1,
             "1000000.00", 100, "600.000", "600000.00", "0"]
            for t, o, hi, lo, c in zip(h.open_time_ms.tolist(), h.spot_open.tolist(),
                                       h.spot_high.tolist(), h.spot_low.tolist(),
                                       h.spot_close.tolist(), strict=True)
        ]
        self.marks = [
            [int(t), _num(c), _num(hi), _num(lo), _num(c), "0", int(t) + HOUR_MS - 1,
             "0", 0, "0", "0", "0"]
            for t, hi, lo, c in zip(h.open_time_ms.tolist(), h.perp_high.tolist(),
                                    h.perp_low.tolist(), h.perp_close.tolist(), strict=True)
        ]
        self.funding_times = h.funding_time_ms
        self.funding = [
            {"symbol": "BTCUSDT", "fundingTime": int(t) + 2,  # the API's few-ms lateness
             "fundingRate": rate, "markPrice": "" if np.isnan(m) else f"{m:.8f}"}
            for t, rate, m in zip(h.funding_time_ms.tolist(), h.funding_rate_text,
                                  h.funding_mark.tolist(), strict=True)
        ]

    def reply(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        with self.lock:
            self.requests.append((path, query))
        if path == "/fapi/v1/exchangeInfo":
            return 200, json.loads(
                (FIXTURES / "py_http_futures_market_exchange_info.json").read_text())
        if path in ("/fapi/v1/klines", "/fapi/v1/markPriceKlines"):
            rows = self.klines if path.endswith("klines") and "mark" not in path else self.marks
            return 200, _window(self.times, rows, query, 500, 1500)
        if path == "/fapi/v1/fundingRate":
            return 200, _window(self.funding_times, self.funding, query, 100, 1000)
        return 404, {"code": -1000, "msg": f"not served here: {path}"}


def _window(times: np.ndarray, rows: list[Any], query: dict[str, str], default: int,
            cap: int) -> list[Any]:
    limit = min(int(query.get("limit", default)), cap)
    lo = int(np.searchsorted(times, int(query.get("startTime", 0)), side="left"))
    hi = int(np.searchsorted(times, int(query.get("endTime", 2**62)), side="right"))
    return rows[lo:min(hi, lo + limit)]


def _handler(state: HistoryServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            status, body = state.reply(parts.path, dict(parse_qsl(parts.query)))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests read ``state.requests`` instead."""

    return Handler


@contextmanager
def serve_history() -> Iterator[tuple[str, HistoryServerState]]:
    """A running server on 127.0.0.1 (free port) and its state; shut down on exit."""
    state = HistoryServerState()
    with serve_on_loopback(_handler(state), "history-fixture") as url:
        yield url, state


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback only)
        return json.loads(response.read())


def test_klines_have_binance_shape_and_honour_start_and_limit() -> None:
    recorded = json.loads((FIXTURES / "py_http_futures_market_klines.json").read_text())
    with serve_history() as (url, _):
        rows = _get(f"{url}/fapi/v1/klines?symbol=BTCUSDT&interval=1h"
                    f"&startTime=1704067200000&limit=3")
    assert [type(x) for x in rows[0]] == [type(x) for x in recorded[0]]
    assert [r[0] for r in rows] == [1704067200000 + i * HOUR_MS for i in range(3)]
    assert rows[0][1] == "42283.58"  # Binance spot BTCUSDT opened 2024 at 42283.58


def test_funding_has_binance_shape_and_exact_rates() -> None:
    recorded = json.loads((FIXTURES / "py_http_futures_market_funding_rate.json").read_text())
    with serve_history() as (url, state):
        rows = _get(f"{url}/fapi/v1/fundingRate?symbol=BTCUSDT&startTime=1704067200000&limit=2")
        try:
            _get(f"{url}/fapi/v1/nothing")
            status = 200
        except urllib.error.HTTPError as e:
            status = e.code
    assert set(rows[0]) >= set(recorded[0]) - {"markPrice"}
    assert isinstance(rows[0]["fundingRate"], str)
    assert [r["fundingTime"] for r in rows] == [1704067200002, 1704096000002]
    assert status == 404
    assert [p for p, _ in state.requests] == ["/fapi/v1/fundingRate", "/fapi/v1/nothing"]
