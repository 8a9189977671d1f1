"""margin moves remember whether they came from the reserve

The reserve policy's reserve is counted down by what was moved out of it, across restarts
(the backtest counts it down the same way).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 23:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("margin_moves") as batch:
        batch.add_column(sa.Column("from_reserve", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("margin_moves") as batch:
        batch.drop_column("from_reserve")
