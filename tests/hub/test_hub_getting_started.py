"""Getting started through the test client: an empty business is sent from
the Overview to the first unfinished step; each step (currency with its
confirmation, company, payments: Stripe keys verified or offline only,
first product with its plans, or skip) is saved when submitted, so a
partial run resumes where it stopped; bad input comes back next to its
field with nothing changed; the demo and a business set up another way
never see it."""

from __future__ import annotations

import pytest
import responses
from sqlalchemy import select

from bridge import demo
from bridge.billing import business
from bridge.models import BusinessSettings, Plan, Product
from tests.hub.conftest import Hub, add_staff, csrf_token

STRIPE = "https://api.stripe.com/v1"
SECRET_KEY = "sk_test_" + "0" * 24
PUBLISHABLE_KEY = "pk_test_" + "0" * 24
WEBHOOK_SECRET = "whsec_" + "1" * 32
COMPANY = {
    "company_name": "Pixel & Press",
    "email": "billing@pixelpress.example",
    "address_line1": "12 rue des Lilas",
    "address_line2": "",
    "postal_code": "69003",
    "city": "Lyon",
    "state": "",
    "country": "FR",
    "tax_id": "FR12345678901",
    "timezone": "Europe/Paris",
}
PRODUCT = {
    "action": "product",
    "name": "Managed hosting",
    "description": "Fast hosting",
    "plan_name": "Basic, monthly",
    "kind": "recurring",
    "amount": "29",
    "interval_unit": "month",
    "interval_count": "1",
    "billing_cycles": "",
}


@pytest.fixture
def newcomer(client, db) -> Hub:
    """The only staff user of an empty business, logged in."""
    add_staff(db)
    hub = Hub(client)
    assert hub.login().status_code == 302
    return hub


def step(hub: Hub, name: str, data: dict):
    path = f"/getting-started/{name}"
    return hub.post(path, data, page=path)


def settings_of(db) -> dict:
    with db.session() as s:
        row = s.get(BusinessSettings, 1)
        return {c.key: getattr(row, c.key) for c in BusinessSettings.__table__.columns}


def products_of(db) -> list[tuple[str, list[str]]]:
    with db.session() as s:
        return [(p.name, [plan.name for plan in p.plans]) for p in s.scalars(select(Product))]


def where(response) -> str:
    assert response.status_code == 302, response.data
    return response.headers["Location"]


def do_currency(hub: Hub):
    return step(hub, "currency", {"currency": "EUR", "confirm": "y"})


def test_an_empty_business_is_led_through_four_steps_to_the_overview(newcomer, db):
    assert where(newcomer.client.get("/")) == "/getting-started"
    assert where(newcomer.client.get("/getting-started")) == "/getting-started/currency"
    page = newcomer.client.get("/getting-started/currency").data.decode()
    assert 'aria-current="step"' in page and "cannot be changed later" in page
    assert '<option value="JPY">' in page

    assert where(do_currency(newcomer)) == "/getting-started"
    assert settings_of(db)["currency"] == "EUR"
    assert where(newcomer.client.get("/getting-started")) == "/getting-started/company"

    assert where(step(newcomer, "company", COMPANY)) == "/getting-started"
    saved = settings_of(db)
    assert (saved["company_name"], saved["country"], saved["timezone"]) == (
        "Pixel & Press",
        "FR",
        "Europe/Paris",
    )
    assert saved["tax_id"] == "FR12345678901" and saved["getting_started_at"] is not None

    offline = {"choice": "offline", "offline_instructions": "IBAN FR76 0000 0000 0000"}
    assert where(step(newcomer, "payments", offline)) == "/getting-started"
    saved = settings_of(db)
    assert saved["offline_payments_only"] is True
    assert saved["offline_payment_instructions"] == "IBAN FR76 0000 0000 0000"

    assert where(newcomer.client.get("/getting-started")) == "/getting-started/product"
    assert where(step(newcomer, "product", PRODUCT)) == "/getting-started/product?added=1"
    second = {"action": "plan", **PRODUCT, "plan_name": "Pro, yearly", "interval_unit": "year"}
    del second["name"]
    assert where(step(newcomer, "product", second)) == "/getting-started/product?added=1"
    assert products_of(db) == [("Managed hosting", ["Basic, monthly", "Pro, yearly"])]
    page = newcomer.client.get("/getting-started/product").data.decode()
    assert "Pro, yearly" in page and "every year" in page and "Finish" in page
    with db.session() as s:
        assert {p.amount for p in s.scalars(select(Plan))} == {2900}

    assert where(step(newcomer, "product", {"action": "finish"})) == "/"
    assert settings_of(db)["getting_started_done_at"] is not None
    assert newcomer.client.get("/").status_code == 200
    # Over: the flow sends back to the Overview.
    assert where(newcomer.client.get("/getting-started")) == "/"


def test_a_partial_run_resumes_at_the_first_unfinished_step(newcomer, client, db):
    do_currency(newcomer)
    step(newcomer, "company", COMPANY)
    # The business is set up now, but the flow is under way: a new session
    # (the process died, the window closed) comes back to payments.
    newcomer.post("/logout", page="/getting-started/payments")
    fresh = Hub(client)
    fresh.login()
    assert where(client.get("/")) == "/getting-started"
    assert where(client.get("/getting-started")) == "/getting-started/payments"
    # Later steps wait for the earlier ones; earlier ones can be read again.
    assert where(client.get("/getting-started/product")) == "/getting-started"
    page = client.get("/getting-started/currency").data.decode()
    assert 'id="currency-chosen"' in page and "EUR" in page
    assert 'value="Pixel &amp; Press"' in client.get("/getting-started/company").data.decode()
    # A second currency is not possible, even by a crafted post.
    token = csrf_token(client.get("/getting-started/company").data)
    client.post(
        "/getting-started/currency", data={"csrf_token": token, "currency": "USD", "confirm": "y"}
    )
    assert settings_of(db)["currency"] == "EUR"


