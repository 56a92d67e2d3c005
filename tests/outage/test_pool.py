"""The pool's ping on PostgreSQL: a connection that went away while it sat
idle in the pool is replaced before use; one that went away between two
quick uses fails one statement, quickly, and the next one connects afresh."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bridge.db import make_engine
from tests.outage.conftest import SHORT_TIMEOUTS

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def select_one(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT 1")).scalar_one()


@pytest.fixture
def engine_for(pg, proxy):
    engines = []

    def make(ping_after_idle: float):
        engine = make_engine(
            proxy.url(pg.url), timeouts=SHORT_TIMEOUTS, ping_after_idle=ping_after_idle
        )
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


def test_a_connection_that_died_while_idle_is_replaced_before_use(engine_for, proxy):
    engine = engine_for(ping_after_idle=0)
    assert select_one(engine) == 1  # a pooled connection
    proxy.go_down()
    proxy.come_back()
    assert select_one(engine) == 1


def test_a_connection_that_died_between_quick_uses_fails_once_then_the_pool_reconnects(
    engine_for, proxy
):
    engine = engine_for(ping_after_idle=3600)
    assert select_one(engine) == 1
    proxy.go_down()
    proxy.come_back()
    with pytest.raises(OperationalError):
        select_one(engine)
    assert select_one(engine) == 1
