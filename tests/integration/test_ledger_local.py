"""The store agrees with the exchange's ledger after lost replies (real ccxt, local exchange).

Between the real async ccxt client and the local exchange sits a small proxy that forwards
every request and then drops, cuts or replaces the reply as told. Orders, transfers and margin
moves are sent through the live executor; replies are lost; after one reconciliation the
store's fills, fees, funding, transfers and margin moves equal the exchange's own ledger to
the last digit (Decimal), and no transfer or margin move was sent twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from perphedge.adapters.exchanges import ccxt_ledger_binance
from perphedge.adapters.exchanges.ccxt_venue import BinanceUsdmVenue
from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.schema import FillRow, HedgeRow, MarginMoveRow, OrderRow
from perphedge.domain.types import MarginMode, Side
from perphedge.engine.clock import ManualClock
from perphedge.engine.execute import LiveExecutor
from perphedge.engine.ledger import LedgerReconciler
from perphedge.engine.loop import HedgeEngine
from perphedge.engine.venue import Market, OrderRequest
from perphedge.errors import ExchangeError
from perphedge.planning.translate import MoneyCall, OrderCall, SettingsCall, Step
from tests.integration.local_exchange_fixture import HOUR_MS, T0_MS, LocalVenue, local_exchange
from tests.integration.lossy_proxy import Faults, lossy_proxy
from tests.integration.test_ccxt_venue_local import BTC, _venue
from tests.unit.test_engine_loop import hedge_config

HEDGE, ACCOUNT = "btc-ledger", "main"
TRANSFER = "/sapi/v1/asset/transfer"
ZERO = Decimal(0)


@dataclass
class Rig:
    exchange: LocalVenue
    faults: Faults
    url: str
    store: HedgeStore
    venue: BinanceUsdmVenue | None = None
    executor: LiveExecutor | None = None
    reconciler: LedgerReconciler | None = None

    async def do(self, *calls: Step) -> list[str]:
        assert self.executor is not None
        return await self.executor.execute(list(calls), HEDGE, 1)

    async def reconcile(self, ts_ms: int) -> list[str]:
        assert self.reconciler is not None
        return await self.reconciler.reconcile(ts_ms, force=True)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with local_exchange() as lx, lossy_proxy(lx.url) as (url, faults):
        store = HedgeStore(f"sqlite:///{tmp_path / 'perphedge.db'}")
        store.add_hedge(HedgeRow(id=HEDGE, account=ACCOUNT, asset="BTC", symbol=BTC,
                                 exposure_kind="holding", policy="managed", state="active",
                                 created_ms=1, updated_ms=1, spec_json="{}"))
        yield Rig(lx, faults, url, store)
        store.close()


def _run(rig: Rig, scenario: Callable[[Rig], Awaitable[None]]) -> None:
    """Run ``scenario`` in one event loop with a real ccxt venue through the proxy."""
    async def main() -> None:
        rig.venue = _venue(rig.url)
        rig.executor = LiveExecutor(rig.venue, rig.store, ACCOUNT)
        rig.reconciler = LedgerReconciler(rig.venue, rig.store.ledger(), HEDGE, ACCOUNT, BTC, BTC,
                                          interval_ms=0)
        try:
            await scenario(rig)
        finally:
            await rig.venue.close()

    asyncio.run(main())


def _moves(store: HedgeStore) -> list[MarginMoveRow]:
    with store.session() as s:
        return list(s.scalars(select(MarginMoveRow).where(MarginMoveRow.hedge_id == HEDGE)))


def _exchange_moves(rig: Rig) -> dict[str, tuple[int, Decimal]]:
    """(count, sum) per kind, from the simulator's own ledger."""
    out: dict[str, tuple[int, Decimal]] = {}
    for entry in rig.exchange.exchange.account.ledger:
        kind = {"transfer": "transfer_" + entry.note.removeprefix("to "),
                "margin_add": "margin_add", "margin_remove": "margin_remove"}.get(entry.kind)
        if kind:
            count, total = out.get(kind, (0, ZERO))
            out[kind] = (count + 1, total + entry.amount_usdt)
    return out


