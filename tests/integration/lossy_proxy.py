"""A minimal loopback proxy that forwards every request and can lose the reply.

Between the real ccxt client and the local exchange: the request always reaches the exchange
(so the order or transfer *happens*), then the reply is delivered, dropped (the connection is
closed with no answer), cut mid-body, or replaced by a 502 HTML page, as the next matching
rule says. Counts what was forwarded per ``METHOD /path``, so a test can show nothing was
sent twice. (The full seeded fault proxy lives in ``tests/fault/``; this is the small one the
ledger tests need.)
"""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tests.loopback import serve_on_loopback

#: What happens to a reply: delivered, dropped, cut mid-body, or a 502 page.
MODES = ("deliver", "drop", "cut", "502")


@dataclass
class Faults:
    """Rules, consumed in order: ``(method, path) → [mode, ...]``; and what was forwarded."""

    rules: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    forwarded: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def lose(self, method: str, path: str, *modes: str) -> None:
        """The next replies to ``method path`` go as ``modes`` say (one mode per request)."""
        assert all(m in MODES for m in modes), modes
        with self.lock:
            self.rules.setdefault((method, path), []).extend(modes)

    def clear(self, method: str, path: str) -> None:
        """Deliver the replies to ``method path`` again (rules not consumed are dropped)."""
        with self.lock:
            self.rules.pop((method, path), None)

    def next_mode(self, method: str, path: str) -> str:
        with self.lock:
            self.forwarded[f"{method} {path}"] += 1
            queue = self.rules.get((method, path)) or []
            return queue.pop(0) if queue else "deliver"


def _handler(upstream: str, faults: Faults) -> type[BaseHTTPRequestHandler]:
    target = urlsplit(upstream)

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return  # quiet tests

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("host", "connection", "accept-encoding")}
            conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port,
                                              timeout=10)
            conn.request(self.command, self.path, body=body, headers=headers)
            reply = conn.getresponse()
            data = reply.read()
            conn.close()
            mode = faults.next_mode(self.command, urlsplit(self.path).path)
            if mode == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if mode == "502":
                page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
                self.send_response(502)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
                return
            self.send_response(reply.status)
            for key, value in reply.getheaders():
                if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            if mode == "cut":
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.close()
                return
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PUT = _forward

    return Proxy


@contextmanager
def lossy_proxy(upstream: str) -> Iterator[tuple[str, Faults]]:
    """Yield the proxy's base URL and its :class:`Faults`; every request goes to ``upstream``."""
    faults = Faults()
    with serve_on_loopback(_handler(upstream, faults), "lossy-proxy") as url:
        yield url, faults
