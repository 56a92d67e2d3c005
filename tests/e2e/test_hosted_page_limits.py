"""The hosted page's endpoints that reach Stripe (``setup-intent``, ``pay``)
are limited per invoice token and per client address: forty calls in a
second on one page made forty SetupIntents at Stripe before."""

from __future__ import annotations

import pytest

from bridge.billing import business
from bridge.portal import views

STRIPE_JS = "https://js.stripe.example/v3/"


@pytest.fixture
def stripe_calls(app, db, monkeypatch):
    """Card payments on, with the Stripe calls counted instead of sent."""
    app.config["STRIPE_JS_URL"] = STRIPE_JS
    with db.session() as s:
        business.get_settings(s).stripe_publishable_key = "pk_test_hosted_page"
    monkeypatch.setattr(views, "_gateway", lambda session: object())
    calls: list[str] = []

    def start_card_setup(session, gateway, client):
        calls.append("setup")
        return {"client_secret": f"seti_{len(calls)}_secret_x"}

    def complete_card_setup(session, gateway, client, setup_intent_id):
        calls.append("pay")
        raise views.stripe_gateway.StripeRefused("The card was declined.", code="card_declined")

    monkeypatch.setattr(views.stripe_gateway, "start_card_setup", start_card_setup)
    monkeypatch.setattr(views.stripe_gateway, "complete_card_setup", complete_card_setup)
    return calls


def post(client, token: str, endpoint: str, address: str = "203.0.113.7"):
    body = {"setup_intent_id": "seti_1"} if endpoint == "pay" else {}
    return client.post(f"/i/{token}/{endpoint}", json=body, environ_base={"REMOTE_ADDR": address})


def assert_limited(response) -> None:
    assert response.status_code == 429, response.get_json()
    assert response.get_json()["error"]["code"] == "rate_limited"
    assert response.get_json()["error"]["fields"] == {}
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["Cache-Control"] == "no-store"


def test_forty_calls_on_one_page_reach_stripe_ten_times(client, new_invoice, stripe_calls):
    token = new_invoice("open").token
    statuses = [post(client, token, "setup-intent").status_code for _ in range(40)]
    assert statuses == [200] * 10 + [429] * 30
    assert stripe_calls == ["setup"] * 10
    assert_limited(post(client, token, "setup-intent"))
    # setup-intent and pay share the page's count.
    assert_limited(post(client, token, "pay"))
    assert stripe_calls == ["setup"] * 10
    # Another invoice's page is not held back by this one.
    other = new_invoice("open").token
    assert post(client, other, "setup-intent").status_code == 200


def test_one_address_is_limited_across_pages(app, client, new_invoice, stripe_calls):
    app.config["HOSTED_PAGE_LIMIT_PER_ADDRESS"] = "5 per minute"
    tokens = [new_invoice("open").token for _ in range(6)]
    answers = [post(client, token, "setup-intent") for token in tokens]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert_limited(answers[-1])
    # Another address may still pay that page.
    assert post(client, tokens[-1], "setup-intent", address="198.51.100.2").status_code == 200
    assert len(stripe_calls) == 6


def test_the_page_and_the_other_endpoints_are_not_limited(client, new_invoice, stripe_calls):
    invoice = new_invoice("open")
    for _ in range(10):
        post(client, invoice.token, "setup-intent")
    for _ in range(20):
        assert client.get(f"/i/{invoice.token}").status_code == 200
        response = client.post(f"/i/{invoice.token}/confirm", json={"payment_intent_id": "pi_1"})
        assert response.status_code != 429
