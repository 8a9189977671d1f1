"""Migration 0003 (margin moves' exchange ids, ledger cursors) on a store that predates it:
old moves are kept and never matched again; the ledger then starts from the exchange's now,
so nothing already recorded is recorded twice; downgrade goes back to 0002."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, select, text

from perphedge.adapters.store.ledger_store import RESOLVED, UNRESOLVED, LedgerStore
from perphedge.adapters.store.migrate import alembic_config
from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.schema import HedgeRow, MarginMoveRow, OrderRow
from perphedge.domain.types import MarginMode, Side
from perphedge.engine.ledger import LedgerReconciler
from perphedge.engine.reconcile import record_venue_order
from perphedge.engine.venue import Market, OrderRequest
from tests.integration.postgres_server import postgres_url
from tests.unit.test_paper_venue import BTC, venue_on


def _old_store(url: str) -> None:
    engine = create_engine(url)
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
        connection.execute(text(
            "INSERT INTO hedges VALUES ('btc', 'main', 'BTC', 'BTCUSDT', 'holding', "
            "'managed', 'active', 1, 1, '{}')"))
        connection.execute(text(
            "INSERT INTO margin_moves (hedge_id, ts_ms, kind, amount_usdt, note, from_reserve) "
            "VALUES ('btc', 2, 'transfer_futures', '1000', 'BTCUSDT', 0)"))
    engine.dispose()


def test_an_old_store_is_upgraded_and_its_moves_are_not_recorded_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _old_store(url)
    paper, _ = venue_on(["40000"] * 8, usdt="5000")
    # The transfer the old store recorded, on the exchange.
    asyncio.run(paper.transfer(Decimal("1000"), to=Market.FUTURES))

    store = HedgeStore(url)  # opening upgrades to head
    try:
        assert "ledger_cursors" in inspect(store.engine).get_table_names()
        assert LedgerStore(store).has_untimed_moves("btc")
        # The hedge then traded (a fill in the exchange's time, as the engine records it).
        store.record_order_intent(OrderRow(
            hedge_id="btc", account="main", client_order_id="ph-btc-1", market="futures",
            symbol=BTC, side="sell", order_type="market", qty_base=Decimal("0.01"),
            price_usdt=None, reduce_only=False, state="pending_submit",
            filled_qty_base=Decimal(0), avg_price_usdt=None, created_ms=3, updated_ms=3,
            note=""))
        asyncio.run(paper.set_margin_mode(BTC, MarginMode.ISOLATED))
        got = asyncio.run(paper.place_order(OrderRequest(
            "ph-btc-1", Market.FUTURES, BTC, Side.SHORT, Decimal("0.01"))))
        record_venue_order(store, "main", got, 3)
        reconciler = LedgerReconciler(paper, store.ledger(), "btc", "main", BTC, BTC, interval_ms=0)
        for ts in (3, 4):
            asyncio.run(reconciler.reconcile(ts, force=True))
        with store.session() as s:
            moves = s.scalars(select(MarginMoveRow)).all()
        assert [(m.amount_usdt, m.exchange_id) for m in moves] == [(Decimal("1000"), None)]
    finally:
        store.close()


def test_0003_downgrades_to_0002(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'down.db'}"
    HedgeStore(url).close()
    engine = create_engine(url)
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    names = inspect(engine).get_table_names()
    columns = {c["name"] for c in inspect(engine).get_columns("margin_moves")}
    engine.dispose()
    assert "ledger_cursors" not in names
    assert "exchange_id" not in columns


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HedgeStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
        yield HedgeStore(url)
        return
    with postgres_url() as url:
        s = HedgeStore(url)
        try:
            yield s
        finally:
            s.close()


def test_moves_are_inserted_once_by_exchange_id_and_cursors_only_advance(
        store: HedgeStore) -> None:
    store.add_hedge(HedgeRow(id="btc", account="main", asset="BTC", symbol=BTC,
                             exposure_kind="holding", policy="managed", state="active",
                             created_ms=1, updated_ms=1, spec_json="{}"))
    ledger = LedgerStore(store)

    def row(exchange_id: str | None) -> MarginMoveRow:
        return MarginMoveRow(hedge_id="btc", ts_ms=5, kind="transfer_futures",
                             amount_usdt=Decimal("12.5"), note=BTC, exchange_id=exchange_id,
                             exchange_ts_ms=1_000)

    assert ledger.add_move(row("900000001"))
    assert not ledger.add_move(row("900000001"))  # the same exchange row: refused
    assert ledger.add_move(row(None))  # from clean replies: no id yet, any number
    assert ledger.add_move(row(None))
    kinds = ("transfer_futures",)
    assert ledger.known_move_ids("main", kinds, 0) == {"900000001"}
    unclaimed = ledger.unclaimed_moves("main", kinds, 0)
    assert len(unclaimed) == 2
    ledger.claim(unclaimed[0].id, "900000002", 1_001)
    assert ledger.known_move_ids("main", kinds, 0) == {"900000001", "900000002"}
    ledger.set_cursor("btc", "transfers", 2_000)
    ledger.set_cursor("btc", "transfers", 1_500)  # never backwards
    assert ledger.cursor("btc", "transfers") == 2_000
    store.record_decision("btc", 7, UNRESOLVED, {"kind": "transfer_spot", "symbol": BTC,
                                                  "amount": "3", "before_ms": 900,
                                                  "from_reserve": True})
    (pending,) = ledger.unresolved("btc", 0)
    store.record_decision("btc", 8, RESOLVED, {"unresolved_id": pending["id"]})
    assert ledger.unresolved("btc", 0) == []
    assert ledger.earliest_activity("btc", 0) == 1_000
