"""The portal's Payment method page: the saved card (or none), expired and
expiring cards flagged, offline businesses showing no card form, renewals
waiting for 3-D Secure linked to their hosted page; *Replace card* against
localstripe: a SetupIntent of the client's customer, saved once Stripe says
it succeeded, audited as the person, and charged by the next renewal; a
SetupIntent of another customer refused, a POST without the CSRF header
refused, the SetupIntent endpoint rate-limited per client.

What Stripe.js does in the browser (``confirmCardSetup``) is done with
localstripe's own endpoint, as in ``tests/payments/test_localstripe.py``."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest
import time_machine
from sqlalchemy import select

from bridge.app import create_app
from bridge.billing import renewals, self_service
from bridge.models import AuditEntry, Client, Invoice, PaymentState, Subscription
from bridge.payments.stripe import charges, keys
from tests.e2e.conftest import make_invoice
from tests.payments.conftest import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET, store_keys
from tests.payments.test_localstripe import Fake
from tests.portal.conftest import PERSON_EMAIL

PAGE = "/portal/payment-method"
SETUP = "/portal/payment-method/setup-intent"
MASTERCARD = "5555555555554444"


@pytest.fixture(scope="module")
def localstripe_server(tmp_path_factory):
    from tests.localstripe_server import start

    server = start(log_path=tmp_path_factory.mktemp("localstripe") / "server.log")
    yield server
    server.stop()


@pytest.fixture
def localstripe(localstripe_server):
    localstripe_server.reset()
    return localstripe_server


@pytest.fixture
def app(database_url, tmp_path, request):
    """The suite's app, pointed at localstripe when the test uses it."""
    config = {"DATABASE_URL": database_url, "SECRET_KEY": "test-secret-key", "TESTING": True}
    if "localstripe" in request.fixturenames:
        server = request.getfixturevalue("localstripe")
        config.update(STRIPE_API_BASE=server.url, STRIPE_JS_URL=server.js_url)
    app = create_app(config)
    app.instance_path = str(tmp_path / "instance")
    yield app
    app.extensions["bridge.db"].dispose()


@pytest.fixture
def box(app):
    return app.extensions["bridge.secret_box"]


@pytest.fixture
def gateway(db, box, shop, localstripe):
    """Stripe keys saved as the Hub saves them, and their gateway."""
    with db.session() as s:
        keys.save_stripe_settings(
            s, box, SECRET_KEY, PUBLISHABLE_KEY, WEBHOOK_SECRET, localstripe.url
        )
        return keys.gateway_for(s, box, localstripe.url, max_network_retries=0)


@pytest.fixture
def fake(localstripe):
    return Fake(localstripe)


def text(response) -> str:
    return re.sub(r"\s+", " ", response.data.decode())


def give_card(db, client_id: int, *, month: int = 12, year: int = 2030, **more) -> None:
    with db.session() as s:
        client = s.get(Client, client_id)
        client.stripe_customer_id = more.get("customer", "cus_saved")
        client.default_payment_method_id = more.get("method", "pm_saved")
        client.card_brand, client.card_last4 = more.get("brand", "visa"), "4242"
        client.card_exp_month, client.card_exp_year = month, year


def csrf_header(portal) -> dict:
    """The token the page gives its script, in the header it sends."""
    page = portal.get(PAGE).data.decode()
    token = re.search(r'data-csrf-token="([^"]+)"', page).group(1)
    return {"X-CSRFToken": token}


def post_json(portal, path: str, body: dict, headers: dict | None = None):
    return portal.client.post(
        path, data=json.dumps(body), content_type="application/json", headers=headers or {}
    )


def client_row(db, client_id: int) -> Client:
    with db.session() as s:
        row = s.get(Client, client_id)
        s.expunge(row)
        return row


# The page ---------------------------------------------------------------------------


def test_the_saved_card(db, shop, portal, box):
    give_card(db, shop.client_id)
    store_keys(db, box)
    body = text(portal.get(PAGE))
    assert "Visa" in body and "ending in 4242" in body and "expires 12/2030" in body
    assert 'id="card-expired"' not in body and 'id="card-expires-soon"' not in body
    assert 'id="replace-card"' in body and "Replace card" in body
    assert 'id="no-card"' not in body


def test_no_card_saved(db, portal, box):
    store_keys(db, box)
    body = text(portal.get(PAGE))
    assert 'id="no-card"' in body and "No card saved." in body
    assert "Add a card" in body


def months_from_now(months: int) -> tuple[int, int]:
    """(month, year) ``months`` after this one."""
    today = date.today()
    index = today.year * 12 + today.month - 1 + months
    return index % 12 + 1, index // 12


def test_an_expired_card_and_one_that_expires_soon(db, shop, portal):
    month, year = months_from_now(-1)
    give_card(db, shop.client_id, month=month, year=year)
    body = text(portal.get(PAGE))
    assert 'id="card-expired"' in body and "cannot be charged to an expired card" in body
    month, year = months_from_now(1)
    give_card(db, shop.client_id, month=month, year=year)
    body = text(portal.get(PAGE))
    assert 'id="card-expires-soon"' in body and 'id="card-expired"' not in body
    month, year = months_from_now(2)
    give_card(db, shop.client_id, month=month, year=year)
    assert "card-expires-soon" not in text(portal.get(PAGE))


