"""Every job run is logged as one structured line, and a job that fails
never stops the others."""

from __future__ import annotations

import json
import logging

import pytest

from scheduler.jobs import JOBS, JobContext, run_all

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_a_failing_job_is_logged_and_the_others_still_run(app, shop, caplog):
    def broken_gateway(_session):
        raise RuntimeError("Stripe key cannot be decrypted")

    ctx = JobContext(database=app.extensions["bridge.db"], gateway_factory=broken_gateway)
    caplog.set_level(logging.INFO, logger="bridge.scheduler")

    records = run_all(ctx)

    assert [r["job"] for r in records] == list(JOBS)
    failed = {r["job"]: r for r in records if not r["ok"]}
    # The jobs that need the card gateway failed; the others did their work.
    assert set(failed) == {"renew", "dunning", "reconcile", "reconcile_stripe"}
    assert failed["reconcile"]["error"] == "RuntimeError: Stripe key cannot be decrypted"
    assert all(r["ok"] for r in records if r["job"] not in failed)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.getMessage().startswith("{")]
    assert [line["job"] for line in lines] == list(JOBS)
    assert all({"job", "ok", "duration_ms"} <= set(line) for line in lines)
    assert lines[JOBS_INDEX["reminders"]]["counts"] == {"renewal": 0, "overdue": 0}


JOBS_INDEX = {name: index for index, name in enumerate(JOBS)}
