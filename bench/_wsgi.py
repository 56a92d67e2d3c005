"""WSGI entry point of the API benchmark (``bench/api.py``).

The real app from ``bridge.create_app()`` plus one route, ``GET /bench/ping``,
that answers ``{"ok": true}`` without touching the database: the baseline the
client list is compared with (same app, same workers, same gunicorn). Served as
``gunicorn --pythonpath bench '_wsgi:create_app()'``.
"""

from __future__ import annotations

from flask import Flask, jsonify

import bridge


def create_app() -> Flask:
    app = bridge.create_app()

    @app.get("/bench/ping")
    def bench_ping():
        return jsonify({"ok": True})

    return app
