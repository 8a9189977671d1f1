"""Binance USDⓈ-M and spot replies decoded into venue values, from the raw strings Binance sent.

Pure functions over the JSON ccxt hands back from Binance's raw endpoints (``/fapi/v2/
positionRisk``, ``/fapi/v2/account``, ``/fapi/v1/order``, ``/api/v3/account``, ...): every
amount is ``Decimal(raw string)``, never one of ccxt's floats. Each takes the endpoint it reads
(``"GET /fapi/v1/premiumIndex"``) and reads the body through
:mod:`perphedge.adapters.exchanges.ccxt_reply`, so a body of the wrong shape is a
``MalformedReplyError`` naming that endpoint and the key, never a ``TypeError``.
"""

from __future__ import annotations

from decimal import Decimal

from perphedge.adapters.exchanges.ccxt_reply import ReplyObject, reply_list, reply_object
from perphedge.domain.money import ZERO
from perphedge.domain.types import MarginMode, Side
from perphedge.engine.venue import (
    AccountModes,
    FundingPayment,
    MarkAndFunding,
    OrderState,
    VenueBalances,
    VenueOrder,
    VenuePosition,
)
from perphedge.errors import MalformedReplyError

__all__ = [
    "ORDER_STATES",
    "account_modes",
    "balances",
    "fee_usdt",
    "funding_payments",
    "funding_rates",
    "last_time",
    "mark_and_funding",
    "open_orders",
    "order",
    "order_row",
    "plain",
    "position",
    "positions",
    "spot_price",
]

#: Binance order status → ours. EXPIRED (IOC/market leftovers, self-trade prevention) can no
#: longer fill, so it is final like CANCELED; ``filled_qty_base`` keeps any partial fill.
ORDER_STATES = {
    "NEW": OrderState.SUBMITTED,
    "PARTIALLY_FILLED": OrderState.PARTIALLY_FILLED,
    "FILLED": OrderState.FILLED,
    "CANCELED": OrderState.CANCELED,
    "PENDING_CANCEL": OrderState.SUBMITTED,
    "REJECTED": OrderState.REJECTED,
    "EXPIRED": OrderState.CANCELED,
    "EXPIRED_IN_MATCH": OrderState.CANCELED,
}
SETTLE = "USDT"


def plain(value: Decimal) -> str:
    """A Decimal as Binance accepts it: fixed point, never exponent notation.

    >>> plain(Decimal("1E+1")), plain(Decimal("0.00100"))
    ('10', '0.00100')
    """
    return format(value, "f")


def order(body: object, endpoint: str, fee: Decimal = ZERO) -> VenueOrder:
    """A futures or spot order reply (``/fapi/v1/order``, ``/api/v3/order``) as a VenueOrder.

    The average price is Binance's ``avgPrice`` (futures) or ``cummulativeQuoteQty /
    executedQty`` (spot, which sends no average); None while nothing is filled.
    """
    return order_row(reply_object(body, endpoint), fee)


def order_row(info: ReplyObject, fee: Decimal = ZERO) -> VenueOrder:
    """One checked order object (a reply, or a row of ``openOrders``) as a VenueOrder."""
    filled = info.dec("executedQty", "0")
    avg: Decimal | None = None
    if filled > 0:
        avg = (info.dec("avgPrice") if info.has("avgPrice")
               else info.dec("cummulativeQuoteQty") / filled)
    side = info.text("side").upper()
    if side not in ("BUY", "SELL"):
        raise info.error("side", f"expected BUY or SELL, got {side!r}")
    ts_key = next((k for k in ("updateTime", "transactTime", "time") if info.raw(k)), None)
    return VenueOrder(
        client_order_id=info.text("clientOrderId", ""),
        exchange_order_id=info.text("orderId", ""),
        symbol=info.text("symbol"),
        side=Side.LONG if side == "BUY" else Side.SHORT,
        qty_base=info.dec("origQty"),
        filled_qty_base=filled,
        avg_price_usdt=avg,
        state=ORDER_STATES.get(info.text("status", ""), OrderState.UNKNOWN),
        fee_usdt=fee,
        reduce_only=info.flag("reduceOnly"),
        ts_ms=0 if ts_key is None else info.integer(ts_key),
    )


def open_orders(body: object, endpoint: str) -> list[VenueOrder]:
    """A ``/fapi/v1/openOrders`` reply: a list of order objects."""
    return [order_row(row) for row in reply_list(body, endpoint)]


def fee_usdt(body: object, endpoint: str) -> Decimal:
    """Sum of the USDT commissions of trades or fills (others, e.g. BNB, are not USDT).

    >>> fee_usdt([{"commission": "0.14626840", "commissionAsset": "USDT"},
    ...           {"commission": "0.0001", "commissionAsset": "BNB"}], "GET /fapi/v1/userTrades")
    Decimal('0.14626840')
    """
    return sum((f.dec("commission") for f in reply_list(body, endpoint)
                if f.raw("commissionAsset") == SETTLE), ZERO)


