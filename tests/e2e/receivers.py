"""Real alert receivers on loopback: an HTTP server taking Apprise's ``json://`` posts and an
SMTP server (aiosmtpd) taking its ``mailto://`` mails."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler
from typing import Any

from aiosmtpd.controller import Controller

from tests.loopback import serve_on_loopback


@dataclass
class Inbox:
    """What a receiver got: (title, body) pairs, in arrival order."""

    items: list[tuple[str, str]] = field(default_factory=list)
    pings: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, title: str, body: str) -> None:
        with self.lock:
            self.items.append((title, body))

    def titles(self) -> list[str]:
        with self.lock:
            return [t for t, _ in self.items]

    def wait_for(self, predicate: Callable[[str], bool], timeout_s: float = 30,
                 after: int = 0) -> str:
        """The first title matching ``predicate`` (among those from index ``after`` on),
        waiting for it to arrive."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = next((t for t in self.titles()[after:] if predicate(t)), None)
            if found is not None:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no matching alert within {timeout_s} s; got {self.titles()}")


@contextmanager
def webhook() -> Iterator[tuple[str, Inbox]]:
    """Yield (``json://`` URL, inbox)."""
    inbox = Inbox()

    class Hook(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the heartbeat ping
            inbox.pings += 1
            self.send_response(200)
            self.end_headers()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            data: dict[str, Any] = json.loads(self.rfile.read(length))
            inbox.add(str(data.get("title", "")), str(data.get("message", "")))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    with serve_on_loopback(Hook, "webhook") as base:
        yield base.replace("http://", "json://") + "/hook", inbox


class _Mails:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        mail: Message = message_from_bytes(envelope.content)
        payload = mail.get_payload(decode=True)
        body = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        self.inbox.add(str(mail.get("Subject", "")), body)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_server() -> Iterator[tuple[str, Inbox]]:
    """Yield (``mailto://`` URL, inbox) of a real SMTP server on loopback."""
    inbox = Inbox()
    port = _free_port()
    controller = Controller(_Mails(inbox), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield (f"mailto://127.0.0.1:{port}?from=perphedge@localhost&to=ops@localhost"
               "&mode=insecure"), inbox
    finally:
        controller.stop()
