"""Exchange replies checked at the edge: one JSON body becomes typed values or one error.

Every venue read and write goes through :class:`ReplyObject` (or :func:`reply_list`): a key is
read as the type the exchange documents (a Decimal from its raw string, an int, a string, a
flag, a nested object or list), and a body of another shape raises
:class:`~perphedge.errors.MalformedReplyError` naming the endpoint, the key and what came::

    malformed reply from GET /fapi/v1/premiumIndex: expected an object, got a list
    malformed reply from GET /fapi/v2/account: assets[0].walletBalance: expected a decimal
    number, got None

Explicit checks rather than pydantic models: the parse modules already read each amount from
the exchange's raw string with per-endpoint fallbacks (``isolatedWallet`` or
``isolatedMargin − unRealizedProfit``, ``updateTime`` or ``transactTime``), and a reader that
checks as it reads keeps those rules where they are. ``docs/exchanges.md`` says more.

:func:`raised_inside_ccxt` tells an exception ccxt raised while parsing a garbled body (a
``TypeError`` from indexing a list as a dict) from a bug in perphedge's own code.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

import ccxt

import perphedge
from perphedge.errors import MalformedReplyError

__all__ = ["ReplyObject", "described", "raised_inside_ccxt", "reply_list", "reply_object"]

_CCXT_DIR: Final = str(Path(ccxt.__file__).resolve().parent)
_OUR_DIR: Final = str(Path(perphedge.__file__).resolve().parent)
_MISSING: Final = object()
_SHOWN_CHARS = 40


def described(value: object) -> str:
    """What a JSON value is, for a message: ``a list``, ``None``, ``an HTML page``.

    >>> described([]), described(None), described("<html><body>502</body></html>")
    ('a list', 'None', 'an HTML page')
    >>> described({"a": 1}), described("12.5x")
    ('an object', "the text '12.5x'")
    """
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        head = value.lstrip()[:15].lower()
        if head.startswith(("<!doctype", "<html", "<")):
            return "an HTML page"
        if head.startswith(("{", "[")):
            return "cut or garbled JSON"
        shown = value if len(value) <= _SHOWN_CHARS else value[: _SHOWN_CHARS - 1] + "…"
        return f"the text {shown!r}"
    if isinstance(value, bytes | bytearray):
        return "binary data"
    return f"{type(value).__name__} {value!r}"[:_SHOWN_CHARS]


def reply_object(body: object, endpoint: str, where: str = "") -> ReplyObject:
    """``body`` as an object, or ``MalformedReplyError`` naming ``endpoint``."""
    if not isinstance(body, Mapping):
        raise MalformedReplyError(endpoint, f"{_at(where)}expected an object, got "
                                  f"{described(body)}")
    return ReplyObject(body, endpoint, where)


def reply_list(body: object, endpoint: str, where: str = "") -> list[ReplyObject]:
    """``body`` as a list of objects, or ``MalformedReplyError`` naming ``endpoint``."""
    if not isinstance(body, list):
        raise MalformedReplyError(endpoint, f"{_at(where)}expected a list, got {described(body)}")
    return [reply_object(item, endpoint, f"{where}[{i}]") for i, item in enumerate(body)]


def _at(where: str) -> str:
    return f"{where}: " if where else ""


class ReplyObject:
    """One JSON object of a reply; each getter checks the type and names the key when wrong."""

    __slots__ = ("_raw", "endpoint", "where")

    def __init__(self, raw: Mapping[str, Any], endpoint: str, where: str = "") -> None:
        self._raw = raw
        self.endpoint = endpoint
        self.where = where

    def error(self, key: str, problem: str) -> MalformedReplyError:
        """The error for ``key`` of this object: ``where.key: problem``."""
        path = f"{self.where}.{key}" if self.where else key
        return MalformedReplyError(self.endpoint, f"{path}: {problem}")

    def mapping(self) -> dict[str, Any]:
        """The object as a plain dict (for code that hands it on to ccxt's structures)."""
        return dict(self._raw)

    def names(self) -> list[str]:
        """The object's keys (a balance's assets)."""
        return [str(k) for k in self._raw]

    def has(self, key: str) -> bool:
        """True when ``key`` is present and not null."""
        return self._raw.get(key) is not None

    def raw(self, key: str) -> object:
        """The value as sent (None when absent): for fields read as several types."""
        return self._raw.get(key)

    def _get(self, key: str, default: object) -> object:
        value = self._raw.get(key, _MISSING)
        if value is _MISSING or value is None:
            if default is not _MISSING:
                return default
            got = "nothing" if value is _MISSING else "None"
            raise self.error(key, f"expected a value, got {got}")
        return value

    def dec(self, key: str, default: object = _MISSING) -> Decimal:
        """A finite Decimal from the raw string (or JSON number) the exchange sent."""
        value = self._get(key, default)
        if isinstance(value, Decimal):
            return value
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.error(key, f"expected a decimal number, got {described(value)}")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise self.error(key, f"expected a decimal number, got {described(value)}") from None
        if not number.is_finite():
            raise self.error(key, f"expected a finite number, got {value!r}")
        return number

    def opt_dec(self, key: str) -> Decimal | None:
        """A Decimal, or None when the key is absent, null or empty."""
        return None if self._raw.get(key) in (None, "") else self.dec(key)

    def integer(self, key: str, default: object = _MISSING) -> int:
        """An integer from a JSON number or a digit string (timestamps, ids, leverage)."""
        value = self._get(key, default)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value.strip())
        raise self.error(key, f"expected an integer, got {described(value)}")

    def text(self, key: str, default: object = _MISSING) -> str:
        """A string (a JSON number is taken as its text: Binance's ``orderId`` is one)."""
        value = self._get(key, default)
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise self.error(key, f"expected a string, got {described(value)}")

    def flag(self, key: str, default: bool = False) -> bool:
        """A boolean: JSON ``true``/``false`` or the strings ``"true"``/``"false"``."""
        value = self._get(key, default)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise self.error(key, f"expected true or false, got {described(value)}")

    def obj(self, key: str, default: Mapping[str, Any] | None = None) -> ReplyObject:
        """A nested object (``default``, when given, stands for an absent or null one)."""
        value = self._get(key, _MISSING if default is None else default)
        return reply_object(value, self.endpoint, f"{self.where}.{key}" if self.where else key)

    def objects(self, key: str, *, required: bool = True) -> list[ReplyObject]:
        """A nested list of objects (an empty list when absent and not ``required``)."""
        value = self._get(key, _MISSING if required else [])
        return reply_list(value, self.endpoint, f"{self.where}.{key}" if self.where else key)


def raised_inside_ccxt(err: BaseException) -> bool:
    """True when ``err`` was raised by ccxt's own code (parsing a garbled body), not ours.

    The traceback is walked from where the error was raised outwards: library frames (json,
    decimal, aiohttp) are skipped; the first frame that is ccxt's or perphedge's decides.
    """
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        name = str(Path(frame.filename).resolve())
        if name.startswith(_CCXT_DIR):
            return True
        if name.startswith(_OUR_DIR):
            return False
    return False
