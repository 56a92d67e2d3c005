"""The WordPress site API: connect codes, product categories, SEO scans.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "site_connect_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_site_connect_codes_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_connect_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_site_connect_codes_code_hash")),
    )
    with op.batch_alter_table("site_connect_codes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_site_connect_codes_site_id"), ["site_id"], unique=False
        )

    op.create_table(
        "seo_scans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_seo_scans_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seo_scans")),
    )
    with op.batch_alter_table("seo_scans", schema=None) as batch_op:
        batch_op.create_index("ix_seo_scans_site_id_id", ["site_id", "id"], unique=False)

    # Existing products are "other" until staff say otherwise.
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "category",
                sa.Enum(
                    "hosting",
                    "maintenance",
                    "seo",
                    "other",
                    name="product_category",
                    native_enum=False,
                    create_constraint=True,
                    length=32,
                ),
                nullable=False,
                server_default="other",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        # The column's CHECK constraint goes first (SQLite rebuilds the table
        # from its reflected constraints).
        batch_op.drop_constraint(batch_op.f("ck_products_product_category"), type_="check")
        batch_op.drop_column("category")

    with op.batch_alter_table("seo_scans", schema=None) as batch_op:
        batch_op.drop_index("ix_seo_scans_site_id_id")
    op.drop_table("seo_scans")

    with op.batch_alter_table("site_connect_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_site_connect_codes_site_id"))
    op.drop_table("site_connect_codes")
