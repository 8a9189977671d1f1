"""Binance's error shape: ``{"code": -2019, "msg": "Margin is insufficient."}`` with an HTTP status.

Codes and messages are Binance's own (USDⓈ-M and spot error-code lists); ccxt maps several
of them by the exact message, so the messages below are copied verbatim, not paraphrased.
"""

from __future__ import annotations

from perphedge.errors import TerminalExchangeError

__all__ = ["BinanceApiError", "api_error"]

#: Binance's message for each code we answer with (verbatim where ccxt matches by message).
MESSAGES: dict[int, str] = {
    -1000: "An unknown error occured while processing the request.",
    -1003: "Too many requests; current limit is {limit} requests per minute. Please use the "
    "websocket for live updates to avoid polling the API.",
    -1021: "Timestamp for this request is outside of the recvWindow.",
    -1022: "Signature for this request is not valid.",
    -1100: "Illegal characters found in a parameter.",
    -1102: "Mandatory parameter '{param}' was not sent, was empty/null, or malformed.",
    -1106: "Parameter '{param}' sent when not required.",
    -1111: "Precision is over the maximum defined for this asset.",
    -1116: "Invalid orderType.",
    -1117: "Invalid side.",
    -1120: "Invalid interval.",
    -1121: "Invalid symbol.",
    -2011: "Unknown order sent.",
    -2013: "Order does not exist.",
    -2014: "API-key format invalid.",
    -2015: "Invalid API-key, IP, or permissions for action.",
    -2019: "Margin is insufficient.",
    -2022: "ReduceOnly Order is rejected.",
    -4046: "No need to change margin type.",
    -4061: "Order's position side does not match user's setting.",
    -4108: "Symbol is on delivering or delivered or settling or closed or pre-trading.",
    -4116: "ClientOrderId is duplicated.",
    -5022: "Due to the order could not be executed as maker, the Post Only order will be "
           "rejected.",
    -4164: "Order's notional must be no smaller than {min_notional} (unless you choose reduce "
    "only).",
}

#: The few errors Binance answers with a status other than 400.
_STATUS: dict[int, int] = {-1000: 500, -1003: 429, -1021: 400, -1022: 400, -2015: 401, -2014: 401}


class BinanceApiError(TerminalExchangeError):
    """A request the local exchange refuses; the server answers it as Binance's error body.

    Handled only by the HTTP layer, which turns it into ``{"code", "msg"}`` and ``status``.
    """

    def __init__(
        self, code: int, msg: str, status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.code = code
        self.msg = msg
        self.status = status if status is not None else _STATUS.get(code, 400)
        # Extra response headers, e.g. Retry-After on 429 and 418.
        self.headers = dict(headers or {})
        super().__init__(f"{code}: {msg}")

    def body(self) -> dict[str, object]:
        """The JSON body Binance sends for this error."""
        return {"code": self.code, "msg": self.msg}


def api_error(code: int, **fields: object) -> BinanceApiError:
    """The error ``code`` with Binance's message, its placeholders filled from ``fields``.

    >>> api_error(-1102, param="symbol").msg
    "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
    """
    return BinanceApiError(code, MESSAGES[code].format(**fields))
