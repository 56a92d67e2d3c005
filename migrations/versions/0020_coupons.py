"""Coupons and discounts: ``coupons`` (percent or amount off, on the whole
invoice or chosen products, once / N cycles / forever, optional code,
expiry and redemption limit), ``discounts`` (a coupon applied to a client or
a subscription), and on invoices the discount that reduced them and each
line's discount (0 for every invoice billed before).

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _zero(table: str, column: str) -> None:
    # Plain ALTER TABLE (no batch copy, as 0018): the server default a NOT
    # NULL column needs on SQLite stays there; PostgreSQL drops it.
    op.add_column(table, sa.Column(column, sa.BigInteger(), nullable=False, server_default="0"))
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column(table, column, server_default=None)


def upgrade() -> None:
    op.create_table(
        "coupons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=True),
        sa.Column("code_key", sa.String(length=60), nullable=True),
        sa.Column("percent_off_e2", sa.Integer(), nullable=True),
        sa.Column("amount_off", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("product_ids", sa.JSON(), nullable=True),
        sa.Column(
            "duration", _enum("coupon_duration", "once", "repeating", "forever"), nullable=False
        ),
        sa.Column("duration_cycles", sa.Integer(), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("max_redemptions", sa.Integer(), nullable=True),
        sa.Column("times_redeemed", sa.Integer(), nullable=False),
        sa.Column("status", _enum("coupon_status", "active", "archived"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code_key"),
    )
    op.create_index("ix_coupons_status", "coupons", ["status"])
    op.create_table(
        "discounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coupon_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("subscription_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["coupon_id"], ["coupons.id"]),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"]),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscriptions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_discounts_coupon_id", "discounts", ["coupon_id"])
    op.create_index("ix_discounts_client_id", "discounts", ["client_id"])
    op.create_index("ix_discounts_subscription_id", "discounts", ["subscription_id"])
    _zero("invoice_lines", "discount")
    _zero("invoices", "discount")
    # SQLite cannot ALTER in a constraint: it takes the reference inline
    # (ALTER TABLE ... ADD COLUMN ... REFERENCES), without copying the table.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE invoices ADD COLUMN discount_id INTEGER "
            "CONSTRAINT fk_invoices_discount_id_discounts REFERENCES discounts (id)"
        )
    else:
        op.add_column("invoices", sa.Column("discount_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "fk_invoices_discount_id_discounts", "invoices", "discounts", ["discount_id"], ["id"]
        )
    op.create_index("ix_invoices_discount_id", "invoices", ["discount_id"])


def downgrade() -> None:
    op.drop_index("ix_invoices_discount_id", table_name="invoices")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_invoices_discount_id_discounts", "invoices", type_="foreignkey")
    op.drop_column("invoices", "discount_id")
    op.drop_column("invoices", "discount")
    op.drop_column("invoice_lines", "discount")
    op.drop_index("ix_discounts_subscription_id", table_name="discounts")
    op.drop_index("ix_discounts_client_id", table_name="discounts")
    op.drop_index("ix_discounts_coupon_id", table_name="discounts")
    op.drop_table("discounts")
    op.drop_index("ix_coupons_status", table_name="coupons")
    op.drop_table("coupons")
