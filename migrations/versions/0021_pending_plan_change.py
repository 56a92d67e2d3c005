"""A plan or quantity change scheduled for the next renewal: on
``subscriptions``, the plan, quantity and unit price the next renewal
switches to, and when the change was asked for (all null: none scheduled).

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK = "fk_subscriptions_pending_plan_id_plans"


def upgrade() -> None:
    # SQLite cannot ALTER in a constraint: it takes the reference inline
    # (ALTER TABLE ... ADD COLUMN ... REFERENCES), without copying the table.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE subscriptions ADD COLUMN pending_plan_id INTEGER "
            f"CONSTRAINT {FK} REFERENCES plans (id)"
        )
    else:
        op.add_column("subscriptions", sa.Column("pending_plan_id", sa.Integer(), nullable=True))
        op.create_foreign_key(FK, "subscriptions", "plans", ["pending_plan_id"], ["id"])
    op.add_column("subscriptions", sa.Column("pending_quantity_e3", sa.Integer(), nullable=True))
    op.add_column("subscriptions", sa.Column("pending_unit_amount", sa.BigInteger(), nullable=True))
    op.add_column(
        "subscriptions",
        sa.Column("pending_change_requested_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("subscriptions", "pending_change_requested_at")
    op.drop_column("subscriptions", "pending_unit_amount")
    op.drop_column("subscriptions", "pending_quantity_e3")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(FK, "subscriptions", type_="foreignkey")
    op.drop_column("subscriptions", "pending_plan_id")
