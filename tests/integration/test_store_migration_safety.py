"""A migration commits whole or not at all, and two processes may open a new store at once.

Found by the fault rounds (docs/faults.md, findings 8 and 9): a process killed during its
first migration left SQLite tables without the revision stamp (every later start failed with
"table hedges already exists"), and two engines starting on a new store raced in the DDL.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from perphedge.adapters.store.migrate import _migration_engine, alembic_config, normalize_url
from perphedge.adapters.store.repository import HedgeStore
from tests.integration.postgres_server import drop_every_table, postgres_url

OPEN = "import sys; from perphedge.adapters.store.repository import HedgeStore; " \
       "HedgeStore(sys.argv[1]).close()"


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_url() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'new.db'}"
        return
    pg: str = request.getfixturevalue("pg_url")
    drop_every_table(pg)
    yield pg
    drop_every_table(pg)


def _die_halfway(url: str) -> None:
    """Migrate part of the way inside the store's migration transaction, then die."""
    config = alembic_config(normalize_url(url))
    engine = _migration_engine(normalize_url(url))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0003_hedge_state_version")  # tables created ...
            raise RuntimeError("stopped before the commit")  # ... and the process dies
    finally:
        engine.dispose()


def test_a_migration_stopped_halfway_leaves_nothing_behind(url: str) -> None:
    with pytest.raises(RuntimeError, match="stopped"):
        _die_halfway(url)

    store = HedgeStore(url)  # the next start migrates from scratch
    try:
        tables = set(inspect(store.engine).get_table_names())
        assert {"hedges", "orders", "leases", "ledger_cursors", "alembic_version"} <= tables
    finally:
        store.close()


def test_two_processes_opening_a_new_store_at_once_both_succeed(url: str,
                                                                tmp_path: Path) -> None:
    for attempt in range(3):
        if url.startswith("sqlite"):
            target = f"sqlite:///{tmp_path / f'race{attempt}.db'}"
        else:
            drop_every_table(url)
            target = url
        procs = [subprocess.Popen([sys.executable, "-c", OPEN, target],
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
