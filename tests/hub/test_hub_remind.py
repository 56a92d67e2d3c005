"""Remind a client of an invoice from its page: the button shows when the
invoice's actions allow it, the email goes through the outbox once however
often the form is sent, and the page says when the last reminder went."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bridge.core import clock
from bridge.models import Invoice, OutboxMessage
from tests.e2e.conftest import make_invoice, make_shop
from tests.hub.conftest import csrf_token
from tests.hub.test_hub_invoices import form_key, post_form, text_of


@pytest.fixture
def shop(db):
    return make_shop(db)


def reminders(db, invoice_id: int) -> list[OutboxMessage]:
    with db.session() as s:
        found = s.scalars(
            select(OutboxMessage).where(
                OutboxMessage.invoice_id == invoice_id,
                OutboxMessage.dedupe_key.like("payment_reminder:%"),
            )
        ).all()
        s.expunge_all()
        return list(found)


def test_an_open_invoice_is_reminded_once_per_form(hub, db, shop):
    made = make_invoice(db, shop, "open")
    page = text_of(hub.client.get(f"/invoices/{made.id}"))
    assert 'id="do-remind"' in page and "None sent yet" in page
    key = form_key(page, "remind-form")
    first = hub.client.post(
        f"/invoices/{made.id}/remind", data={"csrf_token": csrf_token(page), "key": key}
    )
    assert first.status_code == 303
    again = hub.client.post(
        f"/invoices/{made.id}/remind", data={"csrf_token": csrf_token(page), "key": key}
    )
    assert again.status_code == 303
    (sent,) = reminders(db, made.id)
    # Not yet due: the invoice again, with its pay link.
    assert sent.trigger == "invoice_sent" and sent.to_address
    page = text_of(hub.client.get(f"/invoices/{made.id}"))
    assert "This reminder was already sent." in page
    assert "None sent yet" not in page and 'id="last-reminder"' in page
    history = page[page.index('id="history"') :]
    assert history.count("Payment reminder sent") == 1
    # A new form (a new key) sends a new reminder.
    assert post_form(hub, made.id, "remind", "remind-form", {}).status_code == 303
    assert len(reminders(db, made.id)) == 2


def test_an_overdue_invoice_gets_the_overdue_reminder(hub, db, shop):
    made = make_invoice(db, shop, "open")
    with db.session() as s:
        s.get(Invoice, made.id).due_at = clock.now() - timedelta(days=10)
    assert post_form(hub, made.id, "remind", "remind-form", {}).status_code == 303
    (sent,) = reminders(db, made.id)
    assert sent.trigger == "overdue_reminder"
    assert "10" in sent.body_text


@pytest.mark.parametrize("status", ["draft", "paid", "void"])
def test_an_invoice_with_nothing_due_has_no_reminder(hub, db, shop, status):
    made = make_invoice(db, shop, status)
    page = text_of(hub.client.get(f"/invoices/{made.id}"))
    assert 'id="do-remind"' not in page
    response = hub.client.post(
        f"/invoices/{made.id}/remind", data={"csrf_token": csrf_token(page), "key": "k1"}
    )
    assert response.status_code == 409
    assert "can be reminded" in text_of(response)
    assert reminders(db, made.id) == []


def test_a_reminder_without_its_token_sends_nothing(hub, db, shop):
    made = make_invoice(db, shop, "open")
    response = hub.client.post(f"/invoices/{made.id}/remind", data={"key": "k1"})
    assert response.status_code == 400
    assert reminders(db, made.id) == []


def test_the_api_reminds_too(api, db, shop):
    made = make_invoice(db, shop, "open")
    answer = api.post(f"/invoices/{made.id}/remind")
    assert answer.status_code == 200 and "remind" in answer.get_json()["actions"]
    assert len(reminders(db, made.id)) == 1
    paid = make_invoice(db, shop, "paid")
    refused = api.post(f"/invoices/{paid.id}/remind")
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "invoice_not_remindable"