def test_the_product_step_can_be_skipped(newcomer, db):
    do_currency(newcomer)
    step(newcomer, "company", COMPANY)
    step(newcomer, "payments", {"choice": "offline", "offline_instructions": ""})
    page = newcomer.client.get("/getting-started/product").data.decode()
    assert "Skip this step" in page
    assert where(step(newcomer, "product", {"action": "finish"})) == "/"
    assert products_of(db) == []
    assert newcomer.client.get("/").status_code == 200


@responses.activate
def test_stripe_keys_are_verified_with_stripe_before_they_are_kept(newcomer, db):
    do_currency(newcomer)
    step(newcomer, "company", COMPANY)
    keys = {
        "choice": "stripe",
        "secret_key": SECRET_KEY,
        "publishable_key": PUBLISHABLE_KEY,
        "webhook_secret": WEBHOOK_SECRET,
    }
    responses.get(
        f"{STRIPE}/account",
        status=401,
        json={"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}},
    )
    refused = step(newcomer, "payments", keys)
    assert refused.status_code == 422
    assert 'id="secret_key-error"' in refused.data.decode()
    assert settings_of(db)["stripe_secret_key_encrypted"] is None

    responses.replace(
        responses.GET,
        f"{STRIPE}/account",
        json={
            "id": "acct_1",
            "object": "account",
            "email": "owner@pixel.example",
            "business_profile": {"name": "Pixel & Co"},
        },
    )
    assert where(step(newcomer, "payments", keys)) == "/getting-started/payments?connected=1"
    page = newcomer.client.get("/getting-started/payments").data.decode()
    assert 'id="stripe-connected"' in page and "Pixel &amp; Co" in page and "Test mode" in page
    assert SECRET_KEY not in page and WEBHOOK_SECRET not in page
    assert where(newcomer.client.get("/getting-started")) == "/getting-started/product"


SNAPSHOT_IGNORES = {"updated_at"}


@pytest.mark.parametrize(
    ("name", "data", "field"),
    [
        ("currency", {"currency": "EUR"}, "confirm"),
        ("currency", {"currency": "XYZ", "confirm": "y"}, "currency"),
        ("company", COMPANY | {"company_name": " "}, "company_name"),
        ("company", COMPANY | {"email": "not an email"}, "email"),
        ("company", COMPANY | {"country": "XX"}, "country"),
        ("company", COMPANY | {"timezone": "Mars/Olympus"}, "timezone"),
        ("company", COMPANY | {"postal_code": "9" * 21}, "postal_code"),
        (
            "payments",
            {"choice": "offline", "offline_instructions": "x" * 2001},
            "offline_instructions",
        ),
        (
            "payments",
            {
                "choice": "stripe",
                "secret_key": "pk_test_1",
                "publishable_key": "pk_test_1",
                "webhook_secret": "whsec_1",
            },
            "secret_key",
        ),
        (
            "payments",
            {
                "choice": "stripe",
                "secret_key": SECRET_KEY,
                "publishable_key": PUBLISHABLE_KEY,
                "webhook_secret": "x",
            },
            "webhook_secret",
        ),
        ("payments", {}, None),
        ("product", PRODUCT | {"name": ""}, "name"),
        ("product", PRODUCT | {"plan_name": ""}, "plan_name"),
        ("product", PRODUCT | {"amount": "twelve"}, "amount"),
        ("product", PRODUCT | {"interval_count": "-1"}, "interval_count"),
    ],
)
def test_bad_input_comes_back_next_to_its_field_and_changes_nothing(
    newcomer, db, name, data, field
):
    order = business.GETTING_STARTED_STEPS
    if order.index(name) > 0:
        do_currency(newcomer)
    if order.index(name) > 1:
        step(newcomer, "company", COMPANY)
    if order.index(name) > 2:
        step(newcomer, "payments", {"choice": "offline"})
    before = settings_of(db)
    response = step(newcomer, name, data)
    assert response.status_code == 422, response.data
    page = response.data.decode()
    assert 'role="alert"' in page
    if field:
        assert f'id="{field}-error"' in page
        assert f'aria-describedby="{field}-error' in page
    after = settings_of(db)
    assert {k: v for k, v in after.items() if k not in SNAPSHOT_IGNORES} == {
        k: v for k, v in before.items() if k not in SNAPSHOT_IGNORES
    }
    assert products_of(db) == []


def test_a_step_without_its_token_is_refused(newcomer, db):
    response = newcomer.client.post(
        "/getting-started/currency", data={"currency": "EUR", "confirm": "y"}
    )
    assert response.status_code == 400
    assert settings_of(db)["currency"] is None


def test_the_demo_and_a_business_set_up_without_the_flow_never_see_it(app, client, db):
    with db.session() as s:
        demo.load(s, app.extensions["bridge.secret_box"])
    add_staff(db, email="second@agency.example")
    hub = Hub(client)
    hub.login(email="second@agency.example")
    assert client.get("/").status_code == 200
    assert where(client.get("/getting-started")) == "/"


def test_staff_who_may_only_read_are_not_sent_there(newcomer, monkeypatch):
    monkeypatch.setattr("bridge.auth.logins.read_only", lambda user: True)
    assert newcomer.client.get("/").status_code == 200
    assert newcomer.client.get("/getting-started/currency").status_code == 403
