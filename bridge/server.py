"""Serve the app with gunicorn from the ``bridge serve`` command."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):
    def __init__(self, app, options: dict):
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.application


def run(
    app, *, host: str, port: int, workers: int, threads: int, with_scheduler: bool = False
) -> None:
    database = app.extensions["bridge.db"]

    def post_fork(_server, _worker):
        # Pooled connections opened before the fork must not be shared by workers.
        database.engine.dispose(close=False)

    def when_ready(_server):
        # In the master, which lives as long as the server; the workers it
        # forks next do not inherit the scheduler's thread.
        if with_scheduler:
            from scheduler.runner import start_background

            start_background(app)

    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "post_fork": post_fork,
        "when_ready": when_ready,
        "accesslog": "-",
        "errorlog": "-",
    }
    _Gunicorn(app, options).run()
