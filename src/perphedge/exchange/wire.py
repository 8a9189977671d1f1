"""Our values → Binance JSON, built only here. Numbers go out as strings, as Binance sends them.

Field names and types follow the recorded Binance responses in ``shared/data/api_fixtures``
(USDⓈ-M ``/fapi/v2|v3/account``, ``/fapi/v3/positionRisk``, ``/fapi/v1/order``,
``/fapi/v1/userTrades``, ``/fapi/v1/income``; spot ``/api/v3/order`` and ``/api/v3/account``).
Leverage brackets are the exception: Binance sends those as JSON numbers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from perphedge.domain.brackets import BracketTable
from perphedge.domain.instrument import Instrument
from perphedge.domain.money import ZERO, plain
from perphedge.exchange.orders import OrderRecord, TradeRecord
from perphedge.sim.account import LedgerEntry, SimAccount, SimPosition

__all__ = [
    "amount", "futures_account", "futures_order", "futures_trade", "income", "kline_row",
    "leverage_brackets", "position_risk_v2", "position_risk_v3", "spot_account", "spot_order",
    "spot_trade",
]

_EIGHT = Decimal("0.00000001")


def amount(value: Decimal) -> str:
    """A USDT amount with Binance's eight decimals, never in exponent form.

    >>> amount(Decimal("1.5")), amount(Decimal(0)), amount(Decimal("-0"))
    ('1.50000000', '0.00000000', '0.00000000')
    """
    # ``+ 0`` drops a negative zero; "f" keeps zero as "0.00000000" (str gives "0E-8").
    return format(value.quantize(_EIGHT) + 0, "f")


def _steps(value: Decimal, step: Decimal) -> str:
    """``value`` with as many decimals as ``step`` (``0.10`` → two): Binance's price strings."""
    return str(value.quantize(step.normalize() if step < 1 else Decimal(1)))


def _number(value: Decimal) -> int | float:
    """A JSON number for the few fields Binance sends unquoted."""
    return int(value) if value == value.to_integral_value() else float(value)


def _position_numbers(account: SimAccount, pos: SimPosition, mark: Decimal) -> dict[str, str]:
    notional = pos.qty_base * mark
    upnl = account.unrealized_pnl(pos.symbol, mark)
    initial = abs(notional) / Decimal(pos.leverage)
    maint = account.maintenance_margin(pos.symbol, mark) if pos.qty_base else ZERO
    liq = account.liquidation_price(pos.symbol)
    isolated = pos.isolated_margin_usdt
    return {
        "positionAmt": plain(pos.qty_base),
        "entryPrice": plain(pos.entry_price),
        "breakEvenPrice": plain(pos.entry_price),
        "markPrice": amount(mark),
        "unRealizedProfit": amount(upnl),
        "liquidationPrice": amount(max(liq, ZERO)) if liq is not None else "0",
        "notional": amount(notional),
        "isolatedMargin": amount(isolated + upnl if isolated else ZERO),
        "isolatedWallet": amount(isolated),
        "initialMargin": amount(initial),
        "maintMargin": amount(maint),
        "positionInitialMargin": amount(initial),
    }


def position_risk_v3(
    account: SimAccount, pos: SimPosition, mark: Decimal, ts: int
) -> dict[str, Any]:
    """One ``/fapi/v3/positionRisk`` row (v3 lists only open positions)."""
    return {
        "symbol": pos.symbol, "positionSide": "BOTH", **_position_numbers(account, pos, mark),
        "marginAsset": "USDT", "openOrderInitialMargin": "0", "adl": "0", "bidNotional": "0",
        "askNotional": "0", "updateTime": ts,
    }


def position_risk_v2(
    account: SimAccount, pos: SimPosition, mark: Decimal, ts: int, max_notional: Decimal
) -> dict[str, Any]:
    """One ``/fapi/v2/positionRisk`` row (v2 also lists flat symbols with their settings)."""
    numbers = _position_numbers(account, pos, mark)
    return {
        "symbol": pos.symbol, **{k: numbers[k] for k in (
            "positionAmt", "entryPrice", "breakEvenPrice", "markPrice", "unRealizedProfit",
            "liquidationPrice", "notional", "isolatedMargin", "isolatedWallet")},
        "leverage": str(pos.leverage), "maxNotionalValue": plain(max_notional),
        "marginType": "isolated" if pos.margin_mode.value == "isolated" else "cross",
        "isAutoAddMargin": "false", "positionSide": "BOTH", "updateTime": ts,
    }


