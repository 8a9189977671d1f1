"""The Venue port through ccxt's unified methods: OKX, Bybit and other USDT-M exchanges.

ccxt's unified structures carry floats, so amounts go through ``Decimal(str(x))`` here (the
Binance venue reads raw strings instead). Quantities are converted between base units and
contracts with the market's ``contractSize``. Symbols are the engine's exchange-neutral ids
(``BTCUSDT`` for a linear perpetual, as ``engine.observe.venue_symbol`` makes them): the venue
maps them to the exchange's market (OKX ``BTC-USDT-SWAP``) and reports positions and orders
under them. Where OKX and Bybit differ, a hook method here is overridden by ``OkxVenue``
(:mod:`.ccxt_venue_okx`) or ``BybitVenue`` (:mod:`.ccxt_venue_bybit`). See ``docs/exchanges.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any, ClassVar

import ccxt

from perphedge.adapters.exchanges.ccxt_market import (
    DEFAULT_FUNDING_INTERVAL_HOURS,
    instrument_from_market,
)
from perphedge.adapters.exchanges.ccxt_reply import ReplyObject, reply_object
from perphedge.adapters.exchanges.ccxt_unified_parse import (
    UNIFIED_STATES,
    contracts_text,
    free_balances,
    neutral_symbol,
)
from perphedge.adapters.exchanges.ccxt_venue_base import CcxtVenueBase
from perphedge.domain.brackets import BracketTable
from perphedge.domain.instrument import Instrument
from perphedge.domain.money import ZERO, plain
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
from perphedge.errors import DataError, InputError, MalformedReplyError, TerminalExchangeError

__all__ = ["CcxtVenue"]

class CcxtVenue(CcxtVenueBase):
    """A ccxt exchange account as a ``Venue``, through ccxt's unified methods.

    The ``_``-prefixed hooks below are where an exchange differs; ``venue_for_client`` (in
    :mod:`.ccxt_venue`) picks ``OkxVenue`` or ``BybitVenue`` for those exchanges' clients.
    Amounts leave as plain decimal strings (:func:`plain`: never ``5E+1``).
    """

    #: The ``fetch_balance`` type of the port's spot wallet.
    _SPOT_BALANCE_TYPE: ClassVar[str] = "spot"
    #: ccxt's account names for the two wallets of ``transfer``.
    _TRANSFER_ACCOUNTS: ClassVar[Mapping[Market, str]] = {
        Market.SPOT: "spot", Market.FUTURES: "swap"}
    #: The ``cancel_order`` param that carries the client id.
    _CLIENT_ID_PARAM: ClassVar[str] = "clientOrderId"

    async def _market(self, symbol: str) -> dict[str, Any]:
        """The market whose exchange id is ``symbol``, else the linear perpetual whose
        neutral id (base + quote: ``BTCUSDT``) it is."""
        try:
            return await super()._market(symbol)
        except InputError:
            for market in self._client.markets.values():
                if market.get("swap") and market.get("linear") and neutral_symbol(market) == symbol:
                    return dict(market)
            raise

    def _symbol(self, market: dict[str, Any]) -> str:
        """The id the engine knows the market by: neutral for a linear perpetual."""
        linear_swap = market.get("swap") and market.get("linear")
        return neutral_symbol(market) if linear_swap else str(market["id"])

    async def instrument(self, symbol: str) -> Instrument:
        """Contract specs, with the market's funding interval."""
        market = await self._market(symbol)
        spec = instrument_from_market(market, self._funding_interval_hours(market))
        return replace(spec, symbol=self._symbol(market))

    def _funding_interval_hours(self, market: dict[str, Any]) -> int:
        """Unified markets carry no funding interval: 8 h is assumed."""
        return DEFAULT_FUNDING_INTERVAL_HOURS

    async def brackets(self, symbol: str) -> BracketTable:
        """Maintenance tiers from ``fetch_market_leverage_tiers``."""
        market = await self._market(symbol)
        action = f"fetch leverage tiers of {symbol}"
        tiers = await self._read_as(action, lambda: (
            self._client.fetch_market_leverage_tiers(market["symbol"])),
            lambda body: self._replies(body, action))
        try:
            return await self._brackets_from_tiers(symbol, market, tiers)
        except DataError as err:  # tiers that make no bracket table
            raise MalformedReplyError(self._endpoint(action), str(err)) from None

    async def _brackets_from_tiers(self, symbol: str, market: dict[str, Any],
                                   tiers: list[ReplyObject]) -> BracketTable:
        """ccxt's unified tiers (bounds in USDT notional) as the bracket table."""
        return BracketTable.from_rates(symbol, [(
            t.dec("minNotional"), t.dec("maxNotional"), t.dec("maintenanceMarginRate"),
            t.dec("maxLeverage"),
        ) for t in tiers])

    async def account_modes(self) -> AccountModes:
        """Hedge mode from ``fetch_position_mode`` where ccxt has it; no multi-assets mode."""
        hedged = False
        if self._client.has.get("fetchPositionMode"):
            hedged = await self._read_as(
                "fetch position mode", self._client.fetch_position_mode,
                lambda body: self._reply(body, "fetch position mode").flag("hedged"))
        return AccountModes(hedge_mode=hedged, multi_assets_margin=False)

    async def balances(self) -> VenueBalances:
        """Free spot balances and the swap wallet's USDT (one wallet on unified accounts)."""
        swap = await self._read_as("fetch swap balance", lambda: (
            self._client.fetch_balance({"type": "swap"})),
            lambda body: self._reply(body, "fetch swap balance"))
        one_wallet = await self._one_wallet_balances(swap)
        if one_wallet is not None:
            return one_wallet
        spot = await self._read_as("fetch spot balance", lambda: (
            self._client.fetch_balance({"type": self._SPOT_BALANCE_TYPE})),
            lambda body: self._reply(body, "fetch spot balance"))
        return VenueBalances(
            spot=free_balances(spot),
            futures_wallet_usdt=self._wallet_usdt(swap),
            futures_available_usdt=swap.obj("USDT", {}).dec("free", 0),
        )

    async def _one_wallet_balances(self, swap: ReplyObject) -> VenueBalances | None:
        """The balances when spot and swap are one wallet (read as ``swap``), else None."""
        return None

    def _wallet_usdt(self, swap: ReplyObject) -> Decimal:
        """The futures wallet's USDT (Binance's walletBalance) from the swap balance."""
        return swap.obj("USDT", {}).dec("total", 0)

    async def positions(self) -> list[VenuePosition]:
        """Open positions from ``fetch_positions`` (base quantity, signed by side)."""
        await self._markets()
        rows = await self._read_as("fetch positions", self._client.fetch_positions,
                                   lambda body: self._rows(body, "fetch positions"))
        endpoint = self._endpoint("fetch positions")
        rows = await self._position_rows(rows)
        out = [self._position(reply_object(p, endpoint)) for p in rows if p.get("contracts")]
        self._positions_seen(rows)
        return out

    def _rows(self, body: object, action: str) -> list[dict[str, Any]]:
        """A list of objects as plain dicts (checked: a list, each an object)."""
        self._replies(body, action)
        return [dict(row) for row in body]  # type: ignore[attr-defined]

    def _listed(self, row: ReplyObject) -> dict[str, Any]:
        """The loaded market of a row's unified ``symbol`` (an unlisted one is malformed)."""
        market = (self._client.markets or {}).get(row.text("symbol"))
        if not isinstance(market, dict):
            raise row.error("symbol", f"{row.raw('symbol')!r} is no market {self.name} listed")
        return market

    async def _position_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """ccxt's position rows completed with what the exchange leaves out."""
        return rows

    def _positions_seen(self, rows: list[dict[str, Any]]) -> None:
        """Called with the position rows ``positions`` read."""

    def _position(self, p: ReplyObject) -> VenuePosition:
        market = self._listed(p)
        size = (p.dec("contractSize") if p.raw("contractSize")
                else self._dec(market.get("contractSize") or 1, "contractSize"))
        qty = p.dec("contracts") * size
        mode = MarginMode.ISOLATED if p.raw("marginMode") == "isolated" else MarginMode.CROSS
        liq = p.opt_dec("liquidationPrice")
        return VenuePosition(
            symbol=self._symbol(market),
            qty_base=-qty if p.raw("side") == "short" else qty,
            entry_price_usdt=p.dec("entryPrice", 0),
            mark_price_usdt=p.dec("markPrice", 0),
            margin_mode=mode,
            leverage=int(p.dec("leverage", 1)),
            isolated_margin_usdt=self._isolated_margin(p, mode),
            unrealized_pnl_usdt=p.dec("unrealizedPnl", 0),
            liquidation_price_usdt=liq if liq else None,
        )

    def _isolated_margin(self, p: ReplyObject, mode: MarginMode) -> Decimal:
        """The position's isolated margin without uPnL (Binance's isolatedWallet)."""
        if mode is MarginMode.ISOLATED:
            return p.dec("collateral", 0)
        return ZERO

    async def mark_and_funding(self, symbol: str) -> MarkAndFunding:
        """Funding rate from ``fetch_funding_rate``; the mark price from it too, or from
        ``fetch_mark_price`` where the funding reply has none (OKX)."""
        market = await self._market(symbol)
        action = f"fetch funding rate of {symbol}"
        rate = await self._read_as(action, lambda: (
            self._client.fetch_funding_rate(market["symbol"])),
            lambda body: self._reply(body, action))
        mark = rate.opt_dec("markPrice")
        if mark is not None and mark <= 0:
            raise rate.error("markPrice", f"expected a price above 0, got {mark}")
        return MarkAndFunding(
            symbol=symbol,
            mark_price_usdt=mark if mark is not None else await self._mark_price(market),
            funding_rate=rate.opt_dec("fundingRate"),
            next_funding_ms=(rate.integer("fundingTimestamp") if rate.has("fundingTimestamp")
                             else None),
            ts_ms=(rate.integer("timestamp") if rate.raw("timestamp")
                   else int(self._client.milliseconds())),
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
        params = await self._leverage_params(market)

        async def call() -> None:
            try:
                await self._client.set_leverage(leverage, market["symbol"], params)
            except ccxt.BadRequest as err:
                if not self._leverage_unchanged(err):
                    raise

        await self._read(f"set leverage of {symbol} to {leverage}", call)

    async def _leverage_params(self, market: dict[str, Any]) -> dict[str, Any]:
        """Extra params of ``set_leverage`` on ``market``."""
        return {}

    def _leverage_unchanged(self, err: ccxt.BadRequest) -> bool:
        """True when ``err`` says the leverage already is the one asked for."""
        return False

    async def place_order(self, request: OrderRequest) -> VenueOrder:
        """``create_order`` with the request's client id; never retried."""
        if request.market is not Market.FUTURES:
            raise TerminalExchangeError(f"spot orders on {self.name}: not supported yet")
        market = await self._market(request.symbol)
        size = self._dec(market.get("contractSize") or 1, "contract size")
        amount = contracts_text(request.qty_base, size)
        price = None if request.price_usdt is None else plain(request.price_usdt)
        params: dict[str, Any] = {"clientOrderId": self._sent_id(request.client_order_id),
                                  "reduceOnly": request.reduce_only,
                                  **await self._order_params(market)}
        placed = await self._send_order(request, lambda: self._client.create_order(
            market["symbol"], request.order_type, request.side.order_side, amount, price, params
        ), lambda body: self._order(self._placement(body), market, request))
        return await self._placed(placed, request)

    def _placement(self, body: object) -> ReplyObject:
        """``create_order``'s reply: an order with the exchange's id (ccxt makes an order of
        Nones from a garbled body, which must not pass for an acknowledgement)."""
        order = self._reply(body, "create order")
        order.text("id")
        return order

    async def _order_params(self, market: dict[str, Any]) -> dict[str, Any]:
        """Extra params of ``create_order`` on ``market``."""
        return {}

    async def _placed(self, placed: VenueOrder, request: OrderRequest) -> VenueOrder:
        """The order as ``place_order`` reports it, from ``create_order``'s reply."""
        return placed

    async def fetch_order(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        """The order with this client id (``params.clientOrderId``), or None if unknown."""
        market = await self._market(symbol)
        action = f"fetch order {client_order_id}"
        return await self._read_as(action, lambda: (
            self._order_by_client_id(market, client_order_id)),
            lambda body: None if body is None else self._order(self._reply(body, action),
                                                                market))

    async def _order_by_client_id(self, market: dict[str, Any], client_order_id: str
                                  ) -> dict[str, Any] | None:
        """The ccxt order with this client id on ``market``, or None if unknown."""
        try:
            order: dict[str, Any] = await self._client.fetch_order(
                None, market["symbol"], {"clientOrderId": self._sent_id(client_order_id)}
            )
        except ccxt.OrderNotFound:
            return None
        return order

    async def cancel_order(self, symbol: str, client_order_id: str) -> VenueOrder:
        """Cancel by client id, then read the order back (cancel replies are sparse)."""
        market = await self._market(symbol)
        # Sent once; an uncertain outcome, like a clean one, is read back by client id.
        return await self._send_cancel(symbol, client_order_id, lambda: self._client.cancel_order(
            None, market["symbol"], {self._CLIENT_ID_PARAM: self._sent_id(client_order_id)}
        ), lambda _body: None)

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        """Open orders of ``symbol`` (or of every market when ccxt allows it)."""
        market = None if symbol is None else await self._market(symbol)
        unified = None if market is None else market["symbol"]
        return await self._read_as("fetch open orders", lambda: (
            self._client.fetch_open_orders(unified)), lambda body: [
                self._order(o, self._listed(o)) for o in self._replies(body, "fetch open orders")])

    async def add_margin(self, symbol: str, amount_usdt: Decimal) -> None:
        """Move USDT into the isolated position (sent once: a resend would move it twice)."""
        await self._move_margin(symbol, amount_usdt, "add")

    async def reduce_margin(self, symbol: str, amount_usdt: Decimal) -> None:
        """Take USDT out of the isolated position (sent once)."""
        await self._move_margin(symbol, amount_usdt, "reduce")

    async def _move_margin(self, symbol: str, amount_usdt: Decimal, kind: str) -> None:
        market = await self._market(symbol)
        action = f"{kind} {amount_usdt} USDT margin of {symbol}"
        await self._send_margin_move(market, amount_usdt, kind, action)

    async def _send_margin_move(self, market: dict[str, Any], amount_usdt: Decimal, kind: str,
                                action: str) -> None:
        """Send the margin move once (``kind``: "add" or "reduce")."""
        move = self._client.add_margin if kind == "add" else self._client.reduce_margin
        await self._send_money(action, lambda: move(market["symbol"], plain(amount_usdt)))

    async def transfer(self, amount_usdt: Decimal, *, to: Market) -> None:
        """Move USDT between the spot and swap wallets with ccxt's ``transfer`` (sent once)."""
        source = Market.SPOT if to is Market.FUTURES else Market.FUTURES
        names = self._TRANSFER_ACCOUNTS
        await self._send_money(f"transfer {amount_usdt} USDT to {to.value}", lambda: (
            self._client.transfer("USDT", plain(amount_usdt), names[source], names[to])
        ))

    async def funding_history(self, symbol: str, since_ms: int) -> list[FundingPayment]:
        """Settled funding from ``fetch_funding_history`` (positive: received)."""
        market = await self._market(symbol)
        params = self._funding_params(since_ms)
        action = f"fetch funding history of {symbol}"
        return await self._read_as(action, lambda: (
            self._client.fetch_funding_history(market["symbol"], since_ms, None, params)
        ), lambda body: [FundingPayment(symbol, r.integer("timestamp"), self._funding_amount(r))
                         for r in self._replies(body, action)])

    def _funding_params(self, since_ms: int) -> dict[str, Any]:
        """Extra params of ``fetch_funding_history`` from ``since_ms``."""
        return {}

    def _funding_amount(self, row: ReplyObject) -> Decimal:
        """A funding row's payment, positive when received."""
        return row.dec("amount")

    def _order(
        self, order: ReplyObject, market: dict[str, Any], request: OrderRequest | None = None
    ) -> VenueOrder:
        """A unified ccxt order as a VenueOrder (amounts in contracts → base units)."""
        size = self._dec(market.get("contractSize") or 1, "contract size")
        filled = order.dec("filled", 0) * size
        state = UNIFIED_STATES.get(order.text("status", ""), OrderState.SUBMITTED)
        if state is OrderState.SUBMITTED and filled > 0:
            state = OrderState.PARTIALLY_FILLED
        average, fee = order.opt_dec("average"), self._order_fee(order)
        side = order.text("side", request.side.order_side if request else "")
        if side not in ("buy", "sell"):
            raise order.error("side", f"expected buy or sell, got {side!r}")
        client_id = order.raw("clientOrderId") or (request.client_order_id if request else "")
        ts_key = "lastUpdateTimestamp" if order.raw("lastUpdateTimestamp") else "timestamp"
        return VenueOrder(
            client_order_id=self._engine_client_id(str(client_id)),
            exchange_order_id=order.text("id", ""),
            symbol=self._symbol(market),
            side=Side.LONG if side == "buy" else Side.SHORT,
            qty_base=(order.dec("amount") * size if order.has("amount")
                      else request.qty_base if request else filled),
            filled_qty_base=filled,
            avg_price_usdt=average if average and filled else None,
            state=state,
            fee_usdt=ZERO if fee is None else fee,
            reduce_only=bool(order.raw("reduceOnly")),
            ts_ms=order.integer(ts_key, 0),
        )

    def _order_fee(self, order: ReplyObject) -> Decimal | None:
        """The order's fee in USDT, or None."""
        fee_info = order.obj("fee", {})
        # A fee in another coin (a BNB/MNT discount) is not USDT: not counted as such.
        return fee_info.opt_dec("cost") if fee_info.raw("currency") in (None, "USDT") else None

    def _engine_client_id(self, client_id: str) -> str:
        """A client id read from the exchange as the engine's id."""
        return client_id

    def _sent_id(self, client_order_id: str) -> str:
        """The client id as the exchange takes it."""
        return client_order_id

    async def _mark_price(self, market: dict[str, Any]) -> Decimal:
        action = f"fetch mark price of {market['id']}"
        price = await self._read_as(action, lambda: (
            self._client.fetch_mark_price(market["symbol"])),
            lambda body: self._reply(body, action).dec("markPrice"))
        if price <= 0:
            raise MalformedReplyError(self._endpoint(action),
                                      f"markPrice: expected a price above 0, got {price}")
        return price
