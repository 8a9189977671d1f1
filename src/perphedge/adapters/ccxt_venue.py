"""The Venue port over ``ccxt.async_support``: one exchange account for the live engine.

:class:`CcxtVenue` speaks ccxt's unified methods (OKX, Bybit and other exchanges that have
them); :class:`BinanceUsdmVenue` uses Binance USDⓈ-M's own endpoints so that every amount is
read from, and sent as, an exact string. :func:`open_ccxt_venue` picks the right one for an
exchange id. Retries and the never-resend rule for orders live in
:mod:`perphedge.adapters.ccxt_venue_base`; ``docs/exchanges.md`` lists what each supports.
"""

from __future__ import annotations

from perphedge.adapters.ccxt_client import (
    DEFAULT_TIMEOUT_MS,
    Credentials,
    build_async_client,
    ccxt_class_name,
    credentials_from_env,
    secret_values,
)
from perphedge.adapters.ccxt_venue_base import CcxtVenueBase, RetryPolicy
from perphedge.adapters.ccxt_venue_binance import BinanceUsdmVenue
from perphedge.adapters.ccxt_venue_unified import CcxtVenue
from perphedge.errors import InputError

__all__ = ["BinanceUsdmVenue", "CcxtVenue", "CcxtVenueBase", "RetryPolicy", "open_ccxt_venue"]


def open_ccxt_venue(
    exchange: str,
    base_url: str | None = None,
    credentials: Credentials | None = None,
    *,
    retry: RetryPolicy | None = None,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
) -> CcxtVenueBase:
    """The venue for ``exchange`` (``binance`` → Binance USDⓈ-M's own endpoints).

    ``credentials`` default to ``PERPHEDGE_API_KEY``/``PERPHEDGE_API_SECRET``; a venue is an
    account, so without keys this is an ``InputError``. Close it: ``await venue.close()``.
    """
    creds = credentials if credentials is not None else credentials_from_env()
    if creds is None:
        raise InputError("PERPHEDGE_API_KEY", "API keys for a live venue", "unset")
    client = build_async_client(exchange, base_url, creds, timeout_ms)
    secrets = secret_values(creds)
    if ccxt_class_name(exchange) == "binanceusdm":
        return BinanceUsdmVenue(client, secrets=secrets, retry=retry)
    return CcxtVenue(client, secrets=secrets, retry=retry)
