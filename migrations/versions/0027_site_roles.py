"""Per-site roles: ``site_roles`` gives a person of a client another role
on one of the client's sites than the client-wide one (no row: the
client-wide role).

Revision ID: 0027
Revises: 0026
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | Sequence[str] | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "site_roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_site_roles_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_site_roles_site_id_sites", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name="fk_site_roles_client_id_clients",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["role_id"], ["roles.id"], name="fk_site_roles_role_id_roles"),
        sa.PrimaryKeyConstraint("id", name="pk_site_roles"),
        sa.UniqueConstraint("user_id", "site_id", name="uq_site_roles_user_id"),
    )
    op.create_index("ix_site_roles_site_id", "site_roles", ["site_id"])
    op.create_index("ix_site_roles_client_id", "site_roles", ["client_id"])
    op.create_index("ix_site_roles_role_id", "site_roles", ["role_id"])


def downgrade() -> None:
    op.drop_table("site_roles")
