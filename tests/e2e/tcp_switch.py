"""A loopback TCP relay that can be switched off: the exchange "stops answering".

While off, every open connection is cut and new ones are closed as soon as they are
accepted, so the client sees a dropped connection at once (not a timeout after seconds).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class TcpSwitch:
    """Relay 127.0.0.1:``port`` → ``target``; ``up`` False drops everything."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.up = True
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, name="tcp-switch", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_up(self, up: bool) -> None:
        self.up = up
        if not up:
            with self._lock:
                sockets, self._open = list(self._open), set()
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self._closed = True
        self.set_up(False)
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@contextmanager
def tcp_switch(target_url: str) -> Iterator[TcpSwitch]:
    """A switch in front of ``http://host:port``."""
    host, port = target_url.removeprefix("http://").rstrip("/").split(":")
    switch = TcpSwitch((host, int(port)))
    try:
        yield switch
    finally:
        switch.close()
