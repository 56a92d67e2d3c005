"""Import from Stripe: the Stripe ids that key re-imports (a product's
``stripe_product_id``, a plan's ``stripe_price_id``, a subscription's
``stripe_subscription_id``), a client's tax id, and ``import_jobs`` (an
import run from the API, polled for its status and report).

Revision ID: 0023
Revises: 0022
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Unique indexes, not constraints: SQLite adds an index without copying
    # the table, and NULLs (objects made in the bridge) never collide.
    with op.batch_alter_table("products", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("stripe_product_id", sa.String(length=100), nullable=True))
        batch_op.create_index("ix_products_stripe_product_id", ["stripe_product_id"], unique=True)
    with op.batch_alter_table("plans", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("stripe_price_id", sa.String(length=100), nullable=True))
        batch_op.create_index("ix_plans_stripe_price_id", ["stripe_price_id"])
    with op.batch_alter_table("subscriptions", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("stripe_subscription_id", sa.String(length=100), nullable=True)
        )
        batch_op.create_index(
            "ix_subscriptions_stripe_subscription_id", ["stripe_subscription_id"], unique=True
        )
    with op.batch_alter_table("clients", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("tax_id", sa.String(length=50), nullable=False, server_default="")
        )
    op.create_table(
        "import_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "running",
                "succeeded",
                "failed",
                name="import_job_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("error_code", sa.String(length=60), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("requested_by", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_import_jobs_created_at", "import_jobs", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_import_jobs_created_at", table_name="import_jobs")
    op.drop_table("import_jobs")
    with op.batch_alter_table("clients", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("tax_id")
    with op.batch_alter_table("subscriptions", schema=None, recreate="never") as batch_op:
        batch_op.drop_index("ix_subscriptions_stripe_subscription_id")
        batch_op.drop_column("stripe_subscription_id")
    with op.batch_alter_table("plans", schema=None, recreate="never") as batch_op:
        batch_op.drop_index("ix_plans_stripe_price_id")
        batch_op.drop_column("stripe_price_id")
    with op.batch_alter_table("products", schema=None, recreate="never") as batch_op:
        batch_op.drop_index("ix_products_stripe_product_id")
        batch_op.drop_column("stripe_product_id")
