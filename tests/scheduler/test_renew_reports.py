"""What the renew job does not do silently: catch up many missed periods at
once (a subscription further behind than one run may catch up is held and
reported), and take any unique violation for "another scheduler renewed
it" (only the (subscription, period start) one is; any other is an error)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import time_machine
from sqlalchemy import select, update

from bridge.models import BusinessSettings, Invoice
from scheduler.jobs import run_job
from tests.scheduler.conftest import outbox, renewal_invoices, subscribe

BOUGHT = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
# The scheduler was stopped for eleven months: periods from Feb 10 to Dec 10
# (eleven of them) started without an invoice.
RESTARTED = datetime(2027, 12, 15, 9, 0, tzinfo=UTC)


def _renew(ctx, now):
    with time_machine.travel(now, tick=False):
        record = run_job(ctx, "renew", now)
    assert record["ok"], record
    return record["counts"]


def _periods_behind(api, subscription_id, now) -> int:
    with time_machine.travel(now, tick=False):
        response = api.get(f"/subscriptions/{subscription_id}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["periods_behind"]


def test_a_subscription_eleven_periods_behind_is_held_and_reported_not_billed_eleven_times(
    db, ctx, shop, api, caplog
):
    sub_id = subscribe(db, shop["monthly"], BOUGHT, card=False)
    caplog.set_level(logging.WARNING, logger="bridge.billing.renewals")

    counts = _renew(ctx, RESTARTED)

    assert (counts["renewed"], counts["held"], counts["errors"]) == (0, 1, 0)
    assert renewal_invoices(db, sub_id) == []
    assert f"subscription {sub_id} is more than 1 period(s) behind" in caplog.text
    assert _periods_behind(api, sub_id, RESTARTED) == 11
    (told,) = outbox(db, "agency_subscription_behind")
    assert told.to_address == "billing@pixel.example" and told.subscription_id == sub_id
    assert "--catch-up" in told.body_text and "Feb 10, 2027" in told.body_text
    # Every run logs it again until staff choose (the agency is emailed
    # once); nothing is billed meanwhile.
    assert _renew(ctx, RESTARTED)["held"] == 1
    assert len(outbox(db, "agency_subscription_behind")) == 1
    assert outbox(db, "invoice_sent")[1:] == []
    # Staff chose to bill the missed periods: one run with no limit.
    ctx.catch_up = None
    assert _renew(ctx, RESTARTED)["renewed"] == 11
    starts = [i.period_start.date().isoformat() for i in renewal_invoices(db, sub_id)]
    assert starts == [f"2027-{month:02}-10" for month in range(2, 13)]
    assert _periods_behind(api, sub_id, RESTARTED) == 0


def test_a_run_catches_up_as_many_periods_as_it_is_allowed(db, ctx, shop):
    sub_id = subscribe(db, shop["monthly"], BOUGHT, card=False)
    ctx.catch_up = 10
    assert _renew(ctx, RESTARTED)["held"] == 1
    ctx.catch_up = 11
    assert _renew(ctx, RESTARTED)["renewed"] == 11
    assert len(renewal_invoices(db, sub_id)) == 11


def test_a_renewal_a_few_days_late_is_renewed_as_usual(db, ctx, shop, api):
    sub_id = subscribe(db, shop["monthly"], BOUGHT, card=False)
    late = datetime(2027, 2, 13, 9, 0, tzinfo=UTC)
    assert _periods_behind(api, sub_id, late) == 1
    counts = _renew(ctx, late)
    assert (counts["renewed"], counts["held"]) == (1, 0)
    assert _periods_behind(api, sub_id, late) == 0


def test_a_number_format_that_collides_is_an_error_of_each_renewal_logged_once_per_run(
    db, ctx, shop, caplog
):
    """Not "another scheduler renewed it" nor a traceback per subscription: a
    number format whose next number was issued already (staged straight in
    the database, as saved before the settings' check existed) counts one
    error per due subscription and says once, per run, what to change."""
    subs = [
        subscribe(db, shop["monthly"], BOUGHT, card=False, email=f"c{n}@client.example")
        for n in range(3)
    ]
    with db.session() as s:
        assert sorted(s.scalars(select(Invoice.number))) == [
            "INV-2027-00001",
            "INV-2027-00002",
            "INV-2027-00003",
        ]
        s.execute(update(BusinessSettings).values(invoice_number_format="INV-2027-{seq:05}"))
    caplog.set_level(logging.INFO, logger="bridge.billing.renewals")

    for _run in range(2):
        caplog.clear()
        counts = _renew(ctx, datetime(2027, 2, 11, 9, 0, tzinfo=UTC))

        assert (counts["renewed"], counts["errors"]) == (0, 3)
        (logged,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert logged.levelno == logging.ERROR and logged.exc_info is None
        assert "INV-2027-00001, a number already issued" in logged.getMessage()
        assert "change the invoice number format in the settings" in logged.getMessage()
    assert all(renewal_invoices(db, sub_id) == [] for sub_id in subs)
