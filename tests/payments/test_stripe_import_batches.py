"""The import writes a batch of customers in bulk (one lookup per key, one
executemany of new clients, one of their audit rows), on SQLite and
PostgreSQL: the statements it sends do not grow with the customers of a
batch, and each new client's audit row says what a flush of the same client
would have said."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event, select

from bridge.models import AuditEntry, Client
from tests.payments.test_stripe_import import (  # noqa: F401 (fixtures)
    business,
    fake,
    frozen,
    run,
    stripe_api,
)


@pytest.fixture
def statements(db):
    """The start of each statement the engine sends (an executemany, or a
    multi-row INSERT, is one)."""
    sent: list[str] = []

    def record(_conn, _cursor, statement, _parameters, _context, _executemany):
        sent.append(" ".join(statement.split())[:60])

    event.listen(db.engine, "before_cursor_execute", record)
    yield sent
    event.remove(db.engine, "before_cursor_execute", record)


def touching(sent, table: str, verb: str) -> list[str]:
    pattern = re.compile(rf'^{verb}\b.*\b"?{table}"?\b', re.IGNORECASE)
    return [statement for statement in sent if pattern.search(statement)]


def test_new_clients_and_their_audit_rows_are_inserted_a_batch_at_a_time(
    db,
    business,  # noqa: F811
    fake,  # noqa: F811
    stripe_api,  # noqa: F811
    statements,
):
    customers_end = []

    def mark(phase, _n):
        if phase == "customers":
            customers_end.append(len(statements))

    report = run(db, stripe_api, batch=100, progress=mark)
    assert report.counts()["client"]["create"] == 209
    batches = statements[: customers_end[-1]]
    # Three batches of customers (100, 100, 10): per batch, one lookup of
    # the clients they match (by Stripe id or email), one statement for the
    # new clients and one for their audit rows (one row per client).
    assert len(customers_end) == 3
    assert len(touching(batches, "clients", "SELECT")) == 3
    assert len(touching(batches, "clients", "INSERT INTO")) == 3
    assert len(touching(batches, "audit_log", "INSERT INTO")) == 3
    with db.session() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == "client.created"))
        assert sorted(r.object_id for r in rows) == sorted(s.scalars(select(Client.id)))


def test_an_imported_client_s_audit_row_says_what_a_flush_would(
    db,
    business,  # noqa: F811
    fake,  # noqa: F811
    stripe_api,  # noqa: F811
):
    run(db, stripe_api)
    with db.session() as s:
        imported = s.scalar(select(Client).where(Client.stripe_customer_id == "cus_0001"))
        row = s.scalar(
            select(AuditEntry).where(
                AuditEntry.object_type == "client", AuditEntry.object_id == imported.id
            )
        )
        assert (row.action, row.client_id) == ("client.created", imported.id)
        bulk = dict(row.summary)
        # The same client made through the session, its row written by the flush.
        columns = {
            key: getattr(imported, key)
            for key in Client.__table__.columns.keys()  # noqa: SIM118 (a ColumnCollection)
            if key not in ("id", "email_key", "stripe_customer_id")
        }
        twin = Client(**columns, email_key="twin@example.com", stripe_customer_id="cus_twin")
        s.add(twin)
        s.flush()
        flushed = s.scalar(
            select(AuditEntry).where(
                AuditEntry.object_type == "client", AuditEntry.object_id == twin.id
            )
        ).summary
        s.rollback()
    for summary in (bulk, flushed):
        summary.pop("id")
        summary.pop("stripe_customer_id")
    assert bulk == flushed
    assert bulk["card_last4"] == "4444" and bulk["tax_id"] == "DE123456789"


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_on_postgresql_new_clients_are_one_short_statement_whatever_the_batch_holds(
    db,
    business,  # noqa: F811
    fake,  # noqa: F811
    stripe_api,  # noqa: F811
):
    """psycopg parses a statement longer than it caches on every call: the
    new clients go in as an executemany of one statement, their ids taken
    from the sequence first, rather than as a multi-row INSERT that grows
    with the batch (99, 100 and 10 new clients here)."""
    inserts: list[tuple[str, bool]] = []

    def record(_conn, _cursor, statement, _parameters, _context, executemany):
        if re.match(r'\s*INSERT INTO "?clients"?\b', statement, re.IGNORECASE):
            inserts.append((statement, executemany))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        report = run(db, stripe_api, batch=100)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert report.counts()["client"]["create"] == 209
    assert len(inserts) == 3
    assert {statement for statement, _many in inserts} == {inserts[0][0]}
    assert all(many for _statement, many in inserts)
    assert len(inserts[0][0]) < 4096  # psycopg's cached statement length
    with db.session() as s:
        stored = dict(s.execute(select(Client.stripe_customer_id, Client.id)).all())
    created = [e for e in report.entries if e.kind == "client" and e.action == "create"]
    assert {e.stripe_id: e.bridge_id for e in created} == stored
