"""The client list: one lower-cased search column, and indexes that serve a
page in name order with or without a status filter.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("search_text", sa.String(length=700), nullable=False, server_default="")
        )
        batch_op.drop_index(batch_op.f("ix_clients_status"))
        batch_op.create_index("ix_clients_name_id", ["name", "id"], unique=False)
        batch_op.create_index("ix_clients_status_name_id", ["status", "name", "id"], unique=False)
        batch_op.create_index(
            "ix_clients_status_search_text", ["status", "search_text"], unique=False
        )

    # Fill the search column the way the domain does (Python's Unicode-aware
    # lower case, which SQLite's lower() is not).
    clients = sa.table(
        "clients",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("email", sa.String),
        sa.column("company", sa.String),
        sa.column("search_text", sa.String),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(clients.c.id, clients.c.name, clients.c.email, clients.c.company)
    ).all()
    for row in rows:
        connection.execute(
            clients.update()
            .where(clients.c.id == row.id)
            .values(search_text=f"{row.name} {row.email} {row.company or ''}".lower())
        )


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_index("ix_clients_status_search_text")
        batch_op.drop_index("ix_clients_status_name_id")
        batch_op.drop_index("ix_clients_name_id")
        batch_op.create_index(batch_op.f("ix_clients_status"), ["status"], unique=False)
        batch_op.drop_column("search_text")
