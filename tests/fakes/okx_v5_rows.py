"""OKX v5 rows built from the simulator's state: instruments, balances, positions, orders, bills.

Everything OKX sends is a string; SWAP sizes are in contracts (``ctVal`` base units each), so
every quantity crosses here: ``contracts = base / ctVal``. Field names and meanings follow
OKX's v5 REST reference; only the fields ccxt's ``okx`` reads (plus a few that identify the
row) are filled.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from perphedge.domain.brackets import BracketTable
from perphedge.domain.instrument import Instrument
from perphedge.domain.money import ZERO, plain
from perphedge.domain.types import ContractKind, MarginMode
from perphedge.exchange.core import LocalExchange
from perphedge.exchange.orders import OrderRecord
from perphedge.sim.account import LedgerEntry

#: OKX SWAP spec of BTC-USDT-SWAP as OKX lists it (ctVal 0.01 BTC, lots of 0.01 contracts).
CT_VAL = Decimal("0.01")
LOT_SZ = Decimal("0.01")
MIN_SZ = Decimal("0.01")
MAX_LMT_SZ = Decimal("100000")
TICK_SZ = Decimal("0.1")
INST_ID, SIM_SYMBOL = "BTC-USDT-SWAP", "BTCUSDT"

#: Simulator (Binance-numbered) rejection → OKX code and message (OKX's wording).
OKX_CODES: dict[int, tuple[str, str]] = {
    -2019: ("51008", "Order failed. Insufficient USDT margin in account"),
    -2022: ("51169", "Order failed because you don't have any positions in this direction "
                     "for this contract to reduce or close."),
    -2027: ("51004", "Order failed. The order amount exceeds the current tier limit."),
    -4003: ("51020", "Your order should meet or exceed the minimum order amount."),
    -4164: ("51020", "Your order should meet or exceed the minimum order amount."),
    -1111: ("51121", "Order quantity must be a multiple of the lot size."),
    -4005: ("51005", "Order amount exceeds the limit"),
    -4028: ("59102", "Leverage exceeds the maximum leverage. Please adjust the leverage"),
    -2010: ("58350", "Insufficient balance"),
    -2018: ("58350", "Insufficient balance"),
    -4050: ("59301", "Margin adjustment failed for exceeding the max limit"),
    -4051: ("59300", "Margin call failed. Position does not exist"),
    -4048: ("59000", "Settings failed. Close any open positions or orders before modifying "
                     "settings."),
}
OKX_STATES = {"NEW": "live", "PARTIALLY_FILLED": "partially_filled", "FILLED": "filled",
              "CANCELED": "canceled", "EXPIRED": "canceled"}


def s(value: Decimal | int) -> str:
    """A number as OKX writes it: a plain decimal string."""
    return plain(Decimal(value))


def contracts(qty_base: Decimal) -> Decimal:
    return qty_base / CT_VAL


def sim_instrument() -> Instrument:
    """The simulator's view of BTC-USDT-SWAP: the same contract, sizes in base units."""
    return Instrument(SIM_SYMBOL, "BTC", "USDT", ContractKind.PERPETUAL, tick_size=TICK_SZ,
                      lot_step=LOT_SZ, min_qty=MIN_SZ * CT_VAL, min_notional=ZERO,
                      contract_size=CT_VAL, max_qty=MAX_LMT_SZ * CT_VAL)


def instrument_row(listed_ms: int) -> dict[str, str]:
    return {
        "instType": "SWAP", "instId": INST_ID, "uly": "BTC-USDT", "instFamily": "BTC-USDT",
        "baseCcy": "", "quoteCcy": "", "settleCcy": "USDT", "ctVal": s(CT_VAL),
        "ctMult": "1", "ctValCcy": "BTC", "ctType": "linear", "optType": "", "stk": "",
        "listTime": str(listed_ms), "expTime": "", "lever": "100", "tickSz": s(TICK_SZ),
        "lotSz": s(LOT_SZ), "minSz": s(MIN_SZ), "maxLmtSz": s(MAX_LMT_SZ),
        "maxMktSz": "12000", "state": "live", "alias": "", "category": "1", "ruleType": "normal",
    }


def tier_rows(brackets: BracketTable, tier_price: Decimal) -> list[dict[str, str]]:
    """The simulator's notional brackets as OKX's position tiers (bounds in contracts)."""
    per_contract = tier_price * CT_VAL
    return [{
        "instFamily": "BTC-USDT", "uly": "BTC-USDT", "instId": "", "tier": str(b.number),
        "minSz": s(b.notional_floor_usdt / per_contract),
        "maxSz": s(b.notional_cap_usdt / per_contract), "mmr": s(b.maint_margin_rate),
        "imr": s(1 / b.max_leverage), "maxLever": s(b.max_leverage), "optMgnFactor": "",
        "quoteMaxLoan": "", "baseMaxLoan": "",
    } for b in brackets.brackets]


