"""Setup's Scheduler section: each job with how often it runs and what its
last runs did, read from the recorded runs (``job_runs``), the same as
``GET /api/v1/jobs``: an empty state before the first run, counts in
words, a failed run's error (escaped), an unfinished run."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import time_machine

from bridge.billing import job_runs
from scheduler.jobs import JobContext, run_job
from tests.scheduler.fakes import RecordingGateway

PAGE = "/setup/scheduler"
WHEN = datetime(2026, 5, 4, 8, 30, tzinfo=UTC)


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.data.decode())


def row(body: str, job: str) -> str:
    return re.search(rf'<tr id="job-{job}">(.*?)</tr>', body).group(1)


def test_before_the_first_run_it_says_so_and_lists_every_job(hub):
    page = hub.client.get(PAGE)
    assert page.status_code == 200
    body = text_of(page)
    assert 'href="/setup/scheduler" aria-current="page">Scheduler</a>' in body
    assert 'id="scheduler-never-ran"' in body
    assert "The scheduler has not run yet" in body
    for job, label, every in (
        ("renew", "Renewals", "every minute"),
        ("dunning", "Card retries", "every 5 minutes"),
        ("deliver_mail", "Email delivery", "every 15 seconds"),
        ("reconcile_stripe", "Reconciliation with Stripe", "every day"),
    ):
        assert label in row(body, job) and every in row(body, job)
        assert "Never" in row(body, job)


def test_each_job_shows_its_last_run_and_what_it_did(hub, db):
    ctx = JobContext(database=db, gateway_factory=lambda _s: RecordingGateway())
    with time_machine.travel(WHEN, tick=False):
        run_job(ctx, "renew", WHEN)
        run_job(ctx, "reminders", WHEN)
        run_job(ctx, "reconcile_stripe", WHEN)

    def broken(_session):
        raise RuntimeError("key <b>cannot</b> be decrypted")

    failing = JobContext(database=db, gateway_factory=broken)
    later = WHEN + timedelta(minutes=2)
    with time_machine.travel(later, tick=False):
        run_job(failing, "reconcile", later)
    # A renew run whose process died after a batch of 150 renewals.
    died = job_runs.start(db, "renew", WHEN + timedelta(minutes=1))
    job_runs.progress(db, died, {"renewed": 150, "errors": 0, "batches": 3, "claimed": 150})

    body = text_of(hub.client.get(PAGE))

    assert 'id="scheduler-never-ran"' not in body
    renew = row(body, "renew")
    assert "May 4, 2026" in renew and "Unfinished" in renew and "150 renewed" in renew
    assert "batches" not in renew and "claimed" not in renew
    reconcile = row(body, "reconcile")
    assert "Failed" in reconcile
    assert "RuntimeError: key &lt;b&gt;cannot&lt;/b&gt; be decrypted" in reconcile
    assert "Nothing to do" in row(body, "reminders")
    assert "Skipped: Stripe is not connected" in row(body, "reconcile_stripe")
    assert "Never" in row(body, "expire")
    # Renew ran twice: its last runs, newest first.
    runs = re.search(r'<details class="panel job-runs" id="runs-renew">(.*?)</details>', body)
    started = re.findall(r'<th scope="row">(May 4, 2026 [^<]+)</th>', runs.group(1))
    assert len(started) == 2 and "Unfinished" in runs.group(1).split("</tr>")[1]


def test_it_shows_in_french(hub, db):
    ctx = JobContext(database=db, gateway_factory=lambda _s: RecordingGateway())
    with time_machine.travel(WHEN, tick=False):
        run_job(ctx, "renew", WHEN)
    body = text_of(hub.client.get(PAGE, headers={"Accept-Language": "fr"}))
    assert "Renouvellements" in row(body, "renew")
    assert "toutes les minutes" in row(body, "renew")


def test_client_people_and_strangers_cannot_see_it(client):
    page = client.get(PAGE)
    assert page.status_code in (302, 303) and "/login" in page.headers["Location"]
