"""List endpoints issue a constant number of SQL statements whatever the page
size: no query per row (N+1)."""

import contextlib

import pytest
from sqlalchemy import event

from bridge.core import clock
from bridge.models import Client, Plan, PlanKind, Product, Role, Site


@contextlib.contextmanager
def count_statements(db):
    statements = []

    def record(conn, cursor, statement, *args):
        if not statement.upper().startswith("BEGIN"):  # SQLite's explicit transaction start
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


@pytest.fixture
def many_clients(db):
    now = clock.now()
    with db.session() as session:
        role = session.query(Role).filter(Role.is_default.is_(True)).one()
        for index in range(120):
            client = Client(
                name=f"Client {index:03}",
                email=f"c{index}@example.com",
                email_key=f"c{index}@example.com",
                role=role,
                custom_fields={},
                created_at=now,
            )
            client.sites = [
                Site(
                    public_id=f"site_{index}_{n}",
                    name=f"s{n}",
                    url=f"https://s{n}.c{index}.example",
                    secret_encrypted="x",
                    secret_rotated_at=now,
                    created_at=now,
                )
                for n in range(index % 3)
            ]
            session.add(client)
        session.add(
            Product(
                name="Hosting",
                created_at=now,
                plans=[
                    Plan(
                        name=f"p{n}",
                        kind=PlanKind.ONE_TIME,
                        amount=100,
                        currency="EUR",
                        created_at=now,
                    )
                    for n in range(3)
                ],
            )
        )
        for n in range(60):
            session.add(Product(name=f"Product {n:02}", created_at=now))


@pytest.mark.parametrize(
    "path", ["/clients?per_page={n}", "/clients?per_page={n}&q=client", "/products?per_page={n}"]
)
def test_list_queries_do_not_grow_with_the_page_size(api, db, many_clients, path):
    api.get("/roles")  # the token's "last used" write happens once, here
    counts = {}
    for size in (5, 50, 100):
        with count_statements(db) as statements:
            response = api.get(path.format(n=size))
        assert response.status_code == 200
        assert len(response.get_json()["data"]) == min(size, response.get_json()["total"])
        counts[size] = len(statements)
    assert counts[5] == counts[50] == counts[100], counts
    assert counts[5] <= 4, (counts, statements)


def test_site_counts_in_the_list_are_right(api, many_clients):
    rows = api.get("/clients?per_page=6").get_json()["data"]
    assert [r["site_count"] for r in rows] == [0, 1, 2, 0, 1, 2]
