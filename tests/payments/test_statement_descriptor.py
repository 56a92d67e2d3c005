"""The business's statement descriptor on card charges: Stripe takes only a
``statement_descriptor_suffix`` on card PaymentIntents, printed after the
account's prefix (2 to 10 characters) and ``* ``, 22 characters in all; the
bridge sends the descriptor in upper case cut to 10 characters, so every
prefix fits, and ``GET /settings`` shows it as ``statement_descriptor_preview``.
localstripe refuses the parameter ("Unexpected statement_descriptor_suffix"),
so the request is pinned with ``responses`` in Stripe's documented shapes."""

from __future__ import annotations

import pytest
import responses

from bridge.billing.business import get_settings
from bridge.payments.stripe import charges
from bridge.payments.stripe.gateway import StripeGateway
from tests.payments.conftest import SECRET_KEY, open_invoice, save_card
from tests.payments.test_stripe_unit import PI_URL, charge, form, payment_intent, staff_api


@pytest.fixture
def stripe_api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def gateway():
    return StripeGateway(SECRET_KEY, max_network_retries=0)


@pytest.fixture
def invoice_id(db, shop):
    save_card(db, shop["client"])
    return open_invoice(db, shop)


@pytest.mark.parametrize(
    ("descriptor", "suffix"),
    [
        ("PixelPress Web", "PIXELPRESS"),
        ("Acme1", "ACME1"),
        ("Pixel-Press & Co. #1", "PIXEL-PRES"),
        ("Web design ", "WEB DESIGN"),
        ("12345678 9 Web", None),  # nothing with a letter in the first 10
        (None, None),
    ],
)
def test_card_charges_carry_the_descriptor_as_stripes_suffix(
    db, stripe_api, gateway, invoice_id, descriptor, suffix
):
    with db.session() as s:
        get_settings(s).statement_descriptor = descriptor
    stripe_api.post(PI_URL, json=payment_intent())
    assert charge(db, gateway, invoice_id).status == "succeeded"
    (call,) = stripe_api.calls
    assert form(call).get("statement_descriptor_suffix") == suffix
    assert charges.descriptor_suffix(descriptor) == suffix


def test_the_settings_show_the_descriptor_as_card_statements_print_it(client, db):
    api = staff_api(client, db)
    assert api.get("/settings").get_json()["statement_descriptor_preview"] is None
    answer = api.patch("/settings", json={"statement_descriptor": "PixelPress Web"}).get_json()
    assert answer["statement_descriptor"] == "PixelPress Web"
    assert answer["statement_descriptor_preview"] == "PIXELPRESS"
    assert api.get("/settings").get_json()["statement_descriptor_preview"] == "PIXELPRESS"
    # Read only: it is not a setting.
    response = api.patch("/settings", json={"statement_descriptor_preview": "OTHER"})
    assert response.status_code == 422
    assert "statement_descriptor_preview" in response.get_json()["error"]["fields"]
