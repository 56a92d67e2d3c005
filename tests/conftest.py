"""Fixtures: an app on a freshly migrated database (SQLite and PostgreSQL),
a test client, and an authenticated API client.

PostgreSQL: ``BRIDGE_TEST_DATABASE_URL`` (default the local server's
``test`` database) is used only to create a database of our own for the run,
dropped at the end. Unreachable, the PostgreSQL tests are skipped with the
reason shown, except when ``BRIDGE_REQUIRE_POSTGRES=1`` (CI), where they fail.
"""

from __future__ import annotations

import copy
import functools
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from flask import Flask
from jinja2 import BytecodeCache
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url
from werkzeug.routing import Rule

from bridge import migrate
from bridge.app import create_app
from bridge.auth import passwords
from bridge.auth.accounts import create_token
from bridge.billing import metrics
from bridge.core import clock, events
from bridge.db import Base, make_engine, normalize_url
from bridge.mail import subscribers
from bridge.models import User, UserKind

# Domain code run outside the app (fixtures, the PDF and scheduler tests)
# sends its emails as the app does.
subscribers.register()
metrics.register()


class TemplateCodeCache(BytecodeCache):
    """Compiled templates kept in memory for the whole run: each test builds
    an app of its own, whose Jinja environment would otherwise parse and
    compile every template it renders again (tens of milliseconds each).
    A bucket is found by the template's name and file and checked against
    its source, so an edited template is compiled afresh."""

    def __init__(self):
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


# Every app the tests build (the fixture's and those a test makes itself).
Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": TemplateCodeCache()}


# Werkzeug writes and compiles two Python functions for each URL rule of each
# app (they build the rule's URLs): four fifths of ``create_app``'s time, for
# the same two hundred rules in every test. A builder depends only on the
# rule's text, parsed parts and defaults, and reaches the rule's converters
# through its ``self`` argument, so one per rule serves every app.
_werkzeug_compile_builder = Rule._compile_builder
_builders: dict[tuple, object] = {}


def _shared_builder(self, append_unknown: bool = True):
    defaults = self.defaults or {}
    key = (
        append_unknown,
        self.rule,
        tuple(self._trace),
        tuple(
            (name, type(self._converters.get(name)), repr(value))
            for name, value in defaults.items()
        ),
    )
    builder = _builders.get(key)
    if builder is None:
        builder = _builders[key] = _werkzeug_compile_builder(self, append_unknown)
    return builder


Rule._compile_builder = _shared_builder


# Parsing the rules themselves is most of what is left (two hundred rules,
# parsed again for every app). What parsing gives depends only on the
# rule's text and the map's converter classes: the parts (regular
# expressions and weights), the trace and the variables, with a converter
# each. Those are kept once per rule and given to every app's rule, each
# with copies of the converters bound to its own map.
_werkzeug_compile = Rule.compile
_parsed: dict[tuple, tuple] = {}


def _shared_compile(self) -> None:
    if self.map.host_matching or self.subdomain:
        _werkzeug_compile(self)
        return
    key = (self.rule, self.merge_slashes, tuple(self.map.converters.items()))
    parsed = _parsed.get(key)
    if parsed is None:
        _werkzeug_compile(self)
        _parsed[key] = (tuple(self._parts), tuple(self._trace), dict(self._converters))
        return
    parts, trace, converters = parsed
    self._parts = list(parts)
    self._trace = list(trace)
    self._converters = {}
    for name, converter in converters.items():
        own = copy.copy(converter)
        own.map = self.map
        self._converters[name] = own
    self.arguments.update(converters)
    self._build = self._compile_builder(False).__get__(self, None)
    self._build_unknown = self._compile_builder(True).__get__(self, None)


Rule.compile = _shared_compile

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SEEDED_TABLES = ("business_settings", "roles", "change_stamps")


def pytest_report_header(config):
    return f"postgresql: {_pg_admin_url()} (required: {_pg_required()})"


# A test that uses one of these starts a server process (localstripe) or a
# browser: slow whatever module it is in.
SLOW_FIXTURES = frozenset({"localstripe", "localstripe_server", "browser"})


# A module that marks all its tests slow says so on one line of its own.
_SLOW_MODULE = re.compile(r"^pytestmark = pytest\.mark\.slow\b", re.MULTILINE)


def pytest_addoption(parser):
    parser.addoption(
        "--fast",
        action="store_true",
        help="the inner loop (make test-fast): only tests neither slow nor postgres, "
        "and modules marked slow as a whole are not even imported",
    )


def pytest_configure(config):
    if config.getoption("fast"):
        config.option.markexpr = "not slow and not postgres"


