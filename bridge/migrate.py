"""Schema migrations (Alembic) without an ``alembic.ini``: the bridge knows
where its migrations are, whether installed from a wheel or run from a clone."""

from __future__ import annotations

import functools
from pathlib import Path

import bridge_migrations
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(bridge_migrations.__file__).parent))
    # ConfigParser interpolation would choke on a % in a password.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        _unhurried(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        _unhurried(connection)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def _unhurried(connection: Connection) -> None:
    """A migration may rewrite a big table: no statement timeout for it
    (``bridge.db.Timeouts`` limits the application's statements)."""
    connection.execution_options(no_deadline=True)
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL statement_timeout = 0"))


@functools.cache
def head_revision() -> str:
    """The newest migration's revision. Read once: the migrations a process
    ships with do not change while it runs, and reading them means importing
    every migration script (each app start checks the database against it)."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return script.get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()
