"""Open the store's database and bring its schema to the latest Alembic revision."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config for ``url`` whose scripts ship inside the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: object, _record: object) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        # WAL lets `perphedge status` read while `run` writes; foreign keys are off by default.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # In WAL mode NORMAL survives a killed process (what crash safety needs here); only a
        # power cut can lose the last commits. FULL would fsync on every commit.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs (SQLAlchemy's default is
    psycopg2, which perphedge does not install).

    >>> normalize_url("postgresql://me@localhost/perphedge")
    'postgresql+psycopg://me@localhost/perphedge'
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


#: The PostgreSQL advisory lock every perphedge process takes to migrate (any constant key).
MIGRATION_LOCK_KEY = 0x70687367  # "phsg"


def _migration_engine(url: str) -> Engine:
    """An engine whose transactions really enclose DDL, and that one process at a time holds.

    Python's sqlite3 module begins a transaction only before INSERT/UPDATE/DELETE, so a
    ``CREATE TABLE`` commits on its own: a process killed halfway through the first migration
    left tables without the revision stamp, and every later start failed ("table hedges
    already exists"). Here the driver's own transaction handling is off and each transaction
    is ``BEGIN IMMEDIATE``: the whole upgrade commits or nothing does, and a second process
    starting on the same new file waits for the first (up to 30 s) and then finds the schema
    at head. SQLAlchemy documents this recipe ("Serializable isolation / Savepoints /
    Transactional DDL" for pysqlite).
    """
    if not url.startswith("sqlite"):
        return create_engine(url)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.isolation_level = None  # type: ignore[attr-defined]

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def upgrade_to_head(url: str) -> None:
    """Bring the schema at ``url`` to the latest revision, atomically and one process at a time.

    PostgreSQL runs DDL in transactions already; two processes migrating a new database at
    once are serialised by a transaction-scoped advisory lock taken before Alembic reads the
    current revision, so the second finds the first's work instead of repeating it.
    """
    engine = _migration_engine(url)
    try:
        config = alembic_config(url)
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": MIGRATION_LOCK_KEY})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()


def open_engine(url: str) -> Engine:
    """Upgrade the schema at ``url`` to head, then create the store's engine for it."""
    url = normalize_url(url)
    upgrade_to_head(url)
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        _sqlite_pragmas(engine)
    return engine