def pytest_ignore_collect(collection_path, config):
    """With ``--fast`` a module marked slow as a whole is not imported:
    schemathesis writes its hundreds of cases while collecting, and the
    browser and WordPress modules import much."""
    if not config.getoption("fast") or collection_path.suffix != ".py":
        return None
    if not collection_path.is_file():
        return None
    return True if _SLOW_MODULE.search(collection_path.read_text(encoding="utf-8")) else None


def pytest_collection_modifyitems(config, items):
    """``make test-fast`` selects with ``-m "not slow and not postgres"``:
    a test is ``postgres`` however its database was chosen (the suite's
    parametrised fixture, or a module's ``indirect`` parametrize that drops
    the fixture's marks), and ``slow`` when it needs localstripe or a browser."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("database_url") == "postgres":
            item.add_marker(pytest.mark.postgres)
        if SLOW_FIXTURES.intersection(item.fixturenames):
            item.add_marker(pytest.mark.slow)


def _pg_admin_url() -> str:
    return normalize_url(os.environ.get("BRIDGE_TEST_DATABASE_URL", DEFAULT_PG))


def _pg_required() -> bool:
    return os.environ.get("BRIDGE_REQUIRE_POSTGRES") == "1"


# Databases ------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A migrated SQLite file; each test gets a copy (cheaper than migrating)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


# SQLite commits with an fsync (of its write-ahead log): a few milliseconds
# each on a disk, and a test commits tens of times. The tests' databases are
# kept on the machine's memory disk when it has one (none of them needs to
# survive a crash), each removed after its test.
MEMORY_DISK = Path("/dev/shm")


@pytest.fixture(scope="session")
def sqlite_directory(tmp_path_factory):
    """Where the tests' SQLite databases are copied (one per worker)."""
    if MEMORY_DISK.is_dir() and os.access(MEMORY_DISK, os.W_OK):
        directory = Path(tempfile.mkdtemp(prefix="bridge-tests-", dir=MEMORY_DISK))
        yield directory
        shutil.rmtree(directory, ignore_errors=True)
    else:
        yield tmp_path_factory.mktemp("databases")


def sqlite_copy(template: Path, directory: Path) -> Iterator[str]:
    """The URL of a fresh copy of ``template``, removed when the caller
    (a fixture's ``yield from``) is done."""
    path = directory / f"{uuid.uuid4().hex}.sqlite3"
    shutil.copy(template, path)
    yield f"sqlite:///{path}"
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


class PostgresDatabase:
    """A database of our own on the test server, migrated once; ``reset()``
    empties it back to the state the migrations leave."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        migrate.upgrade(self.engine)
        with self.engine.connect() as conn:
            self.seeds = {
                table: [dict(row._mapping) for row in conn.execute(text(f"SELECT * FROM {table}"))]
                for table in SEEDED_TABLES
            }
        # Children before their parents, so each DELETE leaves no dangling key.
        self.tables = [
            t.name for t in reversed(Base.metadata.sorted_tables) if t.name != "alembic_version"
        ]
        # One statement naming the tables that hold a row.
        self._probe = text(
            " UNION ALL ".join(
                f"SELECT '{table}' WHERE EXISTS (SELECT 1 FROM {table})" for table in self.tables
            )
        )

    def reset(self) -> None:
        """Back to the migrated state: the tables a test wrote to are emptied
        (the seeded ones given their rows back), and every sequence used
        since restarts, as ``TRUNCATE ... RESTART IDENTITY`` would do for all
        the tables; only cheaper, since most tests write to a few tables
        (a TRUNCATE of every table cost about 0.3 s a test)."""
        with self.engine.begin() as conn:
            holding = set(conn.scalars(self._probe)) | set(SEEDED_TABLES)
            for table in self.tables:
                if table in holding:
                    conn.execute(text(f"DELETE FROM {table}"))
            used = conn.execute(
                text(
                    "SELECT schemaname, sequencename FROM pg_sequences "
                    "WHERE last_value IS NOT NULL AND schemaname = current_schema()"
                )
            ).all()
            for schema, sequence in used:
                conn.execute(text(f'SELECT setval(\'"{schema}"."{sequence}"\', 1, false)'))
            for table in SEEDED_TABLES:
                rows = self.seeds[table]
                if rows:
                    conn.execute(Base.metadata.tables[table].insert(), rows)
                if "id" not in Base.metadata.tables[table].c:
                    continue
                # Seeded ids were given explicitly: move the sequences past them.
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
                    )
                )


@pytest.fixture(scope="session")
def postgres_database():
    admin_url = _pg_admin_url()
    name = f"bridge_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        message = f"PostgreSQL unreachable at {admin_url}: {exc.__class__.__name__}: {exc}"
        if _pg_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    database = PostgresDatabase(url)
    yield database
    database.engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def database_url(request, sqlite_template, sqlite_directory):
    """The URL of an empty, migrated database: each test runs on both."""
    if request.param == "sqlite":
        yield from sqlite_copy(sqlite_template, sqlite_directory)
        return
    database = request.getfixturevalue("postgres_database")
    database.reset()
    yield database.url


# The app --------------------------------------------------------------------


@pytest.fixture
def app(database_url, tmp_path):
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret-key",
            "TESTING": True,
        }
    )
    app.instance_path = str(tmp_path / "instance")
    yield app
    app.extensions["bridge.db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app):
    """The app's Database (``db.session()`` commits a unit of work)."""
    return app.extensions["bridge.db"]


