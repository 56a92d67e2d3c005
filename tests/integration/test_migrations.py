"""Migrations: from an empty database to head and back, on SQLite and
PostgreSQL, and the models never drift from the migrations."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from bridge import migrate
from bridge.db import Base, make_engine
from tests.conftest import _pg_admin_url, _pg_required


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(request, tmp_path):
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path}/empty.sqlite3")
        yield engine
        engine.dispose()
        return
    admin_url = _pg_admin_url()
    name = f"bridge_migrations_{tmp_path.name[-8:].lower().replace('-', '_')}"
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if _pg_required():
            pytest.fail(f"PostgreSQL unreachable: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL unreachable at {admin_url}: {exc}")
    engine = make_engine(make_url(admin_url).set(database=name).render_as_string(False))
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_upgrade_from_empty_creates_every_table_and_seeds(empty_engine):
    assert migrate.current_revision(empty_engine) is None
    migrate.upgrade(empty_engine)
    assert migrate.is_current(empty_engine)
    tables = set(inspect(empty_engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    with empty_engine.connect() as conn:
        keys = conn.execute(text("SELECT system_key FROM roles ORDER BY id")).scalars().all()
        assert keys == ["view_all", "edit_all", "billing_only"]
        assert conn.execute(text("SELECT COUNT(*) FROM business_settings")).scalar_one() == 1


def test_models_and_migrations_agree(empty_engine):
    migrate.upgrade(empty_engine)
    with empty_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == [], (
        "The models differ from the migrations: generate one with `bridge db revision -m '...'`"
    )


def test_downgrade_to_base_and_upgrade_again(empty_engine):
    migrate.upgrade(empty_engine)
    migrate.downgrade(empty_engine, "base")
    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(empty_engine)
    assert migrate.is_current(empty_engine)


def test_a_second_upgrade_changes_nothing(empty_engine):
    migrate.upgrade(empty_engine)
    migrate.upgrade(empty_engine)
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM roles")).scalar_one() == 3


def test_client_figures_are_backfilled_by_0011(empty_engine):
    """0011 adds the clients' MRR and net billing columns and computes them
    for the clients already there, as the domain keeps them."""
    from sqlalchemy.orm import Session

    from bridge.billing import invoices, metrics, subscriptions
    from bridge.models import Client, IntervalUnit, Invoice
    from tests.integration.test_metrics import _buy, _client, _plan
    from tests.shop import add_vat, open_business

    migrate.upgrade(empty_engine)
    with Session(empty_engine) as s:
        open_business(s)
        vat = add_vat(s, "20")
        first, second, idle = _client(s), _client(s, name="Bo"), _client(s, name="Idle")
        _buy(s, first, _plan(s, IntervalUnit.MONTH, 3, 10000), quantity=2, tax_rate_ids=[vat])
        _buy(s, first, _plan(s, IntervalUnit.WEEK, 1, 999))
        gone = _buy(s, second, _plan(s, IntervalUnit.YEAR, 1, 120000))
        subscriptions.cancel(s, gone, at_period_end=False)
        paid = s.query(Invoice).filter(Invoice.client_id == second.id).one()
        invoices.issue_credit_note(s, paid, amount=5000)
        s.commit()
        ids = (first.id, second.id, idle.id)
        kept = {
            c.id: (c.mrr, c.net_billing, c.net_billing_before_tax)
            for c in s.query(Client).filter(Client.id.in_(ids))
        }
        assert kept[first.id][0] == metrics.mrr(s, client_id=first.id) == 6667 + 4329
    migrate.downgrade(empty_engine, "0010")
    assert "mrr" not in {c["name"] for c in inspect(empty_engine).get_columns("clients")}
    migrate.upgrade(empty_engine)
    with Session(empty_engine) as s:
        again = {
            c.id: (c.mrr, c.net_billing, c.net_billing_before_tax)
            for c in s.query(Client).filter(Client.id.in_(ids))
        }
    assert again == kept
    assert kept[second.id] == (0, 120000 - 5000, 120000 - 5000)
    assert kept[idle.id] == (0, 0, 0)


def test_staff_read_only_is_added_by_0013_and_removed_on_the_way_down(empty_engine):
    """0013 gives every user (existing ones too) full access by default; both
    ways alter the table in place, so the API tokens pointing at users (ON
    DELETE CASCADE) survive on SQLite too."""
    migrate.upgrade(empty_engine, "0012")
    with empty_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (kind, email, email_key, name, is_active, created_at) "
                "VALUES ('staff', 'Owner@x.example', 'owner@x.example', 'Owner', true, "
                "'2026-01-01 00:00:00+00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO api_tokens (user_id, name, token_hash, prefix, read_only, created_at) "
                "SELECT id, 'ci', 'h', 'bb_', false, created_at FROM users"
            )
        )
    migrate.upgrade(empty_engine)
    columns = {c["name"]: c for c in inspect(empty_engine).get_columns("users")}
    assert columns["read_only"]["nullable"] is False
    with empty_engine.begin() as conn:
        assert conn.execute(text("SELECT read_only FROM users")).scalar_one() in (False, 0)
        conn.execute(text("UPDATE users SET read_only = true"))
        assert conn.execute(text("SELECT COUNT(*) FROM api_tokens")).scalar_one() == 1
    migrate.downgrade(empty_engine, "0012")
    assert "read_only" not in {c["name"] for c in inspect(empty_engine).get_columns("users")}
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM api_tokens")).scalar_one() == 1
        assert conn.execute(text("SELECT email FROM users")).scalar_one() == "Owner@x.example"
    migrate.upgrade(empty_engine)
    assert migrate.is_current(empty_engine)


def test_quantities_become_thousandths_in_0018_exactly(empty_engine):
    """0018 turns whole quantities into thousandths (3 -> 3000) on invoice
    lines and subscriptions; going down rounds a fraction up (1.5 -> 2)."""
    from sqlalchemy.orm import Session

    from bridge.billing import invoices
    from bridge.billing.invoices import Item
    from bridge.models import Client
    from tests.shop import MONTHLY, SETUP, add_client, add_product, add_vat, open_business

    migrate.upgrade(empty_engine)
    with Session(empty_engine) as s:
        open_business(s)
        vat = add_vat(s, "20")
        plans = add_product(s, "Hosting", {"monthly": MONTHLY, "setup": SETUP})
        client = s.get(Client, add_client(s))
        invoice = invoices.bill_client(
            s,
            client,
            [Item(plans["setup"], 3), Item(plans["monthly"], 2), Item(plans["setup"], "1.5")],
            tax_rate_ids=[vat],
        )
        invoices.finalize(s, invoice)
        s.commit()
    migrate.downgrade(empty_engine, "0017")
    columns = {c["name"] for c in inspect(empty_engine).get_columns("invoice_lines")}
    assert "quantity" in columns and "quantity_e3" not in columns
    with empty_engine.connect() as conn:
        lines = "SELECT quantity FROM invoice_lines ORDER BY position"
        assert conn.execute(text(lines)).scalars().all() == [3, 2, 2]
        subs = "SELECT quantity FROM subscriptions"
        assert conn.execute(text(subs)).scalars().all() == [2]
        conn.execute(text("UPDATE invoice_lines SET quantity = 7 WHERE position = 2"))
        conn.commit()
    migrate.upgrade(empty_engine)
    with empty_engine.connect() as conn:
        lines = "SELECT quantity_e3, tax_rate_ids FROM invoice_lines ORDER BY position"
        assert [tuple(r) for r in conn.execute(text(lines))] == [
            (3000, None),
            (2000, None),
            (7000, None),
        ]
        subs = "SELECT quantity_e3 FROM subscriptions"
        assert conn.execute(text(subs)).scalars().all() == [2000]
