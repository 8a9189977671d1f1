"""The Venue port through ccxt's unified methods: OKX, Bybit and other USDT-M exchanges.

ccxt's unified structures carry floats, so amounts go through ``Decimal(str(x))`` here (the
Binance venue reads raw strings instead). Quantities are converted between base units and
contracts with the market's ``contractSize``. Not exercised against a server in this
repository (there is no local OKX or Bybit): see ``docs/exchanges.md`` for what is known.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt

from perphedge.adapters.ccxt_market import DEFAULT_FUNDING_INTERVAL_HOURS, instrument_from_market
from perphedge.adapters.ccxt_venue_base import CcxtVenueBase
from perphedge.domain.brackets import BracketTable
from perphedge.domain.instrument import Instrument
from perphedge.domain.money import ZERO
from perphedge.domain.types import MarginMode, Side
from perphedge.engine.venue import (
    AccountModes,
    FundingPayment,
    MarkAndFunding,
    Market,
    OrderRequest,
    OrderState,
    VenueBalances,
    VenueOrder,
    VenuePosition,
)
from perphedge.errors import InputError, TerminalExchangeError

__all__ = ["CcxtVenue"]

#: ccxt's unified order status → ours; "open" is refined by the filled amount.
_STATES = {
    "closed": OrderState.FILLED,
    "canceled": OrderState.CANCELED,
    "cancelled": OrderState.CANCELED,
    "expired": OrderState.CANCELED,
    "rejected": OrderState.REJECTED,
}
#: ccxt's unified account names for the two wallets of ``transfer``.
_ACCOUNTS = {Market.SPOT: "spot", Market.FUTURES: "swap"}


class CcxtVenue(CcxtVenueBase):
    """A ccxt exchange account as a ``Venue``, through ccxt's unified methods."""

    async def instrument(self, symbol: str) -> Instrument:
        """Contract specs; unified markets carry no funding interval, so 8 h is assumed."""
        return instrument_from_market(await self._market(symbol), DEFAULT_FUNDING_INTERVAL_HOURS)

    async def brackets(self, symbol: str) -> BracketTable:
        """Maintenance tiers from ``fetch_market_leverage_tiers`` (bounds in USDT notional)."""
        if self.name == "okx":
            # ccxt passes OKX's tier bounds in contracts (minSz/maxSz), not in USDT notional.
            raise TerminalExchangeError("brackets on okx: tiers are in contracts; not supported")
        market = await self._market(symbol)
        tiers = await self._read(
            f"fetch leverage tiers of {symbol}",
            lambda: self._client.fetch_market_leverage_tiers(market["symbol"]),
        )
        return BracketTable.from_rates(symbol, [
            (
                self._dec(t.get("minNotional"), "tier minNotional"),
                self._dec(t.get("maxNotional"), "tier maxNotional"),
                self._dec(t.get("maintenanceMarginRate"), "tier maintenanceMarginRate"),
                self._dec(t.get("maxLeverage"), "tier maxLeverage"),
            )
            for t in tiers
        ])

    async def account_modes(self) -> AccountModes:
        """Hedge mode from ``fetch_position_mode`` where ccxt has it; no multi-assets mode."""
        hedged = False
        if self._client.has.get("fetchPositionMode"):
            mode = await self._read("fetch position mode", self._client.fetch_position_mode)
            hedged = bool(mode.get("hedged"))
        return AccountModes(hedge_mode=hedged, multi_assets_margin=False)

    async def balances(self) -> VenueBalances:
        """Free spot balances and the swap wallet's USDT (one wallet on unified accounts)."""
        swap = await self._read(
            "fetch swap balance", lambda: self._client.fetch_balance({"type": "swap"})
        )
        spot = await self._read(
            "fetch spot balance", lambda: self._client.fetch_balance({"type": "spot"})
        )
        usdt = swap.get("USDT") or {}
        return VenueBalances(
            spot={
                asset: self._dec(free, f"{asset} free balance")
                for asset, free in (spot.get("free") or {}).items()
                if free
            },
            futures_wallet_usdt=self._dec(usdt.get("total") or 0, "USDT wallet balance"),
            futures_available_usdt=self._dec(usdt.get("free") or 0, "USDT available balance"),
        )

    async def positions(self) -> list[VenuePosition]:
        """Open positions from ``fetch_positions`` (base quantity, signed by side)."""
        await self._markets()
        rows = await self._read("fetch positions", self._client.fetch_positions)
        return [self._position(p) for p in rows if p.get("contracts")]

    def _position(self, p: dict[str, Any]) -> VenuePosition:
        market = self._client.market(p["symbol"])
        size = self._dec(p.get("contractSize") or market.get("contractSize") or 1, "contractSize")
        qty = self._dec(p["contracts"], "position contracts") * size
        mode = MarginMode.ISOLATED if p.get("marginMode") == "isolated" else MarginMode.CROSS
        liq = p.get("liquidationPrice")
        return VenuePosition(
            symbol=str(market["id"]),
            qty_base=-qty if p.get("side") == "short" else qty,
            entry_price_usdt=self._dec(p.get("entryPrice") or 0, "entry price"),
            mark_price_usdt=self._dec(p.get("markPrice") or 0, "mark price"),
            margin_mode=mode,
            leverage=int(p.get("leverage") or 1),
            isolated_margin_usdt=(
                self._dec(p.get("collateral") or 0, "collateral")
                if mode is MarginMode.ISOLATED else ZERO
            ),
            unrealized_pnl_usdt=self._dec(p.get("unrealizedPnl") or 0, "unrealized PnL"),
            liquidation_price_usdt=self._dec(liq, "liquidation price") if liq else None,
        )

    async def mark_and_funding(self, symbol: str) -> MarkAndFunding:
        """Mark price and funding rate from ``fetch_funding_rate``."""
        market = await self._market(symbol)
        rate = await self._read(
            f"fetch funding rate of {symbol}",
            lambda: self._client.fetch_funding_rate(market["symbol"]),
        )
        raw_rate, next_ms = rate.get("fundingRate"), rate.get("fundingTimestamp")
        return MarkAndFunding(
            symbol=symbol,
            mark_price_usdt=self._dec(rate.get("markPrice"), "mark price"),
            funding_rate=None if raw_rate is None else self._dec(raw_rate, "funding rate"),
            next_funding_ms=None if next_ms is None else int(next_ms),
            ts_ms=int(rate.get("timestamp") or self._client.milliseconds()),
        )

    async def set_margin_mode(self, symbol: str, mode: MarginMode) -> None:
        """``set_margin_mode``; "already set" is success (ccxt's ``MarginModeAlreadySet``)."""
        market = await self._market(symbol)

        async def call() -> None:
            try:
                await self._client.set_margin_mode(mode.value, market["symbol"])
            except ccxt.MarginModeAlreadySet:
                return

        await self._read(f"set margin mode of {symbol} to {mode.value}", call)

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        """Set the symbol's leverage (idempotent on every exchange, so retried)."""
        if leverage < 1:
            raise InputError("leverage", "an integer of at least 1", leverage)
        market = await self._market(symbol)
        await self._read(
            f"set leverage of {symbol} to {leverage}",
            lambda: self._client.set_leverage(leverage, market["symbol"]),
        )

    async def place_order(self, request: OrderRequest) -> VenueOrder:
        """``create_order`` with the request's client id; never retried."""
        if request.market is not Market.FUTURES:
            raise TerminalExchangeError(f"spot orders on {self.name}: not supported yet")
        market = await self._market(request.symbol)
        size = self._dec(market.get("contractSize") or 1, "contract size")
        amount = str(request.qty_base / size)
        price = None if request.price_usdt is None else str(request.price_usdt)
        params = {"clientOrderId": request.client_order_id, "reduceOnly": request.reduce_only}
        order = await self._send_order(request, lambda: self._client.create_order(
            market["symbol"], request.order_type, request.side.order_side, amount, price, params
        ))
        return self._order(order, market, request)

    async def fetch_order(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        """The order with this client id (``params.clientOrderId``), or None if unknown."""
        market = await self._market(symbol)

        async def call() -> dict[str, Any] | None:
            try:
                order: dict[str, Any] = await self._client.fetch_order(
                    None, market["symbol"], {"clientOrderId": client_order_id}
                )
            except ccxt.OrderNotFound:
                return None
            return order

        order = await self._read(f"fetch order {client_order_id}", call)
        return None if order is None else self._order(order, market)

    async def cancel_order(self, symbol: str, client_order_id: str) -> VenueOrder:
        """Cancel by client id, then read the order back (cancel replies are sparse)."""
        market = await self._market(symbol)
        await self._read(f"cancel order {client_order_id}", lambda: self._client.cancel_order(
            None, market["symbol"], {"clientOrderId": client_order_id}
        ))
        order = await self.fetch_order(symbol, client_order_id)
        if order is None:
            raise TerminalExchangeError(f"cancel order {client_order_id}: order not found")
        return order

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        """Open orders of ``symbol`` (or of every market when ccxt allows it)."""
        market = None if symbol is None else await self._market(symbol)
        unified = None if market is None else market["symbol"]
        orders = await self._read(
            "fetch open orders", lambda: self._client.fetch_open_orders(unified)
        )
        return [self._order(o, self._client.market(o["symbol"])) for o in orders]

    async def add_margin(self, symbol: str, amount_usdt: Decimal) -> None:
        """Move USDT into the isolated position (sent once: a resend would move it twice)."""
        market = await self._market(symbol)
        await self._once(f"add {amount_usdt} USDT margin to {symbol}", lambda: (
            self._client.add_margin(market["symbol"], str(amount_usdt))
        ))

    async def reduce_margin(self, symbol: str, amount_usdt: Decimal) -> None:
        """Take USDT out of the isolated position (sent once)."""
        market = await self._market(symbol)
        await self._once(f"reduce {amount_usdt} USDT margin of {symbol}", lambda: (
            self._client.reduce_margin(market["symbol"], str(amount_usdt))
        ))

    async def transfer(self, amount_usdt: Decimal, *, to: Market) -> None:
        """Move USDT between the spot and swap wallets with ccxt's ``transfer`` (sent once)."""
        source = Market.SPOT if to is Market.FUTURES else Market.FUTURES
        await self._once(f"transfer {amount_usdt} USDT to {to.value}", lambda: (
            self._client.transfer("USDT", str(amount_usdt), _ACCOUNTS[source], _ACCOUNTS[to])
        ))

    async def funding_history(self, symbol: str, since_ms: int) -> list[FundingPayment]:
        """Settled funding from ``fetch_funding_history`` (positive: received)."""
        market = await self._market(symbol)
        rows = await self._read(f"fetch funding history of {symbol}", lambda: (
            self._client.fetch_funding_history(market["symbol"], since_ms)
        ))
        return [
            FundingPayment(symbol, int(r["timestamp"]), self._dec(r["amount"], "funding amount"))
            for r in rows
        ]

    def _order(
        self, order: dict[str, Any], market: dict[str, Any], request: OrderRequest | None = None
    ) -> VenueOrder:
        """A unified ccxt order as a VenueOrder (amounts in contracts → base units)."""
        size = self._dec(market.get("contractSize") or 1, "contract size")
        filled = self._dec(order.get("filled") or 0, "filled amount") * size
        amount = order.get("amount")
        state = _STATES.get(str(order.get("status")), OrderState.SUBMITTED)
        if state is OrderState.SUBMITTED and filled > 0:
            state = OrderState.PARTIALLY_FILLED
        average = order.get("average")
        fee = (order.get("fee") or {}).get("cost")
        side = order.get("side") or (request.side.order_side if request else None)
        client_id = order.get("clientOrderId") or (request.client_order_id if request else "")
        return VenueOrder(
            client_order_id=str(client_id),
            exchange_order_id=str(order.get("id") or ""),
            symbol=str(market["id"]),
            side=Side.LONG if side == "buy" else Side.SHORT,
            qty_base=(
                self._dec(amount, "order amount") * size if amount is not None
                else request.qty_base if request else filled
            ),
            filled_qty_base=filled,
            avg_price_usdt=self._dec(average, "average price") if average and filled else None,
            state=state,
            fee_usdt=self._dec(fee, "fee") if fee is not None else ZERO,
            reduce_only=bool(order.get("reduceOnly")),
            ts_ms=int(order.get("lastUpdateTimestamp") or order.get("timestamp") or 0),
        )
