"""Pausing a subscription: when the pause was asked for and the date it
ends (none: until resumed by hand). The pause starts when the paid period
ends; no renewal while paused; on resuming, a new period starts.

Revision ID: 0019
Revises: 0018
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_subscriptions_paused_until", ["paused_until"])


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None, recreate="never") as batch_op:
        batch_op.drop_index("ix_subscriptions_paused_until")
        batch_op.drop_column("paused_until")
        batch_op.drop_column("paused_at")
