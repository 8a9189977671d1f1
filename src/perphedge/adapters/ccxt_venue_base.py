"""Shared plumbing of the ccxt venues: error translation, read retries, one-shot orders.

Retries: reads (and the idempotent writes: margin mode, leverage, cancel) are retried on
``RetryableExchangeError`` with bounded exponential backoff. ``place_order``, margin moves and
transfers are sent exactly once: a second send could double them. An order whose send failed
without an answer raises ``AmbiguousOrderError``; the engine resolves it by client order id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import ccxt

from perphedge.adapters.ccxt_errors import exchange_error
from perphedge.adapters.ccxt_market import exchange_decimal
from perphedge.engine.venue import OrderRequest
from perphedge.errors import AmbiguousOrderError, InputError, RetryableExchangeError

__all__ = ["CcxtVenueBase", "RetryPolicy"]

_T = TypeVar("_T")


async def _no_wait(_seconds: float) -> None:
    return None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded exponential backoff for reads; ``sleep`` is injectable so tests do not wait.

    Delays are ``first_delay_s × factor**n`` capped at ``max_delay_s``: with the defaults a read
    is tried 4 times over about 3.5 s before its ``RetryableExchangeError`` reaches the engine.
    """

    attempts: int = 4
    first_delay_s: float = 0.5
    factor: float = 2.0
    max_delay_s: float = 5.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise InputError("retry.attempts", "at least 1", self.attempts)

    def delay_s(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
        return float(min(self.first_delay_s * self.factor**attempt, self.max_delay_s))

    @classmethod
    def instant(cls, attempts: int = 4) -> RetryPolicy:
        """Same attempts, no waiting (tests, and callers with their own pacing)."""
        return cls(attempts=attempts, sleep=_no_wait)


class CcxtVenueBase:
    """What every ccxt venue shares: the client, error translation, retries, markets.

    Symbols are the exchange's market ids (``BTCUSDT``, ``BTC-USDT-SWAP``), as in
    ``Instrument.symbol``. The client is owned by the venue: ``await venue.close()``.
    """

    def __init__(
        self,
        client: Any,
        *,
        secrets: Sequence[str] = (),
        retry: RetryPolicy | None = None,
    ) -> None:
        self.name = str(client.id)
        self._client = client
        self._secrets = tuple(s for s in secrets if s)
        self._retry = retry if retry is not None else RetryPolicy()

    async def close(self) -> None:
        """Close the client's HTTP session (aiohttp warns about an unclosed one)."""
        await self._client.close()

    async def __aenter__(self) -> CcxtVenueBase:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- plumbing -----------------------------------------------------------------------------

    async def _once(self, action: str, call: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``call`` once, translating ccxt errors (keys scrubbed from the message)."""
        try:
            return await call()
        except ccxt.BaseError as err:
            raise exchange_error(err, f"{action} on {self.name}", self._secrets) from err

    async def _read(self, action: str, call: Callable[[], Awaitable[_T]]) -> _T:
        """Run an idempotent ``call``, retrying temporary failures with backoff."""
        for attempt in range(self._retry.attempts - 1):
            try:
                return await self._once(action, call)
            except RetryableExchangeError:
                await self._retry.sleep(self._retry.delay_s(attempt))
        return await self._once(action, call)

    async def _send_order(
        self, request: OrderRequest, call: Callable[[], Awaitable[_T]]
    ) -> _T:
        """Send an order exactly once; a failure with no answer becomes ``AmbiguousOrderError``."""
        action = f"place order {request.client_order_id} on {self.name}"
        try:
            return await call()
        except ccxt.OperationFailed as err:
            # Timeout, dropped connection, 5xx, garbled reply: the order may exist. Resending
            # could double the position, so the engine asks by client id instead.
            message = exchange_error(err, action, self._secrets)
            raise AmbiguousOrderError(str(message), request.client_order_id) from err
        except ccxt.BaseError as err:
            raise exchange_error(err, action, self._secrets) from err

    async def _markets(self) -> dict[str, Any]:
        # ccxt caches the markets after the first load; later calls make no request.
        markets = await self._read("load markets", self._client.load_markets)
        return dict(markets)

    async def _market(self, symbol: str) -> dict[str, Any]:
        """The loaded linear swap (or delivery future) market whose exchange id is ``symbol``."""
        await self._markets()
        candidates = self._client.markets_by_id.get(symbol) or []
        for market in candidates:
            if (market.get("swap") or market.get("future")) and market.get("linear"):
                return dict(market)
        raise InputError("symbol", f"a linear perpetual market id on {self.name}", symbol)

    def _dec(self, value: object, what: str) -> Decimal:
        return exchange_decimal(value, f"{self.name} {what}")
