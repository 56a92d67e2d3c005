"""Client figures: each client carries its MRR and net billing (tax included
and before tax), kept in step by the domain, so the client list sorts by them
through an index.

Existing clients get their figures computed here, with the definitions of
``bridge.billing.metrics`` (SPEC 10): MRR over active and past-due
subscriptions, normalised exactly per interval and rounded half-up once per
client; net billing over open, paid and uncollectible invoices minus credit
notes.

Revision ID: 0011
Revises: 0010
"""

from collections import defaultdict
from collections.abc import Sequence
from fractions import Fraction

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("mrr", "net_billing", "net_billing_before_tax")
MONTHS_PER_UNIT = {
    "month": Fraction(1),
    "year": Fraction(12),
    "week": Fraction(12, 52),
    "day": Fraction(12, 365),
}


def _round_half_up(value: Fraction) -> int:
    quotient, remainder = divmod(abs(value.numerator), value.denominator)
    if 2 * remainder >= value.denominator:
        quotient += 1
    return -quotient if value < 0 else quotient


def _backfill(conn) -> None:
    # Sums grouped by client, then UPDATE ... FROM (PostgreSQL; SQLite 3.33+).
    conn.execute(
        sa.text(
            "UPDATE clients SET net_billing = i.total, net_billing_before_tax = i.subtotal "
            "FROM (SELECT client_id, SUM(total) AS total, SUM(subtotal) AS subtotal "
            "FROM invoices WHERE status IN ('open', 'paid', 'uncollectible') "
            "GROUP BY client_id) AS i "
            "WHERE clients.id = i.client_id"
        )
    )
    conn.execute(
        sa.text(
            "UPDATE clients SET net_billing = clients.net_billing - c.amount, "
            "net_billing_before_tax = clients.net_billing_before_tax - c.subtotal "
            "FROM (SELECT client_id, SUM(amount) AS amount, SUM(subtotal) AS subtotal "
            "FROM credit_notes GROUP BY client_id) AS c WHERE clients.id = c.client_id"
        )
    )
    rows = conn.execute(
        sa.text(
            "SELECT s.client_id, p.interval_unit, p.interval_count, "
            "SUM(s.unit_amount * s.quantity) FROM subscriptions s "
            "JOIN plans p ON p.id = s.plan_id WHERE s.status IN ('active', 'past_due') "
            "GROUP BY s.client_id, p.interval_unit, p.interval_count"
        )
    ).all()
    per_client: dict[int, Fraction] = defaultdict(Fraction)
    for client_id, unit, count, amount in rows:
        per_client[client_id] += Fraction(int(amount)) / (MONTHS_PER_UNIT[str(unit)] * count)
    values = [{"cid": cid, "value": _round_half_up(v)} for cid, v in per_client.items()]
    if values:
        conn.execute(sa.text("UPDATE clients SET mrr = :value WHERE id = :cid"), values)


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(
                sa.Column(name, sa.BigInteger(), server_default="0", nullable=False)
            )
        batch_op.create_index("ix_clients_mrr_id", ["mrr", "id"], unique=False)
        batch_op.create_index("ix_clients_net_billing_id", ["net_billing", "id"], unique=False)
    _backfill(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_index("ix_clients_net_billing_id")
        batch_op.drop_index("ix_clients_mrr_id")
    # In place, not by copying the table: sites, invoices and subscriptions
    # point at clients (SQLite 3.35 and later drops a plain column in place).
    with op.batch_alter_table("clients", schema=None, recreate="never") as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
