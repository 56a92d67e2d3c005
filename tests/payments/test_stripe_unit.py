"""The Stripe gateway against Stripe's HTTP API mocked with ``responses``,
in the shapes of Stripe's API reference (version 2024-06-20): charges that
succeed, are declined, need 3-D Secure, meet 429 / 500 / timeouts (retried
under the same Idempotency-Key), crash recovery by reconcile, refunds, card
setup and key verification. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import requests
import responses
import time_machine
from sqlalchemy import func, select

from bridge.billing.payments import ChargeResult
from bridge.core.errors import Conflict, Invalid, NotFound
from bridge.models import (
    AuditEntry,
    BusinessSettings,
    Client,
    CreditNote,
    InvoiceStatus,
    Payment,
    PaymentState,
    PaymentStatus,
)
from bridge.payments import offline
from bridge.payments.stripe import cards, charges, refunds
from bridge.payments.stripe import keys as stripe_keys
from bridge.payments.stripe.client import API_VERSION, StripeRefused, StripeUnavailable
from bridge.payments.stripe.gateway import StripeGateway
from tests.conftest import Api, make_token, snapshot
from tests.payments.conftest import (
    NOW,
    PUBLISHABLE_KEY,
    SECRET_KEY,
    WEBHOOK_SECRET,
    get_invoice,
    open_invoice,
    save_card,
    store_keys,
)

API = "https://api.stripe.com/v1"
PI_URL = f"{API}/payment_intents"


@pytest.fixture
def stripe_api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def gateway():
    return StripeGateway(SECRET_KEY, max_network_retries=2, retry_delay=0)


@pytest.fixture
def invoice_id(db, shop):
    """An open invoice of 150.00 EUR whose client has a saved card."""
    save_card(db, shop["client"])
    return open_invoice(db, shop)


# Stripe's shapes ------------------------------------------------------------------


def payment_intent(
    status="succeeded",
    *,
    id="pi_3PaLv2LkdIwHu7ix0abc",
    amount=15000,
    metadata=None,
    error=None,
    customer="cus_test",
    payment_method="pm_test_visa",
    created=None,
):
    """A PaymentIntent object as the API reference shows it."""
    return {
        "id": id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": amount if status == "succeeded" else 0,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": f"{id}_secret_Gv7pL0kPq2Xw",
        "confirmation_method": "automatic",
        "created": created or int(NOW.timestamp()),
        "currency": "eur",
        "customer": customer,
        "description": None,
        "last_payment_error": error,
        "latest_charge": "ch_3PaLv2LkdIwHu7ix0xyz" if status != "requires_action" else None,
        "livemode": False,
        "metadata": metadata or {},
        "next_action": (
            {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}}
            if status == "requires_action"
            else None
        ),
        "payment_method": None if status == "requires_payment_method" else payment_method,
        "payment_method_types": ["card"],
        "setup_future_usage": None,
        "status": status,
    }


def card_error(code, decline_code, message, intent):
    """A 402 card_error body with the PaymentIntent it left behind."""
    return {
        "error": {
            "charge": "ch_3PaLv2LkdIwHu7ix0xyz",
            "code": code,
            "decline_code": decline_code,
            "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
            "message": message,
            "payment_intent": intent,
            "payment_method": {"id": "pm_test_visa", "object": "payment_method", "type": "card"},
            "request_log_url": "https://dashboard.stripe.com/test/logs/req_x1",
            "type": "card_error",
        }
    }


def page(*items):
    return {"object": "list", "data": list(items), "has_more": False, "url": "/v1/x"}


def form(call) -> dict:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


def charge(db, gateway, invoice_id, **kwargs):
    with db.session() as s:
        return charges.charge_invoice(s, gateway, get_invoice(db, invoice_id), **kwargs)


def the_payment(db, invoice_id) -> Payment:
    with db.session() as s:
        return s.scalars(select(Payment).where(Payment.invoice_id == invoice_id)).one()


# Charges ---------------------------------------------------------------------------


def test_a_charge_that_succeeds_pays_the_invoice(db, stripe_api, gateway, invoice_id):
    stripe_api.post(PI_URL, json=payment_intent())
    result = charge(db, gateway, invoice_id)

    payment = the_payment(db, invoice_id)
    assert result == ChargeResult(
        "succeeded",
        payment.id,
        payment_intent_id="pi_3PaLv2LkdIwHu7ix0abc",
        payment_method_id="pm_test_visa",
    )
    (call,) = stripe_api.calls
    assert call.request.headers["Idempotency-Key"] == f"bb-invoice-{invoice_id}-attempt-1"
    assert call.request.headers["Stripe-Version"] == API_VERSION
    assert form(call) == {
        "amount": "15000",
        "currency": "eur",
        "customer": "cus_test",
        "payment_method": "pm_test_visa",
        "payment_method_types[0]": "card",
        "confirm": "true",
        "off_session": "true",
        "metadata[bb_payment_id]": str(payment.id),
        "metadata[bb_invoice_id]": str(invoice_id),
        "metadata[bb_invoice_number]": get_invoice(db, invoice_id).number,
        "metadata[bb_client_id]": str(get_invoice(db, invoice_id).client_id),
    }
    assert (payment.status, payment.amount, payment.stripe_payment_intent_id) == (
        PaymentStatus.SUCCEEDED,
        15000,
        "pi_3PaLv2LkdIwHu7ix0abc",
    )
    assert payment.idempotency_key == f"bb-invoice-{invoice_id}-attempt-1"
    invoice = get_invoice(db, invoice_id)
    assert (invoice.status, invoice.amount_paid, invoice.payment_state) == (
        InvoiceStatus.PAID,
        15000,
        PaymentState.NONE,
    )
    # Paid: a second charge is refused before anything is sent.
    with pytest.raises(Conflict) as info:
        charge(db, gateway, invoice_id)
    assert info.value.code == "invoice_not_payable" and len(stripe_api.calls) == 1


def test_a_declined_card_fails_with_its_decline_code_and_the_next_try_is_attempt_2(
    db, stripe_api, gateway, invoice_id
):
    declined = payment_intent(
        "requires_payment_method",
        error={
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
            "type": "card_error",
        },
    )
    stripe_api.post(
        PI_URL,
        status=402,
        json=card_error(
            "card_declined", "insufficient_funds", "Your card has insufficient funds.", declined
        ),
    )
    result = charge(db, gateway, invoice_id)

    assert (result.status, result.decline_code, result.message) == (
        "failed",
        "insufficient_funds",
        "Your card has insufficient funds.",
    )
    payment = the_payment(db, invoice_id)
    assert (payment.status, payment.failure_code, payment.stripe_payment_intent_id) == (
        PaymentStatus.FAILED,
        "insufficient_funds",
        "pi_3PaLv2LkdIwHu7ix0abc",
    )
    invoice = get_invoice(db, invoice_id)
    assert (invoice.status, invoice.payment_state, invoice.amount_paid) == (
        InvoiceStatus.OPEN,
        PaymentState.FAILED,
        0,
    )

    stripe_api.replace(responses.POST, PI_URL, json=payment_intent(id="pi_second"))
    assert charge(db, gateway, invoice_id).status == "succeeded"
    assert stripe_api.calls[-1].request.headers["Idempotency-Key"] == (
        f"bb-invoice-{invoice_id}-attempt-2"
    )
    assert get_invoice(db, invoice_id).status == InvoiceStatus.PAID


def test_authentication_required_hands_the_page_a_client_secret_then_settles(
    db, stripe_api, gateway, invoice_id
):
    # Off-session, Stripe fails a charge that needs 3-D Secure with a 402
    # authentication_required; the PaymentIntent waits for a payment method.
    waiting = payment_intent(
        "requires_payment_method",
        error={
            "code": "authentication_required",
            "decline_code": "authentication_required",
            "message": "Your card was declined. This transaction requires authentication.",
            "payment_method": {"id": "pm_test_visa", "object": "payment_method"},
            "type": "card_error",
        },
    )
    stripe_api.post(
        PI_URL,
        status=402,
        json=card_error(
            "authentication_required",
            "authentication_required",
            "Your card was declined. This transaction requires authentication.",
            waiting,
        ),
    )
    result = charge(db, gateway, invoice_id)
    assert result.status == "requires_action"
    assert result.client_secret == "pi_3PaLv2LkdIwHu7ix0abc_secret_Gv7pL0kPq2Xw"
    assert result.payment_method_id == "pm_test_visa"
    payment = the_payment(db, invoice_id)
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    assert get_invoice(db, invoice_id).payment_state == PaymentState.ACTION_REQUIRED

    # Charging again while it waits sends nothing new: the same intent.
    stripe_api.get(f"{PI_URL}/pi_3PaLv2LkdIwHu7ix0abc", json=waiting)
    again = charge(db, gateway, invoice_id)
    assert (again.status, again.client_secret) == ("requires_action", result.client_secret)
    assert [c.request.method for c in stripe_api.calls] == ["POST", "GET"]

    # The client authenticated in the browser; the page settles the intent.
    stripe_api.replace(responses.GET, f"{PI_URL}/pi_3PaLv2LkdIwHu7ix0abc", json=payment_intent())
    with db.session() as s:
        settled = charges.settle_payment_intent(
            s, gateway, "pi_3PaLv2LkdIwHu7ix0abc", invoice=get_invoice(db, invoice_id)
        )
        assert settled.status == "succeeded"
        # Settled twice (the page, then a webhook): counted once.
        charges.settle_payment_intent(s, gateway, "pi_3PaLv2LkdIwHu7ix0abc")
    invoice = get_invoice(db, invoice_id)
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.PAID, 15000)
    # A late failure never un-pays the invoice.
    stripe_api.replace(
        responses.GET, f"{PI_URL}/pi_3PaLv2LkdIwHu7ix0abc", json=payment_intent("canceled")
    )
    with db.session() as s:
        late = charges.settle_payment_intent(s, gateway, "pi_3PaLv2LkdIwHu7ix0abc")
        assert late.status == "succeeded"
    assert get_invoice(db, invoice_id).amount_paid == 15000
    with db.session() as s, pytest.raises(NotFound):
        stripe_api.get(f"{PI_URL}/pi_not_ours", json=payment_intent(id="pi_not_ours"))
        charges.settle_payment_intent(s, gateway, "pi_not_ours")


@pytest.mark.parametrize(
    "first",
    [
        {
            "status": 429,
            "json": {
                "error": {
                    "type": "invalid_request_error",
                    "code": "rate_limit",
                    "message": "Request rate limit exceeded.",
                }
            },
        },
        {
            "status": 500,
            "json": {"error": {"type": "api_error", "message": "An unknown error occurred"}},
        },
    ],
    ids=["429", "500"],
)
def test_429_and_500_are_retried_with_the_same_idempotency_key(
    db, stripe_api, gateway, invoice_id, first
):
    stripe_api.post(PI_URL, **first)
    stripe_api.post(PI_URL, json=payment_intent())
    assert charge(db, gateway, invoice_id).status == "succeeded"
    keys = [call.request.headers["Idempotency-Key"] for call in stripe_api.calls]
    assert keys == [f"bb-invoice-{invoice_id}-attempt-1"] * 2
    assert [call.response.status_code for call in stripe_api.calls] == [first["status"], 200]
    assert get_invoice(db, invoice_id).status == InvoiceStatus.PAID


def test_a_timeout_leaves_the_payment_pending_and_reconcile_settles_it(
    db, stripe_api, gateway, invoice_id
):
    stripe_api.post(PI_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    with time_machine.travel(NOW, tick=False):
        result = charge(db, gateway, invoice_id)
    assert result.status == "processing"
    # The SDK retried twice, with the same key each time.
    keys = {call.request.headers["Idempotency-Key"] for call in stripe_api.calls}
    assert len(stripe_api.calls) == 3 and keys == {f"bb-invoice-{invoice_id}-attempt-1"}
    payment = the_payment(db, invoice_id)
    assert (payment.status, payment.stripe_payment_intent_id) == (PaymentStatus.PENDING, None)
    assert get_invoice(db, invoice_id).payment_state == PaymentState.PROCESSING

    # Charging again within the minute, while Stripe shows nothing yet: the
    # request may still be in flight, so nothing is sent.
    sent = len(stripe_api.calls)
    stripe_api.get(PI_URL, json=page())
    with time_machine.travel(NOW + timedelta(seconds=30), tick=False):
        assert charge(db, gateway, invoice_id).status == "processing"
    # Stripe did create it; only the answer was lost. Reconcile finds it.
    created = payment_intent(
        metadata={"bb_payment_id": str(payment.id), "bb_invoice_id": str(invoice_id)}
    )
    stripe_api.replace(responses.GET, PI_URL, json=page(payment_intent(id="pi_other"), created))
    with time_machine.travel(NOW + timedelta(minutes=2), tick=False), db.session() as s:
        assert charges.reconcile_pending(s, gateway) == 1
    lookup = stripe_api.calls[-1].request
    assert lookup.method == "GET" and "customer=cus_test" in lookup.url
    assert [c.request.method for c in stripe_api.calls[sent:]] == ["GET", "GET"]
    payment = the_payment(db, invoice_id)
    assert (payment.status, payment.stripe_payment_intent_id) == (
        PaymentStatus.SUCCEEDED,
        "pi_3PaLv2LkdIwHu7ix0abc",
    )
    assert get_invoice(db, invoice_id).status == InvoiceStatus.PAID
    with db.session() as s:
        assert charges.reconcile_pending(s, gateway) == 0


def test_reconcile_sends_a_charge_stripe_never_received_under_the_same_key(
    db, stripe_api, gateway, invoice_id
):
    stripe_api.post(PI_URL, body=requests.exceptions.ConnectionError("connection refused"))
    with time_machine.travel(NOW, tick=False):
        assert charge(db, gateway, invoice_id).status == "processing"
    stripe_api.get(PI_URL, json=page())
    stripe_api.replace(responses.POST, PI_URL, json=payment_intent())
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False), db.session() as s:
        assert charges.reconcile_pending(s, gateway) == 1
    posts = [c.request for c in stripe_api.calls if c.request.method == "POST"]
    assert {p.headers["Idempotency-Key"] for p in posts} == {f"bb-invoice-{invoice_id}-attempt-1"}
    assert the_payment(db, invoice_id).status == PaymentStatus.SUCCEEDED
    assert get_invoice(db, invoice_id).status == InvoiceStatus.PAID


def test_a_pending_charge_older_than_stripes_key_window_is_recorded_as_never_sent(
    db, stripe_api, gateway, invoice_id
):
    stripe_api.post(PI_URL, body=requests.exceptions.ConnectionError("connection refused"))
    with time_machine.travel(NOW, tick=False):
        charge(db, gateway, invoice_id)
    stripe_api.get(PI_URL, json=page())
    with time_machine.travel(NOW + timedelta(days=2), tick=False), db.session() as s:
        assert charges.reconcile_pending(s, gateway) == 1
    payment = the_payment(db, invoice_id)
    assert (payment.status, payment.failure_code) == (PaymentStatus.FAILED, "not_sent")
    assert get_invoice(db, invoice_id).payment_state == PaymentState.FAILED


def test_a_client_without_a_saved_card_cannot_be_charged(db, shop, gateway, stripe_api):
    invoice_id = open_invoice(db, shop)
    with pytest.raises(Conflict) as info:
        charge(db, gateway, invoice_id)
    assert info.value.code == "no_saved_card" and not stripe_api.calls
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 0


def test_a_new_card_replaces_the_attempt_waiting_for_authentication(
    db, stripe_api, gateway, invoice_id
):
    waiting = payment_intent("requires_action")
    stripe_api.post(PI_URL, json=waiting)
    assert charge(db, gateway, invoice_id).status == "requires_action"
    save_card(db, get_invoice(db, invoice_id).client_id, method="pm_new_card")
    stripe_api.get(f"{PI_URL}/{waiting['id']}", json=waiting)
    stripe_api.post(f"{PI_URL}/{waiting['id']}/cancel", json=payment_intent("canceled"))
    stripe_api.replace(
        responses.POST, PI_URL, json=payment_intent(id="pi_new", payment_method="pm_new_card")
    )
    assert charge(db, gateway, invoice_id).status == "succeeded"
    with db.session() as s:
        first, second = s.scalars(select(Payment).order_by(Payment.id)).all()
        assert (first.status, second.status) == (PaymentStatus.CANCELED, PaymentStatus.SUCCEEDED)
        assert second.idempotency_key.endswith("attempt-2")
    assert form(stripe_api.calls[-1])["payment_method"] == "pm_new_card"


# Refunds -------------------------------------------------------------------------------


def test_refund_at_stripe_then_a_credit_note_with_the_refund_id(
    db, stripe_api, gateway, invoice_id
):
    stripe_api.post(PI_URL, json=payment_intent())
    charge(db, gateway, invoice_id)
    stripe_api.post(
        f"{API}/refunds",
        json={
            "id": "re_3PaLv2LkdIwHu7ix0r1",
            "object": "refund",
            "amount": 5000,
            "charge": "ch_3PaLv2LkdIwHu7ix0xyz",
            "created": int(NOW.timestamp()),
            "currency": "eur",
            "metadata": {},
            "payment_intent": "pi_3PaLv2LkdIwHu7ix0abc",
            "reason": None,
            "status": "succeeded",
        },
    )
    with db.session() as s:
        note = refunds.refund(s, gateway, get_invoice(db, invoice_id), 5000, "goodwill")
        assert (note.amount, note.stripe_refund_id, note.reason) == (
            5000,
            "re_3PaLv2LkdIwHu7ix0r1",
            "goodwill",
        )
    call = stripe_api.calls[-1]
    payment = the_payment(db, invoice_id)
    assert call.request.headers["Idempotency-Key"] == f"bb-refund-{payment.id}-1"
    assert form(call) == {
        "payment_intent": "pi_3PaLv2LkdIwHu7ix0abc",
        "amount": "5000",
        "metadata[bb_invoice_id]": str(invoice_id),
        "metadata[bb_payment_id]": str(payment.id),
        "metadata[bb_reason]": "goodwill",
    }
    assert get_invoice(db, invoice_id).amount_refunded == 5000
    sent = len(stripe_api.calls)
    with db.session() as s, pytest.raises(Invalid):
        refunds.refund(s, gateway, get_invoice(db, invoice_id), 10001, "too much")
    assert len(stripe_api.calls) == sent


def test_a_refund_stripe_refuses_records_nothing(db, stripe_api, gateway, invoice_id):
    stripe_api.post(PI_URL, json=payment_intent())
    charge(db, gateway, invoice_id)
    stripe_api.post(
        f"{API}/refunds",
        status=400,
        json={
            "error": {
                "type": "invalid_request_error",
                "code": "charge_disputed",
                "message": "Charge ch_3PaLv2LkdIwHu7ix0xyz has been charged back.",
            }
        },
    )
    with db.session() as s, pytest.raises(StripeRefused) as info:
        refunds.refund(s, gateway, get_invoice(db, invoice_id), 5000, "")
    assert info.value.code == "charge_disputed"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(CreditNote)) == 0


# Saving a card ------------------------------------------------------------------------


def test_card_setup_creates_the_customer_once_and_stores_the_card(db, shop, stripe_api, gateway):
    stripe_api.post(
        f"{API}/customers",
        json={"id": "cus_NffrFeUfNV2Hib", "object": "customer", "email": "alice@example.com"},
    )
    stripe_api.post(
        f"{API}/setup_intents",
        json={
            "id": "seti_1Mm8s8LkdIwHu7ix",
            "object": "setup_intent",
            "client_secret": "seti_1Mm8s8LkdIwHu7ix_secret_NXDICkPqPeiBTAFqWmkbff09lRmSVXe",
            "customer": "cus_NffrFeUfNV2Hib",
            "status": "requires_payment_method",
            "usage": "off_session",
        },
    )
    with db.session() as s:
        client = s.get(Client, shop["client"])
        intent = cards.start_card_setup(s, gateway, client)
        assert intent == {
            "id": "seti_1Mm8s8LkdIwHu7ix",
            "client_secret": "seti_1Mm8s8LkdIwHu7ix_secret_NXDICkPqPeiBTAFqWmkbff09lRmSVXe",
        }
        cards.start_card_setup(s, gateway, client)
    customer_calls = [c for c in stripe_api.calls if c.request.url.endswith("/customers")]
    assert len(customer_calls) == 1
    assert customer_calls[0].request.headers["Idempotency-Key"] == f"bb-customer-{shop['client']}"
    assert form(customer_calls[0]) == {
        "name": "Alice Martin",
        "email": "alice@example.com",
        "metadata[bb_client_id]": str(shop["client"]),
    }
    setup = form(stripe_api.calls[1])
    assert setup == {
        "customer": "cus_NffrFeUfNV2Hib",
        "usage": "off_session",
        "payment_method_types[0]": "card",
        "metadata[bb_client_id]": str(shop["client"]),
    }

    succeeded = {
        "id": "seti_1Mm8s8LkdIwHu7ix",
        "object": "setup_intent",
        "customer": "cus_NffrFeUfNV2Hib",
        "payment_method": "pm_1Mm8s8LkdIwHu7ixcard",
        "status": "succeeded",
        "usage": "off_session",
    }
    stripe_api.get(f"{API}/setup_intents/seti_1Mm8s8LkdIwHu7ix", json=succeeded)
    stripe_api.get(
        f"{API}/payment_methods/pm_1Mm8s8LkdIwHu7ixcard",
        json={
            "id": "pm_1Mm8s8LkdIwHu7ixcard",
            "object": "payment_method",
            "type": "card",
            "customer": "cus_NffrFeUfNV2Hib",
            "card": {"brand": "mastercard", "last4": "4444", "exp_month": 8, "exp_year": 2029},
        },
    )
    stripe_api.post(
        f"{API}/customers/cus_NffrFeUfNV2Hib",
        json={"id": "cus_NffrFeUfNV2Hib", "object": "customer"},
    )
    with db.session() as s:
        cards.complete_card_setup(
            s, gateway, s.get(Client, shop["client"]), "seti_1Mm8s8LkdIwHu7ix"
        )
        client = s.get(Client, shop["client"])
        assert (
            client.default_payment_method_id,
            client.card_brand,
            client.card_last4,
            client.card_exp_month,
            client.card_exp_year,
        ) == ("pm_1Mm8s8LkdIwHu7ixcard", "mastercard", "4444", 8, 2029)
    # The saved card is made the customer's default at Stripe too.
    default = stripe_api.calls[-1]
    assert default.request.url == f"{API}/customers/cus_NffrFeUfNV2Hib"
    assert form(default) == {"invoice_settings[default_payment_method]": "pm_1Mm8s8LkdIwHu7ixcard"}
    assert default.request.headers["Idempotency-Key"] == (
        "bb-default-card-cus_NffrFeUfNV2Hib-pm_1Mm8s8LkdIwHu7ixcard"
    )

    # Stripe refusing the default loses nothing: the card is saved here.
    stripe_api.replace(
        responses.POST,
        f"{API}/customers/cus_NffrFeUfNV2Hib",
        status=400,
        json={"error": {"type": "invalid_request_error", "message": "No such PaymentMethod"}},
    )
    with db.session() as s:
        s.get(Client, shop["client"]).default_payment_method_id = None
        s.commit()
        cards.complete_card_setup(
            s, gateway, s.get(Client, shop["client"]), "seti_1Mm8s8LkdIwHu7ix"
        )
        assert s.get(Client, shop["client"]).default_payment_method_id == (
            "pm_1Mm8s8LkdIwHu7ixcard"
        )

    # Another customer's SetupIntent, or one not confirmed, is refused.
    stripe_api.replace(
        responses.GET,
        f"{API}/setup_intents/seti_1Mm8s8LkdIwHu7ix",
        json={**succeeded, "customer": "cus_someone_else"},
    )
    with db.session() as s, pytest.raises(NotFound):
        cards.complete_card_setup(
            s, gateway, s.get(Client, shop["client"]), "seti_1Mm8s8LkdIwHu7ix"
        )
    stripe_api.replace(
        responses.GET,
        f"{API}/setup_intents/seti_1Mm8s8LkdIwHu7ix",
        json={**succeeded, "status": "requires_payment_method", "payment_method": None},
    )
    with db.session() as s, pytest.raises(Conflict):
        cards.complete_card_setup(
            s, gateway, s.get(Client, shop["client"]), "seti_1Mm8s8LkdIwHu7ix"
        )


# Keys and settings --------------------------------------------------------------------

ACCOUNT = {
    "id": "acct_1Nv0FGQ9RKHgCVdK",
    "object": "account",
    "business_profile": {"name": "Pixel & Co", "url": "https://pixel.example"},
    "business_type": "company",
    "charges_enabled": True,
    "country": "FR",
    "default_currency": "eur",
    "details_submitted": True,
    "email": "owner@pixel.example",
    "payouts_enabled": True,
    "settings": {"dashboard": {"display_name": "Pixel", "timezone": "Europe/Paris"}},
    "type": "standard",
}


def test_verify_keys_reads_the_account(stripe_api):
    stripe_api.get(f"{API}/account", json=ACCOUNT)
    info = stripe_keys.verify_keys(SECRET_KEY, PUBLISHABLE_KEY)
    assert info == stripe_keys.AccountInfo(
        id="acct_1Nv0FGQ9RKHgCVdK", name="Pixel & Co", email="owner@pixel.example", livemode=False
    )
    assert stripe_api.calls[0].request.headers["Authorization"] == f"Bearer {SECRET_KEY}"


def test_verify_keys_refusals(stripe_api):
    with pytest.raises(Invalid) as info:
        stripe_keys.verify_keys("pk_test_oops", "sk_test_oops")
    assert set(info.value.fields) == {"secret_key", "publishable_key"}
    with pytest.raises(Invalid) as info:
        stripe_keys.verify_keys("sk_live_abc", "pk_test_abc")
    assert "publishable_key" in info.value.fields
    assert not stripe_api.calls
    stripe_api.get(
        f"{API}/account",
        status=401,
        json={
            "error": {
                "type": "invalid_request_error",
                "message": "Invalid API Key provided: sk_test_****0000",
            }
        },
    )
    with pytest.raises(StripeRefused) as info:
        stripe_keys.verify_keys(SECRET_KEY, PUBLISHABLE_KEY)
    assert info.value.code == "stripe_key_refused"
    stripe_api.replace(
        responses.GET, f"{API}/account", body=requests.exceptions.ConnectionError("down")
    )
    with pytest.raises(StripeUnavailable):
        stripe_keys.verify_keys(SECRET_KEY, PUBLISHABLE_KEY)


def test_verify_keys_on_a_stand_in_without_an_account_endpoint_checks_the_key_only(
    stripe_api,
):
    base = "http://127.0.0.1:8420"
    # What localstripe answers (aiohttp's default 404 page).
    stripe_api.get(f"{base}/v1/account", status=404, body="404: Not Found")
    stripe_api.get(f"{base}/v1/customers", json=page())
    info = stripe_keys.verify_keys(SECRET_KEY, PUBLISHABLE_KEY, base)
    assert info == stripe_keys.AccountInfo(None, None, None, livemode=False, limited=True)
    # At Stripe itself a 404 there is an error, not a stand-in.
    stripe_api.get(
        f"{API}/account",
        status=404,
        json={"error": {"type": "invalid_request_error", "message": "Not Found"}},
    )
    with pytest.raises(StripeRefused):
        stripe_keys.verify_keys(SECRET_KEY, PUBLISHABLE_KEY)


def test_saved_settings_are_encrypted_read_back_and_give_a_gateway(db, box, stripe_api):
    stripe_api.get(f"{API}/account", json=ACCOUNT)
    with time_machine.travel(NOW, tick=False), db.session() as s:
        saved = stripe_keys.save_stripe_settings(
            s, box, f" {SECRET_KEY} ", PUBLISHABLE_KEY, WEBHOOK_SECRET
        )
    assert (saved.secret_key, saved.webhook_secret, saved.account_name, saved.connected_at) == (
        SECRET_KEY,
        WEBHOOK_SECRET,
        "Pixel & Co",
        NOW,
    )
    assert saved.secret_key_hint == "sk_test_…0000" and SECRET_KEY not in repr(saved)
    with db.session() as s:
        from bridge.billing.business import get_settings

        settings = get_settings(s)
        assert SECRET_KEY not in settings.stripe_secret_key_encrypted
        assert WEBHOOK_SECRET not in settings.stripe_webhook_secret_encrypted
        assert (settings.stripe_account_id, settings.stripe_livemode) == (
            "acct_1Nv0FGQ9RKHgCVdK",
            False,
        )
        # The audit log records the connection, never the encrypted secrets.
        entry = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "settings.stripe_connected")
        ).one()
        assert "stripe_account_id" in entry.summary
        assert not {"stripe_secret_key_encrypted", "stripe_webhook_secret_encrypted"} & set(
            entry.summary
        )
        gateway = stripe_keys.gateway_for(s, box, "http://127.0.0.1:1")
        assert gateway.api_base == "http://127.0.0.1:1" and not gateway.livemode
        assert offline.payment_options(s) == offline.PaymentOptions(True, PUBLISHABLE_KEY, "")
        with pytest.raises(Invalid):
            stripe_keys.save_stripe_settings(s, box, SECRET_KEY, PUBLISHABLE_KEY, "nope")
        stripe_keys.disconnect_stripe(s)
        assert stripe_keys.gateway_for(s, box) is None
        assert not stripe_keys.stripe_settings(s, box).configured
        settings.offline_payment_instructions = "  IBAN FR76 3000 ...  "
        assert offline.payment_options(s) == offline.PaymentOptions(
            False, None, "IBAN FR76 3000 ..."
        )


# The REST API: connecting Stripe, refunds to the card ------------------------------

KEYS = {
    "secret_key": SECRET_KEY,
    "publishable_key": PUBLISHABLE_KEY,
    "webhook_secret": WEBHOOK_SECRET,
}


def staff_api(client, db) -> Api:
    return Api(client, make_token(db))


def test_connecting_stripe_verifies_and_hides_the_keys(client, db, stripe_api):
    api = staff_api(client, db)
    assert api.get("/settings/stripe").get_json()["configured"] is False
    stripe_api.get(f"{API}/account", json=ACCOUNT)
    response = api.put("/settings/stripe", json=KEYS)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["configured"], body["mode"], body["webhook_secret_set"]) == (True, "test", True)
    assert body["account"] == {
        "id": ACCOUNT["id"],
        "name": "Pixel & Co",
        "email": "owner@pixel.example",
    }
    assert body["secret_key_hint"].endswith(SECRET_KEY[-4:])
    shown = str(api.get("/settings/stripe").get_json()) + str(api.get("/settings").get_json())
    shown += str(api.get("/audit-log?per_page=100").get_json())
    assert SECRET_KEY not in shown and WEBHOOK_SECRET not in shown
    with db.session() as s:
        stored = s.scalars(select(BusinessSettings)).one()
        assert SECRET_KEY not in stored.stripe_secret_key_encrypted

    disconnected = api.delete("/settings/stripe").get_json()
    assert disconnected["configured"] is False and disconnected["mode"] is None


def test_keys_stripe_refuses_change_nothing(client, db, stripe_api):
    api = staff_api(client, db)
    stripe_api.get(
        f"{API}/account",
        status=401,
        json={"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}},
    )
    before = snapshot(db)
    response = api.put("/settings/stripe", json=KEYS)
    assert response.status_code == 422
    assert snapshot(db) == before
    swapped = api.put("/settings/stripe", json={**KEYS, "secret_key": PUBLISHABLE_KEY})
    assert swapped.status_code == 422
    no_whsec = api.put("/settings/stripe", json={**KEYS, "webhook_secret": "secret"})
    assert no_whsec.status_code == 422
    assert "webhook_secret" in no_whsec.get_json()["error"]["fields"]
    assert snapshot(db) == before


def test_stripe_down_is_a_503_and_changes_nothing(client, db, stripe_api):
    import requests

    api = staff_api(client, db)
    stripe_api.get(f"{API}/account", body=requests.exceptions.ConnectionError("down"))
    before = snapshot(db)
    response = api.put("/settings/stripe", json=KEYS)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "stripe_unavailable"
    assert snapshot(db) == before


def test_credit_note_of_a_card_payment_refunds_the_card(
    client,
    db,
    app,
    stripe_api,
    gateway,
    invoice_id,
):
    store_keys(db, app.extensions["bridge.secret_box"])
    stripe_api.post(PI_URL, json=payment_intent())
    charge(db, gateway, invoice_id)
    stripe_api.post(
        f"{API}/refunds",
        json={
            "id": "re_api_1",
            "object": "refund",
            "amount": 5000,
            "charge": "ch_3PaLv2LkdIwHu7ix0xyz",
            "created": 1764000000,
            "currency": "eur",
            "metadata": {},
            "payment_intent": "pi_3PaLv2LkdIwHu7ix0abc",
            "reason": None,
            "status": "succeeded",
        },
    )
    api = staff_api(client, db)
    response = api.post(f"/invoices/{invoice_id}/credit-notes", json={"amount": 5000})
    assert response.status_code == 201, response.get_json()
    assert stripe_api.calls[-1].request.url == f"{API}/refunds"
    invoice = api.get(f"/invoices/{invoice_id}").get_json()
    assert (invoice["amount_refunded"], len(invoice["credit_notes"])) == (5000, 1)
    # Recording a refund made another way moves no money at Stripe.
    calls = len(stripe_api.calls)
    manual = api.post(
        f"/invoices/{invoice_id}/credit-notes", json={"amount": 100, "refund_to_card": False}
    )
    assert manual.status_code == 201 and len(stripe_api.calls) == calls


def test_card_refund_without_stripe_is_refused(client, db):
    api = staff_api(client, db)
    api.put("/settings/currency", json={"currency": "EUR", "confirm": True})
    product = api.post("/products", json={"name": "P"}).get_json()
    plan = api.post(
        f"/products/{product['id']}/plans", json={"name": "x", "kind": "one_time", "amount": 100}
    ).get_json()
    customer = api.post("/clients", json={"name": "C", "email": "c@example.com"}).get_json()
    invoice = api.post(
        "/invoices", json={"client_id": customer["id"], "items": [{"plan_id": plan["id"]}]}
    ).get_json()
    api.post(f"/invoices/{invoice['id']}/finalize")
    api.post(f"/invoices/{invoice['id']}/payments", json={"amount": 100, "method": "cash"})
    response = api.post(
        f"/invoices/{invoice['id']}/credit-notes", json={"amount": 50, "refund_to_card": True}
    )
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "stripe_not_configured"
