"""The Venue port over ``ccxt.async_support``: one exchange account for the live engine.

:class:`CcxtVenue` speaks ccxt's unified methods (exchanges that have them), with
:class:`OkxVenue` and :class:`BybitVenue` for OKX's and Bybit's differences;
:class:`BinanceUsdmVenue` uses Binance USDⓈ-M's own endpoints so that every amount is
read from, and sent as, an exact string. :func:`open_ccxt_venue` picks the right one for an
exchange id. Retries and the never-resend rule for orders live in
:mod:`perphedge.adapters.exchanges.ccxt_venue_base`; ``docs/exchanges.md`` lists what each supports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from perphedge.adapters.exchanges.ccxt_client import (
    DEFAULT_TIMEOUT_MS,
    Credentials,
    build_async_client,
    ccxt_class_name,
    credentials_from_env,
    secret_values,
)
from perphedge.adapters.exchanges.ccxt_venue_base import CcxtVenueBase, RetryPolicy
from perphedge.adapters.exchanges.ccxt_venue_binance import BinanceUsdmVenue
from perphedge.adapters.exchanges.ccxt_venue_bybit import BybitVenue
from perphedge.adapters.exchanges.ccxt_venue_okx import OkxVenue
from perphedge.adapters.exchanges.ccxt_venue_unified import CcxtVenue
from perphedge.errors import InputError

__all__ = ["BinanceUsdmVenue", "BybitVenue", "CcxtVenue", "CcxtVenueBase", "OkxVenue",
           "RetryPolicy", "open_ccxt_venue", "unified_venue_class", "venue_for_client"]

#: The unified venues with an exchange's own overrides, by ccxt exchange id.
_UNIFIED_VENUES: dict[str, type[CcxtVenue]] = {"okx": OkxVenue, "bybit": BybitVenue}


def open_ccxt_venue(
    exchange: str,
    base_url: str | None = None,
    credentials: Credentials | None = None,
    *,
    retry: RetryPolicy | None = None,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
) -> CcxtVenueBase:
    """The venue for ``exchange`` (``binance`` → Binance USDⓈ-M's own endpoints, ``okx`` →
    ``OkxVenue``, ``bybit`` → ``BybitVenue``, others → ``CcxtVenue``).

    ``credentials`` default to ``PERPHEDGE_API_KEY``/``PERPHEDGE_API_SECRET``; a venue is an
    account, so without keys this is an ``InputError``. Close it: ``await venue.close()``.
    """
    creds = credentials if credentials is not None else credentials_from_env()
    if creds is None:
        raise InputError("PERPHEDGE_API_KEY", "API keys for a live venue", "unset")
    client = build_async_client(exchange, base_url, creds, timeout_ms)
    return venue_for_client(client, secret_values(creds), retry=retry)


def venue_for_client(client: Any, secrets: Sequence[str], *,
                     retry: RetryPolicy | None = None) -> CcxtVenueBase:
    """The venue class for a built ccxt client (the one place that dispatches on the id)."""
    if ccxt_class_name(str(client.id)) == "binanceusdm":
        return BinanceUsdmVenue(client, secrets=secrets, retry=retry)
    return unified_venue_class(str(client.id))(client, secrets=secrets, retry=retry)


def unified_venue_class(exchange_id: str) -> type[CcxtVenue]:
    """The unified venue class for a ccxt exchange id: OKX's, Bybit's, else ``CcxtVenue``."""
    return _UNIFIED_VENUES.get(exchange_id, CcxtVenue)
