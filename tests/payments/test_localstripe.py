"""The card flows against localstripe, a fake but stateful Stripe on
loopback: keys, saving a card, off-session charges that succeed, decline or
need 3-D Secure, a renewal, a refund, exactly-once after a crash, and a
webhook signed by the server itself. On SQLite and PostgreSQL.

There is no browser here: what Stripe.js would do is done with localstripe's
own endpoints (``POST /v1/setup_intents/{id}/confirm`` with a payment method
for ``confirmCardSetup``, ``POST /v1/payment_intents/{id}/_authenticate`` for
the 3-D Secure box of ``confirmCardPayment``)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import requests
import time_machine
from sqlalchemy import select
from werkzeug.serving import make_server

from bridge.billing import renewals
from bridge.core import clock
from bridge.core.errors import Conflict
from bridge.models import (
    Client,
    CreditNote,
    InvoiceStatus,
    Payment,
    PaymentState,
    PaymentStatus,
    StripeEvent,
    Subscription,
    SubscriptionStatus,
)
from bridge.payments.stripe import cards, charges, keys, refunds
from tests.payments.conftest import (
    PUBLISHABLE_KEY,
    SECRET_KEY,
    WEBHOOK_SECRET,
    get_invoice,
    open_invoice,
)

THREE_D_SECURE_CARD = "4000002760003184"


class Fake:
    """localstripe, and the browser's part of the card flows."""

    def __init__(self, server):
        self.server = server

    def request(self, method: str, path: str, **kwargs) -> dict:
        response = requests.request(
            method,
            f"{self.server.url}{path}",
            headers={"Authorization": f"Bearer {SECRET_KEY}"},
            timeout=10,
            **kwargs,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def payment_intents(self, customer: str) -> list[dict]:
        listed = self.request("GET", "/v1/payment_intents", params={"limit": 100})
        return [pi for pi in listed["data"] if pi["customer"] == customer]

    def card(self, number: str) -> str:
        return self.request(
            "POST",
            "/v1/payment_methods",
            data={
                "type": "card",
                "card[number]": number,
                "card[exp_month]": "11",
                "card[exp_year]": "2031",
                "card[cvc]": "123",
            },
        )["id"]

    def confirm_card_setup(self, setup_intent_id: str, payment_method: str) -> None:
        """Stripe.js ``confirmCardSetup``, 3-D Secure included."""
        path = f"/v1/setup_intents/{setup_intent_id}/confirm"
        intent = self.request("POST", path, data={"payment_method": payment_method})
        if intent["status"] == "requires_action":
            intent = self.request("POST", path)  # the cardholder authenticated
        assert intent["status"] == "succeeded"

    def authenticate(self, client_secret: str, success: bool = True) -> None:
        """The 3-D Secure box of ``confirmCardPayment``: complete or fail it."""
        intent_id = client_secret.split("_secret_")[0]
        self.request(
            "POST",
            f"/v1/payment_intents/{intent_id}/_authenticate",
            data={"client_secret": client_secret, "success": "true" if success else "false"},
        )


@pytest.fixture
def fake(localstripe):
    return Fake(localstripe)


@pytest.fixture
def gateway(db, box, shop, localstripe):
    """Keys saved as the settings page saves them, and their gateway."""
    with db.session() as s:
        saved = keys.save_stripe_settings(
            s, box, SECRET_KEY, PUBLISHABLE_KEY, WEBHOOK_SECRET, localstripe.url
        )
        # localstripe has no /v1/account: the key is checked, the account unknown.
        assert saved.configured and saved.account_id is None and saved.livemode is False
        return keys.gateway_for(s, box, localstripe.url, max_network_retries=0)


def save_card(db, gateway, fake, client_id: int, payment_method: str = "pm_card_visa") -> str:
    """The hosted page's card setup; returns the customer id."""
    with db.session() as s:
        client = s.get(Client, client_id)
        intent = cards.start_card_setup(s, gateway, client)
        fake.confirm_card_setup(intent["id"], payment_method)
        cards.complete_card_setup(s, gateway, client, intent["id"])
        return client.stripe_customer_id


def charge(db, gateway, invoice_id):
    with db.session() as s:
        return charges.charge_invoice(s, gateway, get_invoice(db, invoice_id))


def payments(db, invoice_id) -> list[Payment]:
    with db.session() as s:
        return list(s.scalars(select(Payment).where(Payment.invoice_id == invoice_id)))


def test_save_a_card_and_pay_off_session_once(db, shop, gateway, fake):
    customer = save_card(db, gateway, fake, shop["client"])
    with db.session() as s:
        client = s.get(Client, shop["client"])
        assert customer.startswith("cus_")
        assert (client.card_brand, client.card_last4, client.card_exp_year) == (
            "visa",
            "4242",
            2030,
        )
        # Stripe's default card is the one the bridge saved.
        at_stripe = fake.request("GET", f"/v1/customers/{customer}")
        assert at_stripe["invoice_settings"]["default_payment_method"] == (
            client.default_payment_method_id
        )
    invoice_id = open_invoice(db, shop, taxed=True)

    result = charge(db, gateway, invoice_id)
    assert result.status == "succeeded"
    invoice = get_invoice(db, invoice_id)
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.PAID, 18000)
    (payment,) = payments(db, invoice_id)
    (intent,) = fake.payment_intents(customer)
    assert (intent["id"], intent["amount"], intent["currency"]) == (
        payment.stripe_payment_intent_id,
        18000,
        "eur",
    )
    assert intent["metadata"]["bb_payment_id"] == str(payment.id)
    # Paid: charging again sends nothing.
    with pytest.raises(Conflict):
        charge(db, gateway, invoice_id)
    assert len(fake.payment_intents(customer)) == 1


