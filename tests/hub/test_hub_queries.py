"""The Hub's lists cost a fixed number of SQL statements per page: the same
with 3 rows as with 30, on page 1 as on a later page (no statement per row;
``bench/hub.py`` measures them with 10,000 clients and 100,000 invoices)."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event, insert, select

from bridge.billing.business import set_currency
from bridge.core import clock
from bridge.models import Client, Invoice, Role, Site

PAGES = (
    "/clients",
    "/clients?sort=-mrr",
    "/clients?q=client&status=active",
    "/invoices",
    "/invoices?status=open",
    "/invoices?client_id={client}",
    "/clients/{client}?tab=invoices",
    "/clients/{client}?tab=activity",
)


def add_rows(db, count: int, start: int = 0) -> int:
    """``count`` clients, each with a site and two invoices (Core inserts);
    returns the first client's id."""
    now = clock.now()
    with db.session() as s:
        role = s.scalar(select(Role.id).where(Role.is_default.is_(True)))
        first = None
        for n in range(start, start + count):
            email = f"client{n}@example.org"
            client_id = s.execute(
                insert(Client).returning(Client.id),
                {
                    "name": f"Client {n}",
                    "email": email,
                    "email_key": email,
                    "company": "",
                    "search_text": f"client {n} {email}",
                    "status": "active",
                    "role_id": role,
                    "custom_fields": {},
                    "created_at": now,
                },
            ).scalar_one()
            first = first or client_id
            s.execute(
                insert(Site),
                {
                    "public_id": f"site_{client_id}",
                    "client_id": client_id,
                    "name": "Shop",
                    "url": f"https://c{client_id}.example.org",
                    "secret_encrypted": "x",
                    "secret_rotated_at": now,
                    "created_at": now,
                },
            )
            s.execute(
                insert(Invoice),
                [
                    {
                        "number": f"INV-{client_id}-{k}",
                        "client_id": client_id,
                        "status": status,
                        "currency": "EUR",
                        "total": 1200,
                        "hosted_token": f"t{client_id}-{k}",
                        "issued_at": now,
                        "due_at": now,
                        "created_at": now,
                    }
                    for k, status in enumerate(("open", "paid"))
                ],
            )
    return first


@contextmanager
def counting(db):
    statements: list[str] = []

    def on_execute(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", on_execute)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", on_execute)


def statements_per_page(hub, db, client_id: int) -> dict[str, int]:
    counts = {}
    for page in PAGES:
        path = page.format(client=client_id)
        hub.client.get(path)  # warm: what a first request loads once
        with counting(db) as statements:
            response = hub.client.get(path)
        assert response.status_code == 200, path
        counts[page] = len(statements)
    return counts


@pytest.fixture
def eur(db):
    with db.session() as s:
        set_currency(s, "EUR", confirm=True)


def test_the_lists_cost_the_same_statements_with_3_rows_as_with_30(hub, db, eur):
    first = add_rows(db, 3)
    few = statements_per_page(hub, db, first)
    add_rows(db, 27, start=3)
    many = statements_per_page(hub, db, first)
    assert many == few
    # A later page costs what page 1 does (the Hub shows 25 per page).
    for path in ("/clients?page=2", "/invoices?page=2", "/clients?sort=-mrr&page=2"):
        with counting(db) as later:
            assert hub.client.get(path).status_code == 200
        assert len(later) == many[path.split("&page")[0].split("?page")[0]]
