"""The dead-man's switch: a GET to ``[alerts] heartbeat_url`` after every cycle (healthchecks.io,
Uptime Kuma's push monitors, …); when the pings stop, that service tells the user."""

from __future__ import annotations

import urllib.error
import urllib.request


def ping(url: str, timeout_s: float = 5.0) -> str | None:
    """GET ``url``; None when it answered 2xx/3xx, else a short reason (no URL in it)."""
    if not url.startswith(("http://", "https://")):
        return "heartbeat_url must be http:// or https://"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as reply:  # noqa: S310 -- scheme checked
            status = int(reply.status)
    except urllib.error.HTTPError as err:
        return f"HTTP {err.code}"
    except (urllib.error.URLError, OSError) as err:
        return type(err).__name__
    return None if status < 400 else f"HTTP {status}"
