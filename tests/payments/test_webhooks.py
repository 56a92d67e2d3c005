"""``POST /webhooks/stripe`` with payloads signed as Stripe signs them
(``Stripe-Signature: t=<unix time>,v1=<HMAC-SHA256(secret, "<t>.<body>")>``):
what is refused and leaves no trace, what is applied exactly once (also
under five concurrent deliveries), in any order. On SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time

import pytest
import requests
import responses
from sqlalchemy import func, select

from bridge.billing.payments import Outcome, apply_outcome, lock_payment
from bridge.models import (
    AuditEntry,
    CreditNote,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
    StripeEvent,
)
from bridge.payments.stripe import refunds
from bridge.payments.stripe.client import API_VERSION
from bridge.payments.stripe.gateway import StripeGateway
from tests.conftest import snapshot
from tests.payments.conftest import (
    SECRET_KEY,
    WEBHOOK_SECRET,
    get_invoice,
    open_invoice,
    save_card,
    store_keys,
)

API = "https://api.stripe.com/v1"
_ids = itertools.count(1)


@pytest.fixture
def stripe_api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def sign(body: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def event(type_: str, obj: dict, event_id: str | None = None) -> bytes:
    """An event as Stripe sends it (pretty-printed, as Stripe does)."""
    return json.dumps(
        {
            "id": event_id or f"evt_1PbB{next(_ids):010d}",
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type_,
        },
        indent=2,
    ).encode()


def deliver(client, body: bytes, signature: str | None = None):
    headers = {"Content-Type": "application/json; charset=utf-8"}
    headers["Stripe-Signature"] = sign(body) if signature is None else signature
    return client.post("/webhooks/stripe", data=body, headers=headers)


def intent(intent_id: str, status: str, payment_id: int, invoice_id: int) -> dict:
    error = None
    if status == "requires_payment_method":
        error = {
            "code": "card_declined",
            "decline_code": "generic_decline",
            "message": "Your card was declined.",
            "type": "card_error",
        }
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": 15000,
        "client_secret": f"{intent_id}_secret_x",
        "currency": "eur",
        "customer": "cus_test",
        "last_payment_error": error,
        "metadata": {"bb_payment_id": str(payment_id), "bb_invoice_id": str(invoice_id)},
        "next_action": {"type": "use_stripe_sdk"} if status == "requires_action" else None,
        "payment_method": None if error else "pm_test_visa",
        "status": status,
    }


def card_payment(db, invoice_id: int, intent_id: str, status=PaymentStatus.REQUIRES_ACTION):
    """A card payment of the whole invoice, as ``charge_invoice`` leaves it."""
    with db.session() as s:
        invoice = get_invoice(db, invoice_id)
        payment = Payment(
            invoice_id=invoice_id,
            client_id=invoice.client_id,
            amount=invoice.amount_due,
            currency="EUR",
            method=PaymentMethod.CARD,
            gateway="stripe",
            status=PaymentStatus.PENDING,
            idempotency_key=f"bb-invoice-{invoice_id}-attempt-1",
            created_at=invoice.created_at,
        )
        s.add(payment)
        s.flush()
        invoice, payment = lock_payment(s, payment.id)
        apply_outcome(s, invoice, payment, Outcome(status, intent_id))
        return payment.id


@pytest.fixture
def setup(db, box, shop):
    """Keys stored, and an invoice whose card payment waits for 3-D Secure."""
    store_keys(db, box)
    save_card(db, shop["client"])
    invoice_id = open_invoice(db, shop)
    return {"invoice": invoice_id, "payment": card_payment(db, invoice_id, "pi_wh_1")}


def events_stored(db) -> list[StripeEvent]:
    with db.session() as s:
        return list(s.scalars(select(StripeEvent)))


# Refused deliveries -----------------------------------------------------------------


def test_unverifiable_deliveries_are_400_and_leave_no_trace(client, db, setup):
    body = event("payment_intent.succeeded", intent("pi_wh_1", "succeeded", setup["payment"], 1))
    now = int(time.time())
    reserialized = json.dumps(json.loads(body)).encode()  # same JSON, other bytes
    tampered = body.replace(b'"amount": 15000', b'"amount": 1')
    cases = {
        "tampered body": (tampered, sign(body)),
        "301 s old": (body, sign(body, timestamp=now - 301)),
        "re-serialized": (reserialized, sign(body)),
        "other secret": (body, sign(body, secret="whsec_someone_else")),
        "no signature": (body, ""),
        "garbled header": (body, "v1=abc,t=soon"),
    }
    before = snapshot(db)
    for name, (payload, signature) in cases.items():
        response = deliver(client, payload, signature)
        assert response.status_code == 400, name
        error = response.get_json()["error"]
        assert error["code"] == "invalid_signature" and error["message"], name
        assert set(error) == {"code", "message", "fields"}
    assert snapshot(db) == before


def test_a_verified_body_that_is_not_an_event_is_400(client, db, setup):
    for body in (b"[1, 2]", b'{"id": "evt_1", "type": "x"}', b"\xff\xfe"):
        response = deliver(client, body)
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] in ("invalid_payload", "invalid_event")
    assert events_stored(db) == []


def test_without_a_signing_secret_nothing_is_accepted(client, db, shop):
    response = deliver(client, event("customer.created", {"id": "cus_1"}))
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "webhook_not_configured"
    assert events_stored(db) == []


def test_two_v1_signatures_during_a_secret_roll_one_valid_is_accepted(client, db, setup):
    body = event("customer.created", {"id": "cus_1", "object": "customer"})
    # Near the end of the 300 s tolerance, with room for a busy machine.
    timestamp = int(time.time()) - 290
    old = sign(body, secret="whsec_old_secret", timestamp=timestamp).split(",")[1]
    header = f"{sign(body, timestamp=timestamp)},{old}"
    header_reversed = f"t={timestamp},{old},{header.split(',')[1]}"
    assert deliver(client, body, header_reversed).status_code == 200
    (row,) = events_stored(db)
    assert row.type == "customer.created" and row.processed_at is not None
    assert json.loads(row.payload) == json.loads(body)


# Applied once, in any order --------------------------------------------------------


def test_five_concurrent_deliveries_of_one_event_apply_it_once(app, db, setup, stripe_api):
    stripe_api.get(
        f"{API}/payment_intents/pi_wh_1",
        json=intent("pi_wh_1", "succeeded", setup["payment"], setup["invoice"]),
    )
    body = event(
        "payment_intent.succeeded",
        intent("pi_wh_1", "succeeded", setup["payment"], setup["invoice"]),
        "evt_concurrent",
    )
    signature = sign(body)
    barrier = threading.Barrier(5)
    statuses: list[int] = []

    def post():
        client = app.test_client()
        barrier.wait()
        statuses.append(deliver(client, body, signature).status_code)

    threads = [threading.Thread(target=post) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(statuses) == [200] * 5
    (row,) = events_stored(db)
    assert (row.id, row.attempts, row.error) == ("evt_concurrent", 1, None)
    invoice = get_invoice(db, setup["invoice"])
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.PAID, invoice.total)
    with db.session() as s:
        by_webhook = s.scalars(
            select(AuditEntry.action).where(AuditEntry.actor_label == "evt_concurrent")
        ).all()
    assert sorted(by_webhook) == ["invoice.paid", "payment.succeeded"]
    assert len(stripe_api.calls) == 1  # the PaymentIntent was read once


@pytest.mark.parametrize("mode", ["re-fetched", "from the payload"])
def test_the_events_of_one_payment_in_every_order_end_paid(client, db, box, shop, stripe_api, mode):
    store_keys(db, box, secret_key=SECRET_KEY if mode == "re-fetched" else None)
    save_card(db, shop["client"])
    for number, order in enumerate(
        itertools.permutations(["requires_action", "requires_payment_method", "succeeded"])
    ):
        invoice_id = open_invoice(db, shop)
        intent_id = f"pi_order_{number}"
        payment_id = card_payment(db, invoice_id, intent_id, PaymentStatus.PENDING)
        stripe_api.get(
            f"{API}/payment_intents/{intent_id}",
            json=intent(intent_id, "succeeded", payment_id, invoice_id),
        )
        types = {
            "requires_action": "payment_intent.requires_action",
            "requires_payment_method": "payment_intent.payment_failed",
            "succeeded": "payment_intent.succeeded",
        }
        for status in order:
            body = event(types[status], intent(intent_id, status, payment_id, invoice_id))
            assert deliver(client, body).status_code == 200, order
        invoice = get_invoice(db, invoice_id)
        assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.PAID, 15000), order
        with db.session() as s:
            assert s.get(Payment, payment_id).status == PaymentStatus.SUCCEEDED, order
    # Re-fetched: the first event reads the PaymentIntent (succeeded by now);
    # once the payment has succeeded, later events read nothing.
    assert len(stripe_api.calls) == (6 if mode == "re-fetched" else 0)


def test_a_failing_handler_is_stored_with_its_traceback_answered_500_then_retried(
    client, db, setup, stripe_api
):
    url = f"{API}/payment_intents/pi_wh_1"
    stripe_api.get(url, body=requests.exceptions.ConnectionError("Stripe is down"))
    body = event(
        "payment_intent.succeeded",
        intent("pi_wh_1", "succeeded", setup["payment"], setup["invoice"]),
        "evt_retry",
    )
    response = deliver(client, body)
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "webhook_failed"
    (row,) = events_stored(db)
    assert row.processed_at is None and row.attempts == 1
    assert "Traceback" in row.error and "APIConnectionError" in row.error
    assert get_invoice(db, setup["invoice"]).status == InvoiceStatus.OPEN

    stripe_api.replace(
        responses.GET, url, json=intent("pi_wh_1", "succeeded", setup["payment"], setup["invoice"])
    )
    response = deliver(client, body)
    assert response.status_code == 200 and response.get_json()["duplicate"] is False
    (row,) = events_stored(db)
    assert row.processed_at is not None and row.attempts == 2 and row.error is None
    assert get_invoice(db, setup["invoice"]).status == InvoiceStatus.PAID
    again = deliver(client, body)
    assert again.status_code == 200 and again.get_json()["duplicate"] is True


def test_unknown_events_and_intents_that_are_not_ours_are_acknowledged(
    client, db, setup, stripe_api
):
    before = get_invoice(db, setup["invoice"])
    assert deliver(client, event("invoice.finalized", {"id": "in_1"})).status_code == 200
    stranger = {
        "id": "pi_stranger",
        "object": "payment_intent",
        "status": "succeeded",
        "metadata": {},
    }
    assert deliver(client, event("payment_intent.succeeded", stranger)).status_code == 200
    assert [r.processed_at is not None for r in events_stored(db)] == [True, True]
    after = get_invoice(db, setup["invoice"])
    assert (after.status, after.amount_paid) == (before.status, before.amount_paid)
    assert not stripe_api.calls


# Refunds and disputes ------------------------------------------------------------------


def refund_object(refund_id: str, amount: int, created: int) -> dict:
    return {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "charge": "ch_wh_1",
        "created": created,
        "currency": "eur",
        "metadata": {},
        "payment_intent": "pi_wh_paid",
        "status": "succeeded",
    }


CHARGE = {
    "id": "ch_wh_1",
    "object": "charge",
    "amount": 15000,
    "amount_refunded": 5000,
    "currency": "eur",
    "payment_intent": "pi_wh_paid",
    "refunded": False,
    "status": "succeeded",
}


def test_refunds_made_at_stripe_become_credit_notes_once(client, db, box, shop, stripe_api):
    store_keys(db, box)
    save_card(db, shop["client"])
    invoice_id = open_invoice(db, shop)
    card_payment(db, invoice_id, "pi_wh_paid", PaymentStatus.SUCCEEDED)
    refunds_url = f"{API}/refunds"
    stripe_api.get(
        refunds_url,
        json={"object": "list", "has_more": False, "data": [refund_object("re_1", 5000, 100)]},
    )
    first = event("charge.refunded", CHARGE)
    assert deliver(client, first).status_code == 200
    # Stripe's next charge.refunded lists both refunds; ours refunds 1000 more.
    stripe_api.post(refunds_url, json=refund_object("re_ours", 1000, 300))
    with db.session() as s:
        note = refunds.refund(
            s, StripeGateway(SECRET_KEY), get_invoice(db, invoice_id), 1000, "late delivery"
        )
        assert note.stripe_refund_id == "re_ours"
    stripe_api.replace(
        responses.GET,
        refunds_url,
        json={
            "object": "list",
            "has_more": False,
            "data": [
                refund_object("re_ours", 1000, 300),
                refund_object("re_2", 2000, 200),
                refund_object("re_1", 5000, 100),
            ],
        },
    )
    second = event("charge.refunded", {**CHARGE, "amount_refunded": 8000})
    assert deliver(client, second).status_code == 200
    assert deliver(client, first).get_json()["duplicate"] is True
    with db.session() as s:
        notes = s.scalars(select(CreditNote).order_by(CreditNote.id)).all()
        assert [(n.stripe_refund_id, n.amount, n.reason) for n in notes] == [
            ("re_1", 5000, "Refunded in Stripe"),
            ("re_ours", 1000, "late delivery"),
            ("re_2", 2000, "Refunded in Stripe"),
        ]
    assert get_invoice(db, invoice_id).amount_refunded == 8000


FOUR_EVENTS = ("requires_action", "failed", "succeeded", "refund")


@pytest.mark.parametrize("order", list(itertools.permutations(FOUR_EVENTS)), ids="-".join)
@pytest.mark.parametrize("mode", ["re-fetched", "from the payload"])
def test_a_refund_in_any_order_with_the_payments_events_becomes_one_credit_note(
    client, db, box, shop, stripe_api, mode, order
):
    """3-D Secure, a failure, the success and a refund made in Stripe's
    dashboard, delivered in any of the 24 orders: one end state, the invoice
    paid and credited once. A refund before the success settles the
    PaymentIntent from Stripe first; without a key to ask Stripe, it fails
    (500, stored unprocessed) and Stripe's next delivery applies it."""
    store_keys(db, box, secret_key=SECRET_KEY if mode == "re-fetched" else None)
    save_card(db, shop["client"])
    invoice_id = open_invoice(db, shop)
    intent_id = "pi_refund_order"
    payment_id = card_payment(db, invoice_id, intent_id, PaymentStatus.REQUIRES_ACTION)
    refund = {**refund_object("re_order", 5000, 100), "payment_intent": intent_id}
    charge = {
        **CHARGE,
        "id": "ch_order",
        "payment_intent": intent_id,
        "refunds": {"object": "list", "data": [refund], "has_more": False},
    }
    # Stripe as it is by the time any of these events arrives: the payment
    # succeeded, then part of it was refunded.
    stripe_api.get(
        f"{API}/payment_intents/{intent_id}",
        json=intent(intent_id, "succeeded", payment_id, invoice_id),
    )
    stripe_api.get(f"{API}/refunds", json={"object": "list", "has_more": False, "data": [refund]})
    bodies = {
        "requires_action": event(
            "payment_intent.requires_action",
            intent(intent_id, "requires_action", payment_id, invoice_id),
        ),
        "failed": event(
            "payment_intent.payment_failed",
            intent(intent_id, "requires_payment_method", payment_id, invoice_id),
        ),
        "succeeded": event(
            "payment_intent.succeeded", intent(intent_id, "succeeded", payment_id, invoice_id)
        ),
        "refund": event("charge.refunded", charge),
    }
    answers = [deliver(client, bodies[name]).status_code for name in order]
    refund_first = order.index("refund") < order.index("succeeded")
    if mode == "from the payload" and refund_first:
        assert answers[order.index("refund")] == 500
        assert deliver(client, bodies["refund"]).status_code == 200  # Stripe's retry
    else:
        assert answers == [200] * 4
    assert all(row.processed_at is not None for row in events_stored(db))

    invoice = get_invoice(db, invoice_id)
    assert (invoice.status, invoice.amount_paid, invoice.amount_refunded) == (
        InvoiceStatus.PAID,
        15000,
        5000,
    )
    assert [(n.stripe_refund_id, n.amount) for n in invoice.credit_notes] == [("re_order", 5000)]
    assert [(p.id, p.status) for p in invoice.payments] == [(payment_id, PaymentStatus.SUCCEEDED)]
    assert deliver(client, bodies["refund"]).get_json()["duplicate"] is True


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_refund_and_the_payments_success_delivered_at_once_credit_once(
    app, db, box, shop, stripe_api
):
    """The refund and the success of one payment, delivered at the same
    moment to two workers, five times over: each invoice ends paid and
    credited once (both handlers take the invoice's row lock first)."""
    store_keys(db, box)
    save_card(db, shop["client"])
    stripe_api.get(f"{API}/refunds", json={"object": "list", "has_more": False, "data": []})
    for round_ in range(5):
        invoice_id = open_invoice(db, shop)
        intent_id = f"pi_race_{round_}"
        payment_id = card_payment(db, invoice_id, intent_id, PaymentStatus.REQUIRES_ACTION)
        refund = {
            **refund_object(f"re_race_{round_}", 5000, 100),
            "charge": f"ch_race_{round_}",
            "payment_intent": intent_id,
        }
        stripe_api.get(
            f"{API}/payment_intents/{intent_id}",
            json=intent(intent_id, "succeeded", payment_id, invoice_id),
        )
        stripe_api.replace(
            responses.GET,
            f"{API}/refunds",
            json={"object": "list", "has_more": False, "data": [refund]},
        )
        bodies = [
            event(
                "payment_intent.succeeded",
                intent(intent_id, "succeeded", payment_id, invoice_id),
            ),
            event(
                "charge.refunded",
                {**CHARGE, "id": f"ch_race_{round_}", "payment_intent": intent_id},
            ),
        ]
        barrier = threading.Barrier(2)
        statuses: list[int] = []

        def post(body, barrier, statuses):
            client = app.test_client()
            barrier.wait()
            statuses.append(deliver(client, body).status_code)

        threads = [threading.Thread(target=post, args=(body, barrier, statuses)) for body in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert statuses == [200, 200]
        invoice = get_invoice(db, invoice_id)
        assert (invoice.status, invoice.amount_paid, invoice.amount_refunded) == (
            InvoiceStatus.PAID,
            15000,
            5000,
        )
        assert [n.stripe_refund_id for n in invoice.credit_notes] == [f"re_race_{round_}"]


def test_a_dispute_marks_the_invoice_disputed(client, db, box, shop, stripe_api):
    store_keys(db, box)
    save_card(db, shop["client"])
    invoice_id = open_invoice(db, shop)
    card_payment(db, invoice_id, "pi_wh_paid", PaymentStatus.SUCCEEDED)
    dispute = {
        "id": "dp_1PbB0000000001",
        "object": "dispute",
        "amount": 15000,
        "charge": "ch_wh_1",
        "currency": "eur",
        "payment_intent": "pi_wh_paid",
        "reason": "fraudulent",
        "status": "needs_response",
    }
    assert deliver(client, event("charge.dispute.created", dispute, "evt_dispute")).status_code == (
        200
    )
    assert get_invoice(db, invoice_id).disputed is True
    with db.session() as s:
        actions = s.scalars(
            select(AuditEntry.action).where(AuditEntry.actor_kind == "stripe_webhook")
        ).all()
        assert actions == ["invoice.disputed"]
        assert s.scalar(select(func.count()).select_from(StripeEvent)) == 1
    assert not stripe_api.calls
