"""On PostgreSQL, psycopg converts a long multi-row statement's placeholders
once and remembers it (``bridge.db.cache_long_statements``): a renewal
batch's INSERTs keep the same few shapes batch after batch."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, text

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


def test_a_statement_with_hundreds_of_parameters_is_parsed_once(db):
    from psycopg import _queries

    names = [f"p{n}" for n in range(300)]
    statement = text(f"SELECT {' + '.join(':' + name for name in names)}").bindparams(
        *(bindparam(name) for name in names)
    )
    values = {name: 1 for name in names}
    with db.engine.connect() as conn:
        assert conn.execute(statement, values).scalar_one() == 300
        before = _queries._query2pg.cache_info().hits
        for _ in range(3):
            assert conn.execute(statement, values).scalar_one() == 300
    assert _queries._query2pg.cache_info().hits - before >= 3
