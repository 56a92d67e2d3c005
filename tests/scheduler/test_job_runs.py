"""What the scheduler did, run by run: each run of a job is a row written
when it starts and completed when it ends, the renew job logs a JSON line
and brings its row up to date after each batch (so a process killed mid-run
leaves a trace), and ``GET /api/v1/jobs`` lists each job's last runs."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import func, select

from bridge.billing import job_runs
from bridge.models import JobRun
from scheduler.jobs import JOBS, JobContext, run_job
from scheduler.runner import DEFAULT_INTERVALS
from tests.scheduler.conftest import subscribe

START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def runs(db, job: str) -> list[JobRun]:
    with db.session() as s:
        return list(s.scalars(select(JobRun).where(JobRun.job == job).order_by(JobRun.id)))


def test_each_run_is_recorded_with_its_counts_and_duration(db, ctx, shop):
    with time_machine.travel(START, tick=False):
        record = run_job(ctx, "reminders", START)

    (run,) = runs(db, "reminders")
    assert record["ok"]
    assert (run.started_at, run.finished_at, run.state) == (START, START, "succeeded")
    assert run.counts == {"renewal": 0, "overdue": 0}
    assert run.error is None and run.duration_ms >= 0
    assert run.runner.endswith(f":{__import__('os').getpid()}")


def test_a_failed_run_is_recorded_with_its_error(db, app, shop):
    def broken_gateway(_session):
        raise RuntimeError("Stripe key cannot be decrypted")

    ctx = JobContext(database=app.extensions["bridge.db"], gateway_factory=broken_gateway)
    with time_machine.travel(START, tick=False):
        run_job(ctx, "reconcile", START)

    (run,) = runs(db, "reconcile")
    assert (run.state, run.ok) == ("failed", False)
    assert run.error == "RuntimeError: Stripe key cannot be decrypted"
    assert run.counts is None and run.finished_at == START


def test_renew_logs_a_line_and_records_its_progress_after_each_batch(
    db, ctx, shop, caplog, monkeypatch
):
    for number in range(5):
        subscribe(db, shop["monthly"], START, email=f"client{number}@example.com")
    ctx.batch = 2
    progress: list[dict] = []
    record_progress = job_runs.progress

    def spy(database, run_id, counts):
        # The row, as another process would read it, while the run goes on.
        record_progress(database, run_id, counts)
        with db.session() as s:
            row = s.get(JobRun, run_id)
            progress.append((row.state, row.counts))

    monkeypatch.setattr(job_runs, "progress", spy)
    caplog.set_level(logging.INFO, logger="bridge.scheduler")
    renewal_day = START + timedelta(days=31)
    with time_machine.travel(renewal_day, tick=False):
        record = run_job(ctx, "renew", renewal_day)

    assert record["ok"] and record["counts"]["renewed"] == 5
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.getMessage().startswith("{")]
    batches = [line for line in lines if line.get("batch_of") == "renew"]
    assert [(b["batches"], b["claimed"], b["renewed"]) for b in batches] == [
        (1, 2, 2),
        (2, 4, 4),
        (3, 5, 5),
    ]
    runs_lines = [line for line in lines if "job" in line]
    assert len(runs_lines) == 1 and runs_lines[0]["job"] == "renew" and runs_lines[0]["ok"]
    # While it ran, the row said "unfinished" with the counts of the last batch.
    assert [(state, counts["renewed"]) for state, counts in progress] == [
        ("unfinished", 2),
        ("unfinished", 4),
        ("unfinished", 5),
    ]
    (run,) = runs(db, "renew")
    assert run.state == "succeeded" and run.counts["renewed"] == 5


def test_only_the_last_runs_of_each_job_are_kept(db, ctx, shop, monkeypatch):
    monkeypatch.setattr(job_runs, "KEPT_PER_JOB", 3)
    for minute in range(5):
        at = START + timedelta(minutes=minute)
        with time_machine.travel(at, tick=False):
            run_job(ctx, "reminders", at)
            run_job(ctx, "expire", at)

    assert [run.started_at.minute for run in runs(db, "reminders")] == [2, 3, 4]
    assert len(runs(db, "expire")) == 3


def test_the_api_lists_each_jobs_last_runs_newest_first(api, db, ctx, shop):
    for minute in range(3):
        at = START + timedelta(minutes=minute)
        with time_machine.travel(at, tick=False):
            run_job(ctx, "renew", at)
    # A run whose process died: started, one batch committed, never finished.
    died = job_runs.start(db, "dunning", START)
    job_runs.progress(db, died, {"charged": 7})

    response = api.get("/jobs?runs=2")

    assert response.status_code == 200, response.get_json()
    jobs = {job["job"]: job for job in response.get_json()["data"]}
    assert list(jobs) == list(DEFAULT_INTERVALS)
    assert set(jobs) == set(JOBS)
    renew = jobs["renew"]
    assert renew["interval_seconds"] == 60
    assert [run["started_at"] for run in renew["runs"]] == [
        "2026-03-10T09:02:00+00:00",
        "2026-03-10T09:01:00+00:00",
    ]
    assert renew["runs"][0]["state"] == "succeeded"
    assert renew["runs"][0]["counts"]["renewed"] == 0
    (dunning,) = jobs["dunning"]["runs"]
    assert (dunning["state"], dunning["finished_at"], dunning["counts"]) == (
        "unfinished",
        None,
        {"charged": 7},
    )
    assert jobs["expire"]["runs"] == []


def test_the_jobs_need_a_staff_token_and_a_sane_count(api, client, db):
    assert client.get("/api/v1/jobs").status_code == 401
    response = api.get("/jobs?runs=0")
    assert response.status_code == 422
    assert api.get("/jobs?runs=101").status_code == 422
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(JobRun)) == 0
