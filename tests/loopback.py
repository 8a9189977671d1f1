"""Run a test HTTP handler on 127.0.0.1 at a free port, in a thread, for one ``with`` block."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: ``send_spoiled``'s instruction to send the real body cut halfway.
CUT = "cut"


@contextmanager
def serve_on_loopback(handler: type[BaseHTTPRequestHandler], name: str = "loopback"
                      ) -> Iterator[str]:
    """Yield the server's base URL (``http://127.0.0.1:PORT``); shut it down on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    # A short poll interval: ``shutdown()`` waits up to one interval, once per test.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def send_spoiled(handler: BaseHTTPRequestHandler, status: int, body: bytes,
                 spoil: bytes | str | None = None) -> None:
    """Answer ``body`` as JSON; or, spoiled, ``spoil``'s bytes with status 200 (an HTML
    page, garbled JSON), or with ``CUT`` the full length announced and half the body sent."""
    if isinstance(spoil, bytes):
        status, body = 200, spoil
    handler.send_response(status)
    is_html = body.lstrip()[:1] == b"<"
    handler.send_header("Content-Type", "text/html" if is_html else "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if spoil == CUT:
        handler.wfile.write(body[: len(body) // 2])
        handler.close_connection = True
        return
    handler.wfile.write(body)