@dataclass
class Api:
    """A test client that sends the staff token and speaks JSON."""

    client: object
    token: str

    def request(self, method: str, path: str, json=None, **kwargs):
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.client.open(
            "/api/v1" + path, method=method, json=json, headers=headers, **kwargs
        )

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.request("POST", path, json=json, **kwargs)

    def put(self, path, json=None, **kwargs):
        return self.request("PUT", path, json=json, **kwargs)

    def patch(self, path, json=None, **kwargs):
        return self.request("PATCH", path, json=json, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)


STAFF_PASSWORD = "correct horse battery"

# Argon2 with the bridge's parameters costs about 0.13 s a hash and as much a
# check: most tests log someone in, so they hash with the lowest parameters
# Argon2id allows (the same code paths: hash, verify, needs_rehash). Tests
# about the hashing's cost itself (a login's time is the same for every kind
# of email) are marked ``real_password_hashing`` and keep the bridge's hasher.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def _password_hasher(request, monkeypatch):
    if request.node.get_closest_marker("real_password_hashing") is None:
        monkeypatch.setattr(passwords, "_hasher", CHEAP_HASHER)


@functools.cache
def _password_hash(password: str, hasher: PasswordHasher) -> str:
    return hasher.hash(password)


def staff_password_hash() -> str:
    """Hashed once per run and hasher: Argon2 is slow on purpose, and tests
    make many users."""
    return _password_hash(STAFF_PASSWORD, passwords._hasher)


def make_token(db, *, read_only: bool = False, email: str = "staff@agency.example") -> str:
    """A token for a staff user (created if missing) with ``STAFF_PASSWORD``."""
    with db.session() as session:
        user = session.scalar(select(User).where(User.email_key == email))
        if user is None:
            user = User(
                kind=UserKind.STAFF,
                email=email,
                email_key=email,
                password_hash=staff_password_hash(),
                created_at=clock.now(),
            )
            session.add(user)
        _, token = create_token(session, user, name="tests", read_only=read_only)
    return token


@pytest.fixture
def api(client, db):
    """The API as a staff member with a read-write token."""
    return Api(client, make_token(db))


@pytest.fixture
def api_read_only(client, db):
    return Api(client, make_token(db, read_only=True, email="reader@agency.example"))


@pytest.fixture
def api_eur(api):
    """The API with the business currency set to EUR."""
    response = api.put("/settings/currency", json={"currency": "EUR", "confirm": True})
    assert response.status_code == 200, response.get_json()
    return api


def table_counts(db) -> dict[str, int]:
    """Rows per table: compare before and after a rejected request."""
    with db.engine.connect() as conn:
        names = inspect(conn).get_table_names()
        return {
            name: conn.execute(text(f'SELECT COUNT(*) FROM "{name}"')).scalar_one()
            for name in names
        }


def snapshot(db) -> dict[str, list]:
    """Every row of every table (except token bookkeeping), to prove that a
    rejected request changed nothing at all."""
    with db.engine.connect() as conn:
        names = sorted(inspect(conn).get_table_names())
        result = {}
        for name in names:
            rows = conn.execute(text(f'SELECT * FROM "{name}" ORDER BY 1')).all()
            result[name] = [
                tuple(v for k, v in row._mapping.items() if k != "last_used_at") for row in rows
            ]
        return result


class EventLog:
    """The domain events of every session, in the order they were recorded,
    without those rolled back: ``take()`` returns those since the last take
    (one step of a scenario, Kill Bill style)."""

    def __init__(self):
        self._seen: list[tuple[object, events.Event]] = []

    def __call__(self, session, event: events.Event) -> None:
        self._seen.append((session, event))

    def take(self) -> list[events.Event]:
        kept = [
            event
            for session, event in self._seen
            if any(e is event for e in events.recorded(session))
        ]
        self._seen.clear()
        return kept


@pytest.fixture
def event_log():
    """Subscribed to every event for the test's duration."""
    log = EventLog()
    events.subscribe(events.Event, log)
    yield log
    events.unsubscribe(events.Event, log)
