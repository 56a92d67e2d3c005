"""Engine and sessions (the declarative base is ``bridge.models.base``).

Plain SQLAlchemy 2 (no Flask-SQLAlchemy): the domain takes a ``Session``
argument and never reaches for Flask. Web requests get one session each
(``get_session()``), closed when the request ends; the CLI and the scheduler
open their own with ``Database.session()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, g
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

# Migrations and tests import the base from here; it lives with the models.
from bridge.models.base import Base  # noqa: F401


def normalize_url(url: str) -> str:
    """Accept the usual ``postgresql://`` spelling and use psycopg 3 for it."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, echo: bool = False) -> Engine:
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
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _sqlite_on_connect(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Database:
    """One engine and its session factory, bound to an app."""

    def __init__(self, url: str, echo: bool = False, info: dict | None = None):
        self.url = normalize_url(url)
        self.engine = make_engine(self.url, echo=echo)
        # ``info`` reaches every session (``session.info``): the domain reads
        # app-wide facts there, such as the public URL for links in emails.
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False, info=info or {})

    def set_public_url(self, url: str) -> None:
        """Links built by sessions opened from now on start with ``url``."""
        self.sessionmaker.kw["info"]["public_url"] = url.rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

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


def _close_session(_exc=None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
