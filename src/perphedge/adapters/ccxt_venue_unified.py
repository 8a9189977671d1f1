"""The Venue port through ccxt's unified methods: OKX, Bybit and other USDT-M exchanges.

ccxt's unified structures carry floats, so amounts go through ``Decimal(str(x))`` here (the
Binance venue reads raw strings instead). Quantities are converted between base units and
contracts with the market's ``contractSize``. Symbols are the engine's exchange-neutral ids
(``BTCUSDT`` for a linear perpetual, as ``engine.observe.venue_symbol`` makes them): the venue
maps them to the exchange's market (OKX ``BTC-USDT-SWAP``) and reports positions and orders
under them. OKX runs against a loopback OKX v5 server in the tests (its differences are in
:mod:`perphedge.adapters.ccxt_venue_okx`); see ``docs/exchanges.md``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

import ccxt

from perphedge.adapters import ccxt_venue_bybit as bybit
from perphedge.adapters.ccxt_market import DEFAULT_FUNDING_INTERVAL_HOURS, instrument_from_market
from perphedge.adapters.ccxt_venue_base import CcxtVenueBase, RetryPolicy
from perphedge.adapters.ccxt_venue_okx import (
    OKX_ACCOUNTS,
    engine_client_id,
    okx_brackets,
    okx_client_id,
    okx_wallet_usdt,
)
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
from perphedge.errors import ExchangeError, InputError, TerminalExchangeError

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

    def __init__(self, client: Any, *, secrets: Sequence[str] = (),
                 retry: RetryPolicy | None = None) -> None:
        super().__init__(client, secrets=secrets, retry=retry)
        #: OKX: the margin mode per market id (OKX has no such setting; orders carry it).
        self._okx_modes: dict[str, str] = {}

    @property
    def _okx(self) -> bool:
        return self.name == "okx"

    async def _market(self, symbol: str) -> dict[str, Any]:
        """The market whose exchange id is ``symbol``, else the linear perpetual whose
        neutral id (base + quote: ``BTCUSDT``) it is."""
        try:
            return await super()._market(symbol)
        except InputError:
            for market in self._client.markets.values():
                if market.get("swap") and market.get("linear") and _neutral(market) == symbol:
                    return dict(market)
            raise

    def _symbol(self, market: dict[str, Any]) -> str:
        """The id the engine knows the market by: neutral for a linear perpetual."""
        return _neutral(market) if market.get("swap") and market.get("linear") else market["id"]

    async def instrument(self, symbol: str) -> Instrument:
        """Contract specs; unified markets carry no funding interval, so 8 h is assumed
        (Bybit's instruments-info has one: ``fundingInterval``, in minutes)."""
        market = await self._market(symbol)
        hours = DEFAULT_FUNDING_INTERVAL_HOURS
        if self.name == "bybit":
            hours = bybit.funding_interval_hours(market, hours)
        spec = instrument_from_market(market, hours)
        return replace(spec, symbol=self._symbol(market))

    async def brackets(self, symbol: str) -> BracketTable:
        """Maintenance tiers from ``fetch_market_leverage_tiers`` (bounds in USDT notional;
        OKX's are in contracts and become notional at the current mark price)."""
        market = await self._market(symbol)
        tiers = await self._read(
            f"fetch leverage tiers of {symbol}",
            lambda: self._client.fetch_market_leverage_tiers(market["symbol"]),
        )
        if self._okx:
            mark = await self._mark_price(market)
            size = self._dec(market.get("contractSize") or 1, "contract size")
            return okx_brackets(symbol, tiers, size, mark)
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
        """Free spot balances and the swap wallet's USDT (one wallet on unified accounts).

        OKX: spot is the funding account; the wallet is ``eq − upl`` (no unrealised PnL)."""
        swap = await self._read(
            "fetch swap balance", lambda: self._client.fetch_balance({"type": "swap"})
        )
        if self.name == "bybit" and await self._bybit_unified():
            # spot and swap are the same UNIFIED wallet: read once, count USDT once.
            return bybit.unified_balances(swap, self._dec)
        spot_type = "funding" if self._okx else "spot"
        spot = await self._read(
            "fetch spot balance", lambda: self._client.fetch_balance({"type": spot_type})
        )
        usdt = swap.get("USDT") or {}
        wallet = okx_wallet_usdt(swap) if self._okx else usdt.get("total") or 0
        return VenueBalances(
            spot={
                asset: self._dec(free, f"{asset} free balance")
                for asset, free in (spot.get("free") or {}).items()
                if free
            },
            futures_wallet_usdt=self._dec(wallet, "USDT wallet balance"),
            futures_available_usdt=self._dec(usdt.get("free") or 0, "USDT available balance"),
        )

    async def positions(self) -> list[VenuePosition]:
        """Open positions from ``fetch_positions`` (base quantity, signed by side)."""
        await self._markets()
        rows = await self._read("fetch positions", self._client.fetch_positions)
        if self.name == "bybit":
            rows = await self._bybit_margin_modes(rows)
        out = [self._position(p) for p in rows if p.get("contracts")]
        for p in rows:
            if p.get("contracts") and self._okx:
                self._okx_modes[self._client.market(p["symbol"])["id"]] = p["marginMode"]
        return out

    def _position(self, p: dict[str, Any]) -> VenuePosition:
        market = self._client.market(p["symbol"])
        size = self._dec(p.get("contractSize") or market.get("contractSize") or 1, "contractSize")
        qty = self._dec(p["contracts"], "position contracts") * size
        mode = MarginMode.ISOLATED if p.get("marginMode") == "isolated" else MarginMode.CROSS
        liq = p.get("liquidationPrice")
        return VenuePosition(
            symbol=self._symbol(market),
            qty_base=-qty if p.get("side") == "short" else qty,
            entry_price_usdt=self._dec(p.get("entryPrice") or 0, "entry price"),
            mark_price_usdt=self._dec(p.get("markPrice") or 0, "mark price"),
            margin_mode=mode,
            leverage=int(p.get("leverage") or 1),
            isolated_margin_usdt=(
                # OKX: the raw ``margin`` (ccxt's collateral adds the uPnL to it, which the
                # port's isolated margin, Binance's isolatedWallet, does not hold).
                self._dec((p.get("info") or {}).get("margin") or 0, "okx margin") if self._okx
                else self._dec(p.get("collateral") or 0, "collateral")
                if mode is MarginMode.ISOLATED else ZERO
            ),
            unrealized_pnl_usdt=self._dec(p.get("unrealizedPnl") or 0, "unrealized PnL"),
            liquidation_price_usdt=self._dec(liq, "liquidation price") if liq else None,
        )

    async def mark_and_funding(self, symbol: str) -> MarkAndFunding:
        """Funding rate from ``fetch_funding_rate``; the mark price from it too, or from
        ``fetch_mark_price`` where the funding reply has none (OKX)."""
        market = await self._market(symbol)
        rate = await self._read(
            f"fetch funding rate of {symbol}",
            lambda: self._client.fetch_funding_rate(market["symbol"]),
        )
        raw_rate, next_ms = rate.get("fundingRate"), rate.get("fundingTimestamp")
        mark = rate.get("markPrice")
        return MarkAndFunding(
            symbol=symbol,
            mark_price_usdt=(self._dec(mark, "mark price") if mark is not None
                             else await self._mark_price(market)),
            funding_rate=None if raw_rate is None else self._dec(raw_rate, "funding rate"),
            next_funding_ms=None if next_ms is None else int(next_ms),
            ts_ms=int(rate.get("timestamp") or self._client.milliseconds()),
        )

    async def set_margin_mode(self, symbol: str, mode: MarginMode) -> None:
        """``set_margin_mode``; "already set" is success (ccxt's ``MarginModeAlreadySet``).

        OKX has no margin-mode setting: every order carries its ``tdMode`` and leverage is set
        per mode. The mode is remembered for the market's orders and leverage, after checking
        that no open position holds the other mode (Binance's -4048 refusal)."""
        market = await self._market(symbol)
        if self._okx:
            held = await self._okx_position_mode(market)
            if held not in (None, mode.value):
                raise TerminalExchangeError(
                    f"set margin mode of {symbol} to {mode.value} on okx: an open {held} "
                    "position exists")
            self._okx_modes[market["id"]] = mode.value
            return

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
        # OKX sets leverage per margin mode (ccxt's default is cross).
        params = {"mgnMode": await self._okx_mode(market)} if self._okx else {}

        async def call() -> None:
            try:
                await self._client.set_leverage(leverage, market["symbol"], params)
            except ccxt.BadRequest as err:
                if not (self.name == "bybit" and bybit.leverage_not_modified(err)):
                    raise

        await self._read(f"set leverage of {symbol} to {leverage}", call)

    async def place_order(self, request: OrderRequest) -> VenueOrder:
        """``create_order`` with the request's client id; never retried."""
        if request.market is not Market.FUTURES:
            raise TerminalExchangeError(f"spot orders on {self.name}: not supported yet")
        market = await self._market(request.symbol)
        size = self._dec(market.get("contractSize") or 1, "contract size")
        amount = str(request.qty_base / size)
        price = None if request.price_usdt is None else str(request.price_usdt)
        params: dict[str, Any] = {
            "clientOrderId": self._sent_id(request.client_order_id),
            "reduceOnly": request.reduce_only,
        }
        if self._okx:  # the order's tdMode decides the position's margin mode on OKX
            params["marginMode"] = await self._okx_mode(market)
        order = await self._send_order(request, lambda: self._client.create_order(
            market["symbol"], request.order_type, request.side.order_side, amount, price, params
        ))
        if self.name == "bybit":
            # Bybit acknowledges with {orderId, orderLinkId} only: read the fill back (a read;
            # if it fails the order stands as acknowledged and the engine resolves it by id).
            with contextlib.suppress(ExchangeError):
                return await self.fetch_order(request.symbol, request.client_order_id) or \
                    self._order(order, market, request)
        return self._order(order, market, request)

    async def fetch_order(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        """The order with this client id (``params.clientOrderId``), or None if unknown."""
        market = await self._market(symbol)

        async def call() -> dict[str, Any] | None:
            if self.name == "bybit":
                return await bybit.order_by_link_id(self._client, market["symbol"],
                                                    client_order_id)
            try:
                order: dict[str, Any] = await self._client.fetch_order(
                    None, market["symbol"], {"clientOrderId": self._sent_id(client_order_id)}
                )
            except ccxt.OrderNotFound:
                return None
            return order

        order = await self._read(f"fetch order {client_order_id}", call)
        return None if order is None else self._order(order, market)

    async def cancel_order(self, symbol: str, client_order_id: str) -> VenueOrder:
        """Cancel by client id, then read the order back (cancel replies are sparse)."""
        market = await self._market(symbol)
        # Bybit names the client id orderLinkId (ccxt's cancel passes params through as is).
        key = "orderLinkId" if self.name == "bybit" else "clientOrderId"
        await self._read(f"cancel order {client_order_id}", lambda: self._client.cancel_order(
            None, market["symbol"], {key: self._sent_id(client_order_id)}
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
        await self._move_margin(symbol, amount_usdt, "add")

    async def reduce_margin(self, symbol: str, amount_usdt: Decimal) -> None:
        """Take USDT out of the isolated position (sent once)."""
        await self._move_margin(symbol, amount_usdt, "reduce")

    async def _move_margin(self, symbol: str, amount_usdt: Decimal, kind: str) -> None:
        market = await self._market(symbol)
        action = f"{kind} {amount_usdt} USDT margin of {symbol}"
        if self._okx:
            # ccxt's okx add_margin/reduce_margin raise TypeError parsing OKX's reply after
            # the margin has moved (ccxt 4.5.90); the endpoint itself is called instead.
            request = {"instId": market["id"], "posSide": "net", "type": kind,
                       "amt": str(amount_usdt)}
            await self._once(action, lambda: (
                self._client.privatePostAccountPositionMarginBalance(request)))
            return
        if self.name == "bybit":  # ccxt has no add/reduce_margin for Bybit: a signed add
            signed = amount_usdt if kind == "add" else -amount_usdt
            await self._once(action, lambda: bybit.move_margin(self._client, market["id"], signed))
            return
        move = self._client.add_margin if kind == "add" else self._client.reduce_margin
        await self._once(action, lambda: move(market["symbol"], str(amount_usdt)))

    async def transfer(self, amount_usdt: Decimal, *, to: Market) -> None:
        """Move USDT between the spot and swap wallets with ccxt's ``transfer`` (sent once).

        A Bybit Unified Trading Account has one wallet for both: the USDT already is where it
        is wanted (``balances`` counts it as margin), so nothing is sent.
        """
        if self.name == "bybit" and await self._bybit_unified():
            return
        source = Market.SPOT if to is Market.FUTURES else Market.FUTURES
        names = OKX_ACCOUNTS if self._okx else _ACCOUNTS
        await self._once(f"transfer {amount_usdt} USDT to {to.value}", lambda: (
            self._client.transfer("USDT", str(amount_usdt), names[source], names[to])
        ))

    async def funding_history(self, symbol: str, since_ms: int) -> list[FundingPayment]:
        """Settled funding from ``fetch_funding_history`` (positive: received)."""
        market = await self._market(symbol)
        # ccxt's okx filters ``since`` only after reading OKX's newest 100 bills; ``begin``
        # asks OKX for the bills from then on.
        params = {"begin": str(since_ms)} if self._okx else {}
        rows = await self._read(f"fetch funding history of {symbol}", lambda: (
            self._client.fetch_funding_history(market["symbol"], since_ms, None, params)
        ))
        return [FundingPayment(symbol, int(r["timestamp"]), self._funding_amount(r))
                for r in rows]

    def _funding_amount(self, row: dict[str, Any]) -> Decimal:
        """A funding row's payment, positive when received.

        Bybit's is the raw ``execFee`` of the funding execution, negated: a fee, > 0 when
        paid. ccxt 4.5 passes it on as ``amount`` unchanged (ccxt issue #26404; PR #26455
        proposes negating it there), so the raw field is read and ccxt's sign never matters.
        """
        if self.name == "bybit":
            return -self._dec((row.get("info") or {}).get("execFee"), "funding execFee")
        return self._dec(row["amount"], "funding amount")

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
        fee_info = order.get("fee") or {}
        # A fee in another coin (a BNB/MNT discount) is not USDT: not counted as such.
        fee = fee_info.get("cost") if fee_info.get("currency") in (None, "USDT") else None
        if self.name == "bybit":
            fee = bybit.order_fee(order)
        side = order.get("side") or (request.side.order_side if request else None)
        client_id = order.get("clientOrderId") or (request.client_order_id if request else "")
        if self._okx:
            client_id = engine_client_id(str(client_id))
        return VenueOrder(
            client_order_id=str(client_id),
            exchange_order_id=str(order.get("id") or ""),
            symbol=self._symbol(market),
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

    async def _bybit_unified(self) -> bool:
        return await self._read("read the account type", lambda: bybit.is_unified(self._client))

    async def _bybit_margin_modes(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A UTA 2.0 position row has no margin mode: it is the account's (account/info);
        an isolated position's margin is ``positionBalance`` (ccxt's positionMargin)."""
        held = [p for p in rows if p.get("contracts")]
        if not held:
            return held
        mode = await self._read("fetch margin mode", lambda: (
            self._client.fetch_margin_mode(held[0]["symbol"])))
        return [{**p, "marginMode": mode.get("marginMode"), "collateral": p.get("positionMargin")}
                for p in held]

    def _sent_id(self, client_order_id: str) -> str:
        """The client id as the exchange takes it (OKX: 32 letters and digits)."""
        return okx_client_id(client_order_id) if self._okx else client_order_id

    async def _mark_price(self, market: dict[str, Any]) -> Decimal:
        ticker = await self._read(f"fetch mark price of {market['id']}", lambda: (
            self._client.fetch_mark_price(market["symbol"])))
        return self._dec(ticker.get("markPrice"), "mark price")

    async def _okx_position_mode(self, market: dict[str, Any]) -> str | None:
        """The margin mode of the open OKX position on ``market``, or None when flat."""
        rows = await self._read(f"fetch position of {market['id']}", lambda: (
            self._client.fetch_positions([market["symbol"]])))
        return next((str(p["marginMode"]) for p in rows if p.get("contracts")), None)

    async def _okx_mode(self, market: dict[str, Any]) -> str:
        """The margin mode OKX orders and leverage on ``market`` use: the one set (or seen
        on the open position), else the open position's, else cross (OKX's default)."""
        mode = self._okx_modes.get(market["id"]) or await self._okx_position_mode(market)
        self._okx_modes[market["id"]] = mode or "cross"
        return self._okx_modes[market["id"]]


def _neutral(market: dict[str, Any]) -> str:
    """``BTC/USDT:USDT`` → ``BTCUSDT``: the engine's id for a linear perpetual."""
    return f"{market['base']}{market['quote']}"
