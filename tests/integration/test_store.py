"""The store on real databases: an SQLite file and a PostgreSQL server started for the test."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import inspect

from perphedge.adapters.store.repository import OPEN_ORDER_STATES, HedgeStore
from perphedge.adapters.store.schema import (
    FillRow,
    FundingRow,
    HedgeRow,
    MarginMoveRow,
    OrderRow,
    SnapshotRow,
)
from perphedge.errors import DataError, HedgeStopped
from tests.integration.postgres_server import postgres_url


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_url() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HedgeStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'perphedge.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    s = HedgeStore(url)
    yield s
    if request.param == "postgresql":
        with s.engine.begin() as conn:
            for table in ("ledger_cursors", "decisions", "snapshots", "margin_moves",
                          "funding_payments", "fills",
                          "orders", "hedges", "alembic_version"):
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table} CASCADE")
    s.close()


def _hedge(hedge_id: str = "btc-main") -> HedgeRow:
    return HedgeRow(id=hedge_id, account="main", asset="BTC", symbol="BTCUSDT",
                    exposure_kind="holding", policy="managed", state="open", created_ms=1,
                    updated_ms=1, spec_json="{}")


def _order(cid: str, qty: str = "5.001") -> OrderRow:
    return OrderRow(hedge_id="btc-main", account="main", client_order_id=cid, market="futures",
                    symbol="BTCUSDT", side="sell", order_type="market", qty_base=Decimal(qty),
                    price_usdt=None, reduce_only=False, state="", filled_qty_base=Decimal(0),
                    avg_price_usdt=None, created_ms=2, updated_ms=2, note="")


def test_migrations_create_every_table(store: HedgeStore) -> None:
    tables = set(inspect(store.engine).get_table_names())
    assert {"hedges", "orders", "fills", "funding_payments", "margin_moves", "snapshots",
            "decisions", "alembic_version"} <= tables
    HedgeStore(store.url).close()  # opening again is a no-op upgrade


def test_order_is_recorded_before_sending_and_its_client_id_is_unique(store: HedgeStore) -> None:
    store.add_hedge(_hedge())
    store.record_order_intent(_order("ph-1"))
    with pytest.raises(DataError, match="already recorded"):
        store.record_order_intent(_order("ph-1"))
    pending = store.orders("btc-main", OPEN_ORDER_STATES)
    assert [o.client_order_id for o in pending] == ["ph-1"]
    assert pending[0].state == "pending_submit"
    store.update_order("ph-1", "main", state="filled", exchange_order_id="42",
                       filled_qty_base=Decimal("5.001"), avg_price_usdt=Decimal("90000.1"))
    assert store.orders("btc-main", OPEN_ORDER_STATES) == []
    row = store.order("ph-1", "main")
    assert row is not None
    assert row.avg_price_usdt == Decimal("90000.1")


def test_money_round_trips_exactly(store: HedgeStore) -> None:
    store.add_hedge(_hedge())
    store.record_order_intent(_order("ph-2", "0.123456789012345678"))
    row = store.order("ph-2", "main")
    assert row is not None
    assert row.qty_base == Decimal("0.123456789012345678")
    assert store.record_funding(FundingRow(hedge_id="btc-main", symbol="BTCUSDT", ts_ms=1,
                                           rate=Decimal("0.0001"), amount_usdt=Decimal("45.01")))
    assert not store.record_funding(FundingRow(hedge_id="btc-main", symbol="BTCUSDT", ts_ms=1,
                                               rate=Decimal("0.0001"),
                                               amount_usdt=Decimal("45.01")))
    store.record_funding(FundingRow(hedge_id="btc-main", symbol="BTCUSDT", ts_ms=2, rate=None,
                                    amount_usdt=Decimal("-0.02")))
    assert store.funding_total("btc-main") == Decimal("44.99")


def test_fills_are_idempotent_and_sum_fees(store: HedgeStore) -> None:
    store.add_hedge(_hedge())
    order = store.record_order_intent(_order("ph-3"))
    fill = {"order_id": order.id, "ts_ms": 3, "qty_base": Decimal(1),
            "price_usdt": Decimal(90000), "fee_usdt": Decimal("45")}
    assert store.record_fill(FillRow(trade_id="t1", **fill))
    assert not store.record_fill(FillRow(trade_id="t1", **fill))
    assert store.record_fill(FillRow(trade_id="t2", **fill))
    assert store.fees_total("btc-main") == Decimal(90)


def test_snapshots_and_decisions_come_back_newest_first(store: HedgeStore) -> None:
    store.add_hedge(_hedge())
    for ts in (10, 30, 20):
        store.record_snapshot(SnapshotRow(
            hedge_id="btc-main", ts_ms=ts, spot_qty_base=Decimal(5), hedge_qty_base=Decimal(5),
            mark_price_usdt=Decimal(90000), liquidation_price_usdt=None,
            margin_balance_usdt=Decimal(225000), unrealized_pnl_usdt=Decimal(0)))
        store.record_decision("btc-main", ts, "rebalance", {"qty": Decimal("0.5")})
    latest = store.latest_snapshot("btc-main")
    assert latest is not None
    assert latest.ts_ms == 30
    decisions = store.decisions("btc-main")
    assert [d.ts_ms for d in decisions] == [30, 20, 10]
    assert '"qty": "0.5"' in decisions[0].payload_json
    with pytest.raises(DataError, match="already exists"):
        store.add_hedge(_hedge())


def test_cheap_queries_the_engine_runs_every_cycle(store: HedgeStore) -> None:
    store.add_hedge(_hedge())
    assert not store.has_orders("btc-main")
    assert store.last_client_order_id("btc-main") is None
    for n, (side, filled) in enumerate([("sell", "1.5"), ("buy", "0.5"), ("sell", "0")], 1):
        store.record_order_intent(_order(f"ph-btc-main-{n}"))
        store.update_order(f"ph-btc-main-{n}", "main", side=side,
                           filled_qty_base=Decimal(filled))
    assert store.has_orders("btc-main")
    assert store.last_client_order_id("btc-main") == "ph-btc-main-3"
    assert sorted(store.filled_futures("btc-main")) == [("buy", Decimal("0.5")),
                                                        ("sell", Decimal("1.5"))]


def test_has_futures_fill_sees_fills_and_partially_filled_cancels(store: HedgeStore) -> None:
    store.add_hedge(_hedge())
    store.record_order_intent(_order("ph-btc-main-1"))
    assert not store.has_futures_fill("btc-main")
    store.update_order("ph-btc-main-1", "main", state="canceled",
                       filled_qty_base=Decimal("0.2"))
    assert store.has_futures_fill("btc-main")


def test_the_kill_switch_rolls_back_the_intent_and_keeps_the_deferred_audit_rows(
        store: HedgeStore) -> None:
    store.add_hedge(_hedge())
    store.defer_decision("btc-main", 3, "decision", {"actions": ["short 5.001"]})
    other = HedgeStore(store.url)  # `perphedge pause` in another process
    try:
        assert store.hedge_state("btc-main") == "open"  # the held connection reads it...
        other.set_hedge_state("btc-main", "paused", 3)
        assert store.hedge_state("btc-main") == "paused"  # ...and keeps no stale snapshot
        with pytest.raises(HedgeStopped, match="'btc-main' is paused"):
            store.record_order_intent(_order("ph-btc-main-1"), stop_states=("paused",))
    finally:
        other.close()
    assert store.orders("btc-main") == []
    assert store.decisions("btc-main") == []  # rolled back with the order, still queued
    store.flush()
    assert [d.kind for d in store.decisions("btc-main")] == ["decision"]
    # Another state lets the order through, with the audit rows of the next write.
    store.set_hedge_state("btc-main", "active", 4)
    store.record_order_intent(_order("ph-btc-main-1"), stop_states=("paused",))
    assert [o.state for o in store.orders("btc-main")] == ["pending_submit"]


def test_a_store_from_before_the_reserve_column_is_upgraded_in_place(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import create_engine, text

    from perphedge.adapters.store.migrate import alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(text(
            "INSERT INTO hedges VALUES ('btc-main', 'main', 'BTC', 'BTCUSDT', 'holding', "
            "'reserve', 'active', 1, 1, '{}')"))
        connection.execute(text(
            "INSERT INTO margin_moves (hedge_id, ts_ms, kind, amount_usdt, note) "
            "VALUES ('btc-main', 2, 'transfer_futures', '250.5', 'BTCUSDT')"))
    engine.dispose()

    store = HedgeStore(url)  # opening upgrades to head
    try:
        assert store.reserve_spent("btc-main") == 0  # old moves did not come from the reserve
        store.record_margin_move(MarginMoveRow(hedge_id="btc-main", ts_ms=3,
                                               kind="transfer_futures",
                                               amount_usdt=Decimal("99.25"), note="BTCUSDT",
                                               from_reserve=True))
        assert store.reserve_spent("btc-main") == Decimal("99.25")
    finally:
        store.close()
