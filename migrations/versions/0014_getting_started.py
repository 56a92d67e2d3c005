"""Getting started: the Hub's first-run flow records when it began and
ended, and an agency may choose offline payments only (no Stripe).

A business set up before the flow existed (a currency and a company name)
is not sent through it: the Hub only asks while the flow is under way, or
while the currency or the company name is missing.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("business_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("getting_started_at", sa.DateTime(timezone=True)))
        batch_op.add_column(sa.Column("getting_started_done_at", sa.DateTime(timezone=True)))
        batch_op.add_column(
            sa.Column(
                "offline_payments_only", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("business_settings", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("offline_payments_only")
        batch_op.drop_column("getting_started_done_at")
        batch_op.drop_column("getting_started_at")
