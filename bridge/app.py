"""The application factory."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import bridge_templates
from flask import Flask, jsonify

from bridge import config, db, migrate
from bridge.auth.secrets import SecretBox
from bridge.billing import (
    audit,  # noqa: F401  (registers the audit log on every session)
    metrics,
)
from bridge.mail import subscribers


class SchemaOutOfDate(RuntimeError):
    """The database is behind the code's migrations."""


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app. ``test_config`` overrides settings (tests pass the
    database URL and the like)."""
    app = Flask(
        "bridge",
        template_folder=str(Path(bridge_templates.__file__).parent),
        instance_relative_config=True,
        # Where the SQLite file, the local secret and local mail live.
        instance_path=os.environ.get("BRIDGE_INSTANCE_PATH") or None,
    )
    config.load(app, test_config)
    # Pages translate with gettext (_(), {% trans %}); each render passes the
    # functions of its own language (bridge.core.l10n.Localiser.template_context).
    app.jinja_env.add_extension("jinja2.ext.i18n")
    logging.getLogger("xhtml2pdf").setLevel(logging.ERROR)
    # The domain's events send their emails (for the CLI too: it runs here).
    subscribers.register()
    # The clients' figures (MRR, net billing) follow the same events.
    metrics.register()

    database = db.init_app(app)
    app.extensions["bridge.secret_box"] = SecretBox(
        app.config["ENCRYPTION_KEY"], app.config["SECRET_KEY"]
    )

    if app.config["CHECK_SCHEMA"]:
        ensure_schema_current(database)

    from bridge import api
    from bridge.api.webhooks import bp as stripe_webhooks

    api.init_app(app)
    app.register_blueprint(stripe_webhooks)  # Stripe signs; no API token

    from bridge import portal

    portal.init_app(app)

    from bridge import hub

    hub.init_app(app)

    @app.get("/healthz")
    def healthz():
        """200 when the database answers, 503 otherwise (for load balancers)."""
        try:
            database.ping()
        except Exception as exc:  # any failure to reach the database is "unhealthy"
            # One line per check, not a traceback: load balancers ask often.
            text = str(getattr(exc, "orig", None) or exc).strip()
            app.logger.warning(
                "health check: database unreachable: %s: %s",
                type(exc).__name__,
                text.splitlines()[0] if text else "",
            )
            return jsonify({"status": "unavailable", "database": "unreachable"}), 503
        return jsonify({"status": "ok", "database": "ok"})

    return app


def ensure_schema_current(database: db.Database) -> None:
    """Refuse to run on a database the migrations have not brought up to date."""
    current = migrate.current_revision(database.engine)
    head = migrate.head_revision()
    if current != head:
        where = "an empty database" if current is None else f"revision {current}"
        raise SchemaOutOfDate(
            f"The database is at {where}, the code needs {head}: run `bridge db upgrade`."
        )
