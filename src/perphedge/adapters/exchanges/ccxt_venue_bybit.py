"""Bybit's venue: :class:`BybitVenue`, the unified ccxt venue with Bybit v5's differences.

:class:`BybitVenue` overrides the hooks of
:class:`perphedge.adapters.exchanges.ccxt_venue_unified.CcxtVenue` for what ccxt's ``bybit``
class leaves to the caller, as found against the loopback Bybit v5 server in
``tests/fakes/bybit_v5.py`` (see ``docs/exchanges.md``):

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
  ``cumFeeDetail``, which may be absent);
* ``create_order`` acknowledges with ``{orderId, orderLinkId}`` only: the order is read back;
  the client id is ``orderLinkId`` when cancelling;
* the funding interval is instruments-info ``fundingInterval`` (minutes).
"""

from __future__ import annotations

import contextlib
import re
from decimal import Decimal
from typing import Any, ClassVar

import ccxt

from perphedge.adapters.exchanges.ccxt_ledger_bybit import BybitLedgerReads
from perphedge.adapters.exchanges.ccxt_reply import ReplyObject, reply_list
from perphedge.adapters.exchanges.ccxt_unified_parse import free_balances
from perphedge.adapters.exchanges.ccxt_venue_unified import CcxtVenue
from perphedge.domain.money import plain
from perphedge.engine.venue import Market, OrderRequest, VenueBalances, VenueOrder
from perphedge.errors import ExchangeError

__all__ = [
    "BybitVenue",
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


def unified_balances(balance: ReplyObject) -> VenueBalances:
    """One UNIFIED wallet: USDT is the futures margin (counted once), other coins are "spot".

    USDT's ``free`` is ccxt's walletBalance − locked − totalPositionIM − totalOrderIM: what a
    new position may use. A UTA's USDT is never idle spot cash, so ``spot`` has no USDT.
    """
    usdt = balance.obj(USDT, {})
    return VenueBalances(
        spot={asset: free for asset, free in free_balances(balance).items() if asset != USDT},
        futures_wallet_usdt=usdt.dec("total", 0),
        futures_available_usdt=usdt.dec("free", 0),
    )


async def order_by_link_id(client: Any, symbol: str, client_order_id: str
                           ) -> dict[str, Any] | None:
    """The order with this ``orderLinkId``: open (realtime) first, then the order history."""
    params = {"orderLinkId": client_order_id}
    for fetch in (client.fetch_open_orders, client.fetch_canceled_and_closed_orders):
        rows = reply_list(await fetch(symbol, None, None, dict(params)),
                          f"bybit {fetch.__name__} by orderLinkId")
        if rows:
            return rows[0].mapping()
    return None


async def move_margin(client: Any, market_id: str, amount_usdt: Decimal) -> None:
    """``/v5/position/add-margin``: ``margin`` > 0 adds, < 0 takes out (one-way position)."""
    await client.privatePostV5PositionAddMargin({
        "category": "linear", "symbol": market_id, "margin": plain(amount_usdt), "positionIdx": 0,
    })


def leverage_not_modified(err: ccxt.BaseError) -> bool:
    """Bybit's 110043 "leverage not modified": the leverage already is the one asked for."""
    return isinstance(err, ccxt.BadRequest) and bool(_NOT_MODIFIED.search(str(err)))


def order_fee(order: ReplyObject) -> Decimal | None:
    """The order's fee in the settle coin: ``cumExecFee`` (None when Bybit sent none)."""
    return order.obj("info", {}).opt_dec("cumExecFee")


def funding_interval_hours(market: dict[str, Any], default: int) -> int:
    """The perpetual's funding interval: instruments-info ``fundingInterval`` is in minutes."""
    info = market.get("info")
    minutes = info.get("fundingInterval") if isinstance(info, dict) else None
    if minutes in (None, "", 0, "0"):
        return default
    return max(1, ReplyObject({"fundingInterval": minutes}, "GET /v5/market/instruments-info",
                              f"list[{market.get('id')}]").integer("fundingInterval") // 60)


class BybitVenue(BybitLedgerReads, CcxtVenue):
    """A Bybit account as a ``Venue``: ccxt's unified bybit with Bybit's differences
    (module doc)."""

    _CLIENT_ID_PARAM: ClassVar[str] = "orderLinkId"
    _MARKETS_ENDPOINT: ClassVar[str] = "GET /v5/market/instruments-info"

    def _funding_interval_hours(self, market: dict[str, Any]) -> int:
        return funding_interval_hours(market, super()._funding_interval_hours(market))

    async def _one_wallet_balances(self, swap: ReplyObject) -> VenueBalances | None:
        if not await self._unified():
            return None
        # spot and swap are the same UNIFIED wallet: read once, count USDT once.
        return unified_balances(swap)

    async def _position_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A UTA 2.0 position row has no margin mode: it is the account's (account/info);
        an isolated position's margin is ``positionBalance`` (ccxt's positionMargin)."""
        held = [p for p in rows if p.get("contracts")]
        if not held:
            return held
        mode = await self._read_as("fetch margin mode", lambda: (
            self._client.fetch_margin_mode(held[0]["symbol"])),
            lambda body: self._reply(body, "fetch margin mode").raw("marginMode"))
        return [{**p, "marginMode": mode, "collateral": p.get("positionMargin")} for p in held]

    def _leverage_unchanged(self, err: ccxt.BadRequest) -> bool:
        return leverage_not_modified(err)

    async def _placed(self, placed: VenueOrder, request: OrderRequest) -> VenueOrder:
        # Bybit acknowledges with {orderId, orderLinkId} only: read the fill back (a read;
        # if it fails the order stands as acknowledged and the engine resolves it by id).
        with contextlib.suppress(ExchangeError):
            return await self.fetch_order(request.symbol, request.client_order_id) or placed
        return placed

    async def _order_by_client_id(self, market: dict[str, Any], client_order_id: str
                                  ) -> dict[str, Any] | None:
        return await order_by_link_id(self._client, market["symbol"], client_order_id)

    async def _send_margin_move(self, market: dict[str, Any], amount_usdt: Decimal, kind: str,
                                action: str) -> None:
        # ccxt has no add/reduce_margin for Bybit: a signed add.
        signed = amount_usdt if kind == "add" else -amount_usdt
        await self._send_money(action, lambda: move_margin(self._client, market["id"], signed))

    async def transfer(self, amount_usdt: Decimal, *, to: Market) -> None:
        """A Unified Trading Account has one wallet for spot and swap: the USDT already is
        where it is wanted (``balances`` counts it as margin), so nothing is sent."""
        if await self._unified():
            return
        await super().transfer(amount_usdt, to=to)

    def _funding_amount(self, row: ReplyObject) -> Decimal:
        """The raw ``execFee`` of the funding execution, negated: a fee, > 0 when paid.

        ccxt 4.5 passes it on as ``amount`` unchanged (ccxt issue #26404; PR #26455 proposes
        negating it there), so the raw field is read and ccxt's sign never matters.
        """
        return -row.obj("info").dec("execFee")

    def _order_fee(self, order: ReplyObject) -> Decimal | None:
        return order_fee(order)

    async def _unified(self) -> bool:
        return await self._read("read the account type", lambda: is_unified(self._client))
