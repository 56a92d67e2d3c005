"""Decimal quantities (1.5 hours, 0.25 days): invoice lines and
subscriptions keep their quantity as an integer count of thousandths,
``quantity_e3`` (see bridge/core/money.py for why not Numeric). Existing
whole quantities convert exactly: 3 -> 3000. Invoice lines may carry their
own tax rates (``tax_rate_ids``, NULL: the invoice's).

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("invoice_lines", "subscriptions")
UP = {t: f"UPDATE {t} SET quantity_e3 = quantity * 1000" for t in TABLES}  # noqa: S608
# Fractions cannot go back to whole quantities: they round up, so a
# downgrade never bills less than was agreed.
DOWN = {t: f"UPDATE {t} SET quantity = (quantity_e3 + 999) / 1000" for t in TABLES}  # noqa: S608


# Plain ALTER TABLE, no batch "move and copy" on SQLite: copying
# invoice_lines or subscriptions would drop a table other rows point to, and
# SQLite (3.35+) adds and drops columns in place. The server default a NOT
# NULL column needs on SQLite stays there (the application always sets it).


def _swap(table: str, new: str, old: str, fill: str, default: str) -> None:
    op.add_column(table, sa.Column(new, sa.Integer(), nullable=False, server_default=default))
    op.execute(fill)
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column(table, new, server_default=None)
    op.drop_column(table, old)


def upgrade() -> None:
    for table in TABLES:
        _swap(table, "quantity_e3", "quantity", UP[table], "0")
    # A line's own tax rates (None: the invoice's apply, as before).
    op.add_column("invoice_lines", sa.Column("tax_rate_ids", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("invoice_lines", "tax_rate_ids")
    for table in TABLES:
        _swap(table, "quantity", "quantity_e3", DOWN[table], "1")
