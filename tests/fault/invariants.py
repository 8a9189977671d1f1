"""What must hold after a round of faults and kills, checked against the exchange's own ledger.

The exchange is read through its API with the real ccxt clients (``GET /fapi/v1/allOrders``,
``/fapi/v1/userTrades``, ``/fapi/v1/income``, ``/fapi/v1/forceOrders``, ``/fapi/v2/positionRisk``,
spot ``/api/v3/account`` and ``/api/v3/myTrades``), straight at the exchange, not through the
fault proxy. The store is read with plain SQL over its tables (``orders``, ``fills``,
``funding_payments``, ``margin_moves``, ``hedges``, ``decisions``), so the checks do not depend
on the engine's own code.

Transfers are compared with the futures wallet's ``TRANSFER`` income rows, a source the
engine does not reconcile from (it reads ``GET /sapi/v1/asset/transfer``, which the local
exchange serves too); the local exchange serves no spot ``allOrders``, so spot orders are
compared through spot trades.

Every check returns human-readable violations; :func:`check_round` gathers them with the
figures the soak prints.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import create_engine, text

__all__ = ["ExchangeLedger", "RoundCheck", "StoreRecords", "check_round", "read_ledger",
           "read_store", "tracebacks"]

FUTURES_ORDER_STATES_FINAL = {"FILLED", "CANCELED", "EXPIRED", "REJECTED"}
STORE_STATES_FINAL = {"filled", "canceled", "rejected"}
TRACEBACK = "Traceback (most recent call last)"


@dataclass
class ExchangeLedger:
    """What the exchange says happened (raw rows, amounts as Decimal)."""

    position_qty: Decimal
    spot_base_total: Decimal
    futures_orders: list[dict[str, Any]]
    futures_trades: list[dict[str, Any]]
    income: list[dict[str, Any]]
    force_orders: list[dict[str, Any]]
    spot_trades: list[dict[str, Any]]


@dataclass
class StoreRecords:
    """What perphedge's store recorded for one hedge."""

    hedge_state: str | None
    orders: list[dict[str, Any]]
    fills: list[dict[str, Any]]
    funding: list[dict[str, Any]]
    margin_moves: list[dict[str, Any]]
    refusals: int


@dataclass
class RoundCheck:
    """Violations found, and the figures of the comparison."""

    violations: list[str] = field(default_factory=list)
    figures: dict[str, Decimal | int] = field(default_factory=dict)

    def add(self, problems: Iterable[str]) -> None:
        self.violations.extend(problems)


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


def _paged_income(futures: Any) -> list[dict[str, Any]]:
    """Every income row, oldest first (pages of 1000 from ``startTime``; rows deduplicated)."""
    rows: dict[Any, dict[str, Any]] = {}
    start = 0
    while True:
        page = futures.fapiPrivateGetIncome({"startTime": start, "limit": 1000})
        fresh = [r for r in page if r["tranId"] not in rows]
        for r in fresh:
            rows[r["tranId"]] = r
        if len(page) < 1000 or not fresh:
            return sorted(rows.values(), key=lambda r: (int(r["time"]), int(r["tranId"])))
        start = int(page[-1]["time"])


def read_ledger(futures: Any, spot: Any, symbol: str, asset: str) -> ExchangeLedger:
    """Read the exchange's records with real ccxt clients pointed straight at it."""
    orders = futures.fapiPrivateGetAllOrders({"symbol": symbol})
    trades: list[dict[str, Any]] = []
    for order in orders:
        if _dec(order["executedQty"]) > 0:
            trades += futures.fapiPrivateGetUserTrades({"symbol": symbol,
                                                        "orderId": order["orderId"]})
    risk = futures.fapiPrivateV2GetPositionRisk({"symbol": symbol})
    position = sum((_dec(r["positionAmt"]) for r in risk), Decimal(0))
    balances = spot.privateGetAccount()["balances"]
    base = sum((_dec(b["free"]) + _dec(b["locked"]) for b in balances if b["asset"] == asset),
               Decimal(0))
    return ExchangeLedger(
        position_qty=position, spot_base_total=base, futures_orders=orders,
        futures_trades=trades, income=_paged_income(futures),
        force_orders=futures.fapiPrivateGetForceOrders({}),
        spot_trades=spot.privateGetMyTrades({"symbol": symbol}),
    )