def _store_moves(rig: Rig) -> dict[str, tuple[int, Decimal]]:
    out: dict[str, tuple[int, Decimal]] = {}
    for row in _moves(rig.store):
        count, total = out.get(row.kind, (0, ZERO))
        out[row.kind] = (count + 1, total + row.amount_usdt)
    return out


def _exchange_fees_and_fills(rig: Rig) -> tuple[Decimal, Decimal]:
    trades = [t for t in rig.exchange.exchange.book.trades if t.market == "futures"]
    return sum((t.commission for t in trades), ZERO), sum((t.qty for t in trades), ZERO)


def _store_fills(store: HedgeStore) -> Decimal:
    with store.session() as s:
        qty = s.scalars(select(FillRow.qty_base).join(OrderRow)
                        .where(OrderRow.hedge_id == HEDGE)).all()
    return sum(qty, ZERO)


def _exchange_funding(rig: Rig) -> Decimal:
    return sum((e.amount_usdt for e in rig.exchange.exchange.account.ledger
                if e.kind == "funding"), ZERO)


async def _lost_replies(rig: Rig) -> None:
    faults = rig.faults
    await rig.do(SettingsCall(BTC, MarginMode.ISOLATED, 5))

    # A transfer whose reply never comes: found in the transfer history, recorded once.
    faults.lose("POST", TRANSFER, "drop")
    lines = await rig.do(MoneyCall("transfer_futures", BTC, Decimal("10000")))
    assert "history shows it" in lines[0]

    # An order whose reply never comes: resolved by its client id (with its fee).
    faults.lose("POST", "/fapi/v1/order", "drop")
    await rig.do(OrderCall(Market.FUTURES, BTC, Side.SHORT, Decimal("0.100")))
    # An order that filled, but whose read-back (with the fee) failed: fee 0 in the store.
    faults.lose("GET", "/fapi/v1/order", *["drop"] * 10)
    await rig.do(OrderCall(Market.FUTURES, BTC, Side.SHORT, Decimal("0.050")))
    faults.clear("GET", "/fapi/v1/order")

    # A margin move whose reply is cut mid-body, another answered by a 502 page.
    faults.lose("POST", "/fapi/v1/positionMargin", "cut", "502")
    assert "history shows it" in (await rig.do(MoneyCall("margin_add", BTC, Decimal("100"))))[0]
    assert "history shows it" in (
        await rig.do(MoneyCall("margin_remove", BTC, Decimal("30"))))[0]

    # A transfer whose reply is lost while the history cannot be read either: the error
    # stands (the cycle would end), nothing is recorded yet, and nothing is re-sent.
    faults.lose("POST", TRANSFER, "502")
    faults.lose("GET", TRANSFER, *["drop"] * 10)  # more than the read's retries
    with pytest.raises(ExchangeError):
        await rig.do(MoneyCall("transfer_futures", BTC, Decimal("500")))
    faults.clear("GET", TRANSFER)

    # Clean replies: recorded at once, tied to the exchange's ids by the reconciliation.
    await rig.do(MoneyCall("margin_add", BTC, Decimal("100")),
                 MoneyCall("transfer_spot", BTC, Decimal("12.5")))

    # A funding settlement passes (short, positive rate: received).
    rig.exchange.clock.advance(8 * HOUR_MS)

    fees, filled = _exchange_fees_and_fills(rig)
    assert (rig.store.fees_total(HEDGE), fees) == (2, 3)  # the 0.05 BTC order's fee is lost
    assert _store_moves(rig) != _exchange_moves(rig)  # the 500 USDT transfer is missing

    lines = await rig.reconcile(2)
    assert any("whose reply was lost did happen" in line for line in lines), lines
    assert any("fee of order" in line for line in lines), lines

    # The store now equals the exchange's ledger, exactly.
    assert _store_moves(rig) == _exchange_moves(rig) == {
        "transfer_futures": (2, Decimal("10500")), "transfer_spot": (1, Decimal("12.5")),
        "margin_add": (2, Decimal("200")), "margin_remove": (1, Decimal("30")),
    }
    assert all(row.exchange_id for row in _moves(rig.store))
    assert rig.store.fees_total(HEDGE) == fees > 0
    assert _store_fills(rig.store) == filled == Decimal("0.150")
    funding = _exchange_funding(rig)
    assert funding > 0
    assert rig.store.funding_total(HEDGE) == funding

    # And as the exchange's own API tells it (GET /fapi/v1/income, /sapi/v1/asset/transfer).
    assert rig.venue is not None
    income = await rig.venue.ledger_income(0)
    total = {k: sum((e.amount_usdt for e in income if e.kind == k), ZERO)
             for k in ("COMMISSION", "FUNDING_FEE", "TRANSFER")}
    assert -total["COMMISSION"] == rig.store.fees_total(HEDGE)
    assert total["FUNDING_FEE"] == rig.store.funding_total(HEDGE)
    assert total["TRANSFER"] == Decimal("10500") - Decimal("12.5")
    transfers = await rig.venue.ledger_transfers(0)
    assert sorted(m.exchange_id for m in transfers) == sorted(
        str(r.exchange_id) for r in _moves(rig.store) if r.kind.startswith("transfer"))

    # Nothing was sent twice: one POST per transfer, margin move and order.
    assert faults.forwarded[f"POST {TRANSFER}"] == 3
    assert faults.forwarded["POST /fapi/v1/positionMargin"] == 3
    assert faults.forwarded["POST /fapi/v1/order"] == 2

    # Reconciling again changes nothing.
    before = (_store_moves(rig), rig.store.fees_total(HEDGE), rig.store.funding_total(HEDGE))
    assert await rig.reconcile(3) == []
    assert before == (_store_moves(rig), rig.store.fees_total(HEDGE),
                      rig.store.funding_total(HEDGE))


