"""The scheduler: the business time zone, dunning and reminder settings, and
the bookkeeping that makes collection and reminders happen once.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("business_settings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("timezone", sa.String(length=64), nullable=False, server_default="UTC")
        )
        batch_op.add_column(
            sa.Column(
                "dunning_retry_days", sa.JSON(), nullable=False, server_default="[1, 3, 5, 7]"
            )
        )
        batch_op.add_column(
            sa.Column(
                "past_due_cancel_after_days", sa.Integer(), nullable=True, server_default="14"
            )
        )
        batch_op.add_column(
            sa.Column("renewal_reminder_days", sa.Integer(), nullable=False, server_default="7")
        )
        batch_op.add_column(
            sa.Column(
                "overdue_reminder_days", sa.JSON(), nullable=False, server_default="[3, 7, 14]"
            )
        )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_charge_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("overdue_reminders_sent", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_index(batch_op.f("ix_invoices_next_charge_at"), ["next_charge_at"])
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("past_due_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("renewal_reminded_for", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("renewal_reminded_for")
        batch_op.drop_column("past_due_since")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoices_next_charge_at"))
        batch_op.drop_column("overdue_reminders_sent")
        batch_op.drop_column("next_charge_at")
    with op.batch_alter_table("business_settings", schema=None) as batch_op:
        batch_op.drop_column("overdue_reminder_days")
        batch_op.drop_column("renewal_reminder_days")
        batch_op.drop_column("past_due_cancel_after_days")
        batch_op.drop_column("dunning_retry_days")
        batch_op.drop_column("timezone")
