"""The HTTP server: Binance's paths, auth, request weights and error shape over ``LocalExchange``.

stdlib ``ThreadingHTTPServer``; every request takes the exchange's lock, so requests apply
one at a time in arrival order (deterministic, and plenty for one account). Each request:
route lookup → weight charged (429/418 past the limit) → signature, key and recvWindow
checked for signed routes → replay clock synced (funding, fills, liquidations) → handler →
state saved when it changed something. Every request is appended to ``request_log``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# Imported for their side effect of filling the route table.
from perphedge.exchange import (  # noqa: F401
    routes_futures,
    routes_ledger,
    routes_market,
    routes_spot,
)
from perphedge.exchange.auth import verify_signed
from perphedge.exchange.core import LocalExchange, rejection_to_api
from perphedge.exchange.errors import BinanceApiError
from perphedge.exchange.market import wall_ms
from perphedge.exchange.params import Params
from perphedge.exchange.routing import ROUTES, Route
from perphedge.exchange.state import save_state
from perphedge.sim.account import SimRejection

__all__ = ["LocalExchangeServer", "LoggedRequest", "start_server"]

log = logging.getLogger(__name__)
_MAX_BODY = 1 << 20


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request as the server saw it (for tracing which endpoints a client calls)."""

    method: str
    path: str
    status: int
    signed: bool


class LocalExchangeServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer bound to one ``LocalExchange``."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], exchange: LocalExchange) -> None:
        super().__init__(address, _Handler)
        self.exchange = exchange
        self.request_log: list[LoggedRequest] = []
        self._thread: threading.Thread | None = None
        #: Called about twice a second by :meth:`wait` (the CLI announces the data's end).
        self.on_tick: Callable[[], None] | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LocalExchangeServer:
        """Serve in a background thread; returns self."""
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,),
                                        name="local-exchange",
                                        daemon=True)
        self._thread.start()
        return self

    def wait(self) -> None:
        """Block until the serving thread ends (Ctrl-C raises KeyboardInterrupt here)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)
            if self.on_tick is not None:
                self.on_tick()

    def close(self) -> None:
        """Stop serving, join the thread and close the socket."""
        self.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.server_close()


def start_server(exchange: LocalExchange, host: str = "127.0.0.1", port: int = 0
                 ) -> LocalExchangeServer:
    """Start a server for ``exchange`` in a background thread (port 0: a free port)."""
    return LocalExchangeServer((host, port), exchange).start()


class _Handler(BaseHTTPRequestHandler):
    server: LocalExchangeServer
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two sends; with Nagle on, the second waits for the client's
    # delayed ACK (about 40 ms a request).
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = min(int(self.headers.get("Content-Length") or 0), _MAX_BODY)
        raw_body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        found = ROUTES.get((method, parts.path))
        headers: dict[str, str] = {}
        try:
            if found is None:
                raise BinanceApiError(-1000, f"Unknown endpoint {method} {parts.path}", 404)
            status, body = 200, self._answer(found, parts.query, raw_body, headers)
        except BinanceApiError as err:
            status, body = err.status, err.body()
            headers.update(err.headers)
        except SimRejection as err:
            api = rejection_to_api(err)
            status, body = api.status, api.body()
        except Exception:  # a bug in the server: answer like Binance's 500, then keep serving
            log.exception("local exchange failed on %s %s", method, parts.path)
            status, body = 500, {"code": -1000, "msg": "An unknown error occured while "
                                 "processing the request."}
        self.server.request_log.append(
            LoggedRequest(method, parts.path, status, bool(found and found.signed)))
        self._send(status, body, headers)

    def _answer(self, found: Route, raw_query: str, raw_body: str,
                headers: dict[str, str]) -> Any:
        ex = self.server.exchange
        api_key = self.headers.get("X-MBX-APIKEY")
        client = api_key or self.client_address[0]
        used = ex.limiter.charge(client, found.weight)
        headers["X-MBX-USED-WEIGHT-1M"] = str(used)
        values = dict(parse_qsl(raw_query, keep_blank_values=True))
        values.update(parse_qsl(raw_body, keep_blank_values=True))
        if found.signed:
            verify_signed(ex.config.keys, api_key, raw_query, raw_body, values, wall_ms())
        with ex.lock:
            ex.sync()
            result = found.handler(ex, Params(values))
            if ex.config.state_path is not None and (found.mutates or ex.dirty):
                save_state(ex, ex.config.state_path)
                ex.dirty = False
        return result

    def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
        payload = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
