"""Tables of the store: hedges, orders, fills, funding, margin moves, snapshots, decisions.

Money and quantities are stored as exact decimal text (:class:`DecimalText`) on every database:
SQLite has no decimal type, and a float must never stand in for money.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class DecimalText(TypeDecorator[Decimal]):
    """A Decimal stored as its exact string; read back as the same Decimal."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not isinstance(value, Decimal) or not value.is_finite():
            raise TypeError(f"expected a finite Decimal, got {value!r}")
        return format(value, "f")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value))


class Base(DeclarativeBase):
    """Declarative base of every table."""


class HedgeRow(Base):
    """A hedge the engine manages: what it hedges, how, and its state."""

    __tablename__ = "hedges"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(String(64))
    asset: Mapped[str] = mapped_column(String(16))
    symbol: Mapped[str] = mapped_column(String(32))
    exposure_kind: Mapped[str] = mapped_column(String(16))
    policy: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    spec_json: Mapped[str] = mapped_column(Text)
    #: Bumped by every state change: a change is written only over the version it was decided
    #: on (compare-and-set), so a cycle's late refusal never overwrites a newer ``resume``.
    state_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class OrderRow(Base):
    """An order, recorded with its client id *before* it is sent (so a retry can find it)."""

    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("account", "client_order_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    hedge_id: Mapped[str] = mapped_column(ForeignKey("hedges.id"))
    account: Mapped[str] = mapped_column(String(64))
    client_order_id: Mapped[str] = mapped_column(String(64))
    exchange_order_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    market: Mapped[str] = mapped_column(String(16))  # futures | spot
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))  # buy | sell
    order_type: Mapped[str] = mapped_column(String(16))
    qty_base: Mapped[Decimal] = mapped_column(DecimalText)
    price_usdt: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    reduce_only: Mapped[bool]
    state: Mapped[str] = mapped_column(String(24))
    filled_qty_base: Mapped[Decimal] = mapped_column(DecimalText)
    avg_price_usdt: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(Text, default="")


class FillRow(Base):
    """One execution of an order."""

    __tablename__ = "fills"
    __table_args__ = (UniqueConstraint("order_id", "trade_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    trade_id: Mapped[str] = mapped_column(String(64))
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    qty_base: Mapped[Decimal] = mapped_column(DecimalText)
    price_usdt: Mapped[Decimal] = mapped_column(DecimalText)
    fee_usdt: Mapped[Decimal] = mapped_column(DecimalText)


class FundingRow(Base):
    """A funding settlement: positive amount received, negative paid."""

    __tablename__ = "funding_payments"
    __table_args__ = (UniqueConstraint("hedge_id", "symbol", "ts_ms"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    hedge_id: Mapped[str] = mapped_column(ForeignKey("hedges.id"))
    symbol: Mapped[str] = mapped_column(String(32))
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    rate: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    amount_usdt: Mapped[Decimal] = mapped_column(DecimalText)


class MarginMoveRow(Base):
    """Margin added to or removed from a position, or USDT moved between wallets."""

    __tablename__ = "margin_moves"
    __table_args__ = (UniqueConstraint("hedge_id", "exchange_id",
                                       name="uq_margin_moves_hedge_exchange_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    hedge_id: Mapped[str] = mapped_column(ForeignKey("hedges.id"))
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(24))  # margin_add | margin_remove | transfer_*
    amount_usdt: Mapped[Decimal] = mapped_column(DecimalText)
    note: Mapped[str] = mapped_column(Text, default="")
    # USDT taken from the reserve policy's reserve (counted down by these, across restarts).
    from_reserve: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The exchange's id of the move (Binance's tranId) once its history confirmed it, and its
    # time on the exchange (before that: the exchange's time just before it was sent).
    exchange_id: Mapped[str | None] = mapped_column(String(96), nullable=True, default=None)
    exchange_ts_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True, default=None)


class SnapshotRow(Base):
    """A periodic picture of a hedge, for status and history."""

    __tablename__ = "snapshots"
    __table_args__ = (Index("ix_snapshots_hedge_ts", "hedge_id", "ts_ms"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    hedge_id: Mapped[str] = mapped_column(ForeignKey("hedges.id"))
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    spot_qty_base: Mapped[Decimal] = mapped_column(DecimalText)
    hedge_qty_base: Mapped[Decimal] = mapped_column(DecimalText)
    mark_price_usdt: Mapped[Decimal] = mapped_column(DecimalText)
    liquidation_price_usdt: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    margin_balance_usdt: Mapped[Decimal] = mapped_column(DecimalText)
    unrealized_pnl_usdt: Mapped[Decimal] = mapped_column(DecimalText)


class DecisionRow(Base):
    """The audit log: every decision with what was observed and what was done."""

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_hedge_ts", "hedge_id", "ts_ms"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    hedge_id: Mapped[str] = mapped_column(ForeignKey("hedges.id"))
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    payload_json: Mapped[str] = mapped_column(Text)


class LeaseRow(Base):
    """Who runs an account's hedges: one row per lease, taken over only once it has expired."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)  # "account:<name>"
    holder: Mapped[str] = mapped_column(String(200))  # host/pid/token of the process
    host: Mapped[str] = mapped_column(String(128))
    pid: Mapped[int] = mapped_column(BigInteger)
    acquired_ms: Mapped[int] = mapped_column(BigInteger)
    renewed_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int] = mapped_column(BigInteger)


class HeartbeatRow(Base):
    """The last cycle of a hedge in the service: when, how it ended, how many failed in a row."""

    __tablename__ = "heartbeats"

    hedge_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    failing_cycles: Mapped[int] = mapped_column(default=0)
    holder: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[str] = mapped_column(Text, default="")


class AlertRow(Base):
    """An alert as sent (or tried): what, when, and each channel's delivery result (masked)."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_key_ts", "key", "ts_ms"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200))
    hedge_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))  # event | fire | repeat | resolved | test
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    delivered: Mapped[bool] = mapped_column(default=False)
    delivery: Mapped[str] = mapped_column(Text, default="")  # per channel, URLs masked
    failed_channels: Mapped[str] = mapped_column(String(200), default="")  # indices to retry
    attempts: Mapped[int] = mapped_column(default=0)


class AlertStateRow(Base):
    """A condition alert that holds: since when and when it was last sent (deduplication)."""

    __tablename__ = "alert_states"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    hedge_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    title: Mapped[str] = mapped_column(String(200))
    since_ms: Mapped[int] = mapped_column(BigInteger)
    last_sent_ms: Mapped[int] = mapped_column(BigInteger)


class LedgerCursorRow(Base):
    """How far a hedge's store was reconciled with one stream of the exchange's history
    (``stream``: ``transfers``, ``margin:BTCUSDT``, ``fills:futures:BTCUSDT``), in the
    exchange's time."""

    __tablename__ = "ledger_cursors"

    hedge_id: Mapped[str] = mapped_column(ForeignKey("hedges.id"), primary_key=True)
    stream: Mapped[str] = mapped_column(String(64), primary_key=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
