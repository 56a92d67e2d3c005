"""Signed site-API writes are applied once: the request id (``X-Bridge-Nonce``,
or the signature of a plugin that sends none) of each write a site sends is
kept until its timestamp leaves the 300-second window, and a request seen
again is refused.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "site_request_nonces",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_site_request_nonces_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "nonce", name=op.f("pk_site_request_nonces")),
    )


def downgrade() -> None:
    op.drop_table("site_request_nonces")
