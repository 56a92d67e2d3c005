"""Settings: safe local defaults, overridden by ``BRIDGE_*`` environment variables.

``BRIDGE_DATABASE_URL=...`` becomes ``app.config["DATABASE_URL"]`` and so on
(Flask's ``from_prefixed_env``; values that parse as JSON become numbers or
booleans). In production mode (``BRIDGE_ENV=production``) secrets have no
default: the app refuses to start without them.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

DEFAULTS: dict[str, object] = {
    # "development" (local defaults allowed) or "production" (secrets required)
    "ENV": "development",
    # None: a SQLite file in the instance folder
    "DATABASE_URL": None,
    # Flask session signing; also the fallback root of the encryption key
    "SECRET_KEY": None,
    # Fernet key for secrets stored in the database (site secrets, Stripe key);
    # derived from SECRET_KEY when unset
    "ENCRYPTION_KEY": None,
    # PostgreSQL: seconds to open a connection, for one statement (the
    # server's statement_timeout; a statement with no answer a second later
    # has its connection closed), and idle seconds before TCP keepalives.
    # A stalled database is then a quick 503, not a hang. 0: no limit.
    "DATABASE_CONNECT_TIMEOUT": 5,
    "DATABASE_STATEMENT_TIMEOUT": 30,
    "DATABASE_KEEPALIVE_SECONDS": 15,
    # Log SQL statements (debugging)
    "SQL_ECHO": False,
    # API list pages
    "API_DEFAULT_PAGE_SIZE": 50,
    "API_MAX_PAGE_SIZE": 100,
    # Logo and product images
    "MAX_IMAGE_BYTES": 512 * 1024,
    # Refuse to serve when the database is behind the migrations
    "CHECK_SCHEMA": True,
    # Email delivery: "folder" writes .eml files to MAIL_FOLDER (the default in
    # development), "smtp" sends through SMTP_HOST (the default in production)
    "MAIL_TRANSPORT": None,
    # The sender address of every email (its display name is a setting:
    # email_from_name, else the company name)
    "MAIL_FROM": "billing@localhost",
    # Where the folder transport writes; None: the instance folder's mail/
    "MAIL_FOLDER": None,
    # The SMTP server; security is "starttls" (port 587), "tls" (implicit
    # TLS, port 465) or "none"; login only when a username is set
    "SMTP_HOST": None,
    "SMTP_PORT": 587,
    "SMTP_SECURITY": "starttls",
    "SMTP_USERNAME": None,
    "SMTP_PASSWORD": None,
    # Where clients reach this service: links in emails and in the plugin's
    # pages (the hosted invoice page, PDFs) are built from it. Unset, it is
    # http://HOST:PORT of `bridge serve` (DEFAULT_PUBLIC_URL elsewhere)
    "PUBLIC_URL": None,
    # Requests per second to Stripe (empty: 80 with a live key, 20 with a
    # test key, below Stripe's 100 and 25; 0: no limit). On PostgreSQL the
    # schedulers share it (a bucket in the database), so N processes
    # together stay under it; on SQLite it is per process.
    "STRIPE_RATE_LIMIT": None,
    # Card charges one scheduler process keeps waiting on Stripe at once
    # (empty: 32 on PostgreSQL, 1 on SQLite, which has one writer anyway)
    "CHARGES_IN_FLIGHT": None,
    # Seconds between two runs of each scheduler job
    "SCHEDULER_RENEW_SECONDS": 60,
    "SCHEDULER_DUNNING_SECONDS": 300,
    "SCHEDULER_EXPIRE_SECONDS": 60,
    "SCHEDULER_REMINDERS_SECONDS": 900,
    "SCHEDULER_DELIVER_MAIL_SECONDS": 15,
    "SCHEDULER_RECONCILE_SECONDS": 120,
    # The most renewal invoices one run of the renew job issues for one
    # subscription; one further behind is held and logged (0: no limit)
    "RENEW_CATCH_UP_PERIODS": 1,
    # Where the hosted page's rate limits count calls (bridge.portal.limits):
    # memory:// (each process its own), or e.g. redis://host:6379/0 shared by
    # every worker; and the limits of its setup-intent and pay endpoints
    "RATELIMIT_STORAGE_URL": "memory://",
    "HOSTED_PAGE_LIMIT_PER_TOKEN": "10 per minute;30 per hour",
    "HOSTED_PAGE_LIMIT_PER_ADDRESS": "30 per minute;100 per hour",
    # The portal's *Replace card*: SetupIntents asked per client
    "PORTAL_CARD_LIMIT_PER_CLIENT": "10 per minute;30 per hour",
    # Days an invitation link stays valid (a re-invite makes a new one)
    "INVITATION_DAYS": 7,
    # Answers to the invitation page's form, per client address
    "INVITATION_LIMIT_PER_ADDRESS": "10 per minute;50 per hour",
    # Password attempts at the Hub's login, per account (the email tried)
    # and per client address, counted where the hosted page's are
    "HUB_LOGIN_LIMIT_PER_ACCOUNT": "5 per minute;20 per hour",
    "HUB_LOGIN_LIMIT_PER_ADDRESS": "20 per minute;100 per hour",
    # Whole request body limit (images travel base64 inside JSON)
    "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
}

SECRET_SETTINGS = ("SECRET_KEY",)
DEFAULT_PUBLIC_URL = "http://127.0.0.1:5000"


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message says what to set."""


def load(app, overrides: dict | None = None) -> None:
    """Fill ``app.config``: defaults, then the environment, then ``overrides`` (tests)."""
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env("BRIDGE")
    if overrides:
        app.config.update(overrides)

    production = app.config["ENV"] == "production"
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    if not app.config["DATABASE_URL"]:
        if production:
            raise ConfigError("BRIDGE_DATABASE_URL must be set in production")
        app.config["DATABASE_URL"] = "sqlite:///" + os.path.join(
            app.instance_path, "bridge.sqlite3"
        )

    if not app.config["SECRET_KEY"]:
        if production:
            raise ConfigError("BRIDGE_SECRET_KEY must be set in production")
        app.config["SECRET_KEY"] = _local_secret(Path(app.instance_path) / "secret_key")

    _mail_settings(app.config, production, app.instance_path)

    # Unset, the public URL follows the address `bridge serve` listens on
    # (``server_url``); the commands that serve nothing use the default.
    app.config["PUBLIC_URL_FOLLOWS_SERVER"] = not app.config["PUBLIC_URL"]
    if not app.config["PUBLIC_URL"]:
        app.config["PUBLIC_URL"] = DEFAULT_PUBLIC_URL


def server_url(host: str, port: int) -> str:
    """The URL at which a server listening on ``host:port`` is reached from
    this machine (a wildcard address is reached on loopback)."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104  (an address to reach, not to bind)
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _mail_settings(config, production: bool, instance_path: str) -> None:
    if not config["MAIL_TRANSPORT"]:
        config["MAIL_TRANSPORT"] = "smtp" if production else "folder"
    if config["MAIL_TRANSPORT"] not in ("folder", "smtp"):
        raise ConfigError("BRIDGE_MAIL_TRANSPORT must be folder or smtp")
    if str(config["SMTP_SECURITY"]) not in ("none", "starttls", "tls"):
        raise ConfigError("BRIDGE_SMTP_SECURITY must be none, starttls or tls")
    if not config["MAIL_FOLDER"]:
        config["MAIL_FOLDER"] = os.path.join(instance_path, "mail")


def _local_secret(path: Path) -> str:
    """A random secret kept in the instance folder, so local sessions and
    encrypted values survive restarts without anyone choosing a key."""
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its secret
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value
