"""The health check and the refusal to run on an un-migrated database."""

import pytest
from sqlalchemy import text

from bridge import migrate
from bridge.app import SchemaOutOfDate, create_app


def test_healthz_is_ok_with_the_database_reachable(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_healthz_is_503_when_the_database_is_unreachable(app, client, monkeypatch):
    database = app.extensions["bridge.db"]

    def broken():
        raise ConnectionError("database down")

    monkeypatch.setattr(database, "ping", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"


def test_healthz_is_503_when_the_database_server_is_gone(tmp_path):
    app = create_app(
        {
            # Nothing listens on port 1: the connection is refused.
            "DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2",
            "SECRET_KEY": "x",
            "CHECK_SCHEMA": False,
        }
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503


def test_app_refuses_an_unmigrated_database_and_names_the_fix(tmp_path):
    with pytest.raises(SchemaOutOfDate, match="bridge db upgrade"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/empty.sqlite3", "SECRET_KEY": "x"})


def test_app_refuses_a_database_behind_the_code(app, db):
    head = migrate.head_revision()
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    try:
        with pytest.raises(SchemaOutOfDate, match="revision older"):
            create_app({"DATABASE_URL": db.url, "SECRET_KEY": "x"})
    finally:  # the PostgreSQL database is shared by the following tests
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})
