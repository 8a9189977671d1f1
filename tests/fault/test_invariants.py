"""The round checks catch each kind of disagreement between the store and the exchange's ledger,
and pass a store that agrees."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.fault.invariants import ExchangeLedger, StoreRecords, check_round

D = Decimal


def agreeing() -> tuple[ExchangeLedger, StoreRecords]:
    """One filled short of 1.5 BTC, a funding payment and a transfer, recorded exactly."""
    ledger = ExchangeLedger(
        position_qty=D("-1.500"), spot_base_total=D("1.5004"),
        futures_orders=[{"clientOrderId": "ph-btc-1", "orderId": 7, "side": "SELL",
                         "executedQty": "1.500", "status": "FILLED"}],
        futures_trades=[{"orderId": 7, "qty": "1.500", "commission": "24.00000000"}],
        income=[
            {"incomeType": "TRANSFER", "symbol": "", "income": "30000.00", "time": 1,
             "tranId": 10},
            {"incomeType": "COMMISSION", "symbol": "BTCUSDT", "income": "-24", "time": 2,
             "tranId": 20},
            {"incomeType": "FUNDING_FEE", "symbol": "BTCUSDT", "income": "6.0", "time": 3,
             "tranId": 30},
        ],
        force_orders=[], spot_trades=[{"id": 1, "orderId": 55}],
    )
    store = StoreRecords(
        hedge_state="active",
        orders=[{"client_order_id": "ph-btc-1", "market": "futures", "state": "filled",
                 "filled_qty_base": D("1.500"), "exchange_order_id": "7"}],
        fills=[{"client_order_id": "ph-btc-1", "market": "futures", "qty_base": D("1.500"),
                "fee_usdt": D("24")}],
        funding=[{"symbol": "BTCUSDT", "ts_ms": 3, "amount_usdt": D("6")}],
        margin_moves=[{"kind": "transfer_futures", "amount_usdt": D("30000")}],
        refusals=0,
    )
    return ledger, store


def violations(ledger: ExchangeLedger, store: StoreRecords, **stderr: str) -> list[str]:
    return check_round(ledger, store, symbol="BTCUSDT", hedge_ratio=D(1),
                       lot_step=D("0.001"), holder_order_ids=[55],
                       stderr_texts=stderr).violations


def test_a_store_that_agrees_with_the_ledger_passes() -> None:
    assert violations(*agreeing()) == []


def test_a_position_a_lot_step_off_the_target_fails() -> None:
    ledger, store = agreeing()
    ledger.position_qty = D("-3.000")  # doubled
    assert [v for v in violations(ledger, store) if v.startswith("position")]


def test_an_exchange_order_the_store_does_not_know_fails() -> None:
    ledger, store = agreeing()
    ledger.futures_orders.append({"clientOrderId": "ph-btc-2", "orderId": 8, "side": "SELL",
                                  "executedQty": "0", "status": "CANCELED"})
    assert "exchange order ph-btc-2 (SELL 0 CANCELED) is unknown to the store" in violations(
        ledger, store)


def test_a_filled_order_recorded_as_rejected_fails() -> None:
    ledger, store = agreeing()
    store.orders[0]["state"] = "rejected"
    store.orders[0]["filled_qty_base"] = D(0)
    store.fills.clear()
    found = violations(ledger, store)
    assert "order ph-btc-1: exchange FILLED 1.500, store rejected 0" in found
    assert "fill of ph-btc-1 missing: store 0, exchange 1.500" in found


def test_a_fill_recorded_twice_fails() -> None:
    ledger, store = agreeing()
    store.fills.append(dict(store.fills[0]))
    assert any("duplicated" in v for v in violations(ledger, store))


def test_missing_or_doubled_funding_and_transfers_fail() -> None:
    ledger, store = agreeing()
    store.funding.clear()
    store.margin_moves.append({"kind": "transfer_spot", "amount_usdt": D("5")})
    found = violations(ledger, store)
    assert "funding at 3 of 6.0 USDT missing from the store" in found
    assert "transfer of -5 USDT in the store, not on the exchange" in found


def test_a_liquidation_a_halt_and_a_traceback_each_fail() -> None:
    ledger, store = agreeing()
    ledger.force_orders.append({"clientOrderId": "autoclose-1", "side": "BUY",
                                "executedQty": "1.5"})
    store.hedge_state, store.refusals = "halted", 2
    err = ('Traceback (most recent call last):\n  File "/x/src/perphedge/a.py", line 3, in f\n'
           "TypeError: boom\n")
    found = violations(ledger, store, **{"engine-3": err})
    assert "liquidation: autoclose-1 BUY 1.5" in found
    assert "hedge state is 'halted', expected 'active'" in found
    assert "traceback in engine-3: TypeError: boom (perphedge/a.py\", line 3, in f)" in found


def test_a_spot_trade_of_no_known_order_fails_and_a_client_id_sent_twice_fails() -> None:
    ledger, store = agreeing()
    ledger.spot_trades.append({"id": 2, "orderId": 99})
    twice: dict[str, Any] = dict(ledger.futures_orders[0])
    ledger.futures_orders.append({**twice, "orderId": 9})
    found = violations(ledger, store)
    assert "spot trade 2 of order 99 is unknown to the store" in found
    assert "client order id ph-btc-1 sent 2 times" in found


def test_an_order_the_exchange_never_saw_may_be_closed_in_the_store_but_not_filled() -> None:
    ledger, store = agreeing()
    never_sent = {"client_order_id": "ph-btc-2", "market": "futures", "state": "rejected",
                  "filled_qty_base": D(0), "exchange_order_id": None}
    store.orders.append(never_sent)
    assert violations(ledger, store) == []
    never_sent["state"] = "pending_submit"
    assert "store order ph-btc-2 is pending_submit 0 but the exchange has no such order" in (
        violations(ledger, store))
