"""Start the local exchange on a free loopback port and point real ccxt clients at it.

``point_ccxt_at`` is the helper documented in ``docs/local_exchange.md``: it re-roots every
entry of ``client.urls['api']`` at the local server, keeping each endpoint's path prefix, and
restricts market loading to what the server lists.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ccxt

from perphedge.exchange.auth import ApiKeys
from perphedge.exchange.book import BookShape
from perphedge.exchange.core import ExchangeConfig, LocalExchange
from perphedge.exchange.market import PricePath, ReplayClock, ReplayMarket
from perphedge.exchange.server import LocalExchangeServer, start_server
from perphedge.exchange.state import open_exchange

API_KEY = "local-test-key"
API_SECRET = "local-test-secret"  # noqa: S105 -- a test key for the loopback server
HOUR_MS = 3_600_000
#: 2024-01-01 00:00 UTC: the scripted paths start here.
T0_MS = 1_704_067_200_000


def _urls(api: Any, base: str) -> Any:
    if isinstance(api, dict):
        return {name: _urls(value, base) for name, value in api.items()}
    return base + urlsplit(api).path.rstrip("/") if isinstance(api, str) else api


def point_ccxt_at(client: Any, base_url: str) -> Any:
    """Send every REST call of ``client`` to ``base_url``; load only what the server lists.

    ccxt picks Binance's market-specific error classes by the request's *host* (``fapi.`` →
    the ``linear`` table, ``api.`` → ``spot``); a local URL matches neither, so those tables
    are merged into the generic ones here, as they apply on the real hosts.
    """
    client.urls["api"] = _urls(client.urls["api"], base_url.rstrip("/"))
    is_futures = client.id == "binanceusdm"
    client.options["fetchMarkets"] = {"types": ["linear"] if is_futures else ["spot"]}
    client.options["fetchCurrencies"] = False
    client.options["fetchMargins"] = False  # spot: no /sapi margin-pair lists
    table = client.exceptions.get("linear" if is_futures else "spot", {})
    for kind in ("exact", "broad"):
        client.exceptions[kind] = {**client.exceptions[kind], **table.get(kind, {})}
    return client


@dataclass
class LocalVenue:
    """A running local exchange: the server, its exchange state and its replay clock."""

    server: LocalExchangeServer
    exchange: LocalExchange
    clock: ReplayClock

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, kind: str = "binanceusdm", **config: Any) -> Any:
        """A real ccxt client of ``kind`` pointed at this server, with the test key."""
        settings = {"apiKey": API_KEY, "secret": API_SECRET, "enableRateLimit": False,
                    "timeout": 5_000, **config}
        return point_ccxt_at(getattr(ccxt, kind)(settings), self.url)


def scripted_market(
    clock: ReplayClock, btc: list[str] | None = None, funding: list[tuple[int, str]] | None = None,
) -> ReplayMarket:
    """BTCUSDT and ETHUSDT on hourly scripted paths starting at ``T0_MS``."""
    btc = btc or ["40000"] * 48
    eth = ["2000"] * len(btc)
    funding = funding if funding is not None else [
        (T0_MS + h * HOUR_MS, "0.0001") for h in range(8, len(btc), 8)
    ]
    return ReplayMarket({
        "BTCUSDT": PricePath.scripted("BTCUSDT", HOUR_MS, T0_MS, btc, funding),
        "ETHUSDT": PricePath.scripted("ETHUSDT", HOUR_MS, T0_MS, eth, funding),
    }, clock)


@contextmanager
def local_exchange(
    btc: list[str] | None = None, *, spot_usdt: str = "100000", weight_per_minute: int = 0,
    funding: list[tuple[int, str]] | None = None, state_path: Path | None = None,
    book: BookShape | None = None,
) -> Iterator[LocalVenue]:
    """A local exchange with a frozen replay clock at ``T0_MS`` + 1 h, served on 127.0.0.1:0.

    With ``state_path`` naming an existing state file, the saved exchange is resumed.
    """
    clock = ReplayClock(T0_MS + HOUR_MS, speed=0)
    market = scripted_market(clock, btc, funding)
    config = ExchangeConfig(ApiKeys({API_KEY: API_SECRET}), weight_per_minute, state_path,
                            book or BookShape())
    exchange = open_exchange(market, config, {"USDT": Decimal(spot_usdt)}, T0_MS)
    server = start_server(exchange, "127.0.0.1", 0)
    try:
        yield LocalVenue(server, exchange, clock)
    finally:
        server.close()
