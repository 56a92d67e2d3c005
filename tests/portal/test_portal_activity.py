"""The portal's activity: the client-visible part of the audit log, on this
client only, in the client's words (who: the agency by its name, the
client's people by theirs, the scheduler as the automatic renewal)."""

from __future__ import annotations

import re

from bridge.billing import audit, client_activity, payments, subscriptions
from bridge.billing.business import get_settings
from bridge.billing.payments import CARD_GATEWAY
from bridge.core import clock
from bridge.models import Client
from bridge.models.invoices import Invoice, Payment, PaymentMethod, PaymentStatus
from bridge.models.subscriptions import Subscription
from tests.portal.billing import (
    STAFF,
    give_role_without_billing,
    invoice_of,
    rows,
    subscription_of,
)

SCHEDULER = audit.Actor("scheduler", None, "scheduler")


def what_and_who(page: bytes) -> list[tuple[str, str]]:
    """(what, who) of each row, newest first."""
    text = page.decode()
    return re.findall(
        r'class="what">([^<]*)</td>\s*<td data-label="Who" class="who">([^<]*)<', text
    )


def test_invoices_payments_and_subscription_changes_with_who_did_them(db, shop, person, portal):
    paid = invoice_of(db, shop, shop.client_id, "paid")  # by the agency (no actor: Bridge)
    subscription_id = subscription_of(db, shop.client_id)
    with db.session() as session:
        audit.set_actor(session, STAFF)
        subscriptions.cancel(
            session, session.get(Subscription, subscription_id), at_period_end=True
        )
    with db.session() as session:
        audit.set_actor(session, audit.Actor("client", person, "alice@martin-bakery.example"))
        subscriptions.undo_cancel(session, session.get(Subscription, subscription_id))
    with db.session() as session:
        audit.set_actor(session, SCHEDULER)
        subscriptions.cancel(
            session, session.get(Subscription, subscription_id), at_period_end=False
        )
    page = portal.get("/portal/activity")
    assert page.status_code == 200
    lines = what_and_who(page.data)
    hosting = "Website care — Managed hosting"
    assert lines[:3] == [
        (f"Subscription to {hosting} cancelled", "Automatic renewal"),
        (f"Subscription to {hosting} set to renew again", "Alice Martin"),
        (f"Subscription to {hosting} set to end with its period", "Pixel &amp; Pine Studio"),
    ]
    sentences = [what for what, _who in lines]
    assert f"Invoice {paid.number} issued" in sentences
    assert f"Invoice {paid.number} paid" in sentences
    assert any(s.startswith("Payment of €") and s.endswith("received") for s in sentences)
    assert "olivia@pixel-pine.example" not in page.data.decode()


def test_staff_only_entries_and_other_clients_never_show(db, shop, portal, second_client):
    mine = invoice_of(db, shop, shop.client_id)
    theirs = invoice_of(db, shop, second_client)
    invoice_of(db, shop, shop.client_id, "draft")
    with db.session() as session:
        audit.set_actor(session, STAFF)
        client = session.get(Client, shop.client_id)
        client.company = "Slow payer, call before the 5th"
        audit.record(session, client, "client.invited")
        get_settings(session).company_name = "Pixel & Pine Studio"
        get_settings(session).email = "office@pixel-pine.example"
    text = portal.get("/portal/activity").data.decode()
    sentences = [what for what, _who in what_and_who(text.encode())]
    # Nor the draft, nor the subscription waiting for its first payment.
    assert sentences == [f"Invoice {mine.number} issued"]
    assert theirs.number not in text
    for staff_only in ("Client details changed", "Invitation sent", "Settings changed", "drafted"):
        assert staff_only not in text
    assert "Slow payer" not in text


def test_a_role_without_billing_sees_no_billing_event(db, shop, portal):
    invoice_of(db, shop, shop.client_id, "paid")
    give_role_without_billing(db, shop.client_id)
    page = portal.get("/portal/activity")
    assert page.status_code == 200
    text = page.data.decode()
    assert rows(page.data, "event-") == []
    assert "Nothing has happened on your account yet." in text
    assert "€" not in text


def test_the_activity_is_paged(db, shop, portal):
    made = [invoice_of(db, shop, shop.client_id) for _ in range(26)]
    first = portal.get("/portal/activity")
    assert len(rows(first.data, "event-")) == 25
    assert "Page 1 of 2" in first.data.decode()
    second = portal.get("/portal/activity?page=2")
    assert [what for what, _ in what_and_who(second.data)] == [f"Invoice {made[0].number} issued"]


def test_the_activity_speaks_french(db, shop, portal):
    paid = invoice_of(db, shop, shop.client_id, "paid")
    portal.post("/portal/language", {"language": "fr", "next": "/portal/activity"})
    text = portal.get("/portal/activity").data.decode()
    assert "Activité" in text
    assert f"Facture {paid.number} émise" in text


def test_a_card_payment_is_told_by_its_outcome_as_the_card_payment(db, shop, portal):
    made = invoice_of(db, shop, shop.client_id)
    with db.session() as session:
        audit.set_actor(session, SCHEDULER)
        invoice = session.get(Invoice, made.id)
        payment = Payment(
            invoice=invoice,
            client_id=invoice.client_id,
            amount=invoice.amount_due,
            currency=invoice.currency,
            method=PaymentMethod.CARD,
            gateway=CARD_GATEWAY,
            status=PaymentStatus.PENDING,
            idempotency_key=f"test-{made.id}",
            created_at=clock.now(),
        )
        session.add(payment)
        session.flush()
        payment_id = payment.id
    with db.session() as session:
        audit.set_actor(session, audit.Actor("stripe_webhook", None, "evt_1"))
        invoice, payment = payments.lock_payment(session, payment_id)
        payments.apply_outcome(
            session, invoice, payment, payments.Outcome(PaymentStatus.SUCCEEDED, "pi_1")
        )
    lines = what_and_who(portal.get("/portal/activity").data)
    received = [line for line in lines if "received" in line[0]]
    assert received == [("Card payment of €1,557.60 received", "Card payment")]
    assert (f"Invoice {made.number} paid", "Card payment") in lines


def test_every_client_visible_action_has_its_words_for_the_client():
    assert set(client_activity.CLIENT_VISIBLE_ACTIONS) == set(client_activity.CLIENT_LABELS)
    assert not {"client.updated", "role.updated", "settings.updated", "invoice.created"} & set(
        client_activity.CLIENT_VISIBLE_ACTIONS
    )
