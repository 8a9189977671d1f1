"""The demo's configuration file and store, written where the user can open them afterwards.

The file is an ordinary perphedge config (the same one ``perphedge init`` describes): one
account on the local exchange's URL whose keys are read from two environment variables, one
``managed`` hedge of the spot balance, and an SQLite store next to it. Keys are never written:
the demo sets the variables in its own process for the session only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from perphedge.config.loader import Credentials
from perphedge.demo.scenario import Scenario

__all__ = ["HEDGE_NAME", "KEY_ENV", "SECRET_ENV", "DemoFiles", "session_keys", "write_config"]

HEDGE_NAME = "demo-btc"
ACCOUNT = "local"
KEY_ENV = "PERPHEDGE_DEMO_API_KEY"
SECRET_ENV = "PERPHEDGE_DEMO_API_SECRET"  # noqa: S105 -- the variable's name, not a secret


@dataclass(frozen=True, slots=True)
class DemoFiles:
    """Where the demo wrote its configuration and store."""

    folder: Path
    config_path: Path
    store_path: Path

    @property
    def store_url(self) -> str:
        return f"sqlite:///{self.store_path}"


def config_text(scenario: Scenario, exchange_url: str, store_url: str) -> str:
    """The TOML document (keys by variable name only)."""
    return f"""\
# Written by `perphedge demo`: the local exchange it started, and the hedge it ran.
[store]
url = "{store_url}"

[accounts.{ACCOUNT}]
exchange = "binanceusdm"
url = "{exchange_url}"
api_key_env = "{KEY_ENV}"
api_secret_env = "{SECRET_ENV}"

[[hedges]]
name = "{HEDGE_NAME}"
account = "{ACCOUNT}"
asset = "{scenario.asset}"
exposure = {{ source = "balance" }}
margin_mode = "isolated"
leverage = {scenario.leverage}
policy = "{scenario.policy}"
decision_interval = "{scenario.decision_interval}"
"""


def write_config(folder: Path, scenario: Scenario, exchange_url: str) -> DemoFiles:
    """Write ``config.toml`` into ``folder`` (created); the store ``demo.db`` must not exist."""
    folder.mkdir(parents=True, exist_ok=True)
    files = DemoFiles(folder, folder / "config.toml", folder / "demo.db")
    for stale in (files.store_path, files.config_path):
        # A previous demo's store would hold another exchange's orders: start clean.
        stale.unlink(missing_ok=True)
    files.config_path.write_text(config_text(scenario, exchange_url, files.store_url),
                                 encoding="utf-8")
    return files


@contextmanager
def session_keys(credentials: Credentials) -> Iterator[None]:
    """Set the key variables for the session, and restore what was there after."""
    saved = {name: os.environ.get(name) for name in (KEY_ENV, SECRET_ENV)}
    os.environ[KEY_ENV] = credentials.api_key.get_secret_value()
    os.environ[SECRET_ENV] = credentials.api_secret.get_secret_value()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
