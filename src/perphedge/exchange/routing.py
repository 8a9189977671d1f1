"""The route table shared by the futures and spot route modules and the HTTP server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from perphedge.exchange.core import LocalExchange
from perphedge.exchange.params import Params

__all__ = ["ROUTES", "Handler", "Route", "route"]

Handler = Callable[[LocalExchange, Params], Any]


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint: its handler, Binance's request weight, whether it is signed or mutates."""

    handler: Handler
    weight: int
    signed: bool
    mutates: bool


#: (HTTP method, path) → route; filled by ``routes_futures`` and ``routes_spot`` on import.
ROUTES: dict[tuple[str, str], Route] = {}


def route(
    method: str, *paths: str, weight: int = 1, signed: bool = False
) -> Callable[[Handler], Handler]:
    """Register ``handler`` for ``method`` on each of ``paths``."""

    def register(handler: Handler) -> Handler:
        for path in paths:
            ROUTES[(method, path)] = Route(handler, weight, signed, method != "GET")
        return handler

    return register
