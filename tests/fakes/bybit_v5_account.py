"""A Bybit v5 Unified Trading Account (UTA 2.0) over perphedge's simulator, as Bybit's JSON rows.

The state is a :class:`~perphedge.exchange.core.LocalExchange`: one ``SimAccount``, the order
book and a replayed market, so fills, isolated margin, funding and liquidation are the
simulator's. What is Bybit's here is the *view*: one unified wallet (USDT lives in the
simulator's futures wallet, other coins in its spot dict), account-wide margin mode, Bybit's
order statuses and field names, string numbers, and Bybit's retCodes for refusals.

Rows carry the fields ccxt's ``bybit`` parser reads (``parse_order``, ``parse_position``,
``parse_balance``, ``parse_funding_rate``, ``parse_income``, ``parse_market_leverage_tiers``)
plus the neighbours Bybit sends with them, so that a missing field shows up as a failure.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from perphedge.domain.brackets import BracketTable
from perphedge.domain.fees import FeeSchedule
from perphedge.domain.instrument import Instrument
from perphedge.domain.money import ZERO, plain
from perphedge.domain.types import ContractKind, MarginMode
from perphedge.exchange.auth import ApiKeys
from perphedge.exchange.core import ExchangeConfig, LocalExchange
from perphedge.exchange.errors import BinanceApiError
from perphedge.exchange.market import ReplayMarket
from perphedge.exchange.orders import OrderRecord
from perphedge.sim import records
from perphedge.sim.account import SimAccount, SimRejection

SYMBOL = "BTCUSDT"
#: Bybit's non-VIP derivatives fees (maker 0.02 %, taker 0.055 %).
BYBIT_FEES = FeeSchedule(maker_rate=Decimal("0.0002"), taker_rate=Decimal("0.00055"))
#: (riskLimitValue, maintenanceMargin, initialMargin, maxLeverage): shaped like Bybit's
#: BTCUSDT risk limits (first tier 2,000,000 USDT at 0.5 %); the later values are illustrative.
RISK_LIMITS = (
    ("2000000", "0.005", "0.01", "100.00"),
    ("2600000", "0.0056", "0.0116", "86.20"),
    ("3200000", "0.0062", "0.0132", "75.75"),
    ("3800000", "0.0068", "0.0148", "67.56"),
)
BTCUSDT = Instrument(
    symbol=SYMBOL, base="BTC", settle="USDT", kind=ContractKind.PERPETUAL,
    tick_size=Decimal("0.10"), lot_step=Decimal("0.001"), min_qty=Decimal("0.001"),
    min_notional=Decimal("5"), max_qty=Decimal("1190.000"), funding_interval_hours=8,
)

_STATUS = {"NEW": "New", "PARTIALLY_FILLED": "PartiallyFilled", "FILLED": "Filled",
           "CANCELED": "Cancelled", "EXPIRED": "Deactivated"}
#: The simulator's (Binance) refusal codes → Bybit's retCode and retMsg.
_RET_CODES = {
    records.MARGIN_INSUFFICIENT: (110007, "ab not enough for new order"),
    records.REDUCE_ONLY_REJECT: (110017, "Reduce-only rule not satisfied"),
    records.MAX_POSITION_AT_LEVERAGE: (110090, "Order would exceed the risk limit"),
    records.NOTIONAL_TOO_SMALL: (110094, "Order does not meet minimum order value 5USDT"),
    records.QTY_INVALID: (10001, "Qty invalid"),
    records.BAD_PRECISION: (10001, "Qty invalid"),
    records.LEVERAGE_INVALID: (10001, "leverage invalid"),
    records.POSITION_EXISTS_MARGIN_TYPE: (3400045, "Set margin mode failed"),
    records.MARGIN_REDUCE_INSUFFICIENT: (110044, "Insufficient available margin"),
    records.NO_ISOLATED_POSITION: (10001, "position is not isolated"),
}


class BybitError(Exception):
    """A request Bybit refuses: answered as ``{"retCode": code, "retMsg": msg}``."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"{code} {msg}")
        self.code, self.msg = code, msg


