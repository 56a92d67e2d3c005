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