def test_lost_replies_leave_the_store_equal_to_the_exchanges_ledger(rig: Rig) -> None:
    _run(rig, _lost_replies)


async def _not_twice(rig: Rig) -> None:
    rig.faults.lose("POST", TRANSFER, "drop")
    rig.faults.lose("GET", TRANSFER, *["drop"] * 10)
    with pytest.raises(ExchangeError):
        await rig.do(MoneyCall("transfer_futures", BTC, Decimal("2500")))
    rig.faults.clear("GET", TRANSFER)
    assert _moves(rig.store) == []
    # The next cycle plans the transfer again: held back while the first is unconfirmed.
    with pytest.raises(ExchangeError, match="had no clear reply"):
        await rig.do(MoneyCall("transfer_futures", BTC, Decimal("2500")))
    assert rig.faults.forwarded[f"POST {TRANSFER}"] == 1
    for ts in (2, 3):
        await rig.reconcile(ts)
    transfers = [e for e in rig.exchange.exchange.account.ledger if e.kind == "transfer"]
    assert len(transfers) == 1
    assert rig.faults.forwarded[f"POST {TRANSFER}"] == 1
    assert [(m.kind, m.amount_usdt) for m in _moves(rig.store)] == [
        ("transfer_futures", Decimal("2500"))]
    # Settled: transfers go out again.
    await rig.do(MoneyCall("transfer_futures", BTC, Decimal("10")))
    assert rig.faults.forwarded[f"POST {TRANSFER}"] == 2


def test_a_transfer_with_a_lost_reply_is_not_sent_twice(rig: Rig) -> None:
    """The executor never re-sends; the next cycle's reconciliation records it once."""
    _run(rig, _not_twice)


async def _refused(rig: Rig) -> None:
    assert rig.venue is not None
    with pytest.raises(ExchangeError):
        await rig.venue.transfer(Decimal("999999999"), to=Market.FUTURES)
    await rig.do(MoneyCall("transfer_futures", BTC, Decimal("100")))
    assert await rig.reconcile(2) == []
    assert _store_moves(rig) == _exchange_moves(rig) == {
        "transfer_futures": (1, Decimal("100"))}


