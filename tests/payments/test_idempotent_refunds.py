"""A refund to the card sent with an Idempotency-Key: the request commits
before it waits on Stripe (its key goes with it, in progress), and its
answer after; a retry replays the credit note without a second refund, a
refusal gives the key back."""

from __future__ import annotations

from sqlalchemy import func, select

from bridge.models import CreditNote, IdempotencyKey
from tests.payments.test_stripe_unit import (  # noqa: F401 (fixtures)
    API,
    PI_URL,
    charge,
    gateway,
    invoice_id,
    payment_intent,
    staff_api,
    store_keys,
    stripe_api,
)

REFUND = {
    "id": "re_key_1",
    "object": "refund",
    "amount": 5000,
    "charge": "ch_3PaLv2LkdIwHu7ix0xyz",
    "created": 1764000000,
    "currency": "eur",
    "metadata": {},
    "payment_intent": "pi_3PaLv2LkdIwHu7ix0abc",
    "reason": None,
    "status": "succeeded",
}


def paid_by_card(app, db, stripe_api, gateway, invoice_id):  # noqa: F811
    store_keys(db, app.extensions["bridge.secret_box"])
    stripe_api.post(PI_URL, json=payment_intent())
    charge(db, gateway, invoice_id)


def refund_calls(stripe_api) -> int:  # noqa: F811
    return sum(call.request.url == f"{API}/refunds" for call in stripe_api.calls)


def test_a_card_refund_retried_with_its_key_is_replayed_not_refunded_again(
    client,
    db,
    app,
    stripe_api,  # noqa: F811
    gateway,  # noqa: F811
    invoice_id,  # noqa: F811
):
    paid_by_card(app, db, stripe_api, gateway, invoice_id)
    stripe_api.post(f"{API}/refunds", json=REFUND)
    api = staff_api(client, db)
    key = {"Idempotency-Key": "refund-1"}
    first = api.post(f"/invoices/{invoice_id}/credit-notes", json={"amount": 5000}, headers=key)
    assert first.status_code == 201, first.get_json()
    again = api.post(f"/invoices/{invoice_id}/credit-notes", json={"amount": 5000}, headers=key)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert refund_calls(stripe_api) == 1
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(CreditNote)) == 1
        assert s.scalar(select(IdempotencyKey.status)) == "done"


def test_a_card_refund_stripe_refuses_gives_its_key_back(
    client,
    db,
    app,
    stripe_api,  # noqa: F811
    gateway,  # noqa: F811
    invoice_id,  # noqa: F811
):
    paid_by_card(app, db, stripe_api, gateway, invoice_id)
    stripe_api.post(f"{API}/refunds", json={**REFUND, "status": "failed"})
    api = staff_api(client, db)
    key = {"Idempotency-Key": "refund-2"}
    refused = api.post(f"/invoices/{invoice_id}/credit-notes", json={"amount": 5000}, headers=key)
    assert refused.status_code >= 400
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(IdempotencyKey)) == 0
        assert s.scalar(select(func.count()).select_from(CreditNote)) == 0


def test_a_card_refund_whose_credit_note_number_collides_is_a_409_before_stripe_is_asked(
    client,
    db,
    app,
    stripe_api,  # noqa: F811
    gateway,  # noqa: F811
    invoice_id,  # noqa: F811
):
    """A credit note format saved before formats were checked against
    issued numbers: the money must not leave without its credit note."""
    from sqlalchemy import update

    from bridge.models import BusinessSettings

    paid_by_card(app, db, stripe_api, gateway, invoice_id)
    stripe_api.post(f"{API}/refunds", json=REFUND)
    stripe_api.post(f"{API}/refunds", json={**REFUND, "id": "re_key_2", "amount": 1000})
    api = staff_api(client, db)
    first = api.post(f"/invoices/{invoice_id}/credit-notes", json={"amount": 5000})
    assert first.status_code == 201, first.get_json()
    number = first.get_json()["number"]
    with db.session() as s:
        s.execute(
            update(BusinessSettings).values(credit_note_number_format=number[:-5] + "{seq:05}")
        )

    second = api.post(f"/invoices/{invoice_id}/credit-notes", json={"amount": 1000})

    assert second.status_code == 409, second.get_json()
    assert second.get_json()["error"]["code"] == "number_format_collides"
    assert refund_calls(stripe_api) == 1
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(CreditNote)) == 1
