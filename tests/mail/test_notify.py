"""What queues email: the domain's events (finalize, payments) and the
notify functions the scheduler calls; one message per (trigger, object,
occasion), in the event's own transaction."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select

from bridge.billing import invoices
from bridge.billing.business import get_settings
from bridge.core import events
from bridge.mail import notify
from bridge.models import Client, Invoice, OutboxMessage, Subscription
from tests.mail.conftest import issue, outbox


def test_finalizing_an_invoice_queues_invoice_sent_with_its_pay_link(shop, db):
    invoice = issue(shop)
    (message,) = outbox(db)
    assert message.trigger == "invoice_sent"
    assert message.to_address == "alice@example.com"
    assert message.status == "queued" and message.attempts == 0
    assert message.dedupe_key == f"invoice_sent:invoice:{invoice['id']}"
    assert (message.invoice_id, message.client_id) == (invoice["id"], shop["client"]["id"])
    assert message.subject == f"Invoice {invoice['number']} from Pixel & Press"
    # Links start with the public URL (BRIDGE_PUBLIC_URL), not a request's host.
    token = invoice["hosted_url"].rsplit("/", 1)[1]
    assert f"Pay invoice: http://127.0.0.1:5000/i/{token}\n" in message.body_text
    assert f'href="http://127.0.0.1:5000/i/{token}"' in message.body_html
    assert "€150.00" in message.body_text
    # The client's name is escaped in the HTML, as is in the text.
    assert "Alice &lt;Admin&gt; &amp; Co" in message.body_html
    assert "Hello Alice <Admin> & Co," in message.body_text
    assert message.reply_to == "agency@agency.example"
    assert message.from_name == "Pixel & Press"


def test_a_finalization_that_rolls_back_queues_nothing(shop, db):
    draft = issue(shop, finalize=False)
    with pytest.raises(RuntimeError), db.session() as session:
        invoices.finalize(session, session.get(Invoice, draft["id"]))
        assert session.scalar(select(OutboxMessage.id)) is not None
        raise RuntimeError("the request fails after finalizing")
    assert outbox(db) == []


def test_an_offline_payment_queues_the_receipt_and_the_agency_note(shop, db):
    invoice = issue(shop)
    api = shop["api"]
    response = api.post(
        f"/invoices/{invoice['id']}/payments", json={"amount": 5000, "method": "cash"}
    )
    assert response.status_code == 201, response.get_json()
    assert [m.trigger for m in outbox(db)] == ["invoice_sent"]  # not paid yet: no receipt
    response = api.post(
        f"/invoices/{invoice['id']}/payments",
        json={"amount": 10000, "method": "bank_transfer"},
    )
    payment = response.get_json()
    receipt, note = outbox(db)[1:]
    assert (receipt.trigger, receipt.to_address) == ("payment_receipt", "alice@example.com")
    assert receipt.dedupe_key == f"payment_receipt:payment:{payment['id']}"
    assert "€100.00" in receipt.body_text and "bank transfer" in receipt.body_text
    assert (note.trigger, note.to_address) == ("agency_payment_received", "agency@agency.example")
    assert "Alice <Admin> & Co" in note.subject
    # The agency's email is plain: no branding, no footer.
    assert "cid:" not in note.body_html and "Pixel &amp; Press" not in note.body_html


def test_the_same_notification_twice_queues_one_message(shop, db):
    invoice = issue(shop)
    with db.session() as session:
        loaded = session.get(Invoice, invoice["id"])
        assert notify.invoice_sent(session, loaded) is False  # finalize queued it
        retry = datetime(2030, 1, 2, tzinfo=UTC)
        kwargs = {"attempt": 1, "next_retry_at": retry, "reason": "Insufficient funds"}
        assert notify.payment_failed(session, loaded, **kwargs) is True
        assert notify.payment_failed(session, loaded, **kwargs) is False
        assert notify.payment_failed(session, loaded, **{**kwargs, "attempt": 2}) is True
        assert notify.overdue_reminder(session, loaded, days_overdue=3) is True
        assert notify.overdue_reminder(session, loaded, days_overdue=3) is False
        assert notify.action_required(session, loaded, attempt=2) is True
        assert notify.action_required(session, loaded, attempt=2) is False
    triggers = [m.trigger for m in outbox(db)]
    assert triggers == [
        "invoice_sent",
        "payment_failed",
        "agency_payment_failed",
        "payment_failed",
        "agency_payment_failed",
        "overdue_reminder",
        "action_required",
    ]
    failed = outbox(db, "payment_failed")[0]
    assert failed.dedupe_key == f"payment_failed:invoice:{invoice['id']}:attempt:1"
    assert "Insufficient funds" in failed.body_text and "Jan 2, 2030" in failed.body_text


def test_no_email_no_message(shop, db):
    invoice = issue(shop)
    with db.session() as session:
        session.get(Client, shop["client"]["id"]).email = ""
        get_settings(session).email = ""
        loaded = session.get(Invoice, invoice["id"])
        assert notify.overdue_reminder(session, loaded, days_overdue=7) is False
        assert (
            notify.payment_failed(session, loaded, attempt=1, next_retry_at=None, reason="x")
            is False
        )
    assert [m.trigger for m in outbox(db)] == ["invoice_sent"]


def test_subscription_emails(shop, db):
    invoice = issue(shop, recurring=True)
    shop["api"].post(f"/invoices/{invoice['id']}/payments", json={"amount": 2900, "method": "cash"})
    with db.session() as session:
        subscription = session.scalars(select(Subscription)).one()
        renews_at = subscription.current_period_end
        assert notify.upcoming_renewal(session, subscription, renews_at=renews_at) is True
        assert notify.upcoming_renewal(session, subscription, renews_at=renews_at) is False
        later = renews_at + timedelta(days=31)
        assert notify.upcoming_renewal(session, subscription, renews_at=later) is True
        assert notify.subscription_cancelled(session, subscription) is True
        assert notify.subscription_cancelled(session, subscription) is False
        assert notify.subscription_expired(session, subscription) is True
        subscription_id = subscription.id
    renewal = outbox(db, "upcoming_renewal")[0]
    assert renewal.subscription_id == subscription_id
    assert "Hosting — Monthly" in renewal.subject
    assert "€29.00" in renewal.body_text
    assert [m.trigger for m in outbox(db)][-4:] == [
        "upcoming_renewal",
        "upcoming_renewal",
        "subscription_cancelled",
        "subscription_expired",
    ]


def test_invitation_emails(shop, db):
    from bridge.auth.passwords import hash_password  # noqa: F401  (users need no password)
    from bridge.models import User, UserKind

    with db.session() as session:
        user = User(
            kind=UserKind.CLIENT,
            email="bob@example.com",
            email_key="bob@example.com",
            name="Bob",
            client_id=shop["client"]["id"],
            created_at=datetime.now(UTC),
        )
        session.add(user)
        session.flush()
        link = "https://billing.example/invite/abc?x=1&y=2"
        assert notify.client_invitation(session, user, link=link) is True
        assert notify.client_invitation(session, user, link=link) is False
        assert notify.client_invitation(session, user, link=link + "3") is True  # a re-invite
        assert notify.agency_invitation_accepted(session, user) is True
        assert notify.agency_invitation_accepted(session, user) is False
    invitation, _, accepted = outbox(db)
    assert invitation.to_address == "bob@example.com"
    assert "Hello Bob," in invitation.body_text and link in invitation.body_text
    assert 'href="https://billing.example/invite/abc?x=1&amp;y=2"' in invitation.body_html
    assert accepted.to_address == "agency@agency.example"
    assert accepted.subject == "Alice <Admin> & Co accepted your invitation"


def test_dates_and_amounts_follow_the_invoice_language(shop, db):
    shop["api"].patch("/settings", json={"invoice_language": "fr"})
    issue(shop)
    (message,) = outbox(db)
    assert "150,00\u00a0€" in message.body_text


def test_german_placeholders_are_dated_in_the_business_time_zone(shop, db):
    shop["api"].patch("/settings", json={"invoice_language": "de"})
    with db.session() as session:
        get_settings(session).timezone = "Pacific/Kiritimati"  # UTC+14
    invoice = issue(shop)
    response = shop["api"].post(
        f"/invoices/{invoice['id']}/payments",
        json={"amount": 15000, "method": "bank_transfer"},
    )
    assert response.status_code == 201, response.get_json()
    note = outbox(db, "agency_payment_received")[0]
    assert "150,00\u00a0€" in note.body_text and "Banküberweisung" in note.body_text
    with db.session() as session:
        loaded = session.get(Invoice, invoice["id"])
        # Noon UTC on 1 January is already 2 January in Kiribati.
        retry = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
        notify.payment_failed(session, loaded, attempt=1, next_retry_at=retry, reason="")
        notify.payment_failed(session, loaded, attempt=2, next_retry_at=None, reason="")
    first, last = outbox(db, "agency_payment_failed")
    # A business writing in German gets the agency emails in German too.
    assert "Nächster Versuch: 02.01.2030" in first.body_text
    assert "Nächster Versuch: keine" in last.body_text


def test_two_processes_queueing_the_same_mail_at_once_queue_one(shop, db):
    """Two transactions (scheduler processes) notify the same occasion
    concurrently: the unique dedupe key lets one insert win, the other's
    ON CONFLICT DO NOTHING waits for it and queues nothing."""
    if db.is_sqlite:
        pytest.skip("SQLite has one writer: its transactions never overlap")
    invoice = issue(shop)
    barrier = threading.Barrier(2)
    results = []
    errors = []

    def worker():
        try:
            with db.session() as session:
                loaded = session.get(Invoice, invoice["id"])
                barrier.wait(timeout=10)
                results.append(notify.overdue_reminder(session, loaded, days_overdue=7))
                time.sleep(0.2)  # hold the transaction open a little
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == [False, True]
    assert len(outbox(db, "overdue_reminder")) == 1


def test_a_card_payment_settling_the_invoice_queues_the_receipt_once(shop, db):
    """Card payments (the gateway, webhooks, reconcile) count through
    invoices.apply_payment like offline ones."""
    from bridge.core import clock
    from bridge.models import Payment, PaymentMethod, PaymentStatus

    invoice = issue(shop)
    with db.session() as session:
        loaded = session.get(Invoice, invoice["id"])
        payment = Payment(
            invoice=loaded,
            client_id=loaded.client_id,
            amount=loaded.amount_due,
            currency=loaded.currency,
            method=PaymentMethod.CARD,
            gateway="stripe",
            status=PaymentStatus.SUCCEEDED,
            received_at=clock.now(),
            created_at=clock.now(),
        )
        session.add(payment)
        invoices.apply_payment(session, loaded, payment)
        assert notify.payment_receipt(session, loaded, payment) is False  # already queued
    receipt = outbox(db, "payment_receipt")[0]
    assert "card" in receipt.body_text and "€150.00" in receipt.body_text
    assert len(outbox(db, "agency_payment_received")) == 1


def _outbox_statements(db) -> Counter:
    """Counts the statements on the outbox table, by their first word."""
    seen = Counter()

    def count(_conn, _cursor, statement, *_args):
        if "outbox_messages" in statement:
            seen[statement.split(None, 1)[0].upper()] += 1

    sa_event.listen(db.engine, "before_cursor_execute", count)
    return seen


def test_emails_handled_together_are_written_at_the_end_in_one_statement(shop, db):
    first, second = issue(shop), issue(shop)
    seen = _outbox_statements(db)
    with db.session() as session:
        loaded = [session.get(Invoice, first["id"]), session.get(Invoice, second["id"])]
        with events.handled_together(session):
            for invoice in loaded:
                assert notify.overdue_reminder(session, invoice, days_overdue=3) is True
            # The set's own key is known at once, and nothing is written yet.
            assert notify.overdue_reminder(session, loaded[0], days_overdue=3) is False
            assert notify.invoice_sent(session, loaded[0]) is True  # queued before the set
            assert seen == Counter()
        assert seen == Counter({"INSERT": 1})
    # The key queued before the set stays one message.
    assert [m.invoice_id for m in outbox(db, "overdue_reminder")] == [first["id"], second["id"]]
    assert [m.invoice_id for m in outbox(db, "invoice_sent")] == [first["id"], second["id"]]
    reminder = outbox(db, "overdue_reminder")[0]
    assert reminder.status == "queued" and "€150.00" in reminder.body_text


def test_emails_handled_together_are_not_written_when_the_set_fails(shop, db):
    invoice = issue(shop)
    with db.session() as session:
        loaded = session.get(Invoice, invoice["id"])
        with pytest.raises(RuntimeError), events.handled_together(session):
            notify.overdue_reminder(session, loaded, days_overdue=3)
            raise RuntimeError("the set fails")
        # The session works one by one again.
        assert notify.overdue_reminder(session, loaded, days_overdue=7) is True
    assert [m.dedupe_key.rsplit(":", 1)[1] for m in outbox(db, "overdue_reminder")] == ["7"]
