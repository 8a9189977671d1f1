"""A loopback HTTP proxy that injects exchange faults, from a seed, between ccxt and an exchange.

The proxy listens on 127.0.0.1 (real sockets, one thread per connection) and forwards each
request to ``upstream`` (``perphedge exchange serve`` or the in-process local exchange). For
each request it decides, from the seed alone, whether to inject a fault and which one:

=====================  ==========================================================  ==========
kind                   what the client sees                                         forwarded
=====================  ==========================================================  ==========
``drop_after``         the connection closes with no reply                          yes
``status_5xx_before``  HTTP 503 (HTML), the exchange never saw the request          no
``status_5xx_after``   HTTP 502/504 (HTML) although the exchange acted              yes
``rate_limit_429``     HTTP 429 ``{"code": -1003}`` with ``Retry-After``            no
``ban_418``            HTTP 418 ``{"code": -1003}`` with ``Retry-After``            no
``cut_mid_body``       the reply's headers and half its body, then the close        yes
``html_200``           HTTP 200 with a gateway's "502 Bad Gateway" HTML page        yes
``empty_list_200``     HTTP 200 ``[]``                                              yes
``empty_object_200``   HTTP 200 ``{}``                                              yes
``truncated_json_200`` HTTP 200 with the first half of the real JSON body           yes
``delay_past_timeout`` the real reply, ``delay_s`` late (after the client gave up)  yes
=====================  ==========================================================  ==========

**Seeded.** The decision for the *n*-th request to ``(method, path)`` is drawn from
``random.Random(f"{seed}|{method}|{path}|{n}")``: the same seed gives the same faults for the
same sequence of calls to each endpoint, whatever the interleaving between endpoints.

A fault is drawn with the probability of the request's ``(method, path)`` in
:attr:`FaultPlan.per_endpoint`, else its method's in :attr:`FaultPlan.per_method`, else
:attr:`FaultPlan.rate`; the kind by :attr:`FaultPlan.weights`. ``proxy.enabled = False``
turns every fault off (requests are still counted). ``proxy.counts`` says what was injected;
``proxy.on_forwarded`` callbacks run after the exchange answered a forwarded request and
before the client gets anything (a test kills the engine there: "the order passed the proxy").
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import socketserver
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["FAULT_KINDS", "FaultPlan", "FaultProxy", "Forwarded", "fault_proxy"]

FAULT_KINDS = (
    "drop_after", "status_5xx_before", "status_5xx_after", "rate_limit_429", "ban_418",
    "cut_mid_body", "html_200", "empty_list_200", "empty_object_200", "truncated_json_200",
    "delay_past_timeout",
)
#: Kinds answered without asking the exchange (it never sees the request).
NOT_FORWARDED = frozenset({"status_5xx_before", "rate_limit_429", "ban_418"})

GATEWAY_PAGE = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
                b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n")
_HOP_HEADERS = frozenset({"host", "connection", "keep-alive", "proxy-connection", "te",
                          "trailer", "upgrade", "content-length", "accept-encoding"})
_MAX_HEADER_BYTES = 65_536


@dataclass(frozen=True)
class FaultPlan:
    """How often and which faults: probabilities per endpoint, per method, else ``rate``."""

    seed: int
    rate: float = 0.1
    per_method: Mapping[str, float] = field(default_factory=dict)
    per_endpoint: Mapping[tuple[str, str], float] = field(default_factory=dict)
    weights: Mapping[str, float] = field(default_factory=lambda: dict.fromkeys(FAULT_KINDS, 1.0))
    #: How long a ``delay_past_timeout`` reply is held (longer than the client's timeout).
    delay_s: float = 11.0
    retry_after_s: int = 1

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"weights: expected kinds from {FAULT_KINDS}, got {sorted(unknown)}")
        probabilities = [self.rate, *self.per_method.values(), *self.per_endpoint.values()]
        if any(not 0 <= p <= 1 for p in probabilities):
            raise ValueError(f"probabilities: expected 0..1, got {probabilities}")

    def probability(self, method: str, path: str) -> float:
        """The fault probability of one request to ``path`` with ``method``."""
        if (method, path) in self.per_endpoint:
            return self.per_endpoint[(method, path)]
        return self.per_method.get(method, self.rate)

    def decide(self, method: str, path: str, n: int) -> str | None:
        """The fault (or ``None``) for the ``n``-th request to ``(method, path)``."""
        rng = random.Random(f"{self.seed}|{method}|{path}|{n}")  # noqa: S311 -- a seeded, reproducible draw
        if rng.random() >= self.probability(method, path):
            return None
        kinds = [k for k in FAULT_KINDS if self.weights.get(k, 0) > 0]
        if not kinds:
            return None
        return rng.choices(kinds, weights=[self.weights[k] for k in kinds])[0]


@dataclass(frozen=True, slots=True)
class Forwarded:
    """A request the exchange answered: what it was, its status and the fault that follows."""

    method: str
    path: str
    status: int
    fault: str | None


@dataclass(slots=True)
class _Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path


@dataclass(slots=True)
class _Reply:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes


class FaultProxy:
    """The proxy server; use :func:`fault_proxy` to run one for a ``with`` block."""

    def __init__(self, upstream: str, plan: FaultPlan) -> None:
        parts = urlsplit(upstream)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"upstream: expected http://host:port, got {upstream!r}")
        self.upstream = (parts.hostname, parts.port)
        self.plan = plan
        self.enabled = True
        self.counts: Counter[str] = Counter()
        self.by_endpoint: Counter[tuple[str, str, str]] = Counter()
        self.requests: Counter[tuple[str, str]] = Counter()
        self.on_forwarded: list[Callable[[Forwarded], None]] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name="fault-proxy")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def injected(self) -> int:
        """Faults injected so far."""
        with self._lock:
            return sum(self.counts.values())

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # ------------------------------------------------------------------ one connection
    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        try:
            request = _read_request(conn)
            if request is None:
                return
            fault = self._decide(request)
            self._answer(conn, request, fault)
        except OSError:
            return  # the client went away (it timed out, or was killed): nothing to answer
        finally:
            _close(conn)

    def _decide(self, request: _Request) -> str | None:
        key = (request.method, request.path)
        with self._lock:
            n = self.requests[key]
            self.requests[key] = n + 1
            fault = self.plan.decide(request.method, request.path, n) if self.enabled else None
            if fault is not None:
                self.counts[fault] += 1
                self.by_endpoint[(fault, request.method, request.path)] += 1
        return fault

    def _answer(self, conn: socket.socket, request: _Request, fault: str | None) -> None:
        if fault in NOT_FORWARDED:
            conn.sendall(_encode(_refusal(fault, self.plan.retry_after_s)))
            return
        reply = self._forward(request)
        for hook in list(self.on_forwarded):
            hook(Forwarded(request.method, request.path, reply.status, fault))
        if fault is None:
            conn.sendall(_encode(reply))
        elif fault == "drop_after":
            _reset(conn)
        elif fault == "cut_mid_body":
            raw = _encode(reply)
            head_end = raw.index(b"\r\n\r\n") + 4
            conn.sendall(raw[: head_end + len(reply.body) // 2])
            _reset(conn)
        elif fault == "delay_past_timeout":
            if not self._closing.wait(self.plan.delay_s):
                conn.sendall(_encode(reply))
        else:
            conn.sendall(_encode(_garbled(fault, reply)))

    def _forward(self, request: _Request) -> _Reply:
        upstream = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            headers = {k: v for k, v in request.headers if k.lower() not in _HOP_HEADERS}
            upstream.request(request.method, request.target, body=request.body or None,
                             headers=headers)
            got = upstream.getresponse()
            body = got.read()
            kept = [(k, v) for k, v in got.getheaders() if k.lower() not in _HOP_HEADERS]
            return _Reply(got.status, got.reason, kept, body)
        finally:
            upstream.close()


def _read_request(conn: socket.socket) -> _Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65_536)
        if not chunk:
            return None
        data += chunk
        if len(data) > _MAX_HEADER_BYTES:
            raise OSError("request headers too large")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
    if any(k.lower() == "transfer-encoding" for k, _ in headers):
        raise OSError("chunked requests are not supported by the fault proxy")
    while len(body) < length:
        chunk = conn.recv(65_536)
        if not chunk:
            return None
        body += chunk
    return _Request(method.upper(), target, headers, body[:length])


def _refusal(fault: str | None, retry_after_s: int) -> _Reply:
    if fault == "status_5xx_before":
        return _Reply(503, "Service Unavailable", [("Content-Type", "text/html")],
                      GATEWAY_PAGE.replace(b"502 Bad Gateway", b"503 Service Unavailable"))
    banned = fault == "ban_418"
    status, reason = (418, "I'm a teapot") if banned else (429, "Too Many Requests")
    body = json.dumps({"code": -1003, "msg": "Too many requests; injected by the fault proxy."})
    return _Reply(status, reason, [("Content-Type", "application/json"),
                                   ("Retry-After", str(retry_after_s))], body.encode())


def _garbled(fault: str, reply: _Reply) -> _Reply:
    json_type = [("Content-Type", "application/json")]
    if fault == "status_5xx_after":
        status = 502 if len(reply.body) % 2 else 504
        return _Reply(status, "Bad Gateway", [("Content-Type", "text/html")], GATEWAY_PAGE)
    if fault == "html_200":
        return _Reply(200, "OK", [("Content-Type", "text/html")], GATEWAY_PAGE)
    if fault == "empty_list_200":
        return _Reply(200, "OK", json_type, b"[]")
    if fault == "empty_object_200":
        return _Reply(200, "OK", json_type, b"{}")
    if fault == "truncated_json_200":
        return _Reply(200, "OK", json_type, reply.body[: max(1, len(reply.body) // 2)])
    raise ValueError(f"fault: expected one of {FAULT_KINDS}, got {fault!r}")


def _encode(reply: _Reply) -> bytes:
    head = [f"HTTP/1.1 {reply.status} {reply.reason}"]
    head += [f"{k}: {v}" for k, v in reply.headers]
    head += [f"Content-Length: {len(reply.body)}", "Connection: close", "", ""]
    return "\r\n".join(head).encode("latin-1") + reply.body


def _reset(conn: socket.socket) -> None:
    """Close so the peer sees the connection end at once (no graceful reply)."""
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        return


def _close(conn: socket.socket) -> None:
    with suppress(OSError):
        conn.shutdown(socket.SHUT_WR)
    conn.close()


@contextmanager
def fault_proxy(upstream: str, plan: FaultPlan) -> Iterator[FaultProxy]:
    """A running :class:`FaultProxy` in front of ``upstream`` for one ``with`` block."""
    proxy = FaultProxy(upstream, plan)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()
