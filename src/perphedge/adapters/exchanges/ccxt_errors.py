"""Translate ccxt exceptions into the perphedge tree, in one place.

ccxt's tree and ours::

    ccxt.BaseError
    ├── ccxt.OperationFailed            the request failed, not because of what we asked
    │   ├── NetworkError, RequestTimeout, DDoSProtection, RateLimitExceeded,
    │   │   ExchangeNotAvailable, OnMaintenance, InvalidNonce   → RetryableExchangeError
    │   └── BadResponse, NullResponse, CancelPending             → RetryableExchangeError
    └── ccxt.ExchangeError              the exchange said no
        └── AuthenticationError, PermissionDenied, InsufficientFunds, InvalidOrder,
            BadRequest, BadSymbol, NotSupported, ...            → TerminalExchangeError
            (but a plain ExchangeError caused by an aiohttp failure, a reply cut
            mid-body, is a transport failure                   → RetryableExchangeError)

Whether an *order* was refused is not decided here: see :mod:`.ccxt_refusals`.

Every message is one line, has URL query strings removed (Binance puts the request signature
there) and has any secret the caller names replaced by ``***``: messages end up in terminals,
logs and the audit store, and a key must never reach any of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import aiohttp
import ccxt

from perphedge.adapters.exchanges.ccxt_envelope import MalformedBody
from perphedge.adapters.exchanges.ccxt_reply import raised_inside_ccxt
from perphedge.errors import (
    ExchangeError,
    MalformedReplyError,
    RetryableExchangeError,
    TerminalExchangeError,
)

__all__ = ["exchange_error", "one_line", "translate_ccxt_errors"]

#: Long enough for Binance's ``{"code":-2019,"msg":"Margin is insufficient."}`` with context.
MAX_MESSAGE_CHARS = 300

_QUERY = re.compile(r"\?[^\s\"']*")
# ccxt sometimes prints request headers; an API-key header value is a secret even unnamed.
_KEY_HEADERS = re.compile(
    r"(?i)(x-mbx-apikey|ok-access-key|x-bapi-api-key|apikey)(['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"
)


def one_line(message: str, secrets: Iterable[str] = ()) -> str:
    """Squash ``message`` to one short line with query strings and ``secrets`` removed.

    >>> one_line('binance GET http://h/fapi/v1/order?symbol=BTCUSDT&signature=ab12 \\n 400')
    'binance GET http://h/fapi/v1/order?… 400'
    """
    text = " ".join(message.split())
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _QUERY.sub("?…", text)
    text = _KEY_HEADERS.sub(r"\1\2***", text)
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1] + "…"
    return text


def exchange_error(err: ccxt.BaseError, action: str, secrets: Iterable[str] = ()) -> ExchangeError:
    """The perphedge error for a ccxt error raised while doing ``action``.

    Retryable: everything under ``ccxt.OperationFailed`` (network, timeouts, rate limits,
    maintenance, garbled responses). Terminal: everything under ``ccxt.ExchangeError`` and
    anything else ccxt invents later (an unknown failure is not assumed to be temporary).
    """
    message = f"{action}: {type(err).__name__}: {one_line(str(err), secrets)}"
    if isinstance(err, ccxt.OperationFailed) or _transport_failure(err):
        return RetryableExchangeError(message)
    return TerminalExchangeError(message)


def _transport_failure(err: ccxt.BaseError) -> bool:
    """A reply cut mid-body (or another aiohttp failure): ccxt raises a plain
    ``ExchangeError`` for it, but the exchange said nothing, so it is temporary."""
    return isinstance(err.__cause__, aiohttp.ClientError)


@contextmanager
def translate_ccxt_errors(action: str, secrets: Iterable[str] = ()) -> Iterator[None]:
    """Run the body, re-raising any ccxt error as a perphedge ``ExchangeError``; an error
    that is not ccxt's but was raised inside ccxt (its parse of garbage) is a
    ``MalformedReplyError``, one raised by perphedge's own code passes as the bug it is.

    ``action`` says what was being done ("load binance markets"); ``secrets`` are strings that
    must never appear in the message (API key and secret).
    """
    hidden = tuple(s for s in secrets if s)
    try:
        yield
    except MalformedBody as err:
        raise MalformedReplyError(err.endpoint, err.problem) from err
    except ccxt.BaseError as err:
        raise exchange_error(err, action, hidden) from err
    except Exception as err:
        if not raised_inside_ccxt(err):
            raise  # a bug in perphedge itself
        raise MalformedReplyError(action, f"ccxt could not read it ({type(err).__name__}: "
                                  f"{one_line(str(err), hidden)})") from err
