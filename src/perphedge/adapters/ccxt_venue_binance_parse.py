"""Binance USDⓈ-M and spot replies decoded into venue values, from the raw strings Binance sent.

Pure functions over the JSON ccxt hands back from Binance's raw endpoints (``/fapi/v2/
positionRisk``, ``/fapi/v2/account``, ``/fapi/v1/order``, ``/api/v3/account``, ...): every
amount is ``Decimal(raw string)``, never one of ccxt's floats.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from perphedge.adapters.ccxt_market import exchange_decimal
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
from perphedge.errors import DataError

__all__ = [
    "ORDER_STATES",
    "account_modes",
    "balances",
    "fee_usdt",
    "funding_payments",
    "mark_and_funding",
    "order",
    "plain",
    "position",
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


def _dec(value: object, what: str) -> Decimal:
    return exchange_decimal(value, f"binance {what}")


def plain(value: Decimal) -> str:
    """A Decimal as Binance accepts it: fixed point, never exponent notation.

    >>> plain(Decimal("1E+1")), plain(Decimal("0.00100"))
    ('10', '0.00100')
    """
    return format(value, "f")


def _bool(value: object) -> bool:
    # Binance sends JSON booleans; older endpoints (and some replays) send "true"/"false".
    return value is True or str(value).lower() == "true"


def order(info: Mapping[str, Any], fee: Decimal = ZERO) -> VenueOrder:
    """A futures or spot order reply (``/fapi/v1/order``, ``/api/v3/order``) as a VenueOrder.

    The average price is Binance's ``avgPrice`` (futures) or ``cummulativeQuoteQty /
    executedQty`` (spot, which sends no average); None while nothing is filled.
    """
    filled = _dec(info.get("executedQty", "0"), "executedQty")
    avg: Decimal | None = None
    if filled > 0:
        if "avgPrice" in info:
            avg = _dec(info["avgPrice"], "avgPrice")
        else:
            avg = _dec(info["cummulativeQuoteQty"], "cummulativeQuoteQty") / filled
    side = str(info.get("side", "")).upper()
    if side not in ("BUY", "SELL"):
        raise DataError(f"binance sent an order with side {side!r}")
    ts = info.get("updateTime") or info.get("transactTime") or info.get("time") or 0
    return VenueOrder(
        client_order_id=str(info.get("clientOrderId", "")),
        exchange_order_id=str(info.get("orderId", "")),
        symbol=str(info["symbol"]),
        side=Side.LONG if side == "BUY" else Side.SHORT,
        qty_base=_dec(info["origQty"], "origQty"),
        filled_qty_base=filled,
        avg_price_usdt=avg,
        state=ORDER_STATES.get(str(info.get("status")), OrderState.UNKNOWN),
        fee_usdt=fee,
        reduce_only=_bool(info.get("reduceOnly", False)),
        ts_ms=int(ts),
    )


def fee_usdt(fills: Iterable[Mapping[str, Any]]) -> Decimal:
    """Sum of the USDT commissions of trades or fills (others, e.g. BNB, are not USDT).

    >>> fee_usdt([{"commission": "0.14626840", "commissionAsset": "USDT"},
    ...           {"commission": "0.0001", "commissionAsset": "BNB"}])
    Decimal('0.14626840')
    """
    return sum(
        (_dec(f["commission"], "commission") for f in fills
         if f.get("commissionAsset") == SETTLE),
        ZERO,
    )


def position(row: Mapping[str, Any]) -> VenuePosition | None:
    """A ``/fapi/v2/positionRisk`` row as a VenuePosition; None for a flat row.

    The isolated margin is ``isolatedWallet`` (the margin without unrealised PnL, the balance
    Binance's liquidation formula uses); payloads without it give ``isolatedMargin −
    unRealizedProfit``, which is the same number.
    """
    qty = _dec(row["positionAmt"], "positionAmt")
    if qty == 0:
        return None
    upnl = _dec(row.get("unRealizedProfit", "0"), "unRealizedProfit")
    isolated = str(row.get("marginType", "cross")).lower() == "isolated"
    wallet = ZERO
    if isolated:
        wallet = (
            _dec(row["isolatedWallet"], "isolatedWallet") if "isolatedWallet" in row
            else _dec(row.get("isolatedMargin", "0"), "isolatedMargin") - upnl
        )
    liq = _dec(row.get("liquidationPrice", "0"), "liquidationPrice")
    return VenuePosition(
        symbol=str(row["symbol"]),
        qty_base=qty,
        entry_price_usdt=_dec(row["entryPrice"], "entryPrice"),
        mark_price_usdt=_dec(row["markPrice"], "markPrice"),
        margin_mode=MarginMode.ISOLATED if isolated else MarginMode.CROSS,
        leverage=int(str(row.get("leverage", "1"))),
        isolated_margin_usdt=wallet,
        unrealized_pnl_usdt=upnl,
        # Binance sends "0" when there is no liquidation price (e.g. fully collateralised).
        liquidation_price_usdt=liq if liq > 0 else None,
    )


def balances(futures_account: Mapping[str, Any], spot_account: Mapping[str, Any]) -> VenueBalances:
    """``/fapi/v2/account``'s USDT asset row and ``/api/v3/account``'s free balances.

    The USDT row, not the account totals: in multi-assets mode the totals are a USD value of
    every margin asset, while the hedge's margin and transfers are in USDT.
    """
    usdt = next(
        (a for a in futures_account.get("assets") or [] if a.get("asset") == SETTLE), None
    )
    wallet = ZERO if usdt is None else _dec(usdt["walletBalance"], "walletBalance")
    available = ZERO if usdt is None else _dec(usdt["availableBalance"], "availableBalance")
    spot: dict[str, Decimal] = {}
    for row in spot_account.get("balances") or []:
        free = _dec(row["free"], f"{row.get('asset')} free")
        if free != 0:
            spot[str(row["asset"])] = free
    return VenueBalances(spot, wallet, available)


def account_modes(dual: Mapping[str, Any], multi: Mapping[str, Any]) -> AccountModes:
    """``/fapi/v1/positionSide/dual`` and ``/fapi/v1/multiAssetsMargin`` replies."""
    return AccountModes(
        hedge_mode=_bool(dual.get("dualSidePosition")),
        multi_assets_margin=_bool(multi.get("multiAssetsMargin")),
    )


def mark_and_funding(row: Mapping[str, Any]) -> MarkAndFunding:
    """A ``/fapi/v1/premiumIndex`` reply for one symbol."""
    mark = _dec(row["markPrice"], "markPrice")
    if mark <= 0:
        raise DataError(f"{row.get('symbol')}: binance sent a mark price of {mark}")
    rate = row.get("lastFundingRate")
    next_ms = int(str(row.get("nextFundingTime") or 0))
    return MarkAndFunding(
        symbol=str(row["symbol"]),
        mark_price_usdt=mark,
        funding_rate=None if rate in (None, "") else _dec(rate, "lastFundingRate"),
        # Delivery contracts answer 0: no next funding.
        next_funding_ms=next_ms or None,
        ts_ms=int(str(row["time"])),
    )


def funding_payments(rows: Iterable[Mapping[str, Any]]) -> list[FundingPayment]:
    """``/fapi/v1/income`` FUNDING_FEE rows (Binance's sign: positive is received)."""
    return [
        FundingPayment(str(r["symbol"]), int(str(r["time"])), _dec(r["income"], "income"))
        for r in rows
        if r.get("incomeType") == "FUNDING_FEE" and r.get("asset", SETTLE) == SETTLE
    ]
