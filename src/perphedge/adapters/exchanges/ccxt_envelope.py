"""Every answer an exchange gives is checked for its envelope before ccxt parses it.

ccxt's unified methods read a body they cannot parse as no data at all: an HTML 502 page or
a cut JSON body from OKX's ``/api/v5/account/positions`` becomes *no positions*, from
``/api/v5/trade/order`` *no such order*. For a hedge that is the worst reading there is (the
position looks gone; a filled order looks never sent). So each 2xx answer must be JSON in the
exchange's envelope before ccxt sees it:

* Binance: any JSON (its endpoints answer objects or lists, refusals ``{"code", "msg"}``);
* OKX: an object with ``code``; when it is ``"0"``, ``data`` is a list;
* Bybit: an object with ``retCode``; when it is 0, ``result`` is an object or a list.

Anything else raises :class:`MalformedBody` (a ``ccxt.BadResponse``) naming the request, which
the venues turn into ``MalformedReplyError`` (reads) or ``AmbiguousOrderError`` (orders). The
check wraps the client's ``handle_errors``, the hook ccxt calls with every answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import ccxt

from perphedge.adapters.exchanges.ccxt_reply import described

__all__ = ["MalformedBody", "check_replies", "envelope_problem"]


class MalformedBody(ccxt.BadResponse):  # type: ignore[misc]  # ccxt ships no types
    """A 2xx answer that is not JSON in the exchange's envelope."""

    def __init__(self, endpoint: str, problem: str) -> None:
        self.endpoint = endpoint
        self.problem = problem
        super().__init__(f"malformed reply from {endpoint}: {problem}")


def _any_json(response: object, body: object) -> str | None:
    if response is None:
        return f"expected JSON, got {described(body)}"
    return None


def _okx(response: object, body: object) -> str | None:
    if not isinstance(response, Mapping):
        return _any_json(response, body) or f"expected an object, got {described(response)}"
    if "code" not in response:
        return "expected OKX's envelope, got an object without 'code'"
    if str(response["code"]) == "0" and not isinstance(response.get("data"), list):
        return f"data: expected a list, got {described(response.get('data'))}"
    return None


def _bybit(response: object, body: object) -> str | None:
    if not isinstance(response, Mapping):
        return _any_json(response, body) or f"expected an object, got {described(response)}"
    code = response.get("retCode", response.get("ret_code"))
    if code is None:
        return "expected Bybit's envelope, got an object without 'retCode'"
    if str(code) == "0" and not isinstance(response.get("result"), Mapping | list):
        return f"result: expected an object, got {described(response.get('result'))}"
    return None


_CHECKS: dict[str, Callable[[object, object], str | None]] = {
    "okx": _okx, "bybit": _bybit,
}


def envelope_problem(exchange_id: str, response: object, body: object) -> str | None:
    """What is wrong with a 2xx answer of ``exchange_id`` (None: fine).

    >>> envelope_problem("okx", {"code": "0", "data": {}}, "")
    'data: expected a list, got an object'
    >>> envelope_problem("binanceusdm", None, "<html><body>502</body></html>")
    'expected JSON, got an HTML page'
    """
    return _CHECKS.get(exchange_id, _any_json)(response, body)


def check_replies(client: Any) -> None:
    """Make ``client`` check every 2xx answer's envelope before its own error handling."""
    exchange_id = str(client.id)
    original = client.handle_errors

    def handle_errors(code: Any, reason: Any, url: Any, method: Any, headers: Any, body: Any,
                      response: Any, request_headers: Any, request_body: Any) -> Any:
        if isinstance(code, int) and 200 <= code < 300:
            problem = envelope_problem(exchange_id, response, body)
            if problem is not None:
                raise MalformedBody(f"{method} {urlsplit(str(url)).path}", problem)
        return original(code, reason, url, method, headers, body, response, request_headers,
                        request_body)

    client.handle_errors = handle_errors
