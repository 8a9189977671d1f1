"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23 20:57:32.094368
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "hedges",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("exposure_kind", sa.String(length=16), nullable=False),
        sa.Column("policy", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("hedge_id", sa.String(length=64), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["hedge_id"],
            ["hedges.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index("ix_decisions_hedge_ts", ["hedge_id", "ts_ms"], unique=False)

    op.create_table(
        "funding_payments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("hedge_id", sa.String(length=64), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("rate", sa.String(length=64), nullable=True),
        sa.Column("amount_usdt", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["hedge_id"],
            ["hedges.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hedge_id", "symbol", "ts_ms"),
    )
    op.create_table(
        "margin_moves",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("hedge_id", sa.String(length=64), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("amount_usdt", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["hedge_id"],
            ["hedges.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("hedge_id", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column("exchange_order_id", sa.String(length=64), nullable=True),
        sa.Column("market", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("order_type", sa.String(length=16), nullable=False),
        sa.Column("qty_base", sa.String(length=64), nullable=False),
        sa.Column("price_usdt", sa.String(length=64), nullable=True),
        sa.Column("reduce_only", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("filled_qty_base", sa.String(length=64), nullable=False),
        sa.Column("avg_price_usdt", sa.String(length=64), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["hedge_id"],
            ["hedges.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account", "client_order_id"),
    )
    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("hedge_id", sa.String(length=64), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("spot_qty_base", sa.String(length=64), nullable=False),
        sa.Column("hedge_qty_base", sa.String(length=64), nullable=False),
        sa.Column("mark_price_usdt", sa.String(length=64), nullable=False),
        sa.Column("liquidation_price_usdt", sa.String(length=64), nullable=True),
        sa.Column("margin_balance_usdt", sa.String(length=64), nullable=False),
        sa.Column("unrealized_pnl_usdt", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["hedge_id"],
            ["hedges.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.create_index("ix_snapshots_hedge_ts", ["hedge_id", "ts_ms"], unique=False)

    op.create_table(
        "fills",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("trade_id", sa.String(length=64), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("qty_base", sa.String(length=64), nullable=False),
        sa.Column("price_usdt", sa.String(length=64), nullable=False),
        sa.Column("fee_usdt", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_id", "trade_id"),
    )


def downgrade() -> None:

    op.drop_table("fills")
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_snapshots_hedge_ts")

    op.drop_table("snapshots")
    op.drop_table("orders")
    op.drop_table("margin_moves")
    op.drop_table("funding_payments")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_decisions_hedge_ts")

    op.drop_table("decisions")
    op.drop_table("hedges")