def futures_account(
    account: SimAccount, marks: dict[str, Decimal], ts: int
) -> dict[str, Any]:
    """``/fapi/v2/account`` (and v3): totals, the USDT asset and every symbol's position."""
    positions = [account.position(s) for s in sorted(marks)]
    isolated = sum((p.isolated_margin_usdt for p in positions), ZERO)
    upnl = sum((account.unrealized_pnl(p.symbol, marks[p.symbol]) for p in positions), ZERO)
    initial = sum((abs(p.qty_base) * marks[p.symbol] / p.leverage for p in positions), ZERO)
    maint = sum((account.maintenance_margin(p.symbol, marks[p.symbol])
                 for p in positions if p.qty_base), ZERO)
    wallet = account.futures_wallet_usdt + isolated
    available = max(account.available_usdt(), ZERO)
    totals = {
        "totalInitialMargin": amount(initial), "totalMaintMargin": amount(maint),
        "totalWalletBalance": amount(wallet), "totalUnrealizedProfit": amount(upnl),
        "totalMarginBalance": amount(wallet + upnl), "totalPositionInitialMargin": amount(initial),
        "totalOpenOrderInitialMargin": amount(ZERO),
        "totalCrossWalletBalance": amount(account.futures_wallet_usdt),
        "totalCrossUnPnl": amount(upnl), "availableBalance": amount(available),
        "maxWithdrawAmount": amount(available),
    }
    asset = {
        "asset": "USDT", "walletBalance": totals["totalWalletBalance"],
        "unrealizedProfit": totals["totalUnrealizedProfit"],
        "marginBalance": totals["totalMarginBalance"], "maintMargin": totals["totalMaintMargin"],
        "initialMargin": totals["totalInitialMargin"],
        "positionInitialMargin": totals["totalInitialMargin"], "openOrderInitialMargin": "0",
        "crossWalletBalance": totals["totalCrossWalletBalance"],
        "crossUnPnl": totals["totalCrossUnPnl"], "availableBalance": totals["availableBalance"],
        "maxWithdrawAmount": totals["maxWithdrawAmount"], "marginAvailable": True,
        "updateTime": ts,
    }
    rows = [{
        "symbol": p.symbol, "initialMargin": amount(abs(p.qty_base) * marks[p.symbol] / p.leverage),
        "maintMargin": amount(account.maintenance_margin(p.symbol, marks[p.symbol])),
        "unrealizedProfit": amount(account.unrealized_pnl(p.symbol, marks[p.symbol])),
        "leverage": str(p.leverage), "isolated": p.margin_mode.value == "isolated",
        "entryPrice": plain(p.entry_price), "positionSide": "BOTH",
        "positionAmt": plain(p.qty_base), "isolatedWallet": amount(p.isolated_margin_usdt),
        "updateTime": ts,
    } for p in positions]
    return {
        "feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True,
        "updateTime": 0, "multiAssetsMargin": False, "tradeGroupId": -1, **totals,
        "assets": [asset], "positions": rows,
    }


def futures_order(order: OrderRecord, instrument: Instrument) -> dict[str, Any]:
    """A USDⓈ-M order as ``POST/GET/DELETE /fapi/v1/order`` return it."""
    qty_step = instrument.lot_step
    return {
        "orderId": order.order_id, "symbol": order.symbol, "status": order.status,
        "clientOrderId": order.client_order_id,
        "price": _steps(order.price, instrument.tick_size),
        "avgPrice": _steps(order.avg_price, instrument.tick_size),
        "origQty": _steps(order.orig_qty, qty_step),
        "executedQty": _steps(order.executed_qty, qty_step),
        "cumQty": _steps(order.executed_qty, qty_step), "cumQuote": amount(order.cum_quote),
        "timeInForce": order.time_in_force, "type": order.type,
        "reduceOnly": order.reduce_only, "closePosition": False, "side": order.side,
        "positionSide": "BOTH", "stopPrice": "0", "workingType": "CONTRACT_PRICE",
        "priceProtect": False, "origType": order.type, "priceMatch": "NONE",
        "selfTradePreventionMode": "NONE", "goodTillDate": 0, "time": order.time_ms,
        "updateTime": order.update_time_ms,
    }


def futures_trade(trade: TradeRecord) -> dict[str, Any]:
    """One ``/fapi/v1/userTrades`` row."""
    return {
        "symbol": trade.symbol, "id": trade.trade_id, "orderId": trade.order_id,
        "side": trade.side, "price": plain(trade.price), "qty": plain(trade.qty),
        "realizedPnl": amount(trade.realized_pnl), "marginAsset": "USDT",
        "quoteQty": amount(trade.price * trade.qty), "commission": amount(trade.commission),
        "commissionAsset": "USDT", "time": trade.time_ms, "positionSide": "BOTH",
        "buyer": trade.side == "BUY", "maker": trade.maker,
    }


