"""On PostgreSQL a web request that only read ends with COMMIT rather than
ROLLBACK (``bridge.db._close_session``): psycopg forgets its prepared
statements on a ROLLBACK, so the hot read paths (the token, the client
list, its count) were parsed and planned again on every request. Anything
else ends as before: what a request wrote without committing is rolled back."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, insert, select, text

from bridge.core import clock
from bridge.db import get_session
from bridge.models import Product

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


def _ends(db) -> dict[str, int]:
    ends = {"commit": 0, "rollback": 0}

    @event.listens_for(db.engine, "commit")
    def _commit(_conn):
        ends["commit"] += 1

    @event.listens_for(db.engine, "rollback")
    def _rollback(_conn):
        ends["rollback"] += 1

    return ends


def _products(db) -> int:
    with db.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(Product))


def test_reading_the_client_list_commits_and_its_statements_stay_prepared(api, db):
    ends = _ends(db)
    for _ in range(8):
        assert api.get("/clients").status_code == 200
    # (plus the first request's commit of the token's last use)
    assert ends["rollback"] == 0
    assert ends["commit"] >= 8
    # The requests ran one after another on the pool's one connection:
    # psycopg prepared what they repeated (after 5 runs) and kept it.
    with db.engine.connect() as conn:
        prepared = conn.scalars(text("SELECT statement FROM pg_prepared_statements")).all()
    assert prepared
    # ... but the list itself is planned for each search (a generic plan of
    # its LIKE costs ten times as much).
    assert not [statement for statement in prepared if "search_text" in statement]


def test_a_searched_client_list_is_never_prepared(api, db):
    for _ in range(8):
        assert api.get("/clients?q=an&status=active").status_code == 200
    with db.engine.connect() as conn:
        prepared = conn.scalars(text("SELECT statement FROM pg_prepared_statements")).all()
    assert prepared
    assert not [statement for statement in prepared if "search_text" in statement]


def test_a_request_that_wrote_without_committing_is_rolled_back(app, db):
    ends = _ends(db)
    with app.app_context():
        session = get_session()
        session.execute(select(func.count()).select_from(Product))
        session.execute(insert(Product).values(name="Never committed", created_at=clock.now()))
    assert ends == {"commit": 0, "rollback": 1}
    assert _products(db) == 0


def test_an_unflushed_change_is_not_committed_by_the_end_of_a_read(app, db):
    with app.app_context():
        session = get_session()
        session.execute(select(func.count()).select_from(Product))
        session.add(Product(name="Never flushed", created_at=clock.now()))
    assert _products(db) == 0


def test_a_request_that_failed_is_rolled_back_even_if_it_only_read(app, db):
    ends = _ends(db)
    with pytest.raises(RuntimeError), app.app_context():
        get_session().execute(select(func.count()).select_from(Product))
        raise RuntimeError("the view failed")
    assert ends == {"commit": 0, "rollback": 1}