def bybit_error(err: SimRejection | BinanceApiError) -> BybitError:
    """The Bybit refusal for a simulator rejection (unknown codes: 10001 params error)."""
    code, msg = _RET_CODES.get(err.code, (10001, str(err)))
    return BybitError(code, msg)


def num(value: Decimal | int | None) -> str:
    """Bybit's string number ("" for none, as Bybit sends empty strings)."""
    return "" if value is None else plain(Decimal(value))


def order_uuid(order_id: int) -> str:
    """Bybit order ids are UUIDs; this one is derived from the book's integer id."""
    return str(uuid.UUID(int=order_id))


def bybit_exchange(market: ReplayMarket, coins: dict[str, Decimal], start_ms: int
                   ) -> LocalExchange:
    """A LocalExchange holding a UTA: USDT in the one (futures) wallet, other coins in spot."""
    tiers = BracketTable.from_rates(SYMBOL, [
        (Decimal(RISK_LIMITS[i - 1][0]) if i else ZERO, Decimal(cap), Decimal(mmr), Decimal(lev))
        for i, (cap, mmr, _im, lev) in enumerate(RISK_LIMITS)
    ])
    account = SimAccount({SYMBOL: BTCUSDT}, {SYMBOL: tiers}, fees=BYBIT_FEES)
    for coin, amount in coins.items():
        account.deposit(coin, amount, start_ms, to="futures" if coin == "USDT" else "spot")
    return LocalExchange(account, market, ExchangeConfig(ApiKeys({}), weight_per_minute=0),
                         last_sync_ms=start_ms)


