"""run leases, heartbeats and alerts of the service

One lease per account (``perphedge run`` and ``perphedge serve`` take it), a heartbeat per
hedge, every alert with its delivery result, and the conditions currently alerted on.

Revision ID: 0004_leases_alerts
Revises: 0003_hedge_state_version
Create Date: 2026-12-02 17:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_leases_alerts"
down_revision = "0003_hedge_state_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("host", sa.String(128), nullable=False),
        sa.Column("pid", sa.BigInteger(), nullable=False),
        sa.Column("acquired_ms", sa.BigInteger(), nullable=False),
        sa.Column("renewed_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "heartbeats",
        sa.Column("hedge_id", sa.String(64), primary_key=True),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failing_cycles", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("hedge_id", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("delivery", sa.Text(), nullable=False),
        sa.Column("failed_channels", sa.String(200), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
    )
    op.create_index("ix_alerts_key_ts", "alerts", ["key", "ts_ms"])
    op.create_table(
        "alert_states",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("hedge_id", sa.String(64), nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("since_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_sent_ms", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alert_states")
    op.drop_index("ix_alerts_key_ts", table_name="alerts")
    op.drop_table("alerts")
    op.drop_table("heartbeats")
    op.drop_table("leases")
