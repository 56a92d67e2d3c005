"""Engine and sessions (the declarative base is ``bridge.models.base``).

Plain SQLAlchemy 2 (no Flask-SQLAlchemy): the domain takes a ``Session``
argument and never reaches for Flask. Web requests get one session each
(``get_session()``), closed when the request ends; the CLI and the scheduler
open their own with ``Database.session()``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

from flask import Flask, current_app, g
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from bridge.core.transactions import COMMITS_DEFERRED, PLAN_FOR_VALUES, WROTE, BridgeSession

# Migrations and tests import the base from here; it lives with the models.
from bridge.models.base import Base  # noqa: F401


def normalize_url(url: str) -> str:
    """Accept the usual ``postgresql://`` spelling and use psycopg 3 for it."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timeouts:
    """How long the bridge waits for PostgreSQL, in seconds (0: no limit).

    ``connect``: to open a connection (libpq ``connect_timeout``, at least 2).
    ``statement``: PostgreSQL's ``statement_timeout`` for each statement; and
    on our side, a statement (or commit) with no answer a second after it is
    given up: its connection is closed, so a stalled network or proxy is an
    error in seconds rather than a hang for as long as the stall lasts.
    ``keepalive``: idle seconds before TCP keepalive probes (3 probes, a third
    of that apart), and the TCP user timeout, so a connection to a host that
    vanished is noticed while idle in the pool too.
    """

    connect: float = 5
    statement: float = 30
    keepalive: float = 15

    @classmethod
    def from_config(cls, config) -> Timeouts:
        return cls(
            connect=float(config.get("DATABASE_CONNECT_TIMEOUT", cls.connect)),
            statement=float(config.get("DATABASE_STATEMENT_TIMEOUT", cls.statement)),
            keepalive=float(config.get("DATABASE_KEEPALIVE_SECONDS", cls.keepalive)),
        )

    def libpq_parameters(self) -> dict:
        parameters: dict = {}
        if self.connect > 0:
            parameters["connect_timeout"] = max(2, round(self.connect))
        if self.statement > 0:
            parameters["options"] = f"-c statement_timeout={round(self.statement * 1000)}"
        if self.keepalive > 0:
            idle = max(1, round(self.keepalive))
            interval = max(1, idle // 3)
            parameters.update(
                keepalives=1,
                keepalives_idle=idle,
                keepalives_interval=interval,
                keepalives_count=3,
                tcp_user_timeout=(idle + 3 * interval) * 1000,
            )
        return parameters


# A statement gets this long past ``statement_timeout`` for the server's own
# cancellation to arrive before we give its connection up.
DEADLINE_GRACE = 1.0
# How often the watchdog looks at the statements waiting.
WATCH_INTERVAL = 0.1


class StatementWatchdog:
    """Closes the socket of a connection whose statement has waited longer
    than ``limit`` seconds for an answer. psycopg waits on the socket without
    a time limit; once the socket is shut down the wait ends with an
    OperationalError (the server closed the connection), SQLAlchemy drops the
    connection from the pool, and the request answers 503. Only a network
    or proxy that stopped passing bytes gets here: a slow statement is
    cancelled by the server's ``statement_timeout`` a second earlier.

    One thread per process watches the statements of every engine."""

    _lock = threading.Lock()
    _waiting: dict[int, tuple[float, int, float]] = {}  # ticket -> (deadline, fd, limit)
    _tickets = 0
    _pid: int | None = None

    def __init__(self, limit: float):
        self.limit = limit

    @contextmanager
    def guard(self, dbapi_connection) -> Iterator[None]:
        try:
            fd = dbapi_connection.fileno()
        except Exception:  # already closed: the call fails by itself
            yield
            return
        cls = StatementWatchdog
        with cls._lock:
            if cls._pid != os.getpid():  # first use, or a forked worker
                cls._pid = os.getpid()
                cls._waiting = {}
                threading.Thread(target=cls._watch, name="db-watchdog", daemon=True).start()
            cls._tickets += 1
            ticket = cls._tickets
            cls._waiting[ticket] = (time.monotonic() + self.limit, fd, self.limit)
        try:
            yield
        finally:
            with cls._lock:
                cls._waiting.pop(ticket, None)

    @classmethod
    def _watch(cls) -> None:
        while True:
            time.sleep(WATCH_INTERVAL)
            now = time.monotonic()
            with cls._lock:
                late = [t for t, (deadline, _fd, _limit) in cls._waiting.items() if deadline <= now]
                for ticket in late:
                    _deadline, fd, limit = cls._waiting.pop(ticket)
                    log.warning("database: no answer in %.1f s, closing the connection", limit)
                    _shut_down(fd)


def _shut_down(fd: int) -> None:
    """Shut the socket ``fd`` down under its owner (libpq keeps the fd)."""
    try:
        duplicate = socket.socket(fileno=os.dup(fd))
    except OSError:
        return
    try:
        duplicate.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        duplicate.close()


def _watch_statements(engine: Engine, watchdog: StatementWatchdog) -> None:
    """Every network wait of the engine's connections (statements, commits,
    rollbacks, pings) under ``watchdog``, except with the execution option
    ``no_deadline`` (migrations)."""
    dialect = engine.dialect

    def cursor_call(method):
        def call(cursor, statement, *args):
            context = args[-1] if args else None
            options = getattr(context, "execution_options", None) or {}
            if options.get("no_deadline"):
                return method(cursor, statement, *args)
            with watchdog.guard(cursor.connection):
                return method(cursor, statement, *args)

        return call

    def connection_call(method):
        def call(dbapi_connection, *args):
            with watchdog.guard(dbapi_connection):
                return method(dbapi_connection, *args)

        return call

    for name in ("do_execute", "do_executemany", "do_execute_no_params"):
        setattr(dialect, name, cursor_call(getattr(dialect, name)))
    for name in ("do_commit", "do_rollback", "do_ping"):
        setattr(dialect, name, connection_call(getattr(dialect, name)))


PING_AFTER_IDLE_SECONDS = 1.0
"""A pooled connection idle longer than this is pinged before use."""


def connect_args(url: str, timeouts: Timeouts) -> dict:
    """libpq parameters of ``timeouts``; ``options`` already in the URL are kept."""
    parameters = timeouts.libpq_parameters()
    options = make_url(url).query.get("options")
    if options and "options" in parameters:
        parameters["options"] = f"{options} {parameters['options']}"
    return parameters


def _plan_for_values(engine: Engine) -> None:
    """Statements run with the ``PLAN_FOR_VALUES`` option are never
    prepared. psycopg prepares a statement its connection ran five times
    (and keeps it while requests end with COMMIT, see ``_close_session``);
    from then on PostgreSQL may run it with a generic plan, made without
    the values. That spares planning for most statements, but the client
    list's ``LIKE '%an%'`` under a generic plan cost 27 ms of PostgreSQL CPU
    a request instead of 2.9 (bench/api.py)."""
    dialect = engine.dialect
    do_execute = dialect.do_execute

    def execute(cursor, statement, parameters, context=None):
        options = getattr(context, "execution_options", None) or {}
        if options.get(PLAN_FOR_VALUES):
            cursor.execute(statement, parameters, prepare=False)
        else:
            do_execute(cursor, statement, parameters, context)

    dialect.do_execute = execute


def make_engine(
    url: str,
    echo: bool = False,
    timeouts: Timeouts | None = None,
    ping_after_idle: float = PING_AFTER_IDLE_SECONDS,
) -> Engine:
    """An engine for ``url``; on PostgreSQL with ``timeouts`` (the defaults
    when None) set on every connection, and a pooled connection pinged
    before use when it sat idle over ``ping_after_idle`` seconds."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_on_connect)
        # pysqlite's own transaction handling defers BEGIN; emit it ourselves
        # so SQLite transactions are real ones (see SQLAlchemy's pysqlite notes).
        # IMMEDIATE takes the write lock up front: a transaction that reads and
        # then writes (finalizing an invoice, taking a number) would otherwise
        # fail with "database is locked" when another one wrote in between.
        # SQLite has one writer at a time anyway; PostgreSQL is for scale.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        _track_writes(engine)
        return engine
    timeouts = timeouts or Timeouts()
    cache_long_statements()
    engine = create_engine(
        url,
        echo=echo,
        pool_size=5,
        max_overflow=10,
        connect_args=connect_args(url, timeouts),
    )
    _plan_for_values(engine)
    if timeouts.statement > 0:
        _watch_statements(engine, StatementWatchdog(timeouts.statement + DEADLINE_GRACE))
    _ping_idle_connections(engine, ping_after_idle)
    _track_writes(engine)
    return engine


def _track_writes(engine: Engine) -> None:
    """Mark each transaction that sends a statement other than a ``SELECT``
    (``WROTE``; SQLite's own ``BEGIN IMMEDIATE`` aside), so a request that
    only read may end with ``COMMIT`` (``_close_session``) and the client
    list may trust its kept totals (``bridge.billing.clients``)."""

    def begin(conn) -> None:
        conn.info[WROTE] = False

    def statement(conn, _cursor, statement: str, *_args) -> None:
        if statement.lstrip()[:6].upper() not in ("SELECT", "BEGIN "):
            conn.info[WROTE] = True

    event.listen(engine, "begin", begin)
    event.listen(engine, "before_cursor_execute", statement)


# psycopg turns a statement's %(name)s placeholders into $n once per distinct
# text, remembered in a 128-entry LRU cache, but it never caches a statement
# over 4 KB or with over 50 parameters: it parses those again at every
# execution. SQLAlchemy's multi-row INSERTs (a renewal batch's invoices,
# lines, payments and audit rows, the same few shapes batch after batch) are
# such statements, and parsing them took about a third of the renew job's
# CPU (bench/renewals.py: 7.8 -> 4.9 ms a renewal). The cache keeps its 128
# entries, so at most a few MB more.
LONG_STATEMENTS_CACHED = {
    "MAX_CACHED_STATEMENT_LENGTH": 128 * 1024,
    "MAX_CACHED_STATEMENT_PARAMS": 10_000,
}


def cache_long_statements() -> None:
    """Let psycopg cache the conversion of long statements too (above)."""
    try:
        from psycopg import _queries
    except ImportError:  # another driver, or psycopg moved it: nothing to tune
        return
    for name, value in LONG_STATEMENTS_CACHED.items():
        current = getattr(_queries, name, None)
        if isinstance(current, int) and current < value:
            setattr(_queries, name, value)


def _ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    """``pool_pre_ping`` for the connections that waited in the pool longer
    than ``idle_seconds``: a ``SELECT 1`` (under the statement watchdog)
    before handing one out, and a new connection if it fails. A connection
    back in the pool for less than that is handed out as it is: under load
    every request would otherwise pay a round trip for it. One that dropped
    in between fails its request's first statement, a quick 503
    ``database_unavailable``, and SQLAlchemy invalidates the pool on the
    disconnect, so the next request connects afresh."""

    def stamp(_dbapi_connection, record, *_args) -> None:
        record.info["pooled_at"] = time.monotonic()

    def checkout(dbapi_connection, record, _proxy) -> None:
        pooled_at = record.info.get("pooled_at")
        if pooled_at is not None and time.monotonic() - pooled_at < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("the pooled connection did not answer") from exc

    event.listen(engine.pool, "connect", stamp)
    event.listen(engine.pool, "checkin", stamp)
    event.listen(engine.pool, "checkout", checkout)


def _sqlite_on_connect(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Database:
    """One engine and its session factory, bound to an app."""

    def __init__(
        self,
        url: str,
        echo: bool = False,
        info: dict | None = None,
        timeouts: Timeouts | None = None,
    ):
        self.url = normalize_url(url)
        self.engine = make_engine(self.url, echo=echo, timeouts=timeouts)
        # ``info`` reaches every session (``session.info``): the domain reads
        # app-wide facts there, such as the public URL for links in emails.
        self.sessionmaker = sessionmaker(
            self.engine, class_=BridgeSession, expire_on_commit=False, info=info or {}
        )

    def set_public_url(self, url: str) -> None:
        """Links built by sessions opened from now on start with ``url``."""
        self.sessionmaker.kw["info"]["public_url"] = url.rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @cached_property
    def autocommit_engine(self) -> Engine:
        """The engine, its connections in autocommit while checked out (the
        same pool and events; each connection's isolation level is reset
        when it goes back to the pool): ``read_without_transaction``."""
        return self.engine.execution_options(isolation_level="AUTOCOMMIT")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session for one unit of work outside a request: commit on success."""
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def init_app(app: Flask) -> Database:
    database = Database(
        app.config["DATABASE_URL"],
        echo=app.config["SQL_ECHO"],
        info={"public_url": str(app.config["PUBLIC_URL"]).rstrip("/")},
        timeouts=Timeouts.from_config(app.config),
    )
    app.extensions["bridge.db"] = database
    app.teardown_appcontext(_close_session)
    return database


def get_db() -> Database:
    return current_app.extensions["bridge.db"]


def get_session() -> Session:
    """The session of the current request (opened on first use)."""
    if "db_session" not in g:
        g.db_session = get_db().sessionmaker()
    return g.db_session


def _close_session(exc=None) -> None:
    session = g.pop("db_session", None)
    if session is None:
        return
    try:
        if exc is None and only_read(session):
            # Same outcome as the rollback of ``close()``, but psycopg keeps
            # its prepared statements across a COMMIT, not a ROLLBACK: a
            # request that only read then finds the statements the
            # connection ran five times already (token, list...) prepared,
            # and PostgreSQL skips parsing them.
            session.commit()
    except Exception:
        # The answer is on its way already and nothing was written: a COMMIT
        # that fails (the database went away) is a rollback, as before.
        log.debug("ending a read-only request with COMMIT failed", exc_info=True)
    finally:
        session.close()


def only_read(session: Session) -> bool:
    """Whether ``session`` is in a PostgreSQL transaction that sent only
    ``SELECT`` statements and holds no unflushed change, so that committing
    it writes nothing. False on SQLite (nothing to gain there) and when
    commits are deferred (``bridge.core.transactions``: the request's
    answer decides)."""
    if not session.in_transaction() or session.info.get(COMMITS_DEFERRED):
        return False
    if session.new or session.dirty or session.deleted:
        return False
    connection = session.connection()
    return connection.dialect.name == "postgresql" and connection.info.get(WROTE) is False


def read_without_transaction() -> Session:
    """The current request's session, opened for a request that writes
    nothing (a signed GET of the site API): on PostgreSQL its statements run
    in autocommit, so the request pays no ``BEGIN`` and no ``ROLLBACK``
    round trip, and each statement reads the latest committed data. On
    SQLite, or once the request's session is open, ``get_session()``."""
    if "db_session" not in g:
        database = get_db()
        if not database.is_sqlite:
            g.db_session = database.sessionmaker(bind=database.autocommit_engine)
    return get_session()