def test_a_card_the_bank_declines(db, shop, gateway, fake):
    save_card(db, gateway, fake, shop["client"], "pm_card_chargeCustomerFail")
    invoice_id = open_invoice(db, shop)
    result = charge(db, gateway, invoice_id)
    assert (result.status, result.decline_code) == ("failed", "card_declined")
    (payment,) = payments(db, invoice_id)
    assert (payment.status, payment.failure_code) == (PaymentStatus.FAILED, "card_declined")
    # localstripe's error names only the charge; its PaymentIntent is found from it.
    assert payment.stripe_payment_intent_id.startswith("pi_")
    invoice = get_invoice(db, invoice_id)
    assert (invoice.status, invoice.payment_state) == (InvoiceStatus.OPEN, PaymentState.FAILED)


def test_a_card_that_needs_3d_secure(db, shop, gateway, fake):
    save_card(db, gateway, fake, shop["client"], fake.card(THREE_D_SECURE_CARD))
    invoice_id = open_invoice(db, shop)
    result = charge(db, gateway, invoice_id)
    assert result.status == "requires_action" and "_secret_" in result.client_secret
    invoice = get_invoice(db, invoice_id)
    assert invoice.payment_state == PaymentState.ACTION_REQUIRED
    (payment,) = payments(db, invoice_id)
    with db.session() as s:
        waiting = charges.payment_action(s, gateway, payment)
        assert (waiting.status, waiting.client_secret) == ("requires_action", result.client_secret)

    fake.authenticate(result.client_secret)
    with db.session() as s:
        settled = charges.settle_payment_intent(
            s, gateway, result.payment_intent_id, invoice=get_invoice(db, invoice_id)
        )
    assert settled.status == "succeeded"
    invoice = get_invoice(db, invoice_id)
    assert (invoice.status, invoice.amount_paid, invoice.payment_state) == (
        InvoiceStatus.PAID,
        15000,
        PaymentState.NONE,
    )


def test_failed_authentication_then_a_new_attempt(db, shop, gateway, fake):
    customer = save_card(db, gateway, fake, shop["client"], fake.card(THREE_D_SECURE_CARD))
    invoice_id = open_invoice(db, shop)
    first = charge(db, gateway, invoice_id)
    fake.authenticate(first.client_secret, success=False)
    with db.session() as s:
        failed = charges.settle_payment_intent(s, gateway, first.payment_intent_id)
    assert (failed.status, failed.decline_code) == (
        "failed",
        "payment_intent_authentication_failure",
    )
    assert get_invoice(db, invoice_id).payment_state == PaymentState.FAILED
    second = charge(db, gateway, invoice_id)
    assert second.status == "requires_action"
    assert second.payment_intent_id != first.payment_intent_id
    assert [p.idempotency_key[-9:] for p in payments(db, invoice_id)] == ["attempt-1", "attempt-2"]
    assert len(fake.payment_intents(customer)) == 2


def test_a_renewal_is_charged_off_session(db, shop, gateway, fake):
    customer = save_card(db, gateway, fake, shop["client"])
    first = open_invoice(db, shop, "monthly")
    assert charge(db, gateway, first).status == "succeeded"
    with db.session() as s:
        subscription = s.scalars(select(Subscription)).one()
        assert subscription.status == SubscriptionStatus.ACTIVE
        period_end = subscription.current_period_end
    with time_machine.travel(period_end + timedelta(minutes=1), tick=False):
        with db.session() as s:
            renewal = renewals.renew(s, s.scalars(select(Subscription)).one())
            renewal_id = renewal.id
        result = charge(db, gateway, renewal_id)
    assert result.status == "succeeded"
    invoice = get_invoice(db, renewal_id)
    assert (invoice.status, invoice.amount_paid, invoice.period_start) == (
        InvoiceStatus.PAID,
        2900,
        period_end,
    )
    with db.session() as s:
        subscription = s.scalars(select(Subscription)).one()
        assert (subscription.status, subscription.period_index) == (SubscriptionStatus.ACTIVE, 1)
    assert len(fake.payment_intents(customer)) == 2


