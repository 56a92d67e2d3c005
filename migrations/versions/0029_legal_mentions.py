"""Legal mentions on invoices: the seller's legal identity (legal form,
share capital, SIREN / SIRET, RCS city, individual entrepreneur), the
payment-terms wording and the Factur-X default, the client's SIREN, and
the VAT exemption a tax rate stands for (copied on the invoice lines'
taxes, as billed).

Revision ID: 0029
Revises: 0028
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | Sequence[str] | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SETTINGS_TEXT = (
    ("legal_form", 100),
    ("siren", 9),
    ("siret", 14),
    ("rcs_city", 100),
)
SETTINGS_LONG_TEXT = ("late_payment_penalty_text", "early_payment_discount_text")
ACCOUNT_CODES = (
    ("accounting_journal_code", "VE"),
    ("accounting_client_account", "411000"),
    ("accounting_sales_account", "706000"),
    ("accounting_vat_account", "445710"),
)


def upgrade() -> None:
    with op.batch_alter_table("business_settings", schema=None, recreate="never") as batch_op:
        for name, length in SETTINGS_TEXT:
            batch_op.add_column(
                sa.Column(name, sa.String(length=length), nullable=False, server_default="")
            )
        batch_op.add_column(sa.Column("share_capital", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "individual_entrepreneur", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        for name in SETTINGS_LONG_TEXT:
            batch_op.add_column(sa.Column(name, sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("facturx_default", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        for name, default in ACCOUNT_CODES:
            batch_op.add_column(
                sa.Column(name, sa.String(length=20), nullable=False, server_default=default)
            )
    with op.batch_alter_table("clients", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("siren", sa.String(length=9), nullable=False, server_default="")
        )
    for table in ("tax_rates", "invoice_line_taxes"):
        with op.batch_alter_table(table, schema=None, recreate="never") as batch_op:
            batch_op.add_column(
                sa.Column("exemption", sa.String(length=20), nullable=False, server_default="")
            )


def downgrade() -> None:
    for table in ("invoice_line_taxes", "tax_rates"):
        with op.batch_alter_table(table, schema=None, recreate="never") as batch_op:
            batch_op.drop_column("exemption")
    with op.batch_alter_table("clients", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("siren")
    with op.batch_alter_table("business_settings", schema=None, recreate="never") as batch_op:
        for name, _ in reversed(ACCOUNT_CODES):
            batch_op.drop_column(name)
        batch_op.drop_column("facturx_default")
        for name in reversed(SETTINGS_LONG_TEXT):
            batch_op.drop_column(name)
        batch_op.drop_column("individual_entrepreneur")
        batch_op.drop_column("share_capital")
        for name, _ in reversed(SETTINGS_TEXT):
            batch_op.drop_column(name)
