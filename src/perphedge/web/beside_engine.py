"""The web app inside ``perphedge serve --http HOST:PORT``: same process, same event loop.

The address is parsed and checked, and its port bound, before the service takes any lease (a
port in use is bad input: one line, exit 2). The uvicorn server then runs as a task next to the
hedges' scheduler; its sync routes run in uvicorn's thread pool, so a slow page never holds up
a cycle. The service owns the signals: SIGTERM stops the scheduler (after the cycle running)
and then the HTTP server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

from perphedge.errors import InputError
from perphedge.parse import is_loopback, parse_host, parse_port
from perphedge.services.hedge_service import HedgeService
from perphedge.web.app import create_app, own_store
from perphedge.web.auth import TOKEN_ENV, resolve_api_token

log = logging.getLogger("perphedge.serve")

#: Open connections get this long to finish when the service stops.
GRACEFUL_STOP_S = 5


@dataclass(frozen=True, slots=True)
class HttpAddress:
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"


def parse_address(text: str, option: str = "--http") -> HttpAddress:
    """``HOST:PORT`` (IPv6 in brackets: ``[::1]:8765``), host and port by the one parser.

    >>> parse_address("127.0.0.1:8765")
    HttpAddress(host='127.0.0.1', port=8765)
    >>> parse_address("[::1]:9000")
    HttpAddress(host='::1', port=9000)
    """
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit():
        raise InputError(option, "HOST:PORT like 127.0.0.1:8765", text)
    return HttpAddress(parse_host(host.removeprefix("[").removesuffix("]"), option),
                       parse_port(int(port), option))


def bind_rule(host: str, allow_remote: bool, token: SecretStr | None,
              option: str = "--host") -> None:
    """Loopback, or beyond it only with ``--allow-remote`` and an API token (else InputError)."""
    if is_loopback(host):
        return
    if not allow_remote:
        raise InputError(option, "a loopback address (or add --allow-remote)", host)
    if token is None:
        raise InputError("--allow-remote", f"an API token in {TOKEN_ENV} or the keyring",
                         "none set")


def bind(address: HttpAddress, option: str = "--http") -> socket.socket:
    """A listening socket on ``address``; InputError when the port is taken or not ours."""
    try:
        infos = socket.getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM)
    except OSError:
        raise InputError(option, "a host name or address this machine resolves",
                         address.host) from None
    family, kind, proto, _name, where = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(where)
        sock.listen(128)
    except OSError as err:
        sock.close()
        raise InputError(option, "a free port on an address of this machine",
                         f"{address.host}:{address.port} ({err.strerror})") from None
    sock.set_inheritable(True)
    return sock


class _ServiceOwnsSignals(uvicorn.Server):
    """uvicorn's server without its signal handlers: ``serve`` handles SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class HttpSide:
    """The web app over the service's hedges, listening on an already bound socket."""

    app: FastAPI
    web: HedgeService
    sock: socket.socket
    address: HttpAddress
    #: The serving engine holds it through each cycle; the app's close waits for it.
    cycle_lock: asyncio.Lock

    def cycle_observer(self) -> Callable[[str, float], None]:
        """Feeds the cycle-duration histogram: call with (hedge, seconds) after each cycle."""
        histogram = self.app.state.metrics.cycle_seconds

        def observe(hedge: str, seconds: float) -> None:
            histogram.labels(hedge).observe(seconds)

        return observe

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Serve HTTP while the block runs; stop (and close the socket) when it ends."""
        server = _ServiceOwnsSignals(uvicorn.Config(
            self.app, log_config=None, log_level="warning", access_log=False,
            timeout_graceful_shutdown=GRACEFUL_STOP_S))
        task = asyncio.create_task(server.serve(sockets=[self.sock]), name="http")
        log.info("http listening", extra={"fields": {"url": self.address.url}})
        try:
            yield
        finally:
            server.should_exit = True
            try:
                await task
            except Exception:  # the service's stop goes on; the cause goes to the log
                log.exception("http server failed")
            finally:
                self.sock.close()
                await self.web.comp.close_venues()
                self.web.store.close()


def http_side(service: HedgeService, address: HttpAddress, allow_remote: bool) -> HttpSide:
    """Check the bind rule and bind the port (InputError: exit 2), then build the app."""
    token = resolve_api_token()
    bind_rule(address.host, allow_remote, token, option="--http")
    sock = bind(address)
    web = own_store(service)
    lock = asyncio.Lock()
    app = create_app(web, token=token, open_reads=is_loopback(address.host), cycle_lock=lock)
    return HttpSide(app, web, sock, address, lock)
