"""The hosted page and amounts Stripe cannot take by card: below Stripe's
minimum charge the page offers no card form, says why (in the invoice's
language) and shows the offline instructions, and ``setup-intent`` / ``pay``
answer 409 before anything is created at Stripe; a three-decimal amount is
offered at what the card will be charged (Stripe's unit, rounded up)."""

from __future__ import annotations

import pytest

from bridge.billing import business, clients, invoices
from bridge.billing.invoices import Item
from bridge.models import Invoice, PaymentMethod
from bridge.portal import views
from tests import shop as shops
from tests.conftest import snapshot
from tests.e2e.conftest import OFFLINE_INSTRUCTIONS, make_invoice, make_shop

STRIPE_JS = "https://js.stripe.example/v3/"


@pytest.fixture
def stripe_on(app, db, monkeypatch):
    """Card payments configured; any call to Stripe fails the request."""
    app.config["STRIPE_JS_URL"] = STRIPE_JS

    def no_stripe(*args, **kwargs):
        raise AssertionError("nothing may reach Stripe")

    monkeypatch.setattr(views, "_gateway", lambda session: object())
    monkeypatch.setattr(views.stripe_gateway, "start_card_setup", no_stripe)
    monkeypatch.setattr(views.stripe_gateway, "complete_card_setup", no_stripe)
    monkeypatch.setattr(views.stripe_gateway, "charge_invoice", no_stripe)


def open_invoice_with_due(db, due: int, language: str | None = None) -> tuple[int, str]:
    """An open EUR invoice (1,557.60) part-paid offline down to ``due``."""
    shop = make_shop(db)
    with db.session() as s:
        business.get_settings(s).stripe_publishable_key = "pk_test_hosted_page"
    kwargs = {"language": language} if language else {}
    made = make_invoice(db, shop, "open", **kwargs)
    with db.session() as s:
        invoice = s.get(Invoice, made.id)
        invoices.record_offline_payment(
            s, invoice, amount=invoice.total - due, method=PaymentMethod.BANK_TRANSFER
        )
    return made.id, made.path


@pytest.mark.parametrize(
    ("language", "why"),
    [
        ("en", "This amount cannot be paid by card: the smallest card payment in EUR is €0.50."),
        (
            "fr",
            "Ce montant ne peut pas être payé par carte : le plus petit paiement par carte "
            "en EUR est de 0,50\u00a0€.",
        ),
        (
            "de",
            "Dieser Betrag kann nicht mit Karte bezahlt werden: Die kleinste Kartenzahlung "
            "in EUR beträgt 0,50\u00a0€.",
        ),
    ],
)
def test_an_amount_below_stripes_minimum_gets_no_card_form_but_the_reason_and_instructions(
    client, db, stripe_on, language, why
):
    _, path = open_invoice_with_due(db, 30, language)
    page = client.get(path).get_data(as_text=True)
    assert "pay-form" not in page and "card-element" not in page and STRIPE_JS not in page
    assert f'id="card-unavailable">{why}<' in page
    assert OFFLINE_INSTRUCTIONS.split("\n")[0] in page


def test_setup_intent_and_pay_refuse_an_amount_below_the_minimum_before_stripe(
    client, db, stripe_on
):
    _, path = open_invoice_with_due(db, 49)
    before = snapshot(db)
    for endpoint, body in (("setup-intent", {}), ("pay", {"setup_intent_id": "seti_1"})):
        response = client.post(f"{path}/{endpoint}", json=body)
        assert response.status_code == 409, endpoint
        error = response.get_json()["error"]
        assert error["code"] == "amount_not_chargeable_by_card"
        assert error["message"] == (
            "This amount cannot be paid by card: the smallest card payment in EUR is €0.50."
        )
    assert snapshot(db) == before


def test_the_minimum_itself_is_offered_by_card(client, db, stripe_on):
    _, path = open_invoice_with_due(db, 50)
    page = client.get(path).get_data(as_text=True)
    assert "pay-form" in page and "card-unavailable" not in page
    assert "Pay €0.50" in page


def test_a_three_decimal_total_is_offered_at_what_the_card_is_charged(client, db, stripe_on):
    with db.session() as s:
        shops.open_business(
            s, "KWD", stripe_publishable_key="pk_test_kwd", offline_payment_instructions="Cash"
        )
        plans = shops.add_product(s, "Hosting", {"setup": shops.one_time("Setup", 5124)})
        client_row = clients.get_client(s, shops.add_client(s, name="Nour"))
        invoice = invoices.bill_client(s, client_row, [Item(plans["setup"])])
        invoices.finalize(s, invoice)
        path = f"/i/{invoice.hosted_token}"
    page = client.get(path).get_data(as_text=True)
    assert "pay-form" in page
    assert 'id="amount-due">KWD5.124<' in page
    assert "Pay KWD5.130" in page
    assert 'id="card-rounding">Card payments are charged in steps of KWD0.010: KWD5.130.<' in page
