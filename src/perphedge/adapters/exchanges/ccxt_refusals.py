"""Which order replies prove a refusal: one table per exchange, everything else is uncertain.

An order send (place or cancel) that fails is resolved by asking the exchange for the order by
its client id, unless the reply is one the exchange documents as a refusal of the request.
The exception class ccxt picked does not decide: ccxt raises a plain ``ExchangeError`` for a
reply cut mid-body, after the exchange may well have filled the order. What decides is the
exchange's own code in the reply body:

* Binance: ``{"code": -2019, "msg": "Margin is insufficient."}``;
* OKX: ``sCode`` of the order's row (``{"code": "1", "data": [{"sCode": "51008", ...}]}``),
  or the top-level ``code`` for refusals of the whole request (auth);
* Bybit: ``{"retCode": 110007, "retMsg": "..."}``.

A duplicate client id (Binance -4116, OKX 51016, Bybit 110072) is *not* a refusal: it says an
order with that id exists, which the lookup by client id then reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TypeVar

import ccxt

__all__ = ["BINANCE_REFUSALS", "BYBIT_REFUSALS", "OKX_REFUSALS", "refusal"]

_K = TypeVar("_K", int, str)

#: Binance USDⓈ-M (and spot) error codes that reject an order or cancel request unprocessed.
BINANCE_REFUSALS: Mapping[int, str] = {
    -1003: "too many requests (rate limit)",
    -1013: "filter failure",
    -1015: "too many new orders",
    -1021: "timestamp outside the recvWindow",
    -1022: "invalid signature",
    -1100: "illegal characters in a parameter",
    -1102: "mandatory parameter missing or malformed",
    -1106: "parameter sent when not required",
    -1111: "precision is over the maximum for this asset",
    -1116: "invalid order type",
    -1117: "invalid side",
    -1121: "invalid symbol",
    -2010: "new order rejected",
    -2011: "cancel rejected",
    -2013: "order does not exist",
    -2014: "API key format invalid",
    -2015: "invalid API key, IP or permissions",
    -2018: "balance is insufficient",
    -2019: "margin is insufficient",
    -2020: "unable to fill",
    -2021: "order would immediately trigger",
    -2022: "reduce-only order rejected",
    -2027: "exceeded the maximum position at this leverage",
    -2028: "leverage is smaller than permitted: insufficient margin",
    -4003: "quantity less than or equal to zero",
    -4004: "quantity less than the minimum",
    -4005: "quantity greater than the maximum",
    -4014: "price not a multiple of the tick size",
    -4023: "quantity not a multiple of the step size",
    -4061: "position side does not match the account's setting",
    -4131: "counterparty's best price does not meet the PERCENT_PRICE filter",
    -4164: "notional below the minimum",
    -5021: "fill-or-kill order could not be filled",
    -5022: "post-only order would take",
}

#: OKX v5 ``sCode`` (per order) and top-level ``code`` values that refuse the request.
OKX_REFUSALS: Mapping[str, str] = {
    "50011": "rate limit reached",
    "50014": "required parameter missing",
    "50100": "API frozen",
    "50101": "API key does not match the environment",
    "50102": "timestamp request expired",
    "50103": "OK-ACCESS-KEY missing",
    "50104": "OK-ACCESS-PASSPHRASE missing",
    "50105": "OK-ACCESS-PASSPHRASE incorrect",
    "50111": "invalid OK-ACCESS-KEY",
    "50113": "invalid signature",
    "51000": "parameter error",
    "51001": "instrument does not exist",
    "51004": "order amount exceeds the current tier limit",
    "51008": "insufficient balance or margin",
    "51010": "not supported in this account mode",
    "51020": "order amount below the minimum",
    "51121": "order quantity not a multiple of the lot size",
    "51169": "no position in this direction to reduce",
    "51202": "market order amount exceeds the maximum",
    "51400": "cancel failed: order already cancelled or filled",
    "51401": "order already cancelled",
    "51402": "order already completed",
    "51503": "order does not exist",
}

#: Bybit v5 ``retCode`` values that refuse the request.
BYBIT_REFUSALS: Mapping[int, str] = {
    10001: "parameter error",
    10003: "invalid API key",
    10004: "invalid signature",
    10005: "permission denied",
    10006: "rate limit reached",
    10010: "IP not allowed",
    110001: "order does not exist or is too late to cancel",
    110003: "price out of the allowed range",
    110004: "wallet balance insufficient",
    110007: "available balance insufficient",
    110012: "available balance insufficient",
    110017: "reduce-only rule not satisfied",
    110020: "too many open orders",
    110021: "open interest limit exceeded",
    110044: "available margin insufficient",
    110045: "wallet balance insufficient",
}

_BINANCE_CODE = re.compile(r'"code"\s*:\s*(-\d+)')
_OKX_S_CODE = re.compile(r'"sCode"\s*:\s*"(\d+)"')
_OKX_CODE = re.compile(r'"code"\s*:\s*"(\d+)"')
_BYBIT_CODE = re.compile(r'"retCode"\s*:\s*(\d+)')
#: Other ccxt exchanges have no table: ccxt's classes for requests refused as asked.
_CCXT_REFUSALS = (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.InsufficientFunds,
                  ccxt.InvalidOrder, ccxt.BadSymbol)


def refusal(exchange_id: str, err: ccxt.BaseError) -> str | None:
    """The documented refusal ``err`` carries (``binance -2019: margin is insufficient``), or
    None when it proves nothing (timeout, cut or garbled reply, 5xx, an unlisted code).

    >>> refusal("binanceusdm", ccxt.InsufficientFunds(
    ...     'binanceusdm {"code":-2019,"msg":"Margin is insufficient."}'))
    'binance -2019: margin is insufficient'
    >>> refusal("binanceusdm", ccxt.ExchangeError("binanceusdm POST /fapi/v1/order")) is None
    True
    """
    text = str(err)
    if exchange_id in ("binance", "binanceusdm"):
        return _first("binance", (int(c) for c in _BINANCE_CODE.findall(text)),
                      BINANCE_REFUSALS)
    if exchange_id == "okx":
        codes = [*_OKX_S_CODE.findall(text), *_OKX_CODE.findall(text)]
        return _first("okx", iter(codes), OKX_REFUSALS)
    if exchange_id == "bybit":
        return _first("bybit", (int(c) for c in _BYBIT_CODE.findall(text)), BYBIT_REFUSALS)
    if isinstance(err, _CCXT_REFUSALS) and not isinstance(err, ccxt.OperationFailed):
        return f"{exchange_id} {type(err).__name__}"
    return None


def _first(exchange: str, codes: Iterable[_K], table: Mapping[_K, str]) -> str | None:
    for code in codes:
        if code in table:
            return f"{exchange} {code}: {table[code]}"
    return None
