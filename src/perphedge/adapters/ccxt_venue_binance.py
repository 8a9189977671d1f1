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

from decimal import Decimal
from functools import partial
from typing import Any

import ccxt

from perphedge.adapters import ccxt_venue_binance_parse as parse
from perphedge.adapters.ccxt_ledger_binance import BinanceLedgerReads
from perphedge.adapters.ccxt_market import (
    DEFAULT_FUNDING_INTERVAL_HOURS,
    binance_brackets,
    binance_funding_intervals,
    instrument_from_market,
)
from perphedge.adapters.ccxt_venue_base import CcxtVenueBase
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
_MARGIN_TYPES = {MarginMode.ISOLATED: "ISOLATED", MarginMode.CROSS: "CROSSED"}
_TRANSFER_TYPES = {Market.FUTURES: "MAIN_UMFUTURE", Market.SPOT: "UMFUTURE_MAIN"}


class BinanceUsdmVenue(BinanceLedgerReads, CcxtVenueBase):
    """A Binance USDⓈ-M account (and its spot wallet) as a ``Venue``; symbols like ``BTCUSDT``."""

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
                rows = await self._read(
                    "fetch funding info", self._client.fapiPublicGetFundingInfo
                )
            except ExchangeError:
                # Testnets and local exchanges may lack it; 8 h is Binance's unlisted default.
                rows = []
            self._intervals = binance_funding_intervals(rows)
        interval = self._intervals.get(symbol, DEFAULT_FUNDING_INTERVAL_HOURS)
        return instrument_from_market(market, interval)

    async def delivery_contracts(self, asset: str) -> list[Instrument]:
        """The quarterlies on ``asset`` open for trading (``exchangeInfo`` contractType), nearest
        expiry first. ccxt caches the markets: the listing is the one loaded first."""
        markets = await self._markets()
        out = [
            instrument_from_market(m, DEFAULT_FUNDING_INTERVAL_HOURS) for m in markets.values()
            if m.get("future") and m.get("linear") and m.get("active") is not False
            and str(m.get("base", "")).upper() == asset.upper()
            and str((m.get("info") or {}).get("status", "TRADING")) == "TRADING"
        ]
        return sorted(out, key=lambda i: i.expiry_ms or 0)

    async def brackets(self, symbol: str) -> BracketTable:
        """``GET /fapi/v1/leverageBracket`` (signed) with Binance's own ``cum``."""
        reply = await self._read(
            f"fetch leverage brackets of {symbol}",
            lambda: self._client.fapiPrivateGetLeverageBracket({"symbol": symbol}),
        )
        return binance_brackets(reply, symbol, self.name)

    # -- account ----------------------------------------------------------------------------

    async def account_modes(self) -> AccountModes:
        """``GET /fapi/v1/positionSide/dual`` and ``GET /fapi/v1/multiAssetsMargin``."""
        dual = await self._read(
            "fetch position mode", self._client.fapiPrivateGetPositionSideDual
        )
        multi = await self._read(
            "fetch multi-assets mode", self._client.fapiPrivateGetMultiAssetsMargin
        )
        return parse.account_modes(dual, multi)

    async def balances(self) -> VenueBalances:
        """USDⓈ-M wallet from ``GET /fapi/v2/account``; spot from ``GET /api/v3/account``."""
        futures = await self._read("fetch futures account", self._client.fapiPrivateV2GetAccount)
        spot = await self._read("fetch spot account", self._client.privateGetAccount)
        return parse.balances(futures, spot)

    async def positions(self) -> list[VenuePosition]:
        """Non-flat rows of ``GET /fapi/v2/positionRisk``."""
        rows = await self._read("fetch positions", self._client.fapiPrivateV2GetPositionRisk)
        return [p for p in map(parse.position, rows) if p is not None]

    async def mark_and_funding(self, symbol: str) -> MarkAndFunding:
        """``GET /fapi/v1/premiumIndex?symbol=``."""
        row = await self._read(
            f"fetch premium index of {symbol}",
            lambda: self._client.fapiPublicGetPremiumIndex({"symbol": symbol}),
        )
        return parse.mark_and_funding(row)

    async def spot_price(self, symbol: str) -> Decimal:
        """The ``ReadsSpotPrice`` port: ``GET /api/v3/ticker/price?symbol=`` (weight 2)."""
        row = await self._read(
            f"fetch spot price of {symbol}",
            lambda: self._client.publicGetTickerPrice({"symbol": symbol}),
        )
        return self._dec(row.get("price"), f"{symbol} spot price")

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
            out.extend((int(str(r["fundingTime"])), Decimal(str(r["fundingRate"])))
                       for r in rows)
            if len(rows) < FUNDING_RATE_PAGE:
                break
            start = int(str(rows[-1]["fundingTime"])) + 1
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
            payments.extend(parse.funding_payments(rows))
            if len(rows) < INCOME_PAGE:
                break
            start = int(str(rows[-1]["time"])) + 1
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
            info = await self._send_order(
                request, lambda: self._client.privatePostOrder(params)
            )
            return parse.order(info, parse.fee_usdt(info.get("fills") or []))
        if request.reduce_only:
            params["reduceOnly"] = "true"
        # RESULT: a market order's reply already says FILLED with its executed quantity.
        params["newOrderRespType"] = "RESULT"
        info = await self._send_order(request, lambda: self._client.fapiPrivatePostOrder(params))
        return parse.order(info)

    async def fetch_order(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        """``GET /fapi/v1/order?origClientOrderId=``; -2013 "Order does not exist." → None.

        The fee is the USDT commission of the order's trades (``/fapi/v1/userTrades``).
        """
        spot = client_order_id in self._spot_client_ids
        get_order = self._client.privateGetOrder if spot else self._client.fapiPrivateGetOrder
        params = {"symbol": symbol, "origClientOrderId": client_order_id}

        async def call() -> dict[str, Any] | None:
            try:
                info: dict[str, Any] = await get_order(params)
            except ccxt.OrderNotFound:
                return None
            return info

        info = await self._read(f"fetch order {client_order_id}", call)
        if info is None:
            return None
        fee = ZERO
        if parse.order(info).filled_qty_base > 0:
            get_trades = (
                self._client.privateGetMyTrades if spot else self._client.fapiPrivateGetUserTrades
            )
            trades = await self._read(
                f"fetch trades of order {client_order_id}",
                lambda: get_trades({"symbol": symbol, "orderId": info["orderId"]}),
            )
            fee = parse.fee_usdt(trades)
        return parse.order(info, fee)

    async def cancel_order(self, symbol: str, client_order_id: str) -> VenueOrder:
        """``DELETE /fapi/v1/order?origClientOrderId=``; sent once (a repeat answers -2011)."""
        spot = client_order_id in self._spot_client_ids
        delete = self._client.privateDeleteOrder if spot else self._client.fapiPrivateDeleteOrder
        info = await self._once(
            f"cancel order {client_order_id}",
            lambda: delete({"symbol": symbol, "origClientOrderId": client_order_id}),
        )
        return parse.order(info)

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        """``GET /fapi/v1/openOrders`` (futures only: the hedge's orders)."""
        params = {} if symbol is None else {"symbol": symbol}
        rows = await self._read(
            "fetch open orders", lambda: self._client.fapiPrivateGetOpenOrders(params)
        )
        return [parse.order(r) for r in rows]

    # -- money movements (sent once: a resend would move the money twice) -------------------

    async def add_margin(self, symbol: str, amount_usdt: Decimal) -> None:
        """``POST /fapi/v1/positionMargin`` type 1 (isolated positions only)."""
        await self._position_margin(symbol, amount_usdt, 1, "add")

    async def reduce_margin(self, symbol: str, amount_usdt: Decimal) -> None:
        """``POST /fapi/v1/positionMargin`` type 2."""
        await self._position_margin(symbol, amount_usdt, 2, "reduce")

    async def _position_margin(self, symbol: str, amount: Decimal, kind: int, verb: str) -> None:
        _check_amount(amount)
        reply = await self._once(
            f"{verb} {amount} USDT margin of {symbol}",
            lambda: self._client.fapiPrivatePostPositionMargin(
                {"symbol": symbol, "amount": parse.plain(amount), "type": kind}
            ),
        )
        # Binance answers {"code": 200, "msg": "Successfully modify position margin."}.
        if isinstance(reply, dict) and str(reply.get("code", "200")) != "200":
            raise TerminalExchangeError(f"{verb} margin of {symbol} on binance: {reply}")

    async def transfer(self, amount_usdt: Decimal, *, to: Market) -> None:
        """``POST /sapi/v1/asset/transfer`` MAIN_UMFUTURE (to futures) or UMFUTURE_MAIN."""
        _check_amount(amount_usdt)
        await self._once(
            f"transfer {amount_usdt} USDT to {to.value}",
            lambda: self._client.sapiPostAssetTransfer(
                {"type": _TRANSFER_TYPES[to], "asset": "USDT", "amount": parse.plain(amount_usdt)}
            ),
        )


def _check_amount(amount: Decimal) -> None:
    if not amount.is_finite() or amount <= 0:
        raise InputError("amount_usdt", "an amount greater than 0", str(amount))
