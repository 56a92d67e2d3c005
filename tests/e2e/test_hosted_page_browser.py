"""The hosted invoice page in a real browser (Debian's Chromium driven by
Playwright), paying through localstripe's stand-in for Stripe.js: the app
runs in a real WSGI server on loopback over a migrated SQLite database, its
Stripe settings pointing at localstripe.

Skipped, with the reason, when Chromium or Playwright is missing, except in
CI (``CI=true``), where a missing browser fails the run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import requests

from bridge.app import create_app
from bridge.auth.accounts import create_token
from bridge.billing import business, clients
from bridge.models import Client, Invoice, InvoiceStatus, PaymentState, PaymentStatus, User
from bridge.models.users import UserKind
from tests.browser import chromium
from tests.e2e.conftest import LiveServer, make_invoice, make_shop

pytestmark = pytest.mark.slow  # a browser and localstripe

SECRET_KEY, PUBLISHABLE_KEY, WEBHOOK_SECRET = "sk_test_e2e", "pk_test_e2e", "whsec_e2e"
VISA = "4242424242424242"
THREE_D_SECURE = "4000002760003184"
DECLINED = "4000000000000341"
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def browser():
    yield from chromium("localstripe")


@pytest.fixture(scope="module")
def localstripe(browser, tmp_path_factory):
    from tests import localstripe_server

    server = localstripe_server.start(tmp_path_factory.mktemp("localstripe") / "log")
    yield server
    server.stop()


class Site:
    """The running bridge: its URL, database, shop and a staff API token."""

    def __init__(self, app, url: str):
        self.app = app
        self.url = url
        self.db = app.extensions["bridge.db"]
        self.shop = make_shop(self.db)
        box = app.extensions["bridge.secret_box"]
        with self.db.session() as s:
            # The keys as the settings store them (keys.save_stripe_settings
            # also verifies them against the account,
            # which localstripe does not serve).
            settings = business.get_settings(s)
            settings.stripe_secret_key_encrypted = box.encrypt(SECRET_KEY)
            settings.stripe_publishable_key = PUBLISHABLE_KEY
            settings.stripe_webhook_secret_encrypted = box.encrypt(WEBHOOK_SECRET)
            staff = User(
                kind=UserKind.STAFF,
                email="staff@pixelpine.example",
                email_key="staff@pixelpine.example",
                password_hash="-",
                created_at=s.get(Client, self.shop.client_id).created_at,
            )
            s.add(staff)
            _, self.token = create_token(s, staff, name="e2e")

        with self.db.session() as s:
            self.other_client_id = clients.create_client(
                s, name="Bob Other", email="bob@other.example"
            ).id

    def invoice(self, **kwargs):
        return make_invoice(self.db, self.shop, "open", **kwargs)

    def api_invoice(self, invoice_id: int) -> dict:
        response = requests.get(
            f"{self.url}/api/v1/invoices/{invoice_id}",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def row(self, invoice_id: int) -> Invoice:
        with self.db.session() as s:
            invoice = s.get(Invoice, invoice_id)
            payments = [(p.status, p.amount, p.failure_code) for p in invoice.payments]
            s.expunge(invoice)
            invoice.payment_summary = payments
            return invoice


def card_app(localstripe, sqlite_template, folder: Path, **config):
    """The app over a copy of the migrated SQLite file in ``folder``, its
    Stripe (API and Stripe.js) at localstripe; ``config`` adds settings."""
    shutil.copy(sqlite_template, folder / "bridge.sqlite3")
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{folder / 'bridge.sqlite3'}",
            "SECRET_KEY": "e2e-secret-key",
            "STRIPE_JS_URL": localstripe.js_url,
            "STRIPE_API_BASE": localstripe.url,
            **config,
        }
    )
    app.instance_path = str(folder / "instance")
    return app


@pytest.fixture(scope="module")
def site(localstripe, sqlite_template, tmp_path_factory):
    app = card_app(localstripe, sqlite_template, tmp_path_factory.mktemp("bridge"))
    with LiveServer(app) as server:
        yield Site(app, server.url)
    app.extensions["bridge.db"].dispose()


@pytest.fixture
def page(browser, site):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    messages = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
    page.console_messages = messages
    yield page
    context.close()


def open_invoice(page, site, invoice):
    page.goto(site.url + invoice.path)
    # localstripe's fake card element: plain inputs named by placeholder.
    page.locator("#card-element input[placeholder=number]").wait_for(timeout=WAIT_MS)


def type_card(page, number: str) -> None:
    card = page.locator("#card-element")
    card.locator("input[placeholder=number]").fill(number)
    card.locator("input[placeholder=exp_month]").fill("12")
    card.locator("input[placeholder=exp_year]").fill("34")
    card.locator("input[placeholder=cvc]").fill("123")
    card.locator("input[placeholder=postal_code]").fill("69002")


def complete_3d_secure(page) -> None:
    page.get_by_role("button", name="Complete authentication").click(timeout=WAIT_MS)


def expect_paid(page, site, invoice) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#invoice-status")).to_have_text("Paid", timeout=WAIT_MS)
    expect(page.locator("#paid-banner")).to_be_visible()
    expect(page.locator("#amount-due")).to_have_text("€0.00")
    assert page.locator("#pay-form").count() == 0
    row = site.row(invoice.id)
    assert row.status == InvoiceStatus.PAID and row.amount_paid == row.total == 155760
    assert (PaymentStatus.SUCCEEDED, 155760, None) in row.payment_summary
    answer = site.api_invoice(invoice.id)
    assert (answer["status"], answer["amount_due"], answer["amount_paid"]) == ("paid", 0, 155760)


def test_pay_with_a_card(page, site, tmp_path):
    invoice = site.invoice()
    open_invoice(page, site, invoice)
    assert page.locator("#invoice-number").inner_text() == invoice.number
    type_card(page, VISA)
    page.locator("#pay-button").click()
    expect_paid(page, site, invoice)
    with site.db.session() as s:
        client = s.get(Client, site.shop.client_id)
        assert client.card_last4 == "4242" and client.default_payment_method_id
    screenshot = tmp_path / "paid.png"
    page.screenshot(path=str(screenshot), full_page=True)
    if os.environ.get("BRIDGE_E2E_SCREENSHOTS"):
        folder = Path(os.environ["BRIDGE_E2E_SCREENSHOTS"])
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, folder / "hosted-invoice-paid.png")
    errors = [m for m in page.console_messages if m.startswith(("error", "pageerror"))]
    assert not errors, errors


def test_pay_with_a_card_that_needs_3d_secure(page, site):
    invoice = site.invoice()
    open_invoice(page, site, invoice)
    type_card(page, THREE_D_SECURE)
    page.locator("#pay-button").click()
    complete_3d_secure(page)  # saving the card
    complete_3d_secure(page)  # the payment
    expect_paid(page, site, invoice)


def test_declined_card_shows_why_and_leaves_the_invoice_open(page, site):
    from playwright.sync_api import expect

    invoice = site.invoice()
    open_invoice(page, site, invoice)
    type_card(page, DECLINED)
    page.locator("#pay-button").click()
    expect(page.locator("#pay-message")).to_have_text("Your card was declined.", timeout=WAIT_MS)
    expect(page.locator("#pay-button")).to_be_enabled()
    expect(page.locator("#invoice-status")).to_have_text("Payment due")
    row = site.row(invoice.id)
    assert (row.status, row.amount_paid, row.payment_state) == (
        InvoiceStatus.OPEN,
        0,
        PaymentState.FAILED,
    )
    assert row.payment_summary == [(PaymentStatus.FAILED, 155760, "card_declined")]
    assert site.api_invoice(invoice.id)["status"] == "open"
    # Another card on the same page pays it.
    type_card(page, VISA)
    page.locator("#pay-button").click()
    expect_paid(page, site, invoice)


def test_renewal_waiting_for_3d_secure_is_completed_on_the_page(page, site, localstripe):
    from bridge.payments.stripe import cards, charges, keys

    invoice = site.invoice()
    box = site.app.extensions["bridge.secret_box"]
    with site.db.session() as s:
        # The card saved earlier, as Stripe.js would have saved it...
        gateway = keys.gateway_for(s, box, localstripe.url)
        client = s.get(Client, site.shop.client_id)
        setup = cards.start_card_setup(s, gateway, client)
        confirm = f"{localstripe.url}/v1/setup_intents/{setup['id']}/confirm"
        card = {"number": THREE_D_SECURE, "exp_month": "12", "exp_year": "2034", "cvc": "123"}
        for body in (
            {"payment_method_data": {"type": "card", "card": card}},
            {},  # authenticated
        ):
            key = {"key": PUBLISHABLE_KEY, "client_secret": setup["client_secret"]}
            requests.post(confirm, json={**key, **body}, timeout=10).raise_for_status()
        cards.complete_card_setup(s, gateway, client, setup["id"])
        # ...then the renewal charge, off-session: the bank wants the cardholder.
        result = charges.charge_invoice(s, gateway, s.get(Invoice, invoice.id))
        assert result.status == "requires_action"
    assert site.row(invoice.id).payment_state == PaymentState.ACTION_REQUIRED

    page.goto(site.url + invoice.path)
    page.locator("#authenticate-button").click(timeout=WAIT_MS)
    complete_3d_secure(page)
    expect_paid(page, site, invoice)


def test_a_token_never_reaches_another_clients_card_setup(site, localstripe):
    from bridge.payments.stripe import cards, keys

    invoice = site.invoice()
    with site.db.session() as s:
        gateway = keys.gateway_for(s, site.app.extensions["bridge.secret_box"], localstripe.url)
        setup = cards.start_card_setup(s, gateway, s.get(Client, site.other_client_id))
    response = requests.post(
        f"{site.url}{invoice.path}/pay", json={"setup_intent_id": setup["id"]}, timeout=10
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    row = site.row(invoice.id)
    assert (row.status, row.payment_summary) == (InvoiceStatus.OPEN, [])
