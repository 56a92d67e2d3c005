"""Indexes for the Hub's lists: the invoice list (newest first, overall, by
status and per client) reads its page from an index instead of sorting every
invoice, and an invoice's history and a client's activity read the audit log
by index instead of scanning it.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("invoices", "ix_invoices_created_at_id", ["created_at", "id"]),
    ("invoices", "ix_invoices_status_created_at_id", ["status", "created_at", "id"]),
    ("invoices", "ix_invoices_client_id_created_at_id", ["client_id", "created_at", "id"]),
    ("audit_log", "ix_audit_log_object", ["object_type", "object_id", "id"]),
    ("audit_log", "ix_audit_log_client_id_id", ["client_id", "id"]),
)


def upgrade() -> None:
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for table, name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