def positions(body: object, endpoint: str) -> list[VenuePosition]:
    """The non-flat rows of a ``/fapi/v2/positionRisk`` reply.

    v2 lists every symbol of the account, flat ones included (``positionAmt`` "0"), so an
    empty list is not "no position": it is a garbled reply, and taking it as flat would make
    a held hedge look gone (a halt, or a liquidation adopted that never happened).
    """
    rows = reply_list(body, endpoint)
    if not rows:
        raise MalformedReplyError(endpoint, "expected a row per symbol (v2 lists flat ones "
                                  "too), got an empty list")
    return [p for p in map(position, rows) if p is not None]


def position(row: ReplyObject) -> VenuePosition | None:
    """A ``/fapi/v2/positionRisk`` row as a VenuePosition; None for a flat row.

    The isolated margin is ``isolatedWallet`` (the margin without unrealised PnL, the balance
    Binance's liquidation formula uses); payloads without it give ``isolatedMargin −
    unRealizedProfit``, which is the same number.
    """
    qty = row.dec("positionAmt")
    if qty == 0:
        return None
    upnl = row.dec("unRealizedProfit", "0")
    isolated = row.text("marginType", "cross").lower() == "isolated"
    wallet = ZERO
    if isolated:
        wallet = (row.dec("isolatedWallet") if row.has("isolatedWallet")
                  else row.dec("isolatedMargin", "0") - upnl)
    liq = row.dec("liquidationPrice", "0")
    return VenuePosition(
        symbol=row.text("symbol"),
        qty_base=qty,
        entry_price_usdt=row.dec("entryPrice"),
        mark_price_usdt=row.dec("markPrice"),
        margin_mode=MarginMode.ISOLATED if isolated else MarginMode.CROSS,
        leverage=row.integer("leverage", 1),
        isolated_margin_usdt=wallet,
        unrealized_pnl_usdt=upnl,
        # Binance sends "0" when there is no liquidation price (e.g. fully collateralised).
        liquidation_price_usdt=liq if liq > 0 else None,
    )


def balances(futures_body: object, spot_body: object, futures_endpoint: str,
             spot_endpoint: str) -> VenueBalances:
    """``/fapi/v2/account``'s USDT asset row and ``/api/v3/account``'s free balances.

    The USDT row, not the account totals: in multi-assets mode the totals are a USD value of
    every margin asset, while the hedge's margin and transfers are in USDT.
    """
    futures = reply_object(futures_body, futures_endpoint)
    usdt = next((a for a in futures.objects("assets") if a.raw("asset") == SETTLE), None)
    wallet = ZERO if usdt is None else usdt.dec("walletBalance")
    available = ZERO if usdt is None else usdt.dec("availableBalance")
    spot: dict[str, Decimal] = {}
    for row in reply_object(spot_body, spot_endpoint).objects("balances"):
        free = row.dec("free")
        if free != 0:
            spot[row.text("asset")] = free
    return VenueBalances(spot, wallet, available)


def account_modes(dual: object, multi: object, dual_endpoint: str,
                  multi_endpoint: str) -> AccountModes:
    """``/fapi/v1/positionSide/dual`` and ``/fapi/v1/multiAssetsMargin`` replies."""
    return AccountModes(
        hedge_mode=reply_object(dual, dual_endpoint).flag("dualSidePosition"),
        multi_assets_margin=reply_object(multi, multi_endpoint).flag("multiAssetsMargin"),
    )


def mark_and_funding(body: object, endpoint: str) -> MarkAndFunding:
    """A ``/fapi/v1/premiumIndex`` reply for one symbol."""
    row = reply_object(body, endpoint)
    mark = row.dec("markPrice")
    if mark <= 0:
        raise row.error("markPrice", f"expected a price above 0, got {mark}")
    next_ms = row.integer("nextFundingTime", 0)
    return MarkAndFunding(
        symbol=row.text("symbol"),
        mark_price_usdt=mark,
        funding_rate=row.opt_dec("lastFundingRate"),
        # Delivery contracts answer 0: no next funding.
        next_funding_ms=next_ms or None,
        ts_ms=row.integer("time"),
    )


def spot_price(body: object, endpoint: str) -> Decimal:
    """A ``/api/v3/ticker/price`` reply: its ``price``, above 0."""
    row = reply_object(body, endpoint)
    price = row.dec("price")
    if price <= 0:
        raise row.error("price", f"expected a price above 0, got {price}")
    return price


def funding_rates(body: object, endpoint: str) -> list[tuple[int, Decimal]]:
    """A ``/fapi/v1/fundingRate`` page: (fundingTime, fundingRate) per row."""
    return [(r.integer("fundingTime"), r.dec("fundingRate")) for r in reply_list(body, endpoint)]


def funding_payments(body: object, endpoint: str) -> list[FundingPayment]:
    """``/fapi/v1/income`` FUNDING_FEE rows (Binance's sign: positive is received)."""
    return [
        FundingPayment(r.text("symbol"), r.integer("time"), r.dec("income"))
        for r in reply_list(body, endpoint)
        if r.raw("incomeType") == "FUNDING_FEE" and r.raw("asset") in (None, SETTLE)
    ]


def last_time(body: object, endpoint: str, key: str) -> int:
    """The ``key`` time of a page's last row (the next page starts after it)."""
    return reply_list(body, endpoint)[-1].integer(key)
