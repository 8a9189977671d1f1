"""hedges carry a state version for compare-and-set state changes

``pause``, ``resume``, ``close`` and the engine's own ACTIVE/HALTED transitions write a new state
only over the version they read (``UPDATE … WHERE state_version = :seen``), so a cycle that
began before a ``resume`` cannot halt the hedge again after it.

Revision ID: 0003_hedge_state_version
Revises: 0002
Create Date: 2026-12-02 17:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_hedge_state_version"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hedges") as batch:
        batch.add_column(sa.Column("state_version", sa.BigInteger(), nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("hedges") as batch:
        batch.drop_column("state_version")