def test_a_refund_becomes_a_credit_note(db, shop, gateway, fake):
    save_card(db, gateway, fake, shop["client"])
    invoice_id = open_invoice(db, shop, taxed=True)
    charge(db, gateway, invoice_id)
    with db.session() as s:
        note = refunds.refund(s, gateway, get_invoice(db, invoice_id), 6000, "goodwill")
        note_id, refund_id = note.id, note.stripe_refund_id
    refund = fake.request("GET", f"/v1/refunds/{refund_id}")
    (payment,) = payments(db, invoice_id)
    assert (refund["amount"], refund["status"], refund["metadata"]["bb_payment_id"]) == (
        6000,
        "succeeded",
        str(payment.id),
    )
    with db.session() as s:
        note = s.get(CreditNote, note_id)
        assert (note.amount, note.subtotal, note.tax, note.refund_payment_id) == (
            6000,
            5000,
            1000,
            payment.id,
        )
    assert get_invoice(db, invoice_id).amount_refunded == 6000


def test_a_crash_after_the_charge_left_is_settled_without_charging_twice(
    db, shop, gateway, fake, monkeypatch
):
    customer = save_card(db, gateway, fake, shop["client"])
    invoice_id = open_invoice(db, shop)
    record = charges._record

    def crash(*args, **kwargs):
        raise RuntimeError("the worker died before storing Stripe's answer")

    monkeypatch.setattr(charges, "_record", crash)
    with pytest.raises(RuntimeError):
        charge(db, gateway, invoice_id)
    monkeypatch.setattr(charges, "_record", record)
    (payment,) = payments(db, invoice_id)
    assert (payment.status, payment.stripe_payment_intent_id) == (PaymentStatus.PENDING, None)
    assert len(fake.payment_intents(customer)) == 1

    # The same charge again: it settles the pending attempt, sends nothing.
    assert charge(db, gateway, invoice_id).status == "succeeded"
    assert len(fake.payment_intents(customer)) == 1
    (payment,) = payments(db, invoice_id)
    assert payment.status == PaymentStatus.SUCCEEDED
    assert get_invoice(db, invoice_id).status == InvoiceStatus.PAID


def test_two_charges_of_one_invoice_at_once_charge_once(db, shop, gateway, fake):
    customer = save_card(db, gateway, fake, shop["client"])
    invoice_id = open_invoice(db, shop)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def pay():
        barrier.wait()
        try:
            outcomes.append(charge(db, gateway, invoice_id).status)
        except Conflict as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=pay) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # The second caller finds the first one's attempt: already paid, or
    # pending (it settles it, or leaves it to the first while in flight).
    assert "succeeded" in outcomes and len(outcomes) == 2
    assert set(outcomes) <= {"succeeded", "processing", "invoice_not_payable"}
    assert len(fake.payment_intents(customer)) == 1
    (payment,) = payments(db, invoice_id)
    assert payment.status == PaymentStatus.SUCCEEDED
    assert get_invoice(db, invoice_id).amount_paid == 15000


def test_reconcile_settles_a_pending_payment_found_at_stripe(db, shop, gateway, fake, monkeypatch):
    customer = save_card(db, gateway, fake, shop["client"])
    invoice_id = open_invoice(db, shop)
    monkeypatch.setattr(
        charges, "_record", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("crash"))
    )
    with pytest.raises(RuntimeError):
        charge(db, gateway, invoice_id)
    monkeypatch.undo()
    with db.session() as s:
        assert charges.reconcile_pending(s, gateway) == 0  # too young to judge
        settled = charges.reconcile_pending(s, gateway, now=clock.now() + timedelta(minutes=2))
    assert settled == 1
    assert get_invoice(db, invoice_id).status == InvoiceStatus.PAID
    assert len(fake.payment_intents(customer)) == 1


def test_a_webhook_signed_by_localstripe_is_verified_and_applied_once(
    app, db, shop, gateway, fake, localstripe
):
    app.config["STRIPE_API_BASE"] = localstripe.url
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook = "/_config/webhooks/bridge-tests"
    try:
        requests.post(
            f"{localstripe.url}{hook}",
            json={
                "url": f"http://127.0.0.1:{server.server_port}/webhooks/stripe",
                "secret": WEBHOOK_SECRET,
                "events": ["payment_intent.succeeded"],
            },
            timeout=5,
        ).raise_for_status()
        save_card(db, gateway, fake, shop["client"])
        invoice_id = open_invoice(db, shop)
        result = charge(db, gateway, invoice_id)
        # localstripe sends events about a second late, so an event of an
        # earlier test may arrive here too (ignored: not one of ours).
        row, deadline = None, time.monotonic() + 10
        while row is None and time.monotonic() < deadline:
            time.sleep(0.1)
            with db.session() as s:
                row = next(
                    (
                        r
                        for r in s.scalars(select(StripeEvent))
                        if result.payment_intent_id in r.payload and r.processed_at
                    ),
                    None,
                )
    finally:
        # Registrations outlive a reset: point this one at nothing.
        requests.post(
            f"{localstripe.url}{hook}",
            json={"url": "http://127.0.0.1:9/", "secret": "x", "events": ["none"]},
            timeout=5,
        )
        server.shutdown()
        thread.join(timeout=5)
    assert row is not None, localstripe.log()
    assert (row.type, row.error, row.attempts) == ("payment_intent.succeeded", None, 1)
    invoice = get_invoice(db, invoice_id)
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.PAID, 15000)
