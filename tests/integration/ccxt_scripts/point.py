"""The snippet docs/local_exchange.md gives users: point a plain ccxt Binance client at a URL.

Deliberately free of perphedge imports: the scripts here are what a ccxt user would write.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


def point_ccxt_at(client: Any, base_url: str) -> Any:
    """Send every REST call of a ccxt Binance client to ``base_url``."""

    def reroot(api: Any) -> Any:
        if isinstance(api, dict):
            return {k: reroot(v) for k, v in api.items()}
        if isinstance(api, str):
            return base_url.rstrip("/") + urlsplit(api).path.rstrip("/")
        return api

    client.urls["api"] = reroot(client.urls["api"])
    futures = client.id == "binanceusdm"
    client.options["fetchMarkets"] = {"types": ["linear"] if futures else ["spot"]}
    client.options["fetchCurrencies"] = False
    client.options["fetchMargins"] = False
    table = client.exceptions.get("linear" if futures else "spot", {})
    for kind in ("exact", "broad"):
        client.exceptions[kind] = {**client.exceptions[kind], **table.get(kind, {})}
    return client
