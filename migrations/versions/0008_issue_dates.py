"""Issue dates: invoices and credit notes keep the business's local calendar
date they were issued on, so every surface prints the same date and the
number's year follows it.

Existing rows are dated from ``issued_at`` (invoices) and ``created_at``
(credit notes) on the wall clock of the business time zone set now.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _business_zone(conn) -> ZoneInfo:
    name = conn.execute(sa.text("SELECT timezone FROM business_settings ORDER BY id")).scalar()
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _aware(value: datetime) -> datetime:
    # SQLite hands back the naive UTC the application stored.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _backfill(conn, table: str, moment_column: str, tz: ZoneInfo) -> None:
    rows = sa.table(
        table,
        sa.column("id", sa.Integer()),
        sa.column(moment_column, sa.DateTime(timezone=True)),
        sa.column("issue_date", sa.Date()),
    )
    moment = rows.c[moment_column]
    found = conn.execute(sa.select(rows.c.id, moment).where(moment.is_not(None))).all()
    dates = [
        {"row_id": row_id, "day": _aware(value).astimezone(tz).date()} for row_id, value in found
    ]
    if dates:
        conn.execute(
            rows.update()
            .where(rows.c.id == sa.bindparam("row_id"))
            .values(issue_date=sa.bindparam("day")),
            dates,
        )


def upgrade() -> None:
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("issue_date", sa.Date(), nullable=True))
    with op.batch_alter_table("credit_notes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("issue_date", sa.Date(), nullable=True))
    conn = op.get_bind()
    tz = _business_zone(conn)
    _backfill(conn, "invoices", "issued_at", tz)
    _backfill(conn, "credit_notes", "created_at", tz)
    # Every credit note is issued when it is created: now each has its date.
    with op.batch_alter_table("credit_notes", schema=None) as batch_op:
        batch_op.alter_column("issue_date", existing_type=sa.Date(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("credit_notes", schema=None) as batch_op:
        batch_op.drop_column("issue_date")
    # Not by copying the table on SQLite: payments, lines and credit notes
    # point at invoices, so dropping the old table would break their keys.
    # SQLite (3.35 and later) drops a plain column in place.
    with op.batch_alter_table("invoices", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("issue_date")
