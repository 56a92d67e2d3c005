"""Runs the jobs on their intervals with APScheduler 3.

``bridge scheduler`` runs them in a process of their own (blocking); ``bridge
serve --scheduler`` (what ``make run`` uses) runs them in a background
thread of the web server's master process. Within one process a job never
overlaps itself (``max_instances=1``; a run that outlasts its interval
makes the next start late, not twice); across processes the row locks of
the jobs keep every piece of work single.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bridge.core import clock
from scheduler.jobs import JOBS, JobContext, run_job

log = logging.getLogger("bridge.scheduler")

# Seconds between runs of each job (BRIDGE_SCHEDULER_<JOB>_SECONDS).
DEFAULT_INTERVALS = {
    "renew": 60,
    "dunning": 300,
    "expire": 60,
    "reminders": 900,
    "deliver_mail": 15,
    "reconcile": 120,
    # Daily; a restart runs it at once, but its email goes out once a day.
    "reconcile_stripe": 86400,
}


def intervals(config) -> dict[str, int]:
    result = {}
    for name, default in DEFAULT_INTERVALS.items():
        value = config.get(f"SCHEDULER_{name.upper()}_SECONDS", default)
        try:
            seconds = int(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"BRIDGE_SCHEDULER_{name.upper()}_SECONDS must be a number") from exc
        if seconds < 1:
            raise ValueError(f"BRIDGE_SCHEDULER_{name.upper()}_SECONDS must be at least 1")
        result[name] = seconds
    return result


def context_for(app) -> JobContext:
    """The jobs' context from a configured app."""
    transport = None
    try:
        from bridge.mail.delivery import transport_from_config

        transport = transport_from_config(app.config)
    except ImportError:  # pragma: no cover - mail delivery is part of the package
        log.warning("mail delivery is not available: mail stays queued")
    rate = app.config.get("STRIPE_RATE_LIMIT")
    database = app.extensions["bridge.db"]
    return JobContext(
        database=database,
        box=app.extensions["bridge.secret_box"],
        stripe_api_base=app.config.get("STRIPE_API_BASE"),
        stripe_rate_limit=float(rate) if rate not in (None, "") else None,
        mail_transport=transport,
        catch_up=catch_up_periods(app.config),
        charges_in_flight=charges_in_flight(app.config, database),
    )


def charges_in_flight(config, database) -> int:
    """``CHARGES_IN_FLIGHT``: card charges kept waiting on Stripe at once
    (default 32 on PostgreSQL, 1 on SQLite)."""
    value = config.get("CHARGES_IN_FLIGHT")
    if value in (None, ""):
        return 1 if database.is_sqlite else 32
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = 0
    if not 1 <= count <= 256:
        raise ValueError(f"BRIDGE_CHARGES_IN_FLIGHT must be a number from 1 to 256, not {value!r}")
    return count


def catch_up_periods(config) -> int | None:
    """``RENEW_CATCH_UP_PERIODS``: the most renewal invoices one run of the
    renew job issues for one subscription (default 1; 0: no limit)."""
    value = config.get("RENEW_CATCH_UP_PERIODS", 1)
    try:
        periods = int(value)
    except (TypeError, ValueError):
        periods = -1
    if periods < 0:
        raise ValueError(
            f"BRIDGE_RENEW_CATCH_UP_PERIODS must be a whole number (0: no limit), not {value!r}"
        )
    return periods or None


def _configure(scheduler, ctx: JobContext, config) -> None:
    for name, seconds in intervals(config).items():
        scheduler.add_job(
            run_job,
            IntervalTrigger(seconds=seconds),
            args=[ctx, name],
            id=name,
            name=name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            # First run at once, so a restart catches up without waiting.
            next_run_time=clock.now(),
        )


def start_background(app) -> BackgroundScheduler:
    """The jobs in a daemon thread of this process (``make run``)."""
    scheduler = BackgroundScheduler(timezone="UTC", daemon=True)
    _configure(scheduler, context_for(app), app.config)
    scheduler.start()
    log.info("scheduler started in-process: %s", ", ".join(JOBS))
    return scheduler


def run_forever(app) -> None:
    """The jobs in the foreground until SIGTERM or Ctrl-C (``bridge scheduler``)."""
    scheduler = BlockingScheduler(timezone="UTC")
    _configure(scheduler, context_for(app), app.config)

    def stop(_signum, _frame):
        log.info("scheduler %s stopping", os.getpid())
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    log.info("scheduler %s started: %s", os.getpid(), ", ".join(JOBS))
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()
