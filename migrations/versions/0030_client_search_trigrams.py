"""The client list's text search on PostgreSQL: a trigram index (pg_trgm, GIN)
on the clients' search text, so a search of three letters or more reads the
matching clients from the index instead of testing ``LIKE '%...%'`` on every
client of the status (and, for a rare text, walking the name index until a
page is found). A search of one or two letters has no trigram: PostgreSQL
keeps the narrow (status, search_text) index for it.

``CREATE EXTENSION IF NOT EXISTS pg_trgm`` needs a role allowed to create it
in the database (pg_trgm is a trusted extension: the database's owner may).
The downgrade drops the index and leaves the extension, which other objects
may use. On SQLite the index is an empty one (``WHERE 0``): SQLite has no
trigram index, and the models declare the index for both databases.

Revision ID: 0030
Revises: 0029
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | Sequence[str] | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_clients_search_text_trgm"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index(
        INDEX,
        "clients",
        ["search_text"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
        sqlite_where=sa.text("0"),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="clients")