def test_card_expiry_is_the_end_of_its_month():
    card = Client(card_exp_month=3, card_exp_year=2027)
    assert self_service.card_expiry(card, date(2027, 3, 31)) == "expires_soon"
    assert self_service.card_expiry(card, date(2027, 4, 1)) == "expired"
    assert self_service.card_expiry(card, date(2027, 2, 1)) == "expires_soon"
    assert self_service.card_expiry(card, date(2027, 1, 31)) is None
    assert self_service.card_expiry(Client(), date(2027, 1, 31)) is None


def test_offline_payments_only_show_no_card_form(db, shop, portal):
    give_card(db, shop.client_id)
    page = portal.get(PAGE)
    body = text(page)
    assert 'id="cards-offline"' in body and "does not take card payments online" in body
    assert 'id="replace-card"' not in body and "<script" not in body
    assert "js.stripe.com" not in page.headers["Content-Security-Policy"]
    assert post_json(portal, SETUP, {}, csrf_header_of_page(portal)).status_code == 409


def csrf_header_of_page(portal) -> dict:
    """The logout form's token (the page has no card form to read it from)."""
    page = portal.get(PAGE).data.decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    return {"X-CSRFToken": token}


def test_the_card_form_loads_stripe_js_allowed_by_the_csp(db, portal, box):
    store_keys(db, box)
    page = portal.get(PAGE)
    assert "https://js.stripe.com" in page.headers["Content-Security-Policy"]
    assert '<script src="https://js.stripe.com/v3/"></script>' in page.data.decode()
    assert PUBLISHABLE_KEY in page.data.decode()


def test_a_role_that_may_not_pay_sees_the_card_but_cannot_replace_it(db, shop, portal, box):
    from bridge.billing import roles

    give_card(db, shop.client_id)
    store_keys(db, box)
    with db.session() as s:
        role = roles.create_role(
            s, name="Look only", permissions={"billing": {"level": "view", "actions": []}}
        )
        s.get(Client, shop.client_id).role_id = role.id
    body = text(portal.get(PAGE))
    assert "ending in 4242" in body and 'id="replace-card"' not in body
    assert 'id="card-role"' in body
    answer = post_json(portal, SETUP, {}, csrf_header_of_page(portal))
    assert answer.status_code == 403 and answer.json["error"]["code"] == "forbidden"


def test_a_renewal_waiting_for_3d_secure_links_to_its_hosted_page(db, shop, portal):
    invoice = make_invoice(db, shop, "open")
    with db.session() as s:
        s.get(Invoice, invoice.id).payment_state = PaymentState.ACTION_REQUIRED
    body = text(portal.get(PAGE))
    assert 'id="awaiting"' in body
    assert f'href="/i/{invoice.token}"' in body and "Confirm the payment" in body


def test_another_clients_waiting_renewal_is_not_shown(db, shop, other_portal):
    invoice = make_invoice(db, shop, "open")
    with db.session() as s:
        s.get(Invoice, invoice.id).payment_state = PaymentState.ACTION_REQUIRED
    body = text(other_portal.get(PAGE))
    assert invoice.token not in body and 'id="awaiting"' not in body


# Replacing the card against localstripe -------------------------------------------------


def replace_card(portal, fake, payment_method: str) -> tuple[str, object]:
    """The page's script: a SetupIntent, Stripe.js confirms it, then save."""
    headers = csrf_header(portal)
    answer = post_json(portal, SETUP, {}, headers)
    assert answer.status_code == 200, answer.data
    secret = answer.json["client_secret"]
    intent_id = secret.split("_secret_")[0]
    fake.confirm_card_setup(intent_id, payment_method)
    return intent_id, post_json(portal, PAGE, {"setup_intent_id": intent_id}, headers)


def test_replace_the_card_and_the_next_renewal_charges_it(db, shop, portal, person, gateway, fake):
    subscription_invoice = make_invoice(db, shop, "paid")
    new_card = fake.card(MASTERCARD)
    _intent, saved = replace_card(portal, fake, new_card)
    assert saved.status_code == 200 and saved.json == {"status": "saved"}
    client = client_row(db, shop.client_id)
    assert client.stripe_customer_id.startswith("cus_")
    # (localstripe calls every card a Visa.)
    assert (client.default_payment_method_id, client.card_last4) == (new_card, "4444")
    body = text(portal.get(f"{PAGE}?saved=1"))
    assert "ending in 4444" in body and 'id="card-saved"' in body
    with db.session() as s:
        (entry,) = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "client.card_replaced")
        ).all()
        assert (entry.actor_kind, entry.actor_id, entry.actor_label) == (
            "client",
            person,
            PERSON_EMAIL,
        )

    # The next renewal is charged off-session to the new card.
    with db.session() as s:
        invoice = s.get(Invoice, subscription_invoice.id)
        subscription_id = next(
            line.subscription_id for line in invoice.lines if line.subscription_id
        )
        period_end = s.get(Subscription, subscription_id).current_period_end
    with time_machine.travel(period_end + timedelta(minutes=1), tick=False):
        with db.session() as s:
            renewal_id = renewals.renew(s, s.get(Subscription, subscription_id)).id
        with db.session() as s:
            result = charges.charge_invoice(s, gateway, s.get(Invoice, renewal_id))
    assert result.status == "succeeded"
    (intent,) = fake.payment_intents(client.stripe_customer_id)
    assert intent["payment_method"] == new_card and intent["amount"] == 11760


