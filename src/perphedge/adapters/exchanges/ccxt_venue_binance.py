"""Binance USDⓈ-M as a Venue, through ccxt's raw endpoint methods on one ``binanceusdm`` client.

Raw endpoints rather than the unified methods, for three reasons: amounts go out as exact
Decimal strings (no float and no ccxt re-rounding), every value comes back as the string
Binance sent, and the v2 ``positionRisk`` reports ``marginType``, ``leverage`` and
``isolatedWallet`` in one call (ccxt's ``fetch_positions`` uses v3, which lacks them).

One client serves both wallets: ``binanceusdm`` also carries Binance's spot (``/api/v3``) and
``/sapi`` URLs, and the base-URL override re-roots them all, so a local exchange that speaks
both APIs needs a single address.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from functools import partial
from typing import Any, ClassVar

import ccxt

from perphedge.adapters.exchanges import ccxt_venue_binance_parse as parse
from perphedge.adapters.exchanges.ccxt_ledger_binance import BinanceLedgerReads
from perphedge.adapters.exchanges.ccxt_market import (
    DEFAULT_FUNDING_INTERVAL_HOURS,
    EXCHANGE_INFO,
    binance_brackets,
    binance_funding_intervals,
    instrument_from_market,
)
from perphedge.adapters.exchanges.ccxt_reply import reply_object
from perphedge.adapters.exchanges.ccxt_venue_base import CcxtVenueBase
from perphedge.domain.brackets import BracketTable
from perphedge.domain.instrument import Instrument
from perphedge.domain.money import ZERO
from perphedge.domain.types import MarginMode
from perphedge.engine.venue import (
    AccountModes,
    FundingPayment,
    MarkAndFunding,
    Market,
    OrderRequest,
    VenueBalances,
    VenueOrder,
    VenuePosition,
)
from perphedge.errors import ExchangeError, InputError, TerminalExchangeError

__all__ = ["BinanceUsdmVenue"]

#: ``/fapi/v1/income`` returns at most 1000 rows a page; 20 pages bound one call.
INCOME_PAGE = 1000
MAX_INCOME_PAGES = 20
FUNDING_RATE_PAGE = 1000  # /fapi/v1/fundingRate: at most 1,000 rows a call
#: The requests each method makes, as named in a malformed-reply error.
PREMIUM_INDEX = "GET /fapi/v1/premiumIndex"
POSITION_RISK = "GET /fapi/v2/positionRisk"
FUTURES_ACCOUNT = "GET /fapi/v2/account"
SPOT_ACCOUNT = "GET /api/v3/account"
POSITION_SIDE = "GET /fapi/v1/positionSide/dual"
MULTI_ASSETS = "GET /fapi/v1/multiAssetsMargin"
SPOT_TICKER = "GET /api/v3/ticker/price"
FUNDING_RATE = "GET /fapi/v1/fundingRate"
INCOME = "GET /fapi/v1/income"
OPEN_ORDERS = "GET /fapi/v1/openOrders"
POSITION_MARGIN = "POST /fapi/v1/positionMargin"
_MARGIN_TYPES = {MarginMode.ISOLATED: "ISOLATED", MarginMode.CROSS: "CROSSED"}
_TRANSFER_TYPES = {Market.FUTURES: "MAIN_UMFUTURE", Market.SPOT: "UMFUTURE_MAIN"}


class BinanceUsdmVenue(BinanceLedgerReads, CcxtVenueBase):
    """A Binance USDⓈ-M account (and its spot wallet) as a ``Venue``; symbols like ``BTCUSDT``."""

    _MARKETS_ENDPOINT: ClassVar[str] = EXCHANGE_INFO

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self._intervals: dict[str, int] | None = None
        # The port's fetch/cancel carry no market; ids this venue sent to spot are routed there.
        self._spot_client_ids: set[str] = set()

    # -- specs ------------------------------------------------------------------------------

    async def instrument(self, symbol: str) -> Instrument:
        """Filters from ``exchangeInfo`` strings; funding interval from ``fundingInfo``."""
        market = await self._market(symbol)
        if self._intervals is None:
            try:
                self._intervals = await self._read_as(
                    "fetch funding info", self._client.fapiPublicGetFundingInfo,
                    binance_funding_intervals)
            except ExchangeError:
                # Testnets and local exchanges may lack it; 8 h is Binance's unlisted default.
                self._intervals = {}
        interval = self._intervals.get(symbol, DEFAULT_FUNDING_INTERVAL_HOURS)
        return instrument_from_market(market, interval)

    async def delivery_contracts(self, asset: str) -> list[Instrument]:
        """The quarterlies on ``asset`` open for trading (``exchangeInfo`` contractType), nearest
        expiry first. ccxt caches the markets: the listing is the one loaded first."""
        markets = await self._markets()
        out = [
            instrument_from_market(m, DEFAULT_FUNDING_INTERVAL_HOURS) for m in markets.values()
            if isinstance(m, dict) and m.get("future") and m.get("linear")
            and m.get("active") is not False and str(m.get("base", "")).upper() == asset.upper()
            and isinstance(m.get("info"), dict)
            and str(m["info"].get("status", "TRADING")) == "TRADING"
        ]
        return sorted(out, key=lambda i: i.expiry_ms or 0)

    async def brackets(self, symbol: str) -> BracketTable:
        """``GET /fapi/v1/leverageBracket`` (signed) with Binance's own ``cum``."""
        return await self._read_as(
            f"fetch leverage brackets of {symbol}",
            lambda: self._client.fapiPrivateGetLeverageBracket({"symbol": symbol}),
            lambda reply: binance_brackets(reply, symbol, self.name),
        )

    # -- account ----------------------------------------------------------------------------

    async def account_modes(self) -> AccountModes:
        """``GET /fapi/v1/positionSide/dual`` and ``GET /fapi/v1/multiAssetsMargin``."""
        dual = await self._read(
            "fetch position mode", self._client.fapiPrivateGetPositionSideDual
        )
        multi = await self._read(
            "fetch multi-assets mode", self._client.fapiPrivateGetMultiAssetsMargin
        )
        return parse.account_modes(dual, multi, POSITION_SIDE, MULTI_ASSETS)

    async def balances(self) -> VenueBalances:
        """USDⓈ-M wallet from ``GET /fapi/v2/account``; spot from ``GET /api/v3/account``."""
        futures = await self._read("fetch futures account", self._client.fapiPrivateV2GetAccount)
        spot = await self._read("fetch spot account", self._client.privateGetAccount)
        return parse.balances(futures, spot, FUTURES_ACCOUNT, SPOT_ACCOUNT)

    async def positions(self) -> list[VenuePosition]:
        """Non-flat rows of ``GET /fapi/v2/positionRisk``."""
        return await self._read_as("fetch positions", self._client.fapiPrivateV2GetPositionRisk,
                                   partial(parse.positions, endpoint=POSITION_RISK))

    async def mark_and_funding(self, symbol: str) -> MarkAndFunding:
        """``GET /fapi/v1/premiumIndex?symbol=``."""
        return await self._read_as(
            f"fetch premium index of {symbol}",
            lambda: self._client.fapiPublicGetPremiumIndex({"symbol": symbol}),
            partial(parse.mark_and_funding, endpoint=PREMIUM_INDEX),
        )

    async def spot_price(self, symbol: str) -> Decimal:
        """The ``ReadsSpotPrice`` port: ``GET /api/v3/ticker/price?symbol=`` (weight 2)."""
        return await self._read_as(
            f"fetch spot price of {symbol}",
            lambda: self._client.publicGetTickerPrice({"symbol": symbol}),
            partial(parse.spot_price, endpoint=SPOT_TICKER),
        )

    async def funding_rates(self, symbol: str, since_ms: int) -> list[tuple[int, Decimal]]:
        """``GET /fapi/v1/fundingRate?symbol=&startTime=`` (public), 1,000 rows a page."""
        out: list[tuple[int, Decimal]] = []
        start = since_ms
        for _ in range(MAX_INCOME_PAGES):
            params = {"symbol": symbol, "startTime": start, "limit": FUNDING_RATE_PAGE}
            rows = await self._read(
                f"fetch funding rates of {symbol}",
                partial(self._client.fapiPublicGetFundingRate, params),
            )
            page = parse.funding_rates(rows, FUNDING_RATE)
            out.extend(page)
            if len(page) < FUNDING_RATE_PAGE:
                break
            start = page[-1][0] + 1
        return out

    async def funding_history(self, symbol: str, since_ms: int) -> list[FundingPayment]:
        """``GET /fapi/v1/income`` FUNDING_FEE rows from ``since_ms``, page by page."""
        payments: list[FundingPayment] = []
        start = since_ms
        for _ in range(MAX_INCOME_PAGES):
            params = {"symbol": symbol, "incomeType": "FUNDING_FEE", "startTime": start,
                      "limit": INCOME_PAGE}
            rows = await self._read(
                f"fetch funding income of {symbol}",
                partial(self._client.fapiPrivateGetIncome, params),
            )
            payments.extend(parse.funding_payments(rows, INCOME))
            if len(rows) < INCOME_PAGE:
                break
            start = parse.last_time(rows, INCOME, "time") + 1
        return payments

    # -- settings ---------------------------------------------------------------------------

    async def set_margin_mode(self, symbol: str, mode: MarginMode) -> None:
        """``POST /fapi/v1/marginType``; -4046 "No need to change margin type." is success."""
        params = {"symbol": symbol, "marginType": _MARGIN_TYPES[mode]}

        async def call() -> None:
            try:
                await self._client.fapiPrivatePostMarginType(params)
            except ccxt.MarginModeAlreadySet:
                return  # ccxt's name for -4046
            except ccxt.BadRequest as err:
                # Matched by code too: ccxt matches -4046 by its exact message only.
                if '"code":-4046' not in str(err).replace(" ", ""):
                    raise

        await self._read(f"set margin mode of {symbol} to {mode.value}", call)

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        """``POST /fapi/v1/leverage`` (idempotent, so retried like a read)."""
        if leverage < 1:
            raise InputError("leverage", "an integer of at least 1", leverage)
        await self._read(
            f"set leverage of {symbol} to {leverage}",
            lambda: self._client.fapiPrivatePostLeverage(
                {"symbol": symbol, "leverage": leverage}
            ),
        )

    # -- orders -----------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> VenueOrder:
        """``POST /fapi/v1/order`` (or ``/api/v3/order`` for spot) with ``newClientOrderId``.

        Sent once. ``fee_usdt`` is what the reply reports: spot FULL replies list their fills;
        futures replies carry no commission, so it is 0 here and ``fetch_order`` has the fee.
        """
        params: dict[str, Any] = {
            "symbol": request.symbol,
            "side": request.side.order_side.upper(),
            "type": request.order_type.upper(),
            "quantity": parse.plain(request.qty_base),
            "newClientOrderId": request.client_order_id,
        }
        if request.order_type == "limit" and request.price_usdt is not None:
            params["price"] = parse.plain(request.price_usdt)
            params["timeInForce"] = "GTC"
        if request.market is Market.SPOT:
            if request.reduce_only:
                raise InputError("reduce_only", "False for a spot order", True)
            params["newOrderRespType"] = "FULL"
            self._spot_client_ids.add(request.client_order_id)
            return await self._send_order(
                request, lambda: self._client.privatePostOrder(params), _spot_order_reply)
        if request.reduce_only:
            params["reduceOnly"] = "true"
        # RESULT: a market order's reply already says FILLED with its executed quantity.
        params["newOrderRespType"] = "RESULT"
        return await self._send_order(request, lambda: self._client.fapiPrivatePostOrder(params),
                                      partial(parse.order, endpoint="POST /fapi/v1/order"))

    async def fetch_order(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        """``GET /fapi/v1/order?origClientOrderId=``; -2013 "Order does not exist." → None.

        An id this venue did not send to spot and the futures API does not know is asked for
        at ``GET /api/v3/order`` too: a spot order sent by a process that was then killed
        (the ids this venue routes to spot live in memory) would otherwise look never sent.
        The fee is the USDT commission of the order's trades (``/fapi/v1/userTrades``).
        """
        spot = client_order_id in self._spot_client_ids
        found = await self._fetch_one(symbol, client_order_id, spot=spot)
        if found is None and not spot:
            found = await self._fetch_one(symbol, client_order_id, spot=True)
            if found is not None:
                spot = True
                self._spot_client_ids.add(client_order_id)
        if found is None or found.filled_qty_base <= 0:
            return found
        get_trades = (
            self._client.privateGetMyTrades if spot else self._client.fapiPrivateGetUserTrades
        )
        fee = await self._read_as(
            f"fetch trades of order {client_order_id}",
            lambda: get_trades({"symbol": symbol, "orderId": found.exchange_order_id}),
            partial(parse.fee_usdt,
                    endpoint="GET /api/v3/myTrades" if spot else "GET /fapi/v1/userTrades"),
        )
        return replace(found, fee_usdt=fee)

    async def _fetch_one(self, symbol: str, client_order_id: str, *,
                         spot: bool) -> VenueOrder | None:
        get_order = self._client.privateGetOrder if spot else self._client.fapiPrivateGetOrder
        params = {"symbol": symbol, "origClientOrderId": client_order_id}
        endpoint = "GET /api/v3/order" if spot else "GET /fapi/v1/order"

        async def call() -> object:
            try:
                return await get_order(params)
            except ccxt.OrderNotFound:
                return None

        return await self._read_as(
            f"fetch order {client_order_id}", call,
            lambda info: None if info is None else parse.order(info, endpoint))

    async def cancel_order(self, symbol: str, client_order_id: str) -> VenueOrder:
        """``DELETE /fapi/v1/order?origClientOrderId=``; sent once (a repeat answers -2011)."""
        spot = client_order_id in self._spot_client_ids
        delete = self._client.privateDeleteOrder if spot else self._client.fapiPrivateDeleteOrder
        endpoint = "DELETE /api/v3/order" if spot else "DELETE /fapi/v1/order"
        return await self._send_cancel(
            symbol, client_order_id,
            lambda: delete({"symbol": symbol, "origClientOrderId": client_order_id}),
            partial(parse.order, endpoint=endpoint),
        )

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        """``GET /fapi/v1/openOrders`` (futures only: the hedge's orders)."""
        params = {} if symbol is None else {"symbol": symbol}
        return await self._read_as(
            "fetch open orders", lambda: self._client.fapiPrivateGetOpenOrders(params),
            partial(parse.open_orders, endpoint=OPEN_ORDERS),
        )

    # -- money movements (sent once: a resend would move the money twice) -------------------

    async def add_margin(self, symbol: str, amount_usdt: Decimal) -> None:
        """``POST /fapi/v1/positionMargin`` type 1 (isolated positions only)."""
        await self._position_margin(symbol, amount_usdt, 1, "add")

    async def reduce_margin(self, symbol: str, amount_usdt: Decimal) -> None:
        """``POST /fapi/v1/positionMargin`` type 2."""
        await self._position_margin(symbol, amount_usdt, 2, "reduce")

    async def _position_margin(self, symbol: str, amount: Decimal, kind: int, verb: str) -> None:
        _check_amount(amount)
        reply = await self._send_money(
            f"{verb} {amount} USDT margin of {symbol}",
            lambda: self._client.fapiPrivatePostPositionMargin(
                {"symbol": symbol, "amount": parse.plain(amount), "type": kind}
            ),
        )
        # Binance answers {"code": 200, "msg": "Successfully modify position margin."}.
        code = reply_object(reply, POSITION_MARGIN).text("code", "200")
        if code != "200":
            raise TerminalExchangeError(f"{verb} margin of {symbol} on binance: {reply}")

    async def transfer(self, amount_usdt: Decimal, *, to: Market) -> None:
        """``POST /sapi/v1/asset/transfer`` MAIN_UMFUTURE (to futures) or UMFUTURE_MAIN."""
        _check_amount(amount_usdt)
        await self._send_money(
            f"transfer {amount_usdt} USDT to {to.value}",
            lambda: self._client.sapiPostAssetTransfer(
                {"type": _TRANSFER_TYPES[to], "asset": "USDT", "amount": parse.plain(amount_usdt)}
            ),
        )


def _check_amount(amount: Decimal) -> None:
    if not amount.is_finite() or amount <= 0:
        raise InputError("amount_usdt", "an amount greater than 0", str(amount))


def _spot_order_reply(info: object) -> VenueOrder:
    """A spot FULL reply: the order, with the USDT fee of the fills it lists."""
    endpoint = "POST /api/v3/order"
    fills = reply_object(info, endpoint).objects("fills", required=False)
    fee = sum((f.dec("commission") for f in fills if f.raw("commissionAsset") == parse.SETTLE),
              ZERO)
    return parse.order(info, endpoint, fee)