#: Ledger kinds → Binance income types (a fill gives REALIZED_PNL and COMMISSION rows).
_INCOME_TYPES = {"funding": "FUNDING_FEE", "transfer": "TRANSFER",
                 "liquidation": "INSURANCE_CLEAR"}


def income(entries: list[tuple[int, LedgerEntry]]) -> list[dict[str, Any]]:
    """``/fapi/v1/income`` rows for (ledger index, entry) pairs of the futures wallet."""
    rows: list[dict[str, Any]] = []
    for index, entry in entries:
        pairs: list[tuple[str, Decimal]]
        if entry.kind == "fill":
            pnl = entry.amount_usdt + entry.fee_usdt
            pairs = [("REALIZED_PNL", pnl)] if pnl else []
            pairs.append(("COMMISSION", -entry.fee_usdt))
        elif entry.kind == "transfer":
            pairs = [("TRANSFER", entry.amount_usdt if "futures" in entry.note
                      else -entry.amount_usdt)]
        else:
            pairs = [(_INCOME_TYPES[entry.kind], entry.amount_usdt)]
        for n, (kind, value) in enumerate(pairs):
            rows.append({
                "symbol": "" if kind == "TRANSFER" else entry.symbol, "incomeType": kind,
                "income": amount(value), "asset": "USDT", "info": kind, "time": entry.ts_ms,
                "tranId": index * 10 + n, "tradeId": "",
            })
    return rows


def leverage_brackets(table: BracketTable) -> dict[str, Any]:
    """One symbol of ``/fapi/v1/leverageBracket`` (numbers unquoted, as Binance sends them)."""
    return {"symbol": table.symbol, "brackets": [{
        "bracket": b.number, "initialLeverage": _number(b.max_leverage),
        "notionalCap": _number(b.notional_cap_usdt),
        "notionalFloor": _number(b.notional_floor_usdt),
        "maintMarginRatio": _number(b.maint_margin_rate), "cum": float(b.maint_amount_usdt),
    } for b in table.brackets]}


def kline_row(
    open_ms: int, close_ms: int, ohlc: tuple[Decimal, Decimal, Decimal, Decimal]
) -> list[Any]:
    """One kline: the replay has no volume, so volume fields are "0"."""
    return [open_ms, *(plain(v) for v in ohlc), "0", close_ms - 1, "0", 0, "0", "0", "0"]


def spot_order(order: OrderRecord) -> dict[str, Any]:
    """A spot order as ``/api/v3/order`` returns it (``newOrderRespType`` FULL-less)."""
    return {
        "symbol": order.symbol, "orderId": order.order_id, "orderListId": -1,
        "clientOrderId": order.client_order_id, "transactTime": order.update_time_ms,
        "price": plain(order.price), "origQty": plain(order.orig_qty),
        "executedQty": plain(order.executed_qty),
        "cummulativeQuoteQty": plain(order.cum_quote), "status": order.status,
        "timeInForce": order.time_in_force, "type": order.type, "side": order.side,
        "time": order.time_ms, "updateTime": order.update_time_ms, "isWorking": True,
        "workingTime": order.time_ms, "origQuoteOrderQty": "0",
        "selfTradePreventionMode": "NONE",
    }


def spot_trade(trade: TradeRecord) -> dict[str, Any]:
    """One ``/api/v3/myTrades`` row (the simulator charges spot fees in USDT)."""
    return {
        "symbol": trade.symbol, "id": trade.trade_id, "orderId": trade.order_id,
        "orderListId": -1, "price": plain(trade.price), "qty": plain(trade.qty),
        "quoteQty": plain(trade.price * trade.qty), "commission": plain(trade.commission),
        "commissionAsset": "USDT", "time": trade.time_ms, "isBuyer": trade.side == "BUY",
        "isMaker": trade.maker, "isBestMatch": True,
    }


def spot_fill(trade: TradeRecord) -> dict[str, Any]:
    """One entry of a FULL order reply's ``fills``."""
    return {
        "price": plain(trade.price), "qty": plain(trade.qty),
        "commission": plain(trade.commission), "commissionAsset": "USDT",
        "tradeId": trade.trade_id,
    }


def spot_account(account: SimAccount, ts: int) -> dict[str, Any]:
    """``/api/v3/account``: every spot balance (nothing is ever locked in the simulator)."""
    return {
        "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0,
        "sellerCommission": 0, "canTrade": True, "canWithdraw": True, "canDeposit": True,
        "brokered": False, "requireSelfTradePrevention": False, "updateTime": ts,
        "accountType": "SPOT", "permissions": ["SPOT"],
        "balances": [{"asset": a, "free": plain(q), "locked": "0"}
                     for a, q in sorted(account.spot.items())],
    }
