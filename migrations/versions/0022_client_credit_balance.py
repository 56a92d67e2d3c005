"""Client account credit: ``client_balance_entries`` (a ledger of signed
amounts per client and currency; the balance is their sum), and the payment
method ``account_credit`` (an invoice paid from that balance).

Revision ID: 0022
Revises: 0021
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

METHODS = ("card", "bank_transfer", "cash", "cheque", "other")
KINDS = ("granted", "invoice_credit", "applied", "invoice_voided", "credit_note")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _payment_methods(*values: str) -> None:
    """The CHECK constraint of ``payments.method`` allows ``values``.

    The enum is a VARCHAR with a CHECK (``enum_column``), not a native
    PostgreSQL type: a new value is a new constraint. PostgreSQL drops and
    adds it in place; SQLite cannot alter a constraint, so the batch copies
    the table with the new one."""
    with op.batch_alter_table("payments", recreate="auto") as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_payments_payment_method"), type_="check")
        batch_op.alter_column(
            "method",
            existing_type=sa.String(length=32),
            type_=_enum("payment_method", *values),
            existing_nullable=False,
        )


def upgrade() -> None:
    op.create_table(
        "client_balance_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("kind", _enum("balance_entry_kind", *KINDS), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("key", sa.String(length=60), nullable=True),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("credit_note_id", sa.Integer(), nullable=True),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_client_balance_entries_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_client_balance_entries_invoice_id_invoices"),
        ),
        sa.ForeignKeyConstraint(
            ["credit_note_id"],
            ["credit_notes.id"],
            name=op.f("fk_client_balance_entries_credit_note_id_credit_notes"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_client_balance_entries_payment_id_payments"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_client_balance_entries_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_balance_entries")),
        sa.UniqueConstraint("key", name=op.f("uq_client_balance_entries_key")),
    )
    op.create_index(
        "ix_client_balance_entries_client_id_currency",
        "client_balance_entries",
        ["client_id", "currency"],
    )
    op.create_index(
        "ix_client_balance_entries_invoice_id", "client_balance_entries", ["invoice_id"]
    )
    _payment_methods(*METHODS, "account_credit")


def downgrade() -> None:
    # Payments made from account credit have no other method to become:
    # "other" keeps them (and their amounts) in the books.
    op.execute("UPDATE payments SET method = 'other' WHERE method = 'account_credit'")
    _payment_methods(*METHODS)
    op.drop_index("ix_client_balance_entries_invoice_id", table_name="client_balance_entries")
    op.drop_index(
        "ix_client_balance_entries_client_id_currency", table_name="client_balance_entries"
    )
    op.drop_table("client_balance_entries")
