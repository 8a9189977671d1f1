"""The perphedge exception tree.

::

    PerphedgeError                  root: entrypoints catch this once
    ├── InputError                  bad user input (option, config key, file column); CLI exit 2
    ├── DataError                   market data missing, malformed or out of range; CLI exit 1
    ├── HedgeStopped                the kill switch: the hedge was paused or closed mid-cycle
    └── ExchangeError               an exchange call failed
        ├── RetryableExchangeError  temporary (network, rate limit, 5xx): a read may be retried
        │   ├── AmbiguousOrderError an order send failed with no answer: resolve by client id
        │   └── MalformedReplyError the exchange answered a body of the wrong shape
        └── TerminalExchangeError   the exchange said no (auth, insufficient margin, bad order)
            └── OrderRefusedError   an order or cancel refused by a code the exchange documents

Anything that is not a ``PerphedgeError`` is a bug and should crash loudly with a traceback.
"""

from __future__ import annotations

from decimal import Decimal


class PerphedgeError(Exception):
    """Root of every error perphedge raises on purpose; entrypoints catch it and print one line."""

    exit_code = 1


class InputError(PerphedgeError):
    """A value given by the user is wrong; handled by entrypoints (CLI exit 2, web 400).

    The message always names the field, what was expected and what was given.
    """

    exit_code = 2

    def __init__(self, field: str, expected: str, got: object) -> None:
        self.field = field
        self.expected = expected
        self.got = got
        # A Decimal shows as the number ('1000000'), never as Decimal('1E+6').
        shown = format(got, "f") if isinstance(got, Decimal) and got.is_finite() else got
        super().__init__(f"{field}: expected {expected}, got {shown!r}")


class DataError(PerphedgeError):
    """Market data is missing, malformed or does not cover what was asked; entrypoints report it."""


class HedgeStopped(PerphedgeError):
    """The hedge was paused (or closed) while a cycle was acting: the next step is not sent.

    Raised by the store when it records an order intent (the check shares the intent's
    transaction) and by the executor before any other step; the engine ends the cycle.
    """

    def __init__(self, hedge_id: str, state: str) -> None:
        self.hedge_id = hedge_id
        self.state = state
        super().__init__(f"hedge {hedge_id!r} is {state}: nothing more is sent")


class ExchangeError(PerphedgeError):
    """An exchange call failed; the engine decides whether to retry, pause or alert."""


class RetryableExchangeError(ExchangeError):
    """A temporary failure (network, timeout, rate limit): reads may be retried with backoff.

    Order creation is never retried blindly: it is resolved by querying its client order id.
    """


class TerminalExchangeError(ExchangeError):
    """The exchange rejected the request for good (auth, margin, filters); retrying cannot help."""


class AmbiguousOrderError(RetryableExchangeError):
    """An order was sent but no answer came back (timeout, dropped connection, 5xx).

    The venue may or may not have accepted it, so it is never resent: the engine marks the
    order UNKNOWN and resolves it with ``fetch_order(symbol, client_order_id)``.
    """

    def __init__(self, message: str, client_order_id: str) -> None:
        self.client_order_id = client_order_id
        super().__init__(message)


class MalformedReplyError(RetryableExchangeError):
    """The exchange answered, but not in the shape its API documents (``[]`` for an object, an
    HTML page, a cut or garbled JSON body, a price of ``null``, a missing key).

    Raised at the adapter boundary, naming the endpoint and what was wrong; retryable, since
    exchanges send such bodies under load. For an order send it never proves a refusal: the
    venue turns it into :class:`AmbiguousOrderError` and the order is resolved by client id.
    """

    def __init__(self, endpoint: str, problem: str, message: str | None = None) -> None:
        self.endpoint = endpoint
        self.problem = problem
        super().__init__(message or f"malformed reply from {endpoint}: {problem}")


class OrderRefusedError(TerminalExchangeError):
    """The exchange refused an order (or a cancel) with a reply it documents as a refusal
    (Binance -2019 margin insufficient, OKX sCode 51008, Bybit retCode 110007, ...).

    Only this proves an order was not placed: the executor records it rejected. ``reason`` is
    the table's entry (``binance -2019: margin is insufficient``).
    """

    def __init__(self, message: str, reason: str) -> None:
        self.reason = reason
        super().__init__(message)


class MoneyMoveRefusedError(TerminalExchangeError):
    """The exchange refused a transfer or margin move with a reply it documents as a refusal
    (Binance -1003 rate limit, -2015 permissions, ...; the order tables of
    :mod:`perphedge.adapters.exchanges.ccxt_refusals`): it did not happen, so there is nothing to
    look for in the exchange's history and nothing in doubt. ``reason`` is the table's entry."""

    def __init__(self, message: str, reason: str) -> None:
        self.reason = reason
        super().__init__(message)
