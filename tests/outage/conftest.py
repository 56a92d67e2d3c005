"""The database going away, seen through a TCP proxy in front of PostgreSQL
(``tests/outage/proxy.py``), with timeouts short enough for tests."""

from __future__ import annotations

import pytest

from bridge.app import create_app
from bridge.db import Database, Timeouts
from tests.conftest import Api, make_token
from tests.outage.proxy import PgProxy

# What a stalled database may cost a request here: a statement given up
# after 1 + 1 s, a new connection after 2 s.
SHORT = {
    "DATABASE_STATEMENT_TIMEOUT": 1,
    "DATABASE_CONNECT_TIMEOUT": 2,
    "DATABASE_KEEPALIVE_SECONDS": 5,
}
SHORT_TIMEOUTS = Timeouts(connect=2, statement=1, keepalive=5)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def pg(postgres_database):
    """The test database, emptied; reached directly (the tests' own view)."""
    postgres_database.reset()
    return postgres_database


@pytest.fixture
def proxy(pg):
    proxy = PgProxy.for_url(pg.url)
    yield proxy
    proxy.close()


@pytest.fixture
def app(pg, proxy, tmp_path):
    app = create_app(
        {
            "DATABASE_URL": proxy.url(pg.url),
            "SECRET_KEY": "test-secret-key",
            "TESTING": True,
            **SHORT,
        }
    )
    app.instance_path = str(tmp_path / "instance")
    yield app
    proxy.resume()
    proxy.come_back()
    app.extensions["bridge.db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app):
    return app.extensions["bridge.db"]


@pytest.fixture
def direct(pg):
    """A Database that bypasses the proxy, to check what was committed."""
    database = Database(pg.url)
    yield database
    database.dispose()


@pytest.fixture
def api(client, db):
    return Api(client, make_token(db))


def proxied_database(pg, proxy) -> Database:
    return Database(proxy.url(pg.url), timeouts=SHORT_TIMEOUTS)
