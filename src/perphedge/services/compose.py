"""The composition root of live hedging: config → venue → store → clock → executor.

Live, dry-run and tests differ only in what is wired here: ``send=True`` wires the executor
that sends; ``send=False`` the one that prints what it would send. The venue (ccxt, reads
only in a dry run) is opened inside the caller's event loop, because an async ccxt client
belongs to the loop it was made in. Tests pass their own ``venue_factory`` and clock.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import platformdirs

from perphedge.adapters.store.lease import LeaseStore
from perphedge.adapters.store.repository import HedgeStore
from perphedge.config.loader import load_config, resolve_credentials
from perphedge.config.models import HedgeConfig, PerphedgeConfig
from perphedge.engine.clock import Clock, LiveClock
from perphedge.engine.execute import DryRunExecutor, Executor, LiveExecutor, execution_style
from perphedge.engine.loop import HedgeEngine
from perphedge.engine.venue import Venue
from perphedge.errors import InputError, PerphedgeError
from perphedge.parse import parse_db_url, without_password
from perphedge.services.notifier import Notifier
from perphedge.services.run_lease import AccountLeases, lease_ttl_ms

CONFIG_ENV = "PERPHEDGE_CONFIG"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

VenueFactory = Callable[[str, PerphedgeConfig], Venue]


def default_config_path() -> Path:
    """``$PERPHEDGE_CONFIG``, else ``config.toml`` in the user config dir."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    return Path(platformdirs.user_config_dir("perphedge")) / "config.toml"


def default_store_url() -> str:
    """An SQLite file in the user data dir (created on first use)."""
    folder = Path(platformdirs.user_data_dir("perphedge"))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'perphedge.db'}"


def ccxt_venue(account_name: str, config: PerphedgeConfig) -> Venue:
    """The account's ccxt venue; its keys come from the env or keyring, never the file."""
    # ccxt loads only when a live venue is needed.
    from perphedge.adapters.exchanges.ccxt_client import build_async_client, secret_values
    from perphedge.adapters.exchanges.ccxt_venue import venue_for_client

    account = config.accounts[account_name]
    credentials = resolve_credentials(account_name, account)
    if credentials is None:
        raise InputError(f"accounts.{account_name}.api_key_env",
                         "API keys (env variables or keyring) for a live account", "none set")
    client = build_async_client(account.exchange, account.url, credentials)
    if account.url and urlsplit(account.url).hostname in LOOPBACK_HOSTS:
        # A local exchange on this machine keeps its own weight budget; ccxt's client-side
        # throttle (sized for Binance) was measured adding ~1.5 s to single calls here.
        client.enableRateLimit = False
    # Binance's own venue, or ccxt's unified one (with OKX's and Bybit's overrides): both
    # implement every method of the port.
    return cast("Venue", venue_for_client(client, secret_values(credentials)))


@dataclass
class Composition:
    """Everything the hedge services need, wired once."""

    config: PerphedgeConfig
    store: HedgeStore
    clock: Clock
    send: bool
    venue_factory: VenueFactory = ccxt_venue
    _venues: dict[str, Venue] = field(default_factory=dict)

    def hedge(self, name: str) -> HedgeConfig:
        """The configured hedge ``name`` (InputError naming the known ones otherwise)."""
        for hedge in self.config.hedges:
            if hedge.name == name:
                return hedge
        known = ", ".join(h.name for h in self.config.hedges) or "none configured"
        raise InputError("HEDGE", f"a hedge from the config ({known})", name)

    def venue(self, account: str) -> Venue:
        """The account's venue, opened once per composition (call inside the event loop)."""
        if account not in self._venues:
            self._venues[account] = self.venue_factory(account, self.config)
        return self._venues[account]

    def executor(self, venue: Venue, account: str,
                 hedge: HedgeConfig | None = None) -> Executor:
        if self.send:
            style = execution_style(hedge.execution) if hedge is not None else None
            return LiveExecutor(venue, self.store, account, style=style, clock=self.clock)
        return DryRunExecutor(self.store)

    def engine(self, hedge: HedgeConfig) -> HedgeEngine:
        venue = self.venue(hedge.account)
        return HedgeEngine(hedge, venue, self.store,
                           self.executor(venue, hedge.account, hedge), self.clock)

    def leases(self, hedges: Sequence[HedgeConfig]) -> AccountLeases:
        """The run leases of the accounts of ``hedges`` (taken by ``run --yes`` and ``serve``)."""
        return AccountLeases(LeaseStore(self.store.engine), [h.account for h in hedges],
                             lease_ttl_ms(self.config, hedges), self.clock)

    def notifier(self) -> Notifier:
        """The alert channels of ``[alerts]`` (Apprise URLs, from the file and ``urls_env``)."""
        # Apprise loads only where alerts are sent.
        from perphedge.adapters.notify.apprise_notifier import AppriseNotifier, configured_urls

        return AppriseNotifier(configured_urls(self.config.alerts))

    async def close_venues(self) -> None:
        venues, self._venues = list(self._venues.values()), {}
        for venue in venues:
            await venue.close()

    def close(self) -> None:
        self.store.close()


def compose(config_path: Path | None = None, db_url: str | None = None, *, send: bool = False,
            clock: Clock | None = None, venue_factory: VenueFactory | None = None) -> Composition:
    """Load the config and wire the store, clock and venues; ``--db`` beats ``[store] url``."""
    config = load_config(config_path or default_config_path())
    if db_url is not None:
        url = parse_db_url(db_url, "--db")
    elif config.store.url is not None:
        url = parse_db_url(config.store.url, "store.url")
    else:
        url = default_store_url()
    return Composition(config, open_store(url), clock or LiveClock(), send,
                       venue_factory or ccxt_venue)


def open_store(url: str) -> HedgeStore:
    """The store at ``url``; a database that cannot be reached is one line (exit 1)."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return HedgeStore(url)
    except SQLAlchemyError as err:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise PerphedgeError(f"cannot open the store at {without_password(url)}: "
                             f"{without_password(reason)}") from None
