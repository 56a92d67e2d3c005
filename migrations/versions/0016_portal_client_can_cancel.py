"""The client portal: whether a client's people may cancel their own
subscriptions (at the end of the paid period) from the portal. Off by
default: an agency opts in.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("business_settings", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column(
                "portal_client_can_cancel", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    # SQLite 3.35 and later drops a plain column in place.
    with op.batch_alter_table("business_settings", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("portal_client_can_cancel")
