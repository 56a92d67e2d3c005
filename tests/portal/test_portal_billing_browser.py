"""The portal's billing pages in Debian's Chromium: home (with dues, and
empty), invoices and activity at 1200 and 380 px wide pass axe-core with no
serious or critical violation and never scroll sideways. Screenshots go to
``BRIDGE_SCREENSHOTS`` when it is set."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bridge import create_app
from bridge.billing import business, invoices
from tests.e2e.conftest import LiveServer, make_shop
from tests.hub.test_hub_browser import WIDTHS, browser, shots  # noqa: F401
from tests.hub.test_hub_every_screen_browser import axe_violations
from tests.portal.billing import ask_bank_confirmation, invoice_of, make_overdue
from tests.portal.conftest import OTHER_EMAIL, PERSON_EMAIL, PERSON_PASSWORD, add_person
from tests.shop import add_client

pytestmark = pytest.mark.slow


def _fill(db) -> None:
    """Alice owes three invoices (one overdue, one waiting for her bank),
    has paid one (its hosting renews), had one voided and one credited;
    Bob, of another client, has nothing."""
    shop = make_shop(db)
    with db.session() as session:
        business.finish_getting_started(session)
    add_person(db, shop.client_id)
    invoice_of(db, shop, shop.client_id, "paid")
    credited = invoice_of(db, shop, shop.client_id, "paid")
    with db.session() as session:
        invoice = invoices.get_invoice(session, credited.id, lock=True)
        invoices.issue_credit_note(session, invoice, amount=2500, reason="Goodwill")
    invoice_of(db, shop, shop.client_id, "void")
    late = invoice_of(db, shop, shop.client_id)
    make_overdue(db, late.id)
    waiting = invoice_of(db, shop, shop.client_id)
    ask_bank_confirmation(db, waiting.id)
    invoice_of(db, shop, shop.client_id)
    with db.session() as session:
        bob = add_client(session, name="Bob Other", email="bob@other-client.example")
    add_person(db, bob, email=OTHER_EMAIL, name="Bob Other")


@pytest.fixture(scope="module")
def portal_server(sqlite_template, tmp_path_factory):
    folder = tmp_path_factory.mktemp("portal-billing")
    shutil.copy(sqlite_template, folder / "bridge.sqlite3")
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{folder / 'bridge.sqlite3'}",
            "SECRET_KEY": "portal-browser-secret",
            "MAIL_FOLDER": str(folder / "mail"),
        }
    )
    _fill(app.extensions["bridge.db"])
    with LiveServer(app) as server:
        yield server
    app.extensions["bridge.db"].dispose()


def _log_in(browser, server, email: str):  # noqa: F811
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.goto(f"{server.url}/portal/login")
    page.fill("#email", email)
    page.fill("#password", PERSON_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/portal/")
    return page


SCREENS = [
    (PERSON_EMAIL, "/portal/", "home"),
    (PERSON_EMAIL, "/portal/invoices", "invoices"),
    (PERSON_EMAIL, "/portal/activity", "activity"),
    (OTHER_EMAIL, "/portal/", "home-empty"),
    (OTHER_EMAIL, "/portal/invoices", "invoices-empty"),
]


def test_the_billing_pages_pass_axe_and_fit_a_phone(browser, portal_server, shots: Path):  # noqa: F811
    pages = {}
    problems = {}
    for email, path, name in SCREENS:
        if email not in pages:
            pages[email] = _log_in(browser, portal_server, email)
        page = pages[email]
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(portal_server.url + path)
            page.screenshot(path=str(shots / f"portal-{name}-{width}.png"), full_page=True)
            wide = page.evaluate(
                "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"
            )
            violations = axe_violations(page)
            if wide or violations:
                problems[f"{name}@{width}"] = {"scrolls sideways": wide, "axe": violations}
    # In French (longer words), through the footer's language switch.
    page = pages[PERSON_EMAIL]
    page.goto(portal_server.url + "/portal/")
    page.select_option("#language", "fr")
    page.click(".language-switch button")
    page.wait_for_load_state()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(portal_server.url + "/portal/")
        assert page.locator("h1").inner_text() == "Bonjour Alice Martin"
        page.screenshot(path=str(shots / f"portal-home-fr-{width}.png"), full_page=True)
        if page.evaluate(
            "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"
        ):
            problems[f"home-fr@{width}"] = {"scrolls sideways": True}
    assert problems == {}
