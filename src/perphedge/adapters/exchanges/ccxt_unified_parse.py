"""ccxt's unified structures read into perphedge's values: pure helpers of the unified venue."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from perphedge.adapters.exchanges.ccxt_reply import ReplyObject
from perphedge.domain.money import plain
from perphedge.engine.venue import OrderState

__all__ = ["UNIFIED_STATES", "contracts_text", "free_balances", "neutral_symbol"]

#: ccxt's unified order status → ours; "open" is refined by the filled amount.
UNIFIED_STATES = {"closed": OrderState.FILLED, "canceled": OrderState.CANCELED,
                  "cancelled": OrderState.CANCELED, "expired": OrderState.CANCELED,
                  "rejected": OrderState.REJECTED}


def free_balances(balance: ReplyObject) -> dict[str, Decimal]:
    """The non-zero free amounts of a ccxt balance, by asset."""
    free = balance.obj("free", {})
    out = {asset: free.dec(asset) for asset in free.names() if free.raw(asset)}
    return {asset: amount for asset, amount in out.items() if amount}


def contracts_text(qty_base: Decimal, contract_size: Decimal) -> str:
    """A base quantity as the number of contracts the exchange takes, written plainly.

    >>> contracts_text(Decimal("0.5"), Decimal("0.01"))   # str() of the quotient: '5E+1'
    '50'
    >>> contracts_text(Decimal("0.125"), Decimal("1"))
    '0.125'
    """
    return plain(qty_base / contract_size)


def neutral_symbol(market: dict[str, Any]) -> str:
    """``BTC/USDT:USDT`` → ``BTCUSDT``: the engine's id for a linear perpetual."""
    return f"{market['base']}{market['quote']}"
