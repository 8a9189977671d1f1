"""Bybit v5 specifics of the unified ccxt venue (``CcxtVenue`` with ``client.id == "bybit"``).

What ccxt's ``bybit`` class leaves to the caller, as found against the loopback Bybit v5
server in ``tests/fakes/bybit_v5.py`` (see ``docs/exchanges.md``):

* a Unified Trading Account has *one* wallet: ``fetch_balance`` answers the same UNIFIED
  wallet for ``spot`` and ``swap``, so USDT must be counted once (as futures margin) and
  there is nothing to transfer between "spot" and "swap";
* ccxt's ``fetch_order`` on a UTA needs ``params.acknowledged`` and looks only at
  ``/v5/order/realtime``; an order is found by ``orderLinkId`` there (open) or in
  ``/v5/order/history`` (filled, cancelled);
* ccxt has no ``add_margin``/``reduce_margin`` for Bybit: ``/v5/position/add-margin`` takes a
  signed ``margin`` through ccxt's implicit endpoint method;
* ``set-leverage`` answers retCode 110043 ("leverage not modified") when nothing changes,
  which ccxt raises as ``BadRequest``: success for an idempotent setter;
* a UTA 2.0 position row has no margin mode (``tradeMode`` is deprecated, ccxt returns None):
  it is the account's, from ``/v5/account/info``;
* a funding row of ``/v5/execution/list`` carries the payment as ``execFee`` (a fee: > 0 is
  paid), which ccxt passes on unchanged as the funding ``amount``;
* the contract fee of an order is ``cumExecFee`` in the settle coin (ccxt reads only
  ``cumFeeDetail``, which may be absent).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import ccxt

from perphedge.engine.venue import VenueBalances

__all__ = [
    "funding_interval_hours",
    "is_unified",
    "leverage_not_modified",
    "move_margin",
    "order_by_link_id",
    "order_fee",
    "unified_balances",
]

USDT = "USDT"
_NOT_MODIFIED = re.compile(r'"retCode"\s*:\s*110043\b')


async def is_unified(client: Any) -> bool:
    """True for a Unified Trading Account (ccxt asks ``/v5/user/query-api`` once, then caches)."""
    margin, account = await client.is_unified_enabled()
    return bool(margin or account)


def unified_balances(balance: dict[str, Any], dec: Callable[[object, str], Decimal]
                     ) -> VenueBalances:
    """One UNIFIED wallet: USDT is the futures margin (counted once), other coins are "spot".

    USDT's ``free`` is ccxt's walletBalance − locked − totalPositionIM − totalOrderIM: what a
    new position may use. A UTA's USDT is never idle spot cash, so ``spot`` has no USDT.
    """
    usdt = balance.get(USDT) or {}
    return VenueBalances(
        spot={asset: dec(free, f"{asset} free balance")
              for asset, free in (balance.get("free") or {}).items() if free and asset != USDT},
        futures_wallet_usdt=dec(usdt.get("total") or 0, "USDT wallet balance"),
        futures_available_usdt=dec(usdt.get("free") or 0, "USDT available balance"),
    )


async def order_by_link_id(client: Any, symbol: str, client_order_id: str
                           ) -> dict[str, Any] | None:
    """The order with this ``orderLinkId``: open (realtime) first, then the order history."""
    params = {"orderLinkId": client_order_id}
    for fetch in (client.fetch_open_orders, client.fetch_canceled_and_closed_orders):
        rows: list[dict[str, Any]] = await fetch(symbol, None, None, dict(params))
        if rows:
            return rows[0]
    return None


async def move_margin(client: Any, market_id: str, amount_usdt: Decimal) -> None:
    """``/v5/position/add-margin``: ``margin`` > 0 adds, < 0 takes out (one-way position)."""
    await client.privatePostV5PositionAddMargin({
        "category": "linear", "symbol": market_id, "margin": str(amount_usdt), "positionIdx": 0,
    })


def leverage_not_modified(err: ccxt.BaseError) -> bool:
    """Bybit's 110043 "leverage not modified": the leverage already is the one asked for."""
    return isinstance(err, ccxt.BadRequest) and bool(_NOT_MODIFIED.search(str(err)))


def order_fee(order: dict[str, Any]) -> object:
    """The order's fee in the settle coin: ``cumExecFee`` (None when Bybit sent none)."""
    fee = (order.get("info") or {}).get("cumExecFee")
    return fee if fee not in (None, "") else None


def funding_interval_hours(market: dict[str, Any], default: int) -> int:
    """The perpetual's funding interval: instruments-info ``fundingInterval`` is in minutes."""
    minutes = (market.get("info") or {}).get("fundingInterval")
    if minutes in (None, "", 0, "0"):
        return default
    return max(1, int(minutes) // 60)
