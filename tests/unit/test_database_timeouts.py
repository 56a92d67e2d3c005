"""The PostgreSQL timeouts the engine sets, and the watchdog that gives up a
statement whose answer never comes."""

from __future__ import annotations

import socket
import threading
import time

from sqlalchemy import exc as sa_exc

from bridge.core.outages import is_database_unavailable
from bridge.db import StatementWatchdog, Timeouts, connect_args


def test_the_timeouts_become_libpq_parameters():
    parameters = Timeouts(connect=5, statement=30, keepalive=15).libpq_parameters()
    assert parameters == {
        "connect_timeout": 5,
        "options": "-c statement_timeout=30000",
        "keepalives": 1,
        "keepalives_idle": 15,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "tcp_user_timeout": 30_000,
    }
    assert Timeouts(connect=0, statement=0, keepalive=0).libpq_parameters() == {}
    assert Timeouts(connect=0.5, statement=0, keepalive=0).libpq_parameters() == {
        "connect_timeout": 2  # libpq's least
    }


def test_the_timeouts_come_from_the_settings():
    config = {
        "DATABASE_CONNECT_TIMEOUT": 3,
        "DATABASE_STATEMENT_TIMEOUT": 0,
        "DATABASE_KEEPALIVE_SECONDS": 9,
    }
    assert Timeouts.from_config(config) == Timeouts(connect=3, statement=0, keepalive=9)
    assert Timeouts.from_config({}) == Timeouts()


def test_options_in_the_url_are_kept():
    url = "postgresql+psycopg://u@127.0.0.1/db?options=-csearch_path%3Dbilling"
    assert connect_args(url, Timeouts(connect=2, statement=1, keepalive=0)) == {
        "connect_timeout": 2,
        "options": "-csearch_path=billing -c statement_timeout=1000",
    }


class FakeConnection:
    def __init__(self, sock: socket.socket):
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()


def test_the_watchdog_closes_the_socket_of_a_statement_without_an_answer():
    ours, theirs = socket.socketpair()
    watchdog = StatementWatchdog(0.2)
    started = time.monotonic()
    with watchdog.guard(FakeConnection(ours)):
        ours.settimeout(5)
        assert ours.recv(1) == b""  # shut down under the waiting reader
    assert time.monotonic() - started < 2
    ours.close()
    theirs.close()


def test_the_watchdog_leaves_a_statement_answered_in_time_alone():
    ours, theirs = socket.socketpair()
    watchdog = StatementWatchdog(0.2)
    with watchdog.guard(FakeConnection(ours)):
        theirs.sendall(b"x")
        assert ours.recv(1) == b"x"
    time.sleep(0.4)
    theirs.sendall(b"y")
    assert ours.recv(1) == b"y"
    ours.close()
    theirs.close()


class DriverError(Exception):
    def __init__(self, sqlstate):
        super().__init__(f"driver error {sqlstate}")
        self.sqlstate = sqlstate


def wrapped(cls, sqlstate=None, invalidated=False):
    return cls("SELECT 1", {}, DriverError(sqlstate), connection_invalidated=invalidated)


def test_what_counts_as_the_database_being_unavailable():
    assert is_database_unavailable(wrapped(sa_exc.OperationalError))  # lost, refused
    assert is_database_unavailable(wrapped(sa_exc.OperationalError, "57014"))  # timed out
    assert is_database_unavailable(wrapped(sa_exc.InterfaceError, invalidated=True))
    assert is_database_unavailable(sa_exc.TimeoutError("pool"))
    # Races between requests are not an outage.
    assert not is_database_unavailable(wrapped(sa_exc.OperationalError, "40P01"))
    assert not is_database_unavailable(wrapped(sa_exc.OperationalError, "40001"))
    assert not is_database_unavailable(wrapped(sa_exc.OperationalError, "55P03"))
    assert not is_database_unavailable(wrapped(sa_exc.IntegrityError, "23505"))
    assert not is_database_unavailable(ValueError("no"))
    try:
        try:
            raise wrapped(sa_exc.OperationalError)
        except sa_exc.OperationalError as exc:
            raise RuntimeError("while renewing") from exc
    except RuntimeError as outer:
        assert is_database_unavailable(outer)


def test_one_watchdog_thread_serves_every_engine():
    for limit in (0.5, 1.0, 2.0):
        ours, theirs = socket.socketpair()
        with StatementWatchdog(limit).guard(FakeConnection(ours)):
            pass
        ours.close()
        theirs.close()
    assert [t.name for t in threading.enumerate()].count("db-watchdog") == 1
