"""Overdue and grace: the business's grace period after an invoice's due
date and what happens after it, per product category
(``business_settings.overdue_grace``, JSON; empty means the defaults).

Revision ID: 0024
Revises: 0023
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | Sequence[str] | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("business_settings", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("overdue_grace", sa.JSON(), nullable=False, server_default="{}")
        )


def downgrade() -> None:
    with op.batch_alter_table("business_settings", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("overdue_grace")
