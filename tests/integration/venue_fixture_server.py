"""A loopback server that answers the real ccxt client with recorded Binance account payloads.

Like ``binance_fixture_server`` (whose recorded ``exchangeInfo`` it reuses) it replays, it
does not simulate: each ``(method, path)`` has a queue of canned replies (the last one repeats),
every request is logged with its query and form-body parameters, and anything unrouted is a
Binance-shaped 404 so an unexpected call fails the test. A reply may also be ``DROP``: the
server closes the connection without answering, as a crashed proxy or a cut link would.

Recorded payloads (see ``shared/data/api_fixtures/PROVENANCE.md``):

* ``ccxt_binance_futures_recorded_responses.json`` (ccxt's static responses): ``/fapi/v2/account``
  (fetchBalance), a FILLED market order (fetchOrders; the ``/fapi/v1/order`` GET reply has the
  same row shape), ``userTrades`` and FUNDING_FEE ``income`` rows;
* ``nautilus_binance_futures``: ``exchangeInfo``, ``premiumIndex``, ``positionSide/dual``,
  v2 ``positionRisk`` rows (cross, and isolated from the hedge-mode capture), an order reply.

Written here, not recorded: the spot ``/api/v3/account`` reply (Binance's documented shape) and
``multiAssetsMargin`` (``{"multiAssetsMargin": false}``, the documented example).
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

from tests.integration.binance_fixture_server import (
    Reply,
    load_fixture,
    recorded_leverage_brackets,
    recorded_routes,
)
from tests.loopback import serve_on_loopback

CCXT_RECORDED = (
    Path(__file__).resolve().parents[3]
    / "shared" / "data" / "api_fixtures" / "ccxt_binance_futures_recorded_responses.json"
)

#: Close the connection without an answer.
DROP = Reply(0, None)


@dataclass(frozen=True, slots=True)
class RawReply:
    """An answer sent byte for byte (an HTML page, cut JSON); ``cut`` announces the whole
    length but closes the connection halfway through the body, as a cut link does."""

    status: int
    body: bytes
    content_type: str = "application/json"
    cut: bool = False


HTML_502 = RawReply(200, b"<html><head><title>502 Bad Gateway</title></head><body>"
                         b"<center><h1>502 Bad Gateway</h1></center></body></html>",
                    "text/html")

SPOT_ACCOUNT: dict[str, Any] = {
    "makerCommission": 10, "takerCommission": 10, "canTrade": True, "accountType": "SPOT",
    "balances": [
        {"asset": "BTC", "free": "5.00000000", "locked": "0.00000000"},
        {"asset": "USDT", "free": "1234.56780000", "locked": "10.00000000"},
        {"asset": "BNB", "free": "0.00000000", "locked": "0.00000000"},
    ],
    "permissions": ["SPOT"],
}


def ccxt_recorded(method: str, description: str) -> Any:
    """The ``httpResponse`` of the ccxt static entry with this method and description."""
    entries = json.loads(CCXT_RECORDED.read_text(encoding="utf-8"))["entries"]
    for entry in entries:
        if entry["ccxt_method"] == method and entry["description"] == description:
            return entry["httpResponse"]
    raise KeyError((method, description))


@dataclass(frozen=True, slots=True)
class Seen:
    """One request: method, path, and its query and form-body parameters merged."""

    method: str
    path: str
    params: dict[str, str]


@dataclass
class VenueFixtureServer:
    """Reply queues by ``(method, path)``; ``seen`` logs every request in order."""

    routes: dict[tuple[str, str], list[Reply | RawReply]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def route(self, method: str, path: str, *replies: Reply | RawReply) -> None:
        """Answer ``method path`` with ``replies`` in turn, repeating the last one."""
        with self._lock:
            self.routes[(method, path)] = list(replies)

    def count(self, method: str, path: str) -> int:
        with self._lock:
            return sum(1 for s in self.seen if (s.method, s.path) == (method, path))

    def last(self, method: str, path: str) -> Seen:
        with self._lock:
            return [s for s in self.seen if (s.method, s.path) == (method, path)][-1]

    def _next(self, request: Seen) -> Reply | RawReply:
        with self._lock:
            self.seen.append(request)
            queue = self.routes.get((request.method, request.path))
            if not queue:
                return Reply(404, {"code": -1000, "msg": f"no reply for {request.method} "
                                   f"{request.path}"})
            return queue.pop(0) if len(queue) > 1 else queue[0]


def recorded_account_routes() -> dict[tuple[str, str], list[Reply | RawReply]]:
    """The default replay: markets, account, positions, orders, funding, brackets."""
    routes: dict[tuple[str, str], list[Reply | RawReply]] = {
        ("GET", path): [reply] for path, reply in recorded_routes().items()}
    positions = load_fixture("rs_http_json__position_risk.json") + load_fixture(
        "py_http_futures_account_positions_one_way.json"
    )
    filled = ccxt_recorded("fetchOrders", "fetch portfolio margin orders")[0]
    routes.update({
        ("GET", "/fapi/v2/positionRisk"): [Reply(200, positions)],
        ("GET", "/fapi/v2/account"): [Reply(200, ccxt_recorded(
            "fetchBalance", "Linear swap balance"))],
        ("GET", "/api/v3/account"): [Reply(200, SPOT_ACCOUNT)],
        ("GET", "/fapi/v1/positionSide/dual"): [Reply(200, load_fixture(
            "py_http_futures_account_position_side_dual.json"))],
        ("GET", "/fapi/v1/multiAssetsMargin"): [Reply(200, {"multiAssetsMargin": False})],
        ("GET", "/fapi/v1/order"): [Reply(200, filled)],
        ("GET", "/fapi/v1/userTrades"): [Reply(200, ccxt_recorded(
            "fetchMyTrades", "Swap private trade"))],
        ("GET", "/fapi/v1/openOrders"): [Reply(200, [ccxt_recorded(
            "fetchOpenOrder", "swap open order")])],
        ("GET", "/fapi/v1/income"): [Reply(200, ccxt_recorded(
            "fetchFundingHistory", "fetch portfolio margin funding history"))],
        ("GET", "/fapi/v1/leverageBracket"): [Reply(200, recorded_leverage_brackets(
            "BTCUSDT", 1))],
        ("POST", "/fapi/v1/order"): [Reply(200, load_fixture("rs_http_json__order_response.json"))],
    })
    return routes


def _handler(state: VenueFixtureServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive like Binance, so a drop is a real cut
        # Headers and body leave in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every request on loopback.
        disable_nagle_algorithm = True

        def _answer(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            params = dict(parse_qsl(parts.query)) | dict(parse_qsl(body))
            reply = state._next(Seen(self.command, parts.path, params))
            if reply is DROP:
                self.close_connection = True
                return
            raw = reply if isinstance(reply, RawReply) else RawReply(
                reply.status, json.dumps(reply.body).encode())
            self.send_response(raw.status)
            self.send_header("Content-Type", raw.content_type)
            self.send_header("Content-Length", str(len(raw.body)))
            self.end_headers()
            if raw.cut:
                self.wfile.write(raw.body[: len(raw.body) // 2])
                self.close_connection = True
                return
            self.wfile.write(raw.body)

        do_GET = _answer
        do_POST = _answer
        do_DELETE = _answer
        do_PUT = _answer

        def log_message(self, format: str, *args: Any) -> None:
            return  # requests are in ``state.seen``; keep test output clean

    return Handler


@contextmanager
def serve_venue_fixtures(
    routes: dict[tuple[str, str], list[Reply | RawReply]] | None = None,
) -> Iterator[VenueFixtureServer]:
    """Serve ``routes`` (default: the recorded account replay) on 127.0.0.1 at a free port."""
    state = VenueFixtureServer(routes=recorded_account_routes() if routes is None else routes)
    with serve_on_loopback(_handler(state), "venue-fixture") as url:
        state.url = url
        yield state
