"""Alerts through Apprise: one URL per channel (Telegram, Discord, Slack, e-mail, ntfy, plain
JSON webhooks, …), each sent and reported on its own so one dead channel never hides another.

URLs often carry tokens (``tgram://BOTTOKEN/CHAT``): they are shown only as Apprise's privacy
form (``tgram://1...n/CHAT``), and any part of a URL that the privacy form hides is scrubbed
from the error text Apprise logs.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Sequence

import apprise

from perphedge.config.models import AlertsConfig
from perphedge.errors import InputError
from perphedge.services.notifier import Delivery

# Apprise logs request details (at debug, whole URLs): only its warnings, captured per send,
# are read, and they are scrubbed first.
# They never reach perphedge's own log handlers.
logging.getLogger("apprise").setLevel(logging.WARNING)
logging.getLogger("apprise").propagate = False
logging.getLogger("apprise").addHandler(logging.NullHandler())
with warnings.catch_warnings():
    # Apprise loads its plugins on first use; its e-mail plugin imports the stdlib's
    # deprecated ``imghdr`` (Python 3.11/3.12). Load them here, once, without that warning.
    warnings.simplefilter("ignore", DeprecationWarning)
    apprise.Apprise.instantiate("json://localhost/")


#: Plain webhooks: Apprise masks their password but shows their path, where a token may be.
GENERIC_WEBHOOKS = frozenset({"json", "jsons", "xml", "xmls", "form", "forms"})
#: A path segment this long in a plain webhook is taken for a token.
TOKEN_MIN_CHARS = 12


def mask_url(url: str) -> str:
    """The URL as safe to show: Apprise's privacy form without its query, else scheme only.

    A plain webhook's long path segments are shortened the way Apprise shortens tokens.

    >>> mask_url("tgram://123456:ABCDEFsecret/987654")
    'tgram://1...t/987654/'
    >>> mask_url("jsons://hooks.example/incoming/8f14e45fceea167a5a36dedd4bea2543")
    'jsons://hooks.example/incoming/8...3'
    >>> mask_url("nonsense://x")
    'nonsense://…'
    """
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        return url.partition("://")[0] + "://…"
    masked = str(plugin.url(privacy=True)).split("?")[0]  # type: ignore[no-untyped-call]
    scheme, _, rest = masked.partition("://")
    if scheme not in GENERIC_WEBHOOKS:
        return masked
    host, _, path = rest.partition("/")
    short = [p if len(p) < TOKEN_MIN_CHARS else f"{p[0]}...{p[-1]}" for p in path.split("/")]
    return f"{scheme}://{host}/{'/'.join(short)}" if path else masked


def _secrets(url: str, masked: str) -> list[str]:
    """Pieces of ``url`` that its masked form does not show (tokens, passwords)."""
    pieces = re.split(r"[/:@?&=#]+", url.partition("://")[2])
    return sorted({p for p in pieces if len(p) >= 4 and p not in masked}, key=len, reverse=True)


def scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret replaced by ``****``.

    >>> scrub("POST to host/ABCDEF failed", ["ABCDEF"])
    'POST to host/**** failed'
    """
    for secret in secrets:
        text = text.replace(secret, "****")
    return text


def configured_urls(config: AlertsConfig) -> list[str]:
    """``[alerts] urls`` plus those in the variable named by ``urls_env`` (comma/space list)."""
    urls = list(config.urls)
    if config.urls_env is not None:
        raw = os.environ.get(config.urls_env)
        if not raw:
            raise InputError("alerts.urls_env", "an environment variable that is set",
                             config.urls_env)
        urls += [u for u in re.split(r"[\s,]+", raw) if u]
    return urls


class AppriseNotifier:
    """One Apprise object per URL, so each channel's result is known."""

    def __init__(self, urls: Sequence[str]) -> None:
        self._channels: list[tuple[apprise.Apprise, str, list[str]]] = []
        for index, url in enumerate(urls):
            masked = mask_url(url)
            sender = apprise.Apprise()
            if not sender.add(url):
                raise InputError(f"alerts.urls[{index}]",
                                 "a URL Apprise supports (https://github.com/caronc/apprise/wiki)",
                                 masked)
            self._channels.append((sender, masked, _secrets(url, masked)))

    @property
    def channels(self) -> list[str]:
        return [masked for _sender, masked, _secrets in self._channels]

    def send(self, title: str, body: str, only: Sequence[int] | None = None) -> list[Delivery]:
        out: list[Delivery] = []
        for index, (sender, masked, secrets) in enumerate(self._channels):
            if only is not None and index not in only:
                continue
            with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
                try:
                    ok = bool(sender.notify(title=title, body=body))
                except Exception as err:  # a channel must never stop the engine
                    ok, note = False, type(err).__name__
                else:
                    note = ""
                logged = captured.getvalue() if hasattr(captured, "getvalue") else ""
            error = "" if ok else scrub(_last_line(logged) or note or "not delivered", secrets)
            out.append(Delivery(index, masked, ok, error))
        return out


def _last_line(text: str) -> str:
    lines = [line.split(" - ", 2)[-1] for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