def test_saving_the_same_setup_intent_twice_is_harmless(db, shop, portal, gateway, fake):
    intent_id, saved = replace_card(portal, fake, "pm_card_visa")
    assert saved.status_code == 200
    again = post_json(portal, PAGE, {"setup_intent_id": intent_id}, csrf_header(portal))
    assert again.status_code == 200
    with db.session() as s:
        replaced = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "client.card_replaced")
        ).all()
        assert len(replaced) == 1


def test_a_setup_intent_of_another_customer_is_refused(
    db, shop, second_client, portal, gateway, fake
):
    # Bob's customer and a card confirmed on it, made the way the portal does.
    with db.session() as s:
        from bridge.payments.stripe import cards

        intent = cards.start_card_setup(s, gateway, s.get(Client, second_client))
    fake.confirm_card_setup(intent["id"], "pm_card_visa")
    give_card(db, shop.client_id)
    with db.session() as s:
        s.get(Client, shop.client_id).stripe_customer_id = None
    post_json(portal, SETUP, {}, csrf_header(portal))  # Alice's own customer
    answer = post_json(portal, PAGE, {"setup_intent_id": intent["id"]}, csrf_header(portal))
    assert answer.status_code == 404 and answer.json["error"]["code"] == "not_found"
    client = client_row(db, shop.client_id)
    assert client.default_payment_method_id == "pm_saved"
    bob = client_row(db, second_client)
    assert bob.default_payment_method_id is None


def test_an_unconfirmed_setup_intent_is_refused(db, shop, portal, gateway):
    headers = csrf_header(portal)
    secret = post_json(portal, SETUP, {}, headers).json["client_secret"]
    answer = post_json(portal, PAGE, {"setup_intent_id": secret.split("_secret_")[0]}, headers)
    assert answer.status_code == 409
    assert answer.json["error"]["code"] == "card_setup_incomplete"
    assert client_row(db, shop.client_id).default_payment_method_id is None


def test_without_the_csrf_header_nothing_reaches_stripe(db, shop, portal, gateway, localstripe):
    assert post_json(portal, SETUP, {}).status_code == 400
    answer = post_json(portal, PAGE, {"setup_intent_id": "seti_123"})
    assert answer.status_code == 400
    assert client_row(db, shop.client_id).stripe_customer_id is None


def test_bad_bodies_are_refused_in_the_apis_words(db, portal, gateway):
    headers = csrf_header(portal)
    answer = post_json(portal, PAGE, {"setup_intent_id": "pm_123"}, headers)
    assert answer.status_code == 422 and "setup_intent_id" in answer.json["error"]["fields"]
    form = portal.client.post(SETUP, data={"x": "1"}, headers=headers)
    assert form.status_code == 415


def test_setup_intents_are_rate_limited_per_client(app, db, portal, gateway):
    app.config["PORTAL_CARD_LIMIT_PER_CLIENT"] = "2 per minute"
    headers = csrf_header(portal)
    assert [post_json(portal, SETUP, {}, headers).status_code for _ in range(3)] == [200, 200, 429]
    answer = post_json(portal, SETUP, {}, headers)
    assert answer.json["error"]["code"] == "rate_limited"


def test_a_3d_secure_card_makes_the_next_renewal_wait_and_the_page_links_to_it(
    db, shop, portal, gateway, fake
):
    subscription_invoice = make_invoice(db, shop, "paid")
    three_d_secure = fake.card("4000002760003184")
    _intent, saved = replace_card(portal, fake, three_d_secure)
    assert saved.status_code == 200
    with db.session() as s:
        invoice = s.get(Invoice, subscription_invoice.id)
        subscription_id = next(li.subscription_id for li in invoice.lines if li.subscription_id)
        period_end = s.get(Subscription, subscription_id).current_period_end
    with time_machine.travel(period_end + timedelta(minutes=1), tick=False):
        with db.session() as s:
            renewal = renewals.renew(s, s.get(Subscription, subscription_id))
            renewal_id, token = renewal.id, renewal.hosted_token
        with db.session() as s:
            result = charges.charge_invoice(s, gateway, s.get(Invoice, renewal_id))
    assert result.status == "requires_action"
    body = text(portal.get(PAGE))
    assert 'id="awaiting"' in body and f'id="confirm-{renewal_id}"' in body
    assert f'href="/i/{token}"' in body
