"""Shared plumbing of the ccxt venues: error translation, read retries, one-shot orders.

Retries: reads (and the idempotent writes: margin mode, leverage) are retried on
``RetryableExchangeError`` — a malformed reply among them — with bounded exponential
backoff. ``place_order``, ``cancel_order``, margin moves and transfers are sent exactly
once: a second send could double them (a money move's documented refusal is
``MoneyMoveRefusedError``). Whether an order send failed is decided by the exchange's reply,
not the exception class: only a documented refusal (:mod:`.ccxt_refusals`) is
``OrderRefusedError``; any other failure is ``AmbiguousOrderError`` and the engine resolves
it by client order id (a cancel is read back here). Every reply is checked at the edge: its
envelope before ccxt parses it (:mod:`.ccxt_envelope`), ccxt's own parse (an exception
raised inside ccxt is a ``MalformedReplyError``), then each value (:mod:`.ccxt_reply`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import ccxt

from perphedge.adapters.exchanges.ccxt_envelope import MalformedBody, check_replies
from perphedge.adapters.exchanges.ccxt_errors import exchange_error, one_line
from perphedge.adapters.exchanges.ccxt_market import exchange_decimal
from perphedge.adapters.exchanges.ccxt_refusals import refusal
from perphedge.adapters.exchanges.ccxt_reply import (
    ReplyObject,
    described,
    raised_inside_ccxt,
    reply_list,
    reply_object,
)
from perphedge.engine.venue import OrderRequest, VenueOrder
from perphedge.errors import (
    AmbiguousOrderError,
    DataError,
    ExchangeError,
    InputError,
    MalformedReplyError,
    MoneyMoveRefusedError,
    OrderRefusedError,
    RetryableExchangeError,
)

__all__ = ["CcxtVenueBase", "RetryPolicy"]

_T = TypeVar("_T")
_R = TypeVar("_R")


def _same(body: _T) -> _T:
    return body


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

    #: The request that lists the exchange's markets (named when it lists none).
    _MARKETS_ENDPOINT: ClassVar[str] = "the exchange's market listing"

    def __init__(
        self,
        client: Any,
        *,
        secrets: Sequence[str] = (),
        retry: RetryPolicy | None = None,
    ) -> None:
        self.name = str(client.id)
        check_replies(client)  # a 2xx answer out of the exchange's envelope is malformed
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

    async def _ccxt(self, action: str, call: Callable[[], Awaitable[_T]]) -> _T:
        """Await one ccxt call; an error that is not ccxt's but was raised inside ccxt (its
        parse of a garbled body) becomes ``MalformedReplyError``. ccxt's own errors pass."""
        try:
            return await call()
        except ccxt.BaseError:
            raise
        except Exception as err:
            if not raised_inside_ccxt(err):
                raise  # a bug in perphedge itself: not the exchange's fault
            raise MalformedReplyError(
                self._endpoint(action),
                f"ccxt could not read it ({type(err).__name__}: "
                f"{one_line(str(err), self._secrets)})") from err

    def _endpoint(self, action: str) -> str:
        """``action on exchange (the last request's path)``, for a message."""
        url = getattr(self._client, "last_request_url", None)
        path = urlsplit(url).path if isinstance(url, str) else ""
        return f"{action} on {self.name}" + (f" ({path})" if path else "")

    async def _once(self, action: str, call: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``call`` once, translating ccxt errors (keys scrubbed from the message)."""
        try:
            return await self._ccxt(action, call)
        except MalformedBody as err:
            raise MalformedReplyError(err.endpoint, err.problem) from err
        except ccxt.BaseError as err:
            raise exchange_error(err, f"{action} on {self.name}", self._secrets) from err

    async def _send_money(self, action: str, call: Callable[[], Awaitable[_T]]) -> _T:
        """Send a transfer or margin move once: a reply the exchange documents as a refusal
        raises ``MoneyMoveRefusedError`` (it did not happen); any other failure is an
        ordinary ``ExchangeError``, whose outcome the engine looks up in the history."""
        try:
            return await self._once(action, call)
        except ExchangeError as err:
            cause = err.__cause__
            why = refusal(str(self._client.id), cause) if isinstance(
                cause, ccxt.BaseError) else None
            if why is None:
                raise
            raise MoneyMoveRefusedError(str(err), why) from cause

    async def _read(self, action: str, call: Callable[[], Awaitable[_T]]) -> _T:
        """Run an idempotent ``call``, retrying temporary failures with backoff."""
        return await self._read_as(action, call, _same)

    async def _read_as(self, action: str, call: Callable[[], Awaitable[Any]],
                       decode: Callable[[Any], _R]) -> _R:
        """Run an idempotent ``call`` and ``decode`` its reply, retrying temporary failures
        (a malformed reply among them) with backoff."""
        for attempt in range(self._retry.attempts - 1):
            try:
                return decode(await self._once(action, call))
            except RetryableExchangeError:
                await self._retry.sleep(self._retry.delay_s(attempt))
        return decode(await self._once(action, call))

    async def _send_order(self, request: OrderRequest, call: Callable[[], Awaitable[Any]],
                          decode: Callable[[Any], _R]) -> _R:
        """Send an order exactly once and decode the reply.

        Only a reply the exchange documents as a refusal (:mod:`.ccxt_refusals`) raises
        ``OrderRefusedError``; any other failure — timeout, dropped or cut reply, 5xx, a
        garbled or malformed body, an unlisted code — may hide an accepted order and raises
        ``AmbiguousOrderError``: the engine asks for it by client id, never resends it.
        """
        action = f"place order {request.client_order_id}"
        try:
            return decode(await self._ccxt(action, call))
        except MalformedReplyError as err:
            raise AmbiguousOrderError(str(err), request.client_order_id) from err
        except ccxt.BaseError as err:
            raise self._send_error(err, action, request.client_order_id) from err

    async def _send_cancel(self, symbol: str, client_order_id: str,
                           call: Callable[[], Awaitable[Any]],
                           decode: Callable[[Any], VenueOrder | None]) -> VenueOrder:
        """Cancel once and return the order as the exchange now has it.

        ``decode`` reads the reply (None: the reply is too sparse, read the order back). An
        uncertain outcome is read back by client id too: cancelled, filled, or still resting
        if the cancel never arrived. A documented refusal raises ``OrderRefusedError``.
        """
        action = f"cancel order {client_order_id}"
        uncertain: ExchangeError | None = None
        try:
            got = decode(await self._ccxt(action, call))
            if got is not None:
                return got
        except MalformedReplyError as err:
            uncertain = err
        except ccxt.BaseError as err:
            uncertain = self._send_error(err, action, client_order_id)
            if not isinstance(uncertain, AmbiguousOrderError):
                raise uncertain from err
        try:
            found = await self.fetch_order(symbol, client_order_id)
        except ExchangeError as err:
            raise AmbiguousOrderError(f"{uncertain or action}; reading it back failed: {err}",
                                      client_order_id) from err
        if found is None:
            raise OrderRefusedError(f"{uncertain or action}: the exchange knows no order "
                                    f"{client_order_id}", "order not found by client id")
        return found

    async def fetch_order(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        """The order with this client id, or None (each venue implements it)."""
        raise NotImplementedError

    def _send_error(self, err: ccxt.BaseError, action: str, client_order_id: str
                    ) -> ExchangeError:
        """A refusal the exchange documents, else ``AmbiguousOrderError``."""
        message = str(exchange_error(err, f"{action} on {self.name}", self._secrets))
        why = refusal(str(self._client.id), err)
        if why is None:
            return AmbiguousOrderError(message, client_order_id)
        return OrderRefusedError(message, why)

    def _reply(self, body: object, action: str) -> ReplyObject:
        """A reply ccxt read, checked to be an object."""
        return reply_object(body, self._endpoint(action))

    def _replies(self, body: object, action: str) -> list[ReplyObject]:
        """A reply ccxt read, checked to be a list of objects."""
        return reply_list(body, self._endpoint(action))

    async def _markets(self, wanted: str = "") -> dict[str, Any]:
        """The loaded markets; a listing with no linear market at all is the exchange's
        fault (an empty or garbled ``exchangeInfo``), reported as a malformed reply."""
        # ccxt caches the markets after the first load; later calls make no request.
        markets = await self._read("load markets", self._client.load_markets)
        if not isinstance(markets, dict):
            raise MalformedReplyError(self._MARKETS_ENDPOINT,
                                      f"ccxt loaded {described(markets)} as the markets")
        if not any(isinstance(m, dict) and m.get("linear") for m in markets.values()):
            listed = f"market {wanted}" if wanted else "linear market"
            raise MalformedReplyError(
                self._MARKETS_ENDPOINT, f"no linear market among {len(markets)}",
                f"exchange listed no {listed}: {self._MARKETS_ENDPOINT} returned "
                f"{len(markets)} symbols")
        return dict(markets)

    async def _market(self, symbol: str) -> dict[str, Any]:
        """The loaded linear swap (or delivery future) market whose exchange id is ``symbol``."""
        await self._markets(symbol)
        candidates = (self._client.markets_by_id or {}).get(symbol) or []
        for market in candidates:
            if (market.get("swap") or market.get("future")) and market.get("linear"):
                return dict(market)
        raise InputError("symbol", f"a linear perpetual market id on {self.name}", symbol)

    def _dec(self, value: object, what: str) -> Decimal:
        """A Decimal from a value ccxt read; a wrong one is the reply's fault."""
        try:
            return exchange_decimal(value, what)
        except DataError as err:
            raise MalformedReplyError(self._endpoint("reading"), str(err)) from None