def read_store(db_url: str, hedge_id: str) -> StoreRecords:
    """Read one hedge's records from the store with plain SQL."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as db:
            def rows(sql: str) -> list[dict[str, Any]]:
                return [dict(r._mapping) for r in db.execute(text(sql), {"h": hedge_id})]

            state = db.execute(text("SELECT state FROM hedges WHERE id = :h"),
                               {"h": hedge_id}).scalar()
            return StoreRecords(
                hedge_state=state,
                orders=rows("SELECT * FROM orders WHERE hedge_id = :h ORDER BY id"),
                fills=rows("SELECT f.*, o.client_order_id, o.market FROM fills f "
                           "JOIN orders o ON o.id = f.order_id WHERE o.hedge_id = :h"),
                funding=rows("SELECT * FROM funding_payments WHERE hedge_id = :h"),
                margin_moves=rows("SELECT * FROM margin_moves WHERE hedge_id = :h"),
                refusals=int(db.execute(text(
                    "SELECT count(*) FROM decisions WHERE hedge_id = :h AND kind = 'refused'"),
                    {"h": hedge_id}).scalar() or 0),
            )
    finally:
        engine.dispose()


def position_matches_target(ledger: ExchangeLedger, hedge_ratio: Decimal,
                            lot_step: Decimal) -> list[str]:
    """A short hedge equal to the spot holding × ratio, less than one lot step off."""
    target = ledger.spot_base_total * hedge_ratio
    gap = -ledger.position_qty - target
    if abs(gap) < lot_step:
        return []
    return [f"position {ledger.position_qty} vs target -{target} (spot {ledger.spot_base_total}"
            f" × {hedge_ratio}): off by {gap}, more than the lot step {lot_step}"]


def orders_known(ledger: ExchangeLedger, store: StoreRecords) -> list[str]:
    """Every exchange futures order is in the store, in the state the exchange gives it."""
    problems = []
    mine = {o["client_order_id"]: o for o in store.orders if o["market"] == "futures"}
    for order in ledger.futures_orders:
        cid = order["clientOrderId"]
        if cid.startswith("autoclose-"):
            continue  # a liquidation: reported by no_liquidation
        row = mine.get(cid)
        if row is None:
            problems.append(f"exchange order {cid} ({order['side']} {order['executedQty']} "
                            f"{order['status']}) is unknown to the store")
            continue
        executed = _dec(order["executedQty"])
        if order["status"] in FUTURES_ORDER_STATES_FINAL and (
                row["state"] not in STORE_STATES_FINAL
                or _dec(row["filled_qty_base"]) != executed):
            problems.append(f"order {cid}: exchange {order['status']} {executed}, store "
                            f"{row['state']} {row['filled_qty_base']}")
    sent = Counter(o["clientOrderId"] for o in ledger.futures_orders)
    problems += [f"client order id {cid} sent {n} times" for cid, n in sent.items() if n > 1]
    on_exchange = set(sent)
    for cid, row in mine.items():
        # An order the exchange never saw may be closed in the store (rejected, canceled)
        # but never open, in doubt or filled.
        if cid not in on_exchange and (row["state"] not in STORE_STATES_FINAL
                                       or _dec(row["filled_qty_base"]) != 0):
            problems.append(f"store order {cid} is {row['state']} "
                            f"{row['filled_qty_base']} but the exchange has no such order")
    return problems


def _sum_by(rows: Iterable[Mapping[str, Any]], key: str, value: str) -> dict[Any, Decimal]:
    totals: dict[Any, Decimal] = defaultdict(Decimal)
    for r in rows:
        totals[r[key]] += _dec(r[value])
    return dict(totals)


def fills_match(ledger: ExchangeLedger, store: StoreRecords, figures: dict[str, Any]
                ) -> list[str]:
    """Per order: the store's filled quantity and fee equal the exchange's trades."""
    by_id = {o["orderId"]: o["clientOrderId"] for o in ledger.futures_orders}
    trades = [{**t, "cid": by_id.get(t["orderId"], f"orderId {t['orderId']}")}
              for t in ledger.futures_trades]
    ex_qty, ex_fee = _sum_by(trades, "cid", "qty"), _sum_by(trades, "cid", "commission")
    fills = [f for f in store.fills if f["market"] == "futures"]
    st_qty, st_fee = _sum_by(fills, "client_order_id", "qty_base"), _sum_by(
        fills, "client_order_id", "fee_usdt")
    problems = []
    lost = duplicated = 0
    for cid in sorted(set(ex_qty) | set(st_qty)):
        have, want = st_qty.get(cid, Decimal(0)), ex_qty.get(cid, Decimal(0))
        if have < want:
            lost += 1
            problems.append(f"fill of {cid} missing: store {have}, exchange {want}")
        elif have > want:
            duplicated += 1
            problems.append(f"fill of {cid} duplicated or invented: store {have}, exchange "
                            f"{want}")
        if st_fee.get(cid, Decimal(0)) != ex_fee.get(cid, Decimal(0)):
            problems.append(f"fee of {cid}: store {st_fee.get(cid, 0)}, exchange "
                            f"{ex_fee.get(cid, 0)}")
    figures.update(fills_lost=lost, fills_duplicated=duplicated,
                   fees_store=sum(st_fee.values(), Decimal(0)),
                   fees_exchange=sum(ex_fee.values(), Decimal(0)))
    return problems


def funding_match(ledger: ExchangeLedger, store: StoreRecords, symbol: str,
                  figures: dict[str, Any]) -> list[str]:
    """Each funding settlement of the exchange is in the store once, with its amount."""
    exchange = Counter((int(r["time"]), _dec(r["income"])) for r in ledger.income
                       if r["incomeType"] == "FUNDING_FEE" and r["symbol"] == symbol)
    stored = Counter((int(r["ts_ms"]), _dec(r["amount_usdt"])) for r in store.funding
                     if r["symbol"] == symbol)
    missing, extra = exchange - stored, stored - exchange
    figures.update(funding_exchange=sum(exchange.values()), funding_store=sum(stored.values()),
                   funding_lost=sum(missing.values()), funding_duplicated=sum(extra.values()))
    return ([f"funding at {ts} of {amount} USDT missing from the store"
             for ts, amount in sorted(missing)]
            + [f"funding at {ts} of {amount} USDT in the store, not (or not as often) on the "
               "exchange" for ts, amount in sorted(extra)])


TRANSFER_SIGN = {"transfer_futures": Decimal(1), "transfer_spot": Decimal(-1)}


def transfers_match(ledger: ExchangeLedger, store: StoreRecords, figures: dict[str, Any]
                    ) -> list[str]:
    """Each transfer into or out of the futures wallet is in the store once, with its amount."""
    exchange = Counter(_dec(r["income"]) for r in ledger.income if r["incomeType"] == "TRANSFER")
    stored = Counter(TRANSFER_SIGN[m["kind"]] * _dec(m["amount_usdt"])
                     for m in store.margin_moves if m["kind"] in TRANSFER_SIGN)
    missing, extra = exchange - stored, stored - exchange
    figures.update(
        transfers_exchange=sum(exchange.values()), transfers_store=sum(stored.values()),
        transfers_lost=sum(missing.values()), transfers_duplicated=sum(extra.values()),
        transfers_exchange_usdt=sum((a * n for a, n in exchange.items()), Decimal(0)),
        transfers_store_usdt=sum((a * n for a, n in stored.items()), Decimal(0)))
    return ([f"transfer of {a} USDT (futures wallet) missing from the store"
             for a in sorted(missing.elements())]
            + [f"transfer of {a} USDT in the store, not on the exchange"
               for a in sorted(extra.elements())])


def spot_orders_known(ledger: ExchangeLedger, store: StoreRecords,
                      holder_order_ids: Iterable[int]) -> list[str]:
    """Every spot trade is the holder's own sale or a spot order the store knows."""
    known = {str(o["exchange_order_id"]) for o in store.orders
             if o["market"] == "spot" and o["exchange_order_id"] is not None}
    holder = {str(i) for i in holder_order_ids}
    return [f"spot trade {t['id']} of order {t['orderId']} is unknown to the store"
            for t in ledger.spot_trades
            if str(t["orderId"]) not in holder and str(t["orderId"]) not in known]


