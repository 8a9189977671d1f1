"""margin moves carry the exchange's id and time; a cursor per hedge and history stream

A transfer or margin move is matched to the exchange's own history (by its id once known),
so a lost reply never loses or doubles one; the cursors keep that reconciliation incremental.

Revision ID: 0005_ledger_exchange_ids
Revises: 0004_leases_alerts
Create Date: 2026-12-02 17:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_ledger_exchange_ids"
down_revision = "0004_leases_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("margin_moves") as batch:
        batch.add_column(sa.Column("exchange_id", sa.String(length=96), nullable=True))
        batch.add_column(sa.Column("exchange_ts_ms", sa.BigInteger(), nullable=True))
        batch.create_unique_constraint("uq_margin_moves_hedge_exchange_id",
                                       ["hedge_id", "exchange_id"])
    op.create_table(
        "ledger_cursors",
        sa.Column("hedge_id", sa.String(length=64), nullable=False),
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["hedge_id"], ["hedges.id"]),
        sa.PrimaryKeyConstraint("hedge_id", "stream"),
    )


def downgrade() -> None:
    op.drop_table("ledger_cursors")
    with op.batch_alter_table("margin_moves") as batch:
        batch.drop_constraint("uq_margin_moves_hedge_exchange_id", type_="unique")
        batch.drop_column("exchange_ts_ms")
        batch.drop_column("exchange_id")
