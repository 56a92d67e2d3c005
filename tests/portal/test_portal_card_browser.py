"""Replacing the card in the portal in a real browser (Debian's Chromium
driven by Playwright) through localstripe's stand-in for Stripe.js: the
client's person logs in, opens *Payment method*, replaces the card with
4242 4242 4242 4242 and sees it saved; the Subscriptions page cancels at the
period end when the agency allows it. axe-core finds no serious or critical
violation on either page, and at 380 px nothing scrolls sideways.

Screenshots go to ``BRIDGE_E2E_SCREENSHOTS`` when it is set."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bridge.app import create_app
from bridge.billing import business
from bridge.models import AuditEntry, Client, Subscription
from tests.browser import chromium
from tests.e2e.conftest import LiveServer, make_invoice, make_shop
from tests.e2e.test_hosted_page_browser import type_card
from tests.hub.test_hub_every_screen_browser import axe_violations
from tests.portal.conftest import PERSON_EMAIL, PERSON_PASSWORD, add_person

pytestmark = pytest.mark.slow  # a browser and localstripe

SECRET_KEY, PUBLISHABLE_KEY, WEBHOOK_SECRET = "sk_test_portal", "pk_test_portal", "whsec_portal"
VISA = "4242424242424242"
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


class Agency:
    """The running bridge with Stripe keys, a paid subscription and a
    client person who can log in."""

    def __init__(self, app, url: str):
        self.app = app
        self.url = url
        self.db = app.extensions["bridge.db"]
        self.shop = make_shop(self.db)
        box = app.extensions["bridge.secret_box"]
        with self.db.session() as s:
            business.finish_getting_started(s)
            settings = business.get_settings(s)
            settings.stripe_secret_key_encrypted = box.encrypt(SECRET_KEY)
            settings.stripe_publishable_key = PUBLISHABLE_KEY
            settings.stripe_webhook_secret_encrypted = box.encrypt(WEBHOOK_SECRET)
            settings.portal_client_can_cancel = True
        add_person(self.db, self.shop.client_id)
        make_invoice(self.db, self.shop, "paid")

    def client(self) -> Client:
        with self.db.session() as s:
            client = s.get(Client, self.shop.client_id)
            s.expunge(client)
            return client


@pytest.fixture(scope="module")
def agency(localstripe, sqlite_template, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bridge")
    shutil.copy(sqlite_template, folder / "bridge.sqlite3")
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{folder / 'bridge.sqlite3'}",
            "SECRET_KEY": "portal-browser-secret-key",
            "STRIPE_JS_URL": localstripe.js_url,
            "STRIPE_API_BASE": localstripe.url,
        }
    )
    app.instance_path = str(folder / "instance")
    with LiveServer(app) as server:
        yield Agency(app, server.url)
    app.extensions["bridge.db"].dispose()


@pytest.fixture
def page(browser, agency):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    messages = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
    page.console_messages = messages
    page.goto(f"{agency.url}/portal/login")
    page.fill("#email", PERSON_EMAIL)
    page.fill("#password", PERSON_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{agency.url}/portal/")
    yield page
    context.close()


def keep(page, name: str) -> None:
    """A full-page screenshot at 1200 px and at 380 px, when asked for."""
    folder = os.environ.get("BRIDGE_E2E_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for width in (1200, 380):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(Path(folder) / f"portal-{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1200, "height": 900})


def fits_a_phone(page) -> bool:
    page.set_viewport_size({"width": 380, "height": 800})
    fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size({"width": 1200, "height": 900})
    return fits


def test_replace_the_card_with_stripe_js(page, agency):
    from playwright.sync_api import expect

    page.get_by_role("link", name="Payment method").click()
    page.wait_for_url(f"{agency.url}/portal/payment-method")
    assert axe_violations(page) == []
    page.locator("#replace-card-button").click()
    page.locator("#card-element input[placeholder=number]").wait_for(timeout=WAIT_MS)
    assert fits_a_phone(page)
    keep(page, "payment-method-form")
    type_card(page, VISA)
    page.locator("#save-card-button").click()
    page.wait_for_url(f"{agency.url}/portal/payment-method?saved=1", timeout=WAIT_MS)
    expect(page.locator("#card-saved")).to_be_visible()
    expect(page.locator("#saved-card")).to_contain_text("ending in 4242")
    client = agency.client()
    assert client.card_last4 == "4242" and client.default_payment_method_id.startswith("pm_")
    with agency.db.session() as s:
        assert s.query(AuditEntry).filter_by(action="client.card_replaced").count() == 1
    keep(page, "payment-method-saved")
    errors = [m for m in page.console_messages if m.startswith(("error", "pageerror"))]
    assert not errors, errors


def test_cancel_at_period_end_in_the_browser(page, agency):
    from playwright.sync_api import expect

    page.get_by_role("link", name="Subscriptions").click()
    with agency.db.session() as s:
        subscription_id = s.query(Subscription.id).scalar()
    assert axe_violations(page) == []
    assert fits_a_phone(page)
    page.locator(f"#cancel-{subscription_id}").click()
    expect(page.locator("#cancel-terms")).to_contain_text("nothing more is billed")
    assert axe_violations(page) == []
    page.locator("#confirm-cancel").click()
    expect(page.locator("#done")).to_be_visible()
    expect(page.locator(f"#resume-{subscription_id}")).to_be_visible()
    page.locator(f"#resume-{subscription_id}").click()
    expect(page.locator(f"#cancel-{subscription_id}")).to_be_visible()