def test_a_refused_transfer_leaves_nothing_to_record(rig: Rig) -> None:
    """The exchange says no (more than the spot wallet holds): nothing in its history, so the
    reconciliation records only the transfer that happened."""
    _run(rig, _refused)


async def _paged(rig: Rig) -> None:
    assert rig.venue is not None
    await rig.do(MoneyCall("transfer_futures", BTC, Decimal("5000")),
                 *[OrderCall(Market.FUTURES, BTC, Side.SHORT, Decimal("0.010"))] * 5)
    twenty_days_before = T0_MS - 20 * 24 * HOUR_MS
    fills = await rig.venue.ledger_fills(Market.FUTURES, BTC, twenty_days_before)
    assert len(fills) == 5
    assert len({f.trade_id for f in fills}) == 5
    assert sum((f.qty_base for f in fills), ZERO) == Decimal("0.050")


def test_trades_are_read_in_seven_day_windows_and_pages(rig: Rig,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 2 (``fromId`` after the first) over three 7-day windows: every trade once."""
    monkeypatch.setattr(ccxt_ledger_binance, "TRADES_PAGE", 2)
    _run(rig, _paged)


async def _engine_cycles(rig: Rig) -> None:
    assert rig.venue is not None
    assert rig.executor is not None
    engine = HedgeEngine(hedge_config(name=HEDGE, account=ACCOUNT), rig.venue, rig.store,
                         rig.executor, ManualClock(T0_MS + HOUR_MS))
    engine.ledger.interval_ms = 0  # reconcile every cycle here
    rig.faults.lose("POST", TRANSFER, "drop")  # the margin transfer's reply is lost
    rig.faults.lose("GET", "/fapi/v1/order", *["drop"] * 10)  # and the fee read-back
    first = await engine.cycle()
    rig.faults.clear("GET", "/fapi/v1/order")
    assert first.status == "acted", first.lines
    assert any("history shows it" in line for line in first.lines), first.lines
    rig.exchange.clock.advance(8 * HOUR_MS)  # a funding settlement
    second = await engine.cycle()
    assert any("fee of order" in line for line in second.lines), second.lines


def test_the_engine_cycle_keeps_the_store_equal_to_the_ledger(rig: Rig) -> None:
    """``perphedge run``'s cycle through real ccxt: a lost transfer reply and a lost fee,
    then the next cycle's reconciliation; transfers, fees and funding equal the ledger."""
    with rig.exchange.exchange.lock:
        rig.exchange.exchange.account.deposit("BTC", Decimal("0.5"), T0_MS)
    _run(rig, _engine_cycles)
    assert _store_moves(rig) == _exchange_moves(rig) != {}
    fees, filled = _exchange_fees_and_fills(rig)
    assert rig.store.fees_total(HEDGE) == fees > 0
    assert _store_fills(rig.store) == filled == Decimal("0.5")
    assert rig.store.funding_total(HEDGE) == _exchange_funding(rig) != 0
    assert rig.faults.forwarded[f"POST {TRANSFER}"] == _exchange_moves(rig)[
        "transfer_futures"][0]


async def _foreign(rig: Rig) -> None:
    assert rig.venue is not None
    await rig.do(MoneyCall("transfer_futures", BTC, Decimal("5000")),
                 OrderCall(Market.FUTURES, BTC, Side.SHORT, Decimal("0.010")))
    await rig.venue.place_order(OrderRequest("manual-1", Market.FUTURES, BTC, Side.SHORT,
                                             Decimal("0.020")))
    first = await rig.reconcile(2)
    assert [line for line in first if "not in perphedge's records" in line] == [
        "ledger: exchange order 1000002 on BTCUSDT has trades but is not in perphedge's "
        "records (placed outside perphedge?)"]
    rig.exchange.clock.advance(60_000)
    assert await rig.reconcile(3) == []  # said once, not every pass


def test_trades_of_an_order_perphedge_did_not_place_are_reported_once(rig: Rig) -> None:
    _run(rig, _foreign)
