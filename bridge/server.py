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
    if with_scheduler:
        # The jobs run inside the one worker (local use; SQLite allows one
        # scheduler). Production runs `bridge scheduler` processes instead.
        workers = 1

    def post_fork(_server, _worker):
        # Pooled connections opened before the fork must not be shared by workers.
        database.engine.dispose(close=False)

    def post_worker_init(_worker):
        # In the worker, after the fork: a process never forks while the
        # scheduler's threads run (a fork copies their held locks).
        if with_scheduler:
            from scheduler.runner import start_background

            start_background(app)

    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "post_fork": post_fork,
        "post_worker_init": post_worker_init,
        "accesslog": "-",
        "errorlog": "-",
    }
    _Gunicorn(app, options).run()
