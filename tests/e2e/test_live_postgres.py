"""``--db postgresql://…`` works end to end: the CLI records a live hedge in a real PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.schema import OrderRow
from tests.e2e.test_live_cli import Live, running_live
from tests.integration.postgres_server import postgres_url


@pytest.fixture
def pg() -> Iterator[str]:
    with postgres_url() as url:
        # A plain postgresql:// URL, as a user would type it.
        yield url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with running_live(tmp_path) as state:
        yield state


def test_open_and_status_with_a_postgresql_store(live: Live, pg: str) -> None:
    code, out, err = live.cli("open", "btc", "--yes", "--db", pg)
    assert code == 0, err
    assert live.position() == Decimal("-1")
    code, out, err = live.cli("status", "--json", "--db", pg)
    assert code == 0, err
    (row,) = json.loads(out)
    assert Decimal(row["hedge_quantity"]) == Decimal(1)
    store = HedgeStore(pg)
    try:
        assert store.engine.dialect.name == "postgresql"
        orders = store.orders("btc")
        assert [o.client_order_id for o in orders] == ["ph-btc-1"]
        assert orders[0].state == "filled"
        assert store.count(OrderRow) == 1
    finally:
        store.close()
    # The SQLite file named in the config was never used.
    assert not (Path(live.db_url.removeprefix("sqlite:///"))).exists()
