"""A loopback proxy that forwards a request to the exchange and then spoils its answer.

Put between the real ccxt client and the local exchange: the exchange carries the request out
(the order is placed and filled), and the client gets, instead of the reply, one of the
things Binance sends in volatile minutes:

* ``cut``: the status and the full ``Content-Length``, then half the body and a closed link;
* ``503``: an nginx-style HTML 503 page;
* ``html``: an HTML 502 page with status 200;
* ``garbled``: status 200, JSON that stops halfway and ends in noise.

``spoil("POST", "/fapi/v1/order", "cut")`` spoils the next such request; every request is
forwarded exactly once and logged in ``forwarded``.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tests.loopback import serve_on_loopback

MODES = ("cut", "503", "html", "garbled")
_PAGE_503 = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
_PAGE_502 = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


@dataclass
class CuttingProxy:
    """The proxy's state: where it forwards, what to spoil next, what it forwarded."""

    upstream: str
    url: str = ""
    forwarded: list[tuple[str, str]] = field(default_factory=list)
    _spoils: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def spoil(self, method: str, path: str, mode: str) -> None:
        """Spoil the answer to the next ``method path`` request with ``mode``."""
        assert mode in MODES, mode
        with self._lock:
            self._spoils.setdefault((method, path), []).append(mode)

    def count(self, method: str, path: str) -> int:
        with self._lock:
            return self.forwarded.count((method, path))

    def _take(self, method: str, path: str) -> str | None:
        with self._lock:
            self.forwarded.append((method, path))
            queue = self._spoils.get((method, path))
            return queue.pop(0) if queue else None


def _handler(proxy: CuttingProxy) -> type[BaseHTTPRequestHandler]:
    upstream = urlsplit(proxy.upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            mode = proxy._take(self.command, urlsplit(self.path).path)
            conn = http.client.HTTPConnection(upstream.hostname or "", upstream.port, timeout=10)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, self.path, body=body, headers=headers)
                reply = conn.getresponse()
                status, data = reply.status, reply.read()
                content_type = reply.getheader("Content-Type") or "application/json"
            finally:
                conn.close()
            if mode == "503":
                status, data, content_type = 503, _PAGE_503, "text/html"
            elif mode == "html":
                status, data, content_type = 200, _PAGE_502, "text/html"
            elif mode == "garbled":
                data = data[: len(data) // 2] + b"\x00\xff}]garbled"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if mode == "cut":
                self.wfile.write(data[: len(data) // 2])
                self.close_connection = True
                return
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PUT = _forward

        def log_message(self, format: str, *args: object) -> None:
            return None

    return Handler


@contextmanager
def cutting_proxy(upstream: str) -> Iterator[CuttingProxy]:
    """A proxy to ``upstream`` on 127.0.0.1; ``proxy.url`` is its base URL."""
    proxy = CuttingProxy(upstream)
    with serve_on_loopback(_handler(proxy), "cutting-proxy") as url:
        proxy.url = url
        yield proxy
