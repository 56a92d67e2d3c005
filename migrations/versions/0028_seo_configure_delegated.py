"""The WordPress plugin's *Apply configuration* (search-engine visibility
and permalinks) by a client role that grants SEO configure, without being
an administrator of the site: only when the agency delegates it. Off by
default.

Revision ID: 0028
Revises: 0027
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | Sequence[str] | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("business_settings", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column(
                "seo_configure_delegated", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    # SQLite 3.35 and later drops a plain column in place.
    with op.batch_alter_table("business_settings", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("seo_configure_delegated")
