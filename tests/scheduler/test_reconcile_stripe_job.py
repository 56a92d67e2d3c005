"""The daily ``reconcile_stripe`` job: when Stripe is connected it compares
the bridge with Stripe (``responses`` fixtures in Stripe's shapes) and, when
the report is not empty, emails the agency (``agency_reconciliation``), once
a day however many times it runs; delivered over SMTP (aiosmtpd)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests
import responses
import time_machine

from bridge.core import clock
from bridge.mail.delivery import SmtpTransport
from scheduler.jobs import JobContext, run_job
from scheduler.runner import DEFAULT_INTERVALS
from tests import shop as shops
from tests.mail.smtp_server import SmtpServer
from tests.payments import reconcile_shapes as shapes
from tests.scheduler.conftest import outbox

AGENCY = "billing@pixel.example"


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def ctx(app, smtp):
    return JobContext(
        database=app.extensions["bridge.db"],
        box=app.extensions["bridge.secret_box"],
        stripe_rate_limit=0,
        mail_transport=SmtpTransport(
            "127.0.0.1", smtp.port, sender="bridge@pixel.example", security="none"
        ),
    )


def business(app, db, *, stripe: bool = True) -> None:
    box = app.extensions["bridge.secret_box"]
    with db.session() as s:
        shops.open_business(
            s,
            company_name="Pixel & Co",
            email=AGENCY,
            stripe_secret_key_encrypted=box.encrypt("sk_test_reconcile") if stripe else None,
        )


@pytest.fixture
def stripe_lists():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield shapes.StripeLists(mock)


def test_the_job_runs_daily():
    assert DEFAULT_INTERVALS["reconcile_stripe"] == 24 * 3600


def test_differences_are_emailed_to_the_agency_once_a_day(app, db, ctx, smtp, stripe_lists):
    business(app, db)
    stripe_lists.lists["payment_intents"].append(
        shapes.payment_intent("pi_Dashboard0001", "cus_someone", 2000)
    )

    first = run_job(ctx, "reconcile_stripe")
    again = run_job(ctx, "reconcile_stripe")

    assert first["ok"] and first["counts"] == {"differences": 1, "emailed": 1}
    assert again["ok"] and again["counts"] == {"skipped": "emailed today"}
    (message,) = outbox(db, "agency_reconciliation")
    assert message.to_address == AGENCY
    assert message.subject == "Stripe reconciliation: 1 differences to check"
    assert "pi_Dashboard0001 (€20.00)" in message.body_text and "[manual]" in message.body_text
    assert "bridge reconcile-stripe --apply" in message.body_text
    reads = len(stripe_lists.calls)

    assert run_job(ctx, "deliver_mail")["counts"]["sent"] == 1
    assert run_job(ctx, "reconcile_stripe")["counts"] == {"skipped": "emailed today"}
    assert run_job(ctx, "deliver_mail")["counts"]["sent"] == 0
    (received,) = smtp.messages
    assert received["To"] == AGENCY
    assert "pi_Dashboard0001" in received.get_body(("plain",)).get_content()
    # A day whose email went out is not read from Stripe again.
    assert len(stripe_lists.calls) == reads

    with time_machine.travel(clock.now() + timedelta(days=1)):
        tomorrow = run_job(ctx, "reconcile_stripe")
    assert tomorrow["counts"] == {"differences": 1, "emailed": 1}
    assert len(outbox(db, "agency_reconciliation")) == 2


def test_a_clean_report_emails_nobody(app, db, ctx, stripe_lists):
    business(app, db)
    result = run_job(ctx, "reconcile_stripe")
    assert result["ok"] and result["counts"] == {"differences": 0, "emailed": 0}
    assert outbox(db, "agency_reconciliation") == []
    # The period's lists were read, filtered from 30 days back.
    filtered = [q for path, q in stripe_lists.calls if path == "payment_intents"]
    assert filtered and "created[gte]" in filtered[0]


def test_without_stripe_the_job_does_nothing(app, db, ctx, stripe_lists):
    business(app, db, stripe=False)
    result = run_job(ctx, "reconcile_stripe")
    assert result["ok"] and result["counts"] == {"skipped": "stripe not configured"}
    assert stripe_lists.calls == []


def test_stripe_down_is_no_failure_and_no_email(app, db, ctx):
    business(app, db)
    with responses.RequestsMock() as mock:
        mock.add(
            responses.GET,
            re.compile(r"https://api\.stripe\.com/v1/.*"),
            body=requests.ConnectionError("down"),
        )
        result = run_job(ctx, "reconcile_stripe")
    assert result["ok"] and result["counts"] == {"skipped": "stripe unavailable"}
    assert outbox(db, "agency_reconciliation") == []
