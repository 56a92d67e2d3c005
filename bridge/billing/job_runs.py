"""What the scheduler did: a row per run of a job (``JobRun``), written in
a transaction of its own when the run starts, brought up to date after each
batch of a long run and completed when it ends. A process killed mid-run
leaves its row unfinished with the counts of its last batch, so renewal day
can be followed, and a crash found, from the API (and the Hub) as well as
from the log.

Recording never stops a job: when the database cannot take the row, the
log still has the run. A database that is gone is the job's own line to
tell (once), so losing the row to it is logged only at debug level."""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bridge.core.outages import is_database_unavailable
from bridge.models import JobRun

if TYPE_CHECKING:  # bridge.db loads Flask, which the domain does without
    from bridge.db import Database

log = logging.getLogger("bridge.scheduler")

# Runs kept per job: a week of the renew job at its default interval is
# ~10,000 runs, more than anyone reads; the last hundred say how it goes.
KEPT_PER_JOB = 100
ERROR_LENGTH = 500


def start(database: Database, job: str, now: datetime) -> int | None:
    """The new run's id, or None when it could not be recorded. Commits
    (a session of its own)."""
    try:
        with database.sessionmaker() as session:
            run = JobRun(job=job, runner=_runner(), started_at=now)
            session.add(run)
            session.commit()
            return run.id
    except Exception as exc:  # the job still runs, and logs its line
        _not_recorded(f"job {job}: its run could not be recorded", exc)
        return None


def progress(database: Database, run_id: int | None, counts: dict) -> None:
    """The counts so far of a run still going (after each batch). Commits
    (a session of its own)."""
    if run_id is None:
        return
    try:
        with database.sessionmaker() as session:
            run = session.get(JobRun, run_id)
            if run is not None:
                run.counts = counts
                session.commit()
    except Exception as exc:
        _not_recorded(f"job run {run_id}: progress not recorded", exc)


def finish(database: Database, run_id: int | None, record: dict, now: datetime) -> None:
    """Complete the run from ``run_job``'s record (ok, counts or error,
    duration), and forget the job's runs beyond the last ``KEPT_PER_JOB``.
    Commits (a session of its own)."""
    if run_id is None:
        return
    try:
        with database.sessionmaker() as session:
            run = session.get(JobRun, run_id)
            if run is None:
                return
            run.finished_at = now
            run.ok = bool(record.get("ok"))
            if "counts" in record:
                run.counts = record["counts"]
            run.error = (record.get("error") or "")[:ERROR_LENGTH] or None
            run.duration_ms = round(record.get("duration_ms") or 0)
            _forget_old(session, run.job)
            session.commit()
    except Exception as exc:
        _not_recorded(f"job run {run_id}: its end was not recorded", exc)


def recent(session: Session, per_job: int = 10) -> dict[str, list[JobRun]]:
    """Each job's last runs, newest first."""
    jobs = session.scalars(select(JobRun.job).distinct()).all()
    return {
        job: list(
            session.scalars(
                select(JobRun)
                .where(JobRun.job == job)
                .order_by(JobRun.started_at.desc(), JobRun.id.desc())
                .limit(per_job)
            )
        )
        for job in sorted(jobs)
    }


def _forget_old(session: Session, job: str) -> None:
    oldest_kept = session.scalar(
        select(JobRun.id)
        .where(JobRun.job == job)
        .order_by(JobRun.id.desc())
        .offset(KEPT_PER_JOB - 1)
        .limit(1)
    )
    if oldest_kept is not None:
        session.execute(delete(JobRun).where(JobRun.job == job, JobRun.id < oldest_kept))


def _runner() -> str:
    # The pid of this process, not of the one that imported the module
    # (gunicorn's workers fork after import).
    return f"{socket.gethostname()}:{os.getpid()}"[:120]


def _not_recorded(what: str, exc: Exception) -> None:
    lines = str(exc).strip().splitlines()
    level = logging.DEBUG if is_database_unavailable(exc) else logging.WARNING
    log.log(level, "%s: %s: %s", what, type(exc).__name__, lines[0] if lines else "")