def no_liquidation(ledger: ExchangeLedger) -> list[str]:
    """No forced order and no insurance-fund clearing."""
    forced = [f"liquidation: {o['clientOrderId']} {o['side']} {o['executedQty']}"
              for o in ledger.force_orders]
    cleared = [f"liquidation clearing: {r['income']} USDT at {r['time']}"
               for r in ledger.income if r["incomeType"] == "INSURANCE_CLEAR"]
    return forced + cleared


def not_halted(store: StoreRecords) -> list[str]:
    """Faults alone never halt the hedge (no refusal was recorded, the hedge is not halted)."""
    problems = []
    if store.hedge_state != "active":
        problems.append(f"hedge state is {store.hedge_state!r}, expected 'active'")
    if store.refusals:
        problems.append(f"{store.refusals} refusal(s) recorded (the hedge halted on faults)")
    return problems


def unresolved_orders(store: StoreRecords) -> list[str]:
    """After a clean cycle no order is left in doubt."""
    return [f"store order {o['client_order_id']} left {o['state']}" for o in store.orders
            if o["state"] not in STORE_STATES_FINAL]


def tracebacks(stderr_texts: Mapping[str, str]) -> list[str]:
    """Names of the outputs that hold a Python traceback, with the exception's line."""
    found = []
    for name, err in stderr_texts.items():
        if TRACEBACK in err:
            lines = [line.strip() for line in err.strip().splitlines() if line.strip()]
            frames = [line for line in lines if line.startswith("File ") and "perphedge" in line]
            where = frames[-1].split("src/", 1)[-1] if frames else "?"
            found.append(f"traceback in {name}: {lines[-1][:200]} ({where})")
    return found


def check_round(ledger: ExchangeLedger, store: StoreRecords, *, symbol: str,
                hedge_ratio: Decimal, lot_step: Decimal, holder_order_ids: Sequence[int],
                stderr_texts: Mapping[str, str]) -> RoundCheck:
    """Every invariant of a round, with the figures."""
    result = RoundCheck()
    result.add(position_matches_target(ledger, hedge_ratio, lot_step))
    result.add(orders_known(ledger, store))
    result.add(unresolved_orders(store))
    result.add(spot_orders_known(ledger, store, holder_order_ids))
    result.add(fills_match(ledger, store, result.figures))
    result.add(funding_match(ledger, store, symbol, result.figures))
    result.add(transfers_match(ledger, store, result.figures))
    result.add(no_liquidation(ledger))
    result.add(not_halted(store))
    result.add(tracebacks(stderr_texts))
    result.figures.update(
        orders_exchange=len(ledger.futures_orders), refusals=store.refusals,
        liquidations=len(ledger.force_orders))
    return result