def trading_balance(ex: LocalExchange) -> dict[str, object]:
    """``/api/v5/account/balance``: the trading account's USDT (single-currency margin).

    ``cashBal`` excludes what isolated positions hold; ``isoEq`` is their margin plus uPnL;
    ``eq`` = cashBal + cross uPnL + isoEq; ``upl`` is every position's uPnL.
    """
    acct, now = ex.account, ex.last_sync_ms
    iso_eq = cross_upl = upl = ZERO
    for pos in acct.positions.values():
        if pos.qty_base == 0:
            continue
        pnl = acct.unrealized_pnl(pos.symbol, ex.market.price(pos.symbol, now))
        upl += pnl
        if pos.margin_mode is MarginMode.ISOLATED:
            iso_eq += pos.isolated_margin_usdt + pnl
        else:
            cross_upl += pnl
    cash = acct.futures_wallet_usdt
    eq = cash + cross_upl + iso_eq
    avail = max(acct.available_usdt(), ZERO)
    detail = {"ccy": "USDT", "eq": s(eq), "cashBal": s(cash), "isoEq": s(iso_eq),
              "availBal": s(avail), "availEq": s(avail), "frozenBal": s(cash - avail),
              "ordFrozen": "0", "upl": s(upl), "uTime": str(now), "disEq": s(eq),
              "eqUsd": s(eq)}
    return {"totalEq": s(eq), "isoEq": s(iso_eq), "adjEq": "", "uTime": str(now),
            "details": [detail]}


def funding_balances(ex: LocalExchange) -> list[dict[str, str]]:
    """``/api/v5/asset/balances``: the funding account (the simulator's spot wallet)."""
    return [{"ccy": asset, "bal": s(qty), "availBal": s(qty), "frozenBal": "0"}
            for asset, qty in sorted(ex.account.spot.items()) if qty != 0]


def position_rows(ex: LocalExchange) -> list[dict[str, str]]:
    """``/api/v5/account/positions``: open positions, one-way (``posSide`` net, signed pos)."""
    acct, now = ex.account, ex.last_sync_ms
    out = []
    for pos in acct.positions.values():
        if pos.qty_base == 0:
            continue
        mark = ex.market.price(pos.symbol, now)
        notional = abs(pos.qty_base) * mark
        liq = acct.liquidation_price(pos.symbol)
        isolated = pos.margin_mode is MarginMode.ISOLATED
        out.append({
            "instType": "SWAP", "instId": INST_ID, "posId": "1", "posSide": "net",
            "pos": s(contracts(pos.qty_base)), "ccy": "USDT", "posCcy": "",
            "mgnMode": pos.margin_mode.value, "lever": str(pos.leverage),
            "avgPx": s(pos.entry_price), "markPx": s(mark),
            "upl": s(acct.unrealized_pnl(pos.symbol, mark)),
            "margin": s(pos.isolated_margin_usdt) if isolated else "",
            "imr": "" if isolated else s(notional / pos.leverage),
            "mmr": s(acct.maintenance_margin(pos.symbol, mark)),
            "liqPx": s(liq) if liq is not None and liq > 0 else "",
            "notionalUsd": s(notional), "adl": "1", "cTime": str(now), "uTime": str(now),
        })
    return out


@dataclass(frozen=True, slots=True)
class OrderExtras:
    """What OKX keeps about an order that the order book does not: tdMode, tag."""

    td_mode: str
    ord_type: str


def order_row(ex: LocalExchange, order: OrderRecord, extras: OrderExtras) -> dict[str, str]:
    """``/api/v5/trade/order`` and ``orders-pending`` rows (fee negative: charged)."""
    fee = sum((t.commission for t in ex.book.trades if t.order_id == order.order_id), ZERO)
    filled = order.executed_qty
    return {
        "instType": "SWAP", "instId": INST_ID, "ordId": str(order.order_id),
        "clOrdId": order.client_order_id, "tag": "", "px": "" if order.type == "MARKET"
        else s(order.price), "sz": s(contracts(order.orig_qty)), "ordType": extras.ord_type,
        "side": order.side.lower(), "posSide": "net", "tdMode": extras.td_mode,
        "accFillSz": s(contracts(filled)), "avgPx": s(order.avg_price) if filled else "",
        "state": OKX_STATES[order.status], "feeCcy": "USDT", "fee": s(-fee),
        "reduceOnly": "true" if order.reduce_only else "false", "category": "normal",
        "cTime": str(order.time_ms), "uTime": str(order.update_time_ms),
        "fillTime": str(order.update_time_ms) if filled else "",
    }


def funding_bill(entry: LedgerEntry, number: int) -> dict[str, str]:
    """A funding settlement as a ``type`` 8 bill (subType 173 expense, 174 income)."""
    return {
        "billId": str(number), "type": "8", "subType": "174" if entry.amount_usdt > 0 else "173",
        "instType": "SWAP", "instId": INST_ID, "ccy": "USDT", "balChg": s(entry.amount_usdt),
        "posBalChg": "0", "pnl": s(entry.amount_usdt), "fee": "0", "mgnMode": "",
        "ts": str(entry.ts_ms), "bal": "", "sz": "",
    }
