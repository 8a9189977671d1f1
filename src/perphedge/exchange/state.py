"""Persistence of the local exchange: account, orders and replay time in one JSON file.

Written atomically (temporary file, then ``os.replace``) after every request that changes
state, so a restarted server continues where the last one stopped: same balances, positions,
orders and replay time.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from perphedge.errors import DataError
from perphedge.exchange.core import ExchangeConfig, LocalExchange
from perphedge.exchange.market import ReplayMarket
from perphedge.exchange.orders import OrderBook
from perphedge.sim.account import SimAccount

__all__ = ["SavedState", "load_state", "open_exchange", "save_state"]

FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class SavedState:
    """What a restart needs: the account, the order book and the replay time reached."""

    account: SimAccount
    book: OrderBook
    replay_ms: int
    symbols: list[str]


def save_state(exchange: LocalExchange, path: Path) -> None:
    """Write the exchange's state to ``path`` atomically."""
    data: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "symbols": sorted(exchange.market.paths),
        "replay_ms": exchange.last_sync_ms,
        "account": exchange.account.to_dict(),
        "orders": exchange.book.to_dict(),
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def load_state(path: Path) -> SavedState:
    """Read a state file written by :func:`save_state` (DataError if it is not one)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read local exchange state {path}: {err}") from err
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        raise DataError(f"{path} is not a perphedge local exchange state file")
    symbols = [str(s) for s in data["symbols"]]
    empty = LocalExchange.new_account(symbols)
    account = SimAccount.from_dict(data["account"], empty.instruments, empty.brackets)
    return SavedState(account, OrderBook.from_dict(data["orders"]), int(data["replay_ms"]),
                      symbols)


def open_exchange(
    market: ReplayMarket, config: ExchangeConfig, deposits: dict[str, Decimal],
    start_ms: int,
) -> LocalExchange:
    """The exchange saved at ``config.state_path`` if that file exists, else a fresh one.

    A fresh account gets ``deposits`` in its spot wallet; a key ``futures:USDT`` deposits
    into the futures wallet instead. A resumed one keeps its balances,
    positions and orders, and the replay clock continues from the time saved.
    """
    path = config.state_path
    if path is not None and path.exists():
        saved = load_state(path)
        if sorted(saved.symbols) != sorted(market.paths):
            raise DataError(f"{path} holds {saved.symbols}, the market replays "
                            f"{sorted(market.paths)}")
        market.clock.set(saved.replay_ms)
        return LocalExchange(saved.account, market, config, saved.book, saved.replay_ms)
    account = LocalExchange.new_account(sorted(market.paths))
    for key, value in deposits.items():
        wallet, _, asset = key.rpartition(":")
        account.deposit(asset, value, start_ms, to=wallet or "spot")
    exchange = LocalExchange(account, market, config)
    if path is not None:
        save_state(exchange, path)
    return exchange