@dataclass
class UnifiedAccount:
    """Bybit's rows for one UTA over ``exchange`` (call under ``exchange.lock``, synced)."""

    exchange: LocalExchange
    margin_mode: MarginMode = MarginMode.CROSS

    @property
    def sim(self) -> SimAccount:
        return self.exchange.account

    def now(self) -> int:
        return self.exchange.last_sync_ms

    def mark(self) -> Decimal:
        return self.exchange.market.price(SYMBOL, self.now())

    # ------------------------------------------------------------------ market data
    def instrument_row(self) -> dict[str, Any]:
        i = BTCUSDT
        return {
            "symbol": SYMBOL, "contractType": "LinearPerpetual", "status": "Trading",
            "baseCoin": "BTC", "quoteCoin": "USDT", "settleCoin": "USDT",
            "launchTime": "1585526400000", "deliveryTime": "0", "deliveryFeeRate": "",
            "priceScale": "2", "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00",
                                                  "leverageStep": "0.01"},
            "priceFilter": {"minPrice": "0.10", "maxPrice": "1999999.80",
                            "tickSize": num(i.tick_size)},
            "lotSizeFilter": {"maxOrderQty": num(i.max_qty), "minOrderQty": num(i.min_qty),
                              "qtyStep": num(i.lot_step), "postOnlyMaxOrderQty": "1190.000",
                              "maxMktOrderQty": "119.000", "minNotionalValue": "5"},
            "unifiedMarginTrade": True, "fundingInterval": 480, "copyTrading": "both",
            "upperFundingRate": "0.005", "lowerFundingRate": "-0.005", "isPreListing": False,
            "preListingInfo": None, "riskParameters": {"priceLimitRatioX": "0.01",
                                                       "priceLimitRatioY": "0.02"},
            "displayName": "",
        }

    def ticker_row(self) -> dict[str, Any]:
        mark = self.mark()
        next_ms, rate = self.exchange.market.next_funding(SYMBOL, self.now())
        return {
            "symbol": SYMBOL, "lastPrice": num(mark), "indexPrice": num(mark),
            "markPrice": num(mark), "prevPrice24h": num(mark), "price24hPcnt": "0",
            "highPrice24h": num(mark), "lowPrice24h": num(mark), "prevPrice1h": num(mark),
            "openInterest": "0", "openInterestValue": "0", "turnover24h": "0", "volume24h": "0",
            "fundingRate": num(rate), "nextFundingTime": str(next_ms),
            "predictedDeliveryPrice": "", "basisRate": "", "deliveryFeeRate": "",
            "deliveryTime": "0", "ask1Size": "1", "bid1Price": num(mark), "ask1Price": num(mark),
            "bid1Size": "1", "basis": "", "fundingIntervalHour": "8", "fundingCap": "0.005",
        }

    def risk_limit_rows(self) -> list[dict[str, Any]]:
        """Bybit's tiers, with ``mmDeduction``: what makes the maintenance margin continuous."""
        rows, deduction, prev_rate = [], ZERO, ZERO
        for n, (cap, mmr, im, lev) in enumerate(RISK_LIMITS, start=1):
            floor = Decimal(RISK_LIMITS[n - 2][0]) if n > 1 else ZERO
            deduction += floor * (Decimal(mmr) - prev_rate)
            prev_rate = Decimal(mmr)
            rows.append({"id": n, "symbol": SYMBOL, "riskLimitValue": cap,
                         "maintenanceMargin": mmr, "initialMargin": im,
                         "isLowestRisk": 1 if n == 1 else 0, "maxLeverage": lev,
                         "mmDeduction": num(deduction) if n > 1 else ""})
        return rows

    # ------------------------------------------------------------------ account
    def wallet_row(self) -> dict[str, Any]:
        """``/v5/account/wallet-balance`` for accountType UNIFIED: one wallet, every coin."""
        sim, mark = self.sim, self.mark()
        pos = sim.positions.get(SYMBOL)
        upnl = sim.unrealized_pnl(SYMBOL, mark) if pos is not None else ZERO
        isolated = sum((p.isolated_margin_usdt for p in sim.positions.values()), ZERO)
        usdt_wallet = sim.futures_wallet_usdt + isolated
        # ccxt's free = walletBalance − locked − totalPositionIM − totalOrderIM: the IM is what
        # the simulator holds back from new positions.
        used = max(usdt_wallet - max(sim.available_usdt(), ZERO), ZERO)
        coins = [self._coin("USDT", usdt_wallet, upnl, used, Decimal(1))]
        coins += [self._coin(c, q, ZERO, ZERO, mark) for c, q in sim.spot.items()
                  if c != "USDT" and q != 0]
        equity = sum((Decimal(c["usdValue"]) for c in coins), ZERO)
        return {
            "accountType": "UNIFIED", "accountIMRate": "0", "accountMMRate": "0",
            "totalEquity": num(equity), "totalWalletBalance": num(equity - upnl),
            "totalMarginBalance": num(equity), "totalAvailableBalance": num(equity - used),
            "totalPerpUPL": num(upnl), "totalInitialMargin": num(used),
            "totalMaintenanceMargin": "0", "accountLTV": "0", "coin": coins,
        }

    @staticmethod
    def _coin(coin: str, wallet: Decimal, upnl: Decimal, used: Decimal, price: Decimal
              ) -> dict[str, Any]:
        return {
            "coin": coin, "equity": num(wallet + upnl), "usdValue": num((wallet + upnl) * price),
            "walletBalance": num(wallet), "free": "", "locked": "0", "spotHedgingQty": "0",
            "borrowAmount": "0", "availableToWithdraw": "", "availableToBorrow": "",
            "accruedInterest": "0", "totalOrderIM": "0", "totalPositionIM": num(used),
            "totalPositionMM": "0", "unrealisedPnl": num(upnl), "cumRealisedPnl": "0",
            "bonus": "0", "marginCollateral": True, "collateralSwitch": True,
        }

    def position_rows(self) -> list[dict[str, Any]]:
        out = []
        for pos in self.sim.positions.values():
            if pos.qty_base == 0:
                continue
            mark = self.mark()
            liq = self.sim.liquidation_price(pos.symbol)
            value = abs(pos.qty_base) * pos.entry_price
            im = (pos.isolated_margin_usdt if pos.margin_mode is MarginMode.ISOLATED
                  else value / pos.leverage)
            out.append({
                "positionIdx": 0, "riskId": 1, "riskLimitValue": RISK_LIMITS[0][0],
                "symbol": pos.symbol, "side": "Buy" if pos.qty_base > 0 else "Sell",
                "size": num(abs(pos.qty_base)), "avgPrice": num(pos.entry_price),
                "positionValue": num(value), "tradeMode": 0, "positionStatus": "Normal",
                "autoAddMargin": 0, "adlRankIndicator": 2, "leverage": str(pos.leverage),
                "positionBalance": num(im), "markPrice": num(mark),
                "liqPrice": num(liq) if liq is not None and liq > 0 else "",
                "bustPrice": "", "positionMM": num(self.sim.maintenance_margin(pos.symbol, mark)),
                "positionIM": num(im), "tpslMode": "Full", "takeProfit": "0", "stopLoss": "0",
                "trailingStop": "0",
                "unrealisedPnl": num(self.sim.unrealized_pnl(pos.symbol, mark)),
                "curRealisedPnl": "0", "cumRealisedPnl": "0", "seq": 1, "isReduceOnly": False,
                "mmrSysUpdatedTime": "", "leverageSysUpdatedTime": "", "sessionAvgPrice": "",
                "createdTime": str(self.now()), "updatedTime": str(self.now()),
            })
        return out

    def order_row(self, order: OrderRecord) -> dict[str, Any]:
        fee = sum((t.commission for t in self.exchange.book.trades
                   if t.order_id == order.order_id), ZERO)
        market = order.type == "MARKET"
        return {
            "orderId": order_uuid(order.order_id), "orderLinkId": order.client_order_id,
            "blockTradeId": "", "symbol": order.symbol, "price": num(order.price),
            "qty": num(order.orig_qty), "side": "Buy" if order.side == "BUY" else "Sell",
            "isLeverage": "", "positionIdx": 0, "orderStatus": _STATUS[order.status],
            "cancelType": "CancelByUser" if order.status == "CANCELED" else "UNKNOWN",
            "rejectReason": "EC_NoError",
            "avgPrice": num(order.avg_price) if order.executed_qty else "",
            "leavesQty": num(order.orig_qty - order.executed_qty if order.is_open else ZERO),
            "leavesValue": "0", "cumExecQty": num(order.executed_qty),
            "cumExecValue": num(order.cum_quote), "cumExecFee": num(fee),
            "timeInForce": "IOC" if market else "GTC",
            "orderType": "Market" if market else "Limit", "stopOrderType": "", "orderIv": "",
            "triggerPrice": "", "takeProfit": "", "stopLoss": "", "tpTriggerBy": "",
            "slTriggerBy": "", "triggerDirection": 0, "triggerBy": "", "lastPriceOnCreated": "",
            "reduceOnly": order.reduce_only, "closeOnTrigger": False, "smpType": "None",
            "smpGroup": 0, "smpOrderId": "", "tpslMode": "", "tpLimitPrice": "",
            "slLimitPrice": "", "placeType": "", "createdTime": str(order.time_ms),
            "updatedTime": str(order.update_time_ms),
        }

    def funding_rows(self, since_ms: int) -> list[dict[str, Any]]:
        """Settled funding as ``/v5/execution/list`` rows: ``execFee`` > 0 is funding paid."""
        rows = []
        for entry in self.sim.ledger:
            if entry.kind != "funding" or entry.ts_ms < since_ms:
                continue
            rows.append({
                "symbol": entry.symbol, "orderType": "UNKNOWN", "underlyingPrice": "",
                "orderLinkId": "", "orderId": str(uuid.uuid5(uuid.NAMESPACE_OID, str(entry))),
                "stopOrderType": "UNKNOWN", "execTime": str(entry.ts_ms), "feeCurrency": "",
                "createType": "", "feeRate": entry.note, "tradeIv": "",
                "blockTradeId": "", "markPrice": num(entry.price), "execPrice": num(entry.price),
                "markIv": "", "orderQty": "0", "orderPrice": "0",
                "execValue": num(abs(entry.qty_base) * entry.price), "closedSize": "0",
                "execType": "Funding", "seq": 1, "side": "Sell" if entry.qty_base < 0 else "Buy",
                "indexPrice": "", "leavesQty": "0", "isMaker": False,
                "execFee": num(-entry.amount_usdt),
                "execId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"exec {entry}")),
                "marketUnit": "", "execQty": num(abs(entry.qty_base)),
            })
        return sorted(rows, key=lambda r: -int(r["execTime"]))
