"""A loopback HTTP server that replays recorded Binance USDⓈ-M payloads to a real client.

Not an exchange simulator: it answers a fixed set of GET paths with recorded JSON, logs every
request so tests can assert which endpoints the client hit, and answers anything else with a
Binance-shaped error (``{"code": -1000, "msg": ...}``, HTTP 404) so that an unexpected call
fails loudly instead of passing by accident.

Payloads come from ``shared/data/api_fixtures/nautilus_binance_futures`` (see PROVENANCE.md):
``exchangeInfo`` is a real trimmed capture (BTCUSDT, ETHUSDT, BTCUSDT_220325); ``premiumIndex``
is Binance's documentation example for BTCUSDT. ``fundingInfo`` is written here (ETHUSDT on a
4 h interval) so that a non-default interval can be seen to be read.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.loopback import serve_on_loopback

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO.parent / "shared" / "data" / "api_fixtures" / "nautilus_binance_futures"
BRACKETS_CSV = (
    REPO.parent / "shared" / "data" / "margin"
    / "binance_usdm_leverage_brackets_BTCUSDT_ETHUSDT_history.csv"
)

#: Written for the tests (not recorded): Binance lists only symbols whose interval is not 8 h.
FUNDING_INFO: list[dict[str, Any]] = [
    {
        "symbol": "ETHUSDT",
        "adjustedFundingRateCap": "0.02000000",
        "adjustedFundingRateFloor": "-0.02000000",
        "fundingIntervalHours": 4,
        "disclaimer": False,
    }
]


@dataclass(frozen=True, slots=True)
class Reply:
    """One canned HTTP answer."""

    status: int
    body: Any


@dataclass(frozen=True, slots=True)
class Request:
    """One request the client made: method, path and query parameters."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


def load_fixture(name: str) -> Any:
    """A recorded payload from the nautilus Binance futures fixtures."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def recorded_leverage_brackets(symbol: str, version: int) -> list[dict[str, Any]]:
    """A ``/fapi/v1/leverageBracket`` reply rebuilt from one recorded bracket-table version.

    Binance sends these numbers as JSON numbers, not strings; so does this replay.
    """
    import csv

    with BRACKETS_CSV.open(encoding="utf-8", newline="") as handle:
        rows = [
            r for r in csv.DictReader(handle)
            if r["symbol"] == symbol and int(r["table_version"]) == version
        ]
    brackets = [
        {
            "bracket": int(r["bracket"]),
            "initialLeverage": int(r["initial_leverage_max"]),
            "notionalCap": json.loads(r["notional_cap_usdt"]),
            "notionalFloor": json.loads(r["notional_floor_usdt"]),
            "maintMarginRatio": json.loads(r["maint_margin_ratio"]),
            "cum": json.loads(r["maint_amount_cum_usdt"]),
        }
        for r in rows
    ]
    return [{"symbol": symbol, "brackets": brackets}]


@dataclass
class BinanceFixtureServer:
    """Recorded replies by path; ``requests`` logs what the client asked, in order."""

    routes: dict[str, Reply] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def paths(self) -> list[str]:
        """The request paths, in order (``/fapi/v1/exchangeInfo``, ...)."""
        with self._lock:
            return [r.path for r in self.requests]

    def reply(self, method: str, path: str, query: dict[str, str]) -> Reply:
        if method == "GET" and path == "/fapi/v1/premiumIndex":
            return self._premium_index(query)
        reply = self.routes.get(path) if method == "GET" else None
        if reply is None:
            return Reply(404, {"code": -1000, "msg": f"no recorded reply for {method} {path}"})
        return reply

    def _premium_index(self, query: dict[str, str]) -> Reply:
        reply = self.routes.get("/fapi/v1/premiumIndex")
        if reply is None or reply.status != 200:
            return reply or Reply(404, {"code": -1000, "msg": "no recorded premiumIndex"})
        items = reply.body if isinstance(reply.body, list) else [reply.body]
        symbol = query.get("symbol")
        if symbol is None:
            return Reply(200, items)
        for item in items:
            if item["symbol"] == symbol:
                return Reply(200, item)
        return Reply(400, {"code": -1121, "msg": "Invalid symbol."})


def recorded_routes() -> dict[str, Reply]:
    """The default replay: exchangeInfo, premiumIndex, fundingInfo and time."""
    exchange_info = load_fixture("py_http_futures_market_exchange_info.json")
    return {
        "/fapi/v1/exchangeInfo": Reply(200, exchange_info),
        "/fapi/v1/premiumIndex": Reply(
            200, load_fixture("py_http_futures_market_premium_index.json")
        ),
        "/fapi/v1/fundingInfo": Reply(200, FUNDING_INFO),
        "/fapi/v1/time": Reply(200, {"serverTime": exchange_info["serverTime"]}),
    }


def _handler(server_state: BinanceFixtureServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query))
            request = Request(self.command, parts.path, query, dict(self.headers.items()))
            with server_state._lock:
                server_state.requests.append(request)
            reply = server_state.reply(self.command, parts.path, query)
            body = json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = _answer
        do_POST = _answer
        do_DELETE = _answer
        do_PUT = _answer

        def log_message(self, format: str, *args: Any) -> None:
            # Requests are logged in ``server_state.requests``; keep the test output clean.
            return

    return Handler


@contextmanager
def serve_recorded_binance(
    routes: dict[str, Reply] | None = None,
) -> Iterator[BinanceFixtureServer]:
    """Serve ``routes`` (default: the recorded replay) on 127.0.0.1 at a free port."""
    state = BinanceFixtureServer(routes=recorded_routes() if routes is None else routes)
    with serve_on_loopback(_handler(state), "binance-fixture") as url:
        state.url = url
        yield state
