"""Build a ccxt client by exchange id, optionally pointed at another base URL.

The override sends every REST call of the client to one server (a local Binance-compatible
exchange, a testnet, a recorded-payload replay in tests) while keeping each endpoint's path
prefix: ``https://fapi.binance.com/fapi/v2`` becomes ``http://127.0.0.1:8080/fapi/v2``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import ccxt
from pydantic import SecretStr

from perphedge.config.loader import Credentials
from perphedge.errors import InputError

__all__ = [
    "API_KEY_ENV",
    "API_PASSPHRASE_ENV",
    "API_SECRET_ENV",
    "EXCHANGE_URL_ENV",
    "Credentials",
    "build_async_client",
    "build_client",
    "ccxt_class_name",
    "check_base_url",
    "credentials_from_env",
    "override_urls",
    "secret_values",
]

API_KEY_ENV = "PERPHEDGE_API_KEY"
API_SECRET_ENV = "PERPHEDGE_API_SECRET"  # noqa: S105 (the variable's name, not a secret)
API_PASSPHRASE_ENV = "PERPHEDGE_API_PASSPHRASE"  # noqa: S105 (OKX's third key part)
EXCHANGE_URL_ENV = "PERPHEDGE_EXCHANGE_URL"

#: perphedge hedges with linear perpetuals, so "binance" means its USDⓈ-M futures API.
_ALIASES = {"binance": "binanceusdm"}
DEFAULT_TIMEOUT_MS = 10_000


def secret_values(credentials: Credentials) -> tuple[str, ...]:
    """The plain key, secret (and passphrase, if any): every value to scrub from messages."""
    phrase = credentials.passphrase
    return (credentials.api_key.get_secret_value(), credentials.api_secret.get_secret_value(),
            *(() if phrase is None else (phrase.get_secret_value(),)))


def credentials_from_env(env: Mapping[str, str] | None = None) -> Credentials | None:
    """Key and secret from ``PERPHEDGE_API_KEY``/``PERPHEDGE_API_SECRET``, or None if unset;
    OKX's passphrase from ``PERPHEDGE_API_PASSPHRASE`` when it is set."""
    source = os.environ if env is None else env
    key = source.get(API_KEY_ENV, "").strip()
    secret = source.get(API_SECRET_ENV, "").strip()
    if not key and not secret:
        return None
    if not key or not secret:
        missing = API_KEY_ENV if not key else API_SECRET_ENV
        # The value is never echoed back: only whether it is there.
        raise InputError(missing, "both PERPHEDGE_API_KEY and PERPHEDGE_API_SECRET set", "unset")
    phrase = source.get(API_PASSPHRASE_ENV, "").strip()
    return Credentials(SecretStr(key), SecretStr(secret), SecretStr(phrase) if phrase else None)


def check_base_url(url: str) -> str:
    """Validate a base-URL override and return it without a trailing slash.

    >>> check_base_url("http://127.0.0.1:8080/")
    'http://127.0.0.1:8080'
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise InputError(
            "--exchange-url", "an http(s) base URL such as http://127.0.0.1:8080", url
        )
    return url.strip().rstrip("/")


def override_urls(api: Any, base_url: str) -> Any:
    """``api`` (ccxt's ``urls['api']``: a URL, or dicts of them) re-rooted at ``base_url``.

    Scheme and host are replaced; each endpoint's own path is kept after the base URL's path.

    >>> override_urls({"fapiPublicV2": "https://fapi.binance.com/fapi/v2"}, "http://h:1/x")
    {'fapiPublicV2': 'http://h:1/x/fapi/v2'}
    """
    if isinstance(api, dict):
        return {name: override_urls(value, base_url) for name, value in api.items()}
    if isinstance(api, str):
        return base_url + urlsplit(api).path.rstrip("/")
    return api


def ccxt_class_name(exchange: str) -> str:
    """The ccxt class behind a perphedge exchange id (InputError if ccxt has none)."""
    name = _ALIASES.get(exchange.lower(), exchange.lower())
    if name not in ccxt.exchanges:
        raise InputError("--exchange", "a ccxt exchange id such as binance, okx, bybit", exchange)
    return name


def _restrict_to_linear(options: dict[str, Any]) -> None:
    """Load only linear-swap markets: Binance's spot and COIN-M lists are large and unused."""
    fetch_markets = options.get("fetchMarkets")
    if isinstance(fetch_markets, dict) and isinstance(fetch_markets.get("types"), list):
        types = fetch_markets["types"]
        # Binance and Bybit name the linear list "linear"; OKX lists every swap together.
        for wanted in ("linear", "swap"):
            if wanted in types:
                fetch_markets["types"] = [wanted]
                return


def _client_config(credentials: Credentials | None, timeout_ms: int) -> dict[str, Any]:
    config: dict[str, Any] = {
        "enableRateLimit": True,
        "timeout": timeout_ms,
        "options": {"defaultType": "swap", "defaultSubType": "linear", "fetchCurrencies": False},
    }
    if credentials is not None:
        config["apiKey"] = credentials.api_key.get_secret_value()
        config["secret"] = credentials.api_secret.get_secret_value()
        if credentials.passphrase is not None:
            config["password"] = credentials.passphrase.get_secret_value()  # ccxt's name
    return config


def _keep_market_error_classes(client: Any) -> None:
    """Keep Binance's USDⓈ-M error classes when the host is not ``fapi.binance.com``.

    ccxt chooses Binance's market-specific error table by the request's host (``fapi.`` → the
    ``linear`` table); behind a base-URL override no host matches, and -2019 (margin
    insufficient) or -2022 (reduce-only rejected) would arrive as a bare ``ExchangeError``.
    """
    table = getattr(client, "exceptions", {}).get("linear")
    if not isinstance(table, dict):
        return
    for kind in ("exact", "broad"):
        client.exceptions[kind] = {**client.exceptions.get(kind, {}), **table.get(kind, {})}


def _finish(client: Any, base_url: str | None) -> Any:
    _restrict_to_linear(client.options)
    # OKX's (and Bybit's) ccxt classes ignore options['fetchCurrencies'] and would call a
    # signed currency list on every market load; ccxt then derives currencies from markets.
    client.has["fetchCurrencies"] = False
    if base_url:  # an empty PERPHEDGE_EXCHANGE_URL means "not set"
        client.urls["api"] = override_urls(client.urls["api"], check_base_url(base_url))
        _keep_market_error_classes(client)
    return client


def build_client(
    exchange: str,
    base_url: str | None = None,
    credentials: Credentials | None = None,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
) -> Any:
    """A sync ccxt client for ``exchange`` that loads only linear (USDT/USDC-margined) markets.

    Currencies are not fetched: on Binance that needs a signed ``/sapi`` call perphedge has no
    use for, and a futures-only key (or a local exchange) would fail it.
    """
    name = ccxt_class_name(exchange)
    return _finish(getattr(ccxt, name)(_client_config(credentials, timeout_ms)), base_url)


def build_async_client(
    exchange: str,
    base_url: str | None = None,
    credentials: Credentials | None = None,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
) -> Any:
    """The ``ccxt.async_support`` twin of :func:`build_client` (same options and URL override).

    The caller owns the client and must ``await client.close()`` (aiohttp warns otherwise).
    """
    # Imported here: the async package loads every exchange class again, and only the live
    # engine needs it; the CLI's sync paths should not pay for it.
    import ccxt.async_support as ccxt_async

    name = ccxt_class_name(exchange)
    config = _client_config(credentials, timeout_ms)
    return _finish(getattr(ccxt_async, name)(config), base_url)
