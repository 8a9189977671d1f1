"""Binance's request authentication and request-weight limits, checked like the real exchange.

Signed (``USER_DATA``/``TRADE``) requests carry ``X-MBX-APIKEY`` and, in the query string or
the form body, ``timestamp``, an optional ``recvWindow`` and ``signature`` = hex HMAC-SHA256 of
the total parameters (query string concatenated with the body, ``signature`` left out) keyed
by the API secret. Both checks run on the wall clock, not the replay clock: the client signs
with its own clock, whatever historical hour the market is replaying.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from perphedge.exchange.errors import BinanceApiError, api_error

__all__ = ["ApiKeys", "RateLimiter", "sign", "verify_signed"]

DEFAULT_RECV_WINDOW_MS = 5_000
MAX_RECV_WINDOW_MS = 60_000
#: Binance accepts a timestamp up to one second ahead of its own clock.
FUTURE_TOLERANCE_MS = 1_000


def sign(payload: str, secret: str) -> str:
    """Binance's HMAC-SHA256 signature of ``payload``, hex encoded.

    >>> sign("symbol=BTCUSDT&timestamp=1", "s")[:16]
    '3f6bc80f1eb7b77a'
    """
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _strip_signature(raw: str) -> tuple[str, str | None]:
    """``raw`` without its ``signature=`` pair, and that signature (None if absent)."""
    kept: list[str] = []
    signature: str | None = None
    for pair in raw.split("&") if raw else []:
        if pair.startswith("signature="):
            signature = pair[len("signature="):]
        else:
            kept.append(pair)
    return "&".join(kept), signature


@dataclass(frozen=True, slots=True)
class ApiKeys:
    """The key pairs the exchange accepts: API key → secret."""

    secrets: dict[str, str]

    def secret_for(self, api_key: str | None) -> str:
        """The secret of ``api_key``; -2014 when no key was sent, -2015 when it is unknown."""
        if not api_key:
            raise api_error(-2014)
        secret = self.secrets.get(api_key)
        if secret is None:
            raise api_error(-2015)
        return secret


def verify_signed(
    keys: ApiKeys,
    api_key: str | None,
    raw_query: str,
    raw_body: str,
    params: dict[str, str],
    now_ms: int,
) -> None:
    """Check key, signature, ``timestamp`` and ``recvWindow`` of a signed request.

    Raises -2014/-2015 (key), -1022 (signature), -1102 (no timestamp), -1021 (timestamp
    outside the receive window), in that order.
    """
    secret = keys.secret_for(api_key)
    query, sig_query = _strip_signature(raw_query)
    body, sig_body = _strip_signature(raw_body)
    signature = sig_query or sig_body
    if not signature or not hmac.compare_digest(sign(query + body, secret), signature.lower()):
        raise api_error(-1022)
    raw_ts = params.get("timestamp")
    if raw_ts is None or not raw_ts.isdigit():
        raise api_error(-1102, param="timestamp")
    raw_window = params.get("recvWindow", str(DEFAULT_RECV_WINDOW_MS))
    if not raw_window.isdigit():
        raise api_error(-1102, param="recvWindow")
    recv_window = min(int(raw_window), MAX_RECV_WINDOW_MS)
    timestamp = int(raw_ts)
    if not (timestamp < now_ms + FUTURE_TOLERANCE_MS and now_ms - timestamp <= recv_window):
        raise api_error(-1021)


@dataclass(slots=True)
class _Window:
    start_ms: int = 0
    used: int = 0
    rejected: int = 0
    banned_until_ms: int = 0


@dataclass(slots=True)
class RateLimiter:
    """Request weight per client and minute, answered like Binance when exceeded.

    Over ``limit_per_minute`` the request gets HTTP 429 (code -1003) with ``Retry-After``
    (seconds to the next minute). A client that sends ``ban_after_429`` more requests after
    429s in the same minute is banned: HTTP 418 with ``Retry-After`` for ``ban_ms``.
    ``limit_per_minute`` 0 turns the limit off.
    """

    limit_per_minute: int
    clock_ms: Callable[[], int]
    ban_after_429: int = 3
    ban_ms: int = 120_000
    _windows: dict[str, _Window] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def charge(self, client: str, weight: int) -> int:
        """Add ``weight`` to ``client``'s minute and return the minute's used weight."""
        now = self.clock_ms()
        with self._lock:
            win = self._windows.setdefault(client, _Window())
            if now < win.banned_until_ms:
                raise self._banned(win, now)
            minute = now - now % 60_000
            if win.start_ms != minute:
                win.start_ms, win.used, win.rejected = minute, 0, 0
            win.used += weight
            if self.limit_per_minute and win.used > self.limit_per_minute:
                win.rejected += 1
                if win.rejected > self.ban_after_429:
                    win.banned_until_ms = now + self.ban_ms
                    raise self._banned(win, now)
                retry_s = max(1, -(-(minute + 60_000 - now) // 1000))
                raise BinanceApiError(
                    -1003,
                    api_error(-1003, limit=self.limit_per_minute).msg,
                    status=429,
                    headers={"Retry-After": str(retry_s)},
                )
            return win.used

    @staticmethod
    def _banned(win: _Window, now: int) -> BinanceApiError:
        retry_s = max(1, -(-(win.banned_until_ms - now) // 1000))
        return BinanceApiError(
            -1003,
            f"Way too much request weight used; IP banned until {win.banned_until_ms}. "
            "Please use the websocket for live updates to avoid bans.",
            status=418,
            headers={"Retry-After": str(retry_s)},
        )
