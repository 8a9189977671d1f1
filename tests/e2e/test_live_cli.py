"""Live hedging as a user runs it: the CLI (subprocess) and the real ccxt client against the
local Binance-compatible exchange on loopback, with keys in environment variables."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from perphedge.exchange.orders import OrderRecord
from tests.conftest import run_cli
from tests.integration.local_exchange_fixture import API_KEY, API_SECRET, LocalVenue, local_exchange

BTC = "BTCUSDT"
KEYS = {"PH_E2E_KEY": API_KEY, "PH_E2E_SECRET": API_SECRET,
        "PERPHEDGE_API_KEY": "", "PERPHEDGE_API_SECRET": ""}


@dataclass
class Live:
    """A running local exchange, a config pointing at it, and its store."""

    venue: LocalVenue
    config: Path
    db_url: str

    def cli(self, *args: str) -> tuple[int, str, str]:
        result = run_cli(*args, "--config", str(self.config), env=KEYS, timeout=60)
        return result.returncode, result.stdout, result.stderr

    def position(self) -> Decimal:
        with self.venue.exchange.lock:
            return self.venue.exchange.account.position(BTC).qty_base

    def deposit(self, asset: str, amount: str) -> None:
        ex = self.venue.exchange
        with ex.lock:
            ex.account.deposit(asset, Decimal(amount), ex.now_ms())

    def futures_orders(self) -> list[OrderRecord]:
        with self.venue.exchange.lock:
            return [o for o in self.venue.exchange.book.orders.values() if o.market == "futures"]


def write_config(path: Path, url: str, db_url: str) -> None:
    path.write_text(f"""
[store]
url = "{db_url}"

[accounts.local]
exchange = "binanceusdm"
api_key_env = "PH_E2E_KEY"
api_secret_env = "PH_E2E_SECRET"
url = "{url}"

[[hedges]]
name = "btc"
account = "local"
asset = "BTC"
exposure = {{ source = "balance" }}
policy = "managed"
leverage = 2
decision_interval = "1s"
""", encoding="utf-8")


@contextmanager
def running_live(tmp_path: Path) -> Iterator[Live]:
    """A local exchange whose spot wallet holds 1 BTC and 100,000 USDT, and a config for it."""
    with local_exchange() as venue:
        db_url = f"sqlite:///{tmp_path / 'store.db'}"
        config = tmp_path / "perphedge.toml"
        write_config(config, venue.url, db_url)
        state = Live(venue, config, db_url)
        state.deposit("BTC", "1")
        yield state


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with running_live(tmp_path) as state:
        yield state


def test_open_follow_status_close_round_trip(live: Live) -> None:
    code, out, err = live.cli("open", "btc")
    assert code == 0, err
    assert "would futures market SELL 1 BTCUSDT (client id ph-btc-1)" in out
    assert "would transfer futures 20120.1 USDT" in out  # margin + fee + 0.5 % headroom
    assert live.futures_orders() == []  # a dry run sends nothing

    code, out, err = live.cli("open", "btc", "--yes")
    assert code == 0, err
    assert "futures market SELL 1 BTCUSDT (client id ph-btc-1) → filled 1" in out
    assert live.position() == Decimal("-1")
    assert API_SECRET not in out + err
    assert API_KEY not in out + err

    live.deposit("BTC", "0.5")  # the holder adds spot on the exchange
    code, out, err = live.cli("run", "--cycles", "1", "--yes")
    assert code == 0, err
    assert live.position() == Decimal("-1.5")

    code, out, err = live.cli("status", "--json")
    assert code == 0, err
    (row,) = json.loads(out)
    assert (row["asset"], row["state"]) == ("BTC", "active")
    quantities = [Decimal(row[k]) for k in ("spot_quantity", "hedge_quantity", "drift")]
    assert quantities == [Decimal("1.5"), Decimal("1.5"), 0]
    for key in ("mark_price", "liquidation_price", "runway_pct", "margin_ratio",
                "unrealized_pnl", "funding_total", "fees_total"):
        assert row[key] is not None, key
    assert Decimal(row["liquidation_price"]) > Decimal(row["mark_price"])  # a short's

    code, out, err = live.cli("close", "btc", "--sell-spot")
    assert code == 0, err
    assert "would futures market BUY 1.5 BTCUSDT reduce-only (client id ph-btc-3)" in out
    assert "would spot market SELL 1.5 BTCUSDT (client id ph-btc-4)" in out
    assert live.position() == Decimal("-1.5")  # a dry-run close sends nothing

    code, out, err = live.cli("close", "btc", "--yes")
    assert code == 0, err
    assert live.position() == 0
    closing = live.futures_orders()[-1]
    assert closing.reduce_only
    assert closing.side == "BUY"
    assert closing.client_order_id == "ph-btc-3"

    code, out, err = live.cli("history", "btc", "--json")
    assert code == 0, err
    history = json.loads(out)
    assert [o["client_order_id"] for o in history["orders"]] == ["ph-btc-1", "ph-btc-2",
                                                                 "ph-btc-3"]


def test_pause_stops_the_loop_before_any_action(live: Live) -> None:
    assert live.cli("pause", "btc")[0] == 0
    code, out, err = live.cli("run", "--cycles", "1", "--yes")
    assert code == 0, err
    assert "paused" in out
    assert live.futures_orders() == []
    assert live.cli("resume", "btc")[1].strip() == "btc: active"


def test_bad_configuration_is_one_line_naming_the_key_and_exit_2(live: Live) -> None:
    live.config.write_text(live.config.read_text().replace('leverage = 2', 'leverage = 0'))
    code, _out, err = live.cli("status")
    assert code == 2
    assert err.strip().splitlines() == [err.strip()]
    assert "hedges[0].leverage" in err
