"""Every screen of the client portal, found by following the portal's own
links from its home (so a screen added later is covered the day it lands),
in Debian's Chromium through Playwright, as a client's person with the
*Edit all & access billing* role whose client has invoices, a subscription
on a site and a saved card: pressing Tab from the top of the page focuses
every visible link, button and field in turn; axe-core finds no serious or
critical violation; at 380 px nothing scrolls sideways. The same for the
pages around them: login, password reset (asking and choosing), and the
error pages (403, 404, an expired form). Screenshots of each screen at
both widths go to ``BRIDGE_SCREENSHOTS`` when set."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

from flask import url_for  # noqa: E402

from bridge.auth import accounts  # noqa: E402
from bridge.billing import business, clients, roles  # noqa: E402
from bridge.models import Client, User  # noqa: E402
from tests.e2e.conftest import LiveServer, make_invoice, make_shop  # noqa: E402
from tests.e2e.test_hosted_page_browser import (  # noqa: E402, F401  (fixtures)
    PUBLISHABLE_KEY,
    SECRET_KEY,
    browser,
    card_app,
    localstripe,
)
from tests.hub.test_hub_browser import shots  # noqa: E402, F401
from tests.hub.test_hub_every_screen_browser import (  # noqa: E402
    axe_violations,
    crawl,
    missed_by_tab,
    screen_of,
)
from tests.portal.conftest import PERSON_EMAIL, PERSON_PASSWORD, add_person, set_role  # noqa: E402

MAX_SCREENS = 30
# Only the portal's own screens: not the hosted invoice page, PDFs, logout.
NOT_SCREENS = re.compile(r"(\.pdf|/pdf\b|/static/|/logout|/logo\b|\?.*page=)")
LONG_SITE = "https://boutique.maximilian-von-hohenzollern-sigmaringen-webdesign.example"
NO_BILLING_EMAIL = "sam@martin-bakery.example"
NOWHERE = "/portal/error-404"
# Opens every closed <details>; says whether there was one.
OPEN_DETAILS = """() => {
  const closed = [...document.querySelectorAll('details:not([open])')];
  closed.forEach(d => { d.open = true; });
  return closed.length > 0;
}"""


@pytest.fixture(scope="module")
def agency(browser, localstripe, sqlite_template, tmp_path_factory):  # noqa: F811
    """The agency (cards through localstripe, clients may cancel) and its
    client Alice Martin (Martin Bakery): a site with a long address, a paid
    invoice whose hosting plan made a subscription on that site, an unpaid
    invoice, a void one, and a saved card; Alice has the *Edit all* role.
    Sam Sites, of another client, sees sites only."""
    folder = tmp_path_factory.mktemp("portal-screens")
    app = card_app(localstripe, sqlite_template, folder, MAIL_FOLDER=str(folder / "mail"))
    db = app.extensions["bridge.db"]
    box = app.extensions["bridge.secret_box"]
    shop = make_shop(db)
    with db.session() as s:
        business.finish_getting_started(s)
        business.update_settings(s, {"portal_client_can_cancel": True})
        settings = business.get_settings(s)
        settings.stripe_secret_key_encrypted = box.encrypt(SECRET_KEY)
        settings.stripe_publishable_key = PUBLISHABLE_KEY
        client = s.get(Client, shop.client_id)
        site, _secret = clients.create_site(
            s, box, client, name="Martin Bakery shop", url=LONG_SITE
        )
        site_id = site.id
        client.stripe_customer_id = "cus_portal_screens"
        client.default_payment_method_id = "pm_portal_screens"
        client.card_brand, client.card_last4 = "visa", "4242"
        client.card_exp_month, client.card_exp_year = 12, 2034
    make_invoice(db, shop, "paid", site_id=site_id)
    make_invoice(db, shop, "open")
    make_invoice(db, shop, "void")
    add_person(db, shop.client_id)
    set_role(db, shop.client_id, "edit_all")
    with db.session() as s:
        other = clients.create_client(s, name="Sam Sites", email=NO_BILLING_EMAIL)
        role = roles.create_role(
            s, name="Sites only", description="", permissions={"sites": {"level": "view"}}
        )
        other.role_id = role.id
        other_id = other.id
    add_person(db, other_id, email=NO_BILLING_EMAIL, name="Sam Sites")
    with LiveServer(app) as server:
        db.set_public_url(server.url)
        server.app = app
        server.db = db
        yield server
    db.dispose()


def log_in(page, url: str, email: str = PERSON_EMAIL) -> None:
    page.goto(f"{url}/portal/login")
    page.fill("#email", email)
    page.fill("#password", PERSON_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/portal/")


def check_screen(page, path: str, findings: dict) -> None:
    """Tab reaches every visible control; axe-core finds nothing serious;
    the same again with every <details> open (what it folds away, e.g. the
    card form, is a control too)."""
    check_controls(page, path, findings)
    if page.evaluate(OPEN_DETAILS):
        page.wait_for_timeout(300)  # a card field mounts when its <details> opens
        check_controls(page, f"{path} (opened)", findings)


def check_controls(page, path: str, findings: dict) -> None:
    missing = missed_by_tab(page)
    if missing:
        findings["unreachable"][path] = missing
    violations = axe_violations(page)
    if violations:
        findings["inaccessible"][path] = violations


def is_screen(path: str) -> bool:
    """A screen of the portal (not the hosted page, a PDF, the logout)."""
    return path.startswith("/portal/") and not NOT_SCREENS.search(path)


def shot_name(path: str) -> str:
    """``/portal/invoices/12`` -> ``invoices-n``; the reset link's token
    makes no file name."""
    path = re.sub(r"/password-reset/[^/?]+", "/new-password", path)
    name = re.sub(r"[^a-z0-9]+", "-", screen_of(path).removeprefix("/portal").lower())
    return name.strip("-") or "home"


def fits_a_phone(page, url: str, paths: list[str], folder: Path, too_wide: dict) -> None:
    """Each of ``paths`` at 380 px: nothing wider than the window."""
    for path in paths:
        page.goto(url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 380:
            too_wide[path] = width
        page.screenshot(path=folder / f"portal-{shot_name(path)}-380.png", full_page=True)


def test_every_portal_screen_works_by_keyboard_passes_axe_and_fits_a_phone(
    browser,  # noqa: F811
    agency,
    shots,  # noqa: F811
):
    url = agency.url
    findings = {"unreachable": {}, "inaccessible": {}}
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()

    # The pages before the login, and the password reset's second step.
    with agency.db.session() as s:
        person = s.query(User).filter_by(email=PERSON_EMAIL).one()
        token = accounts.password_reset_token(person, agency.app.config["SECRET_KEY"])
    with agency.app.test_request_context():
        new_password = url_for("client.new_password", token=token)
    public = ["/portal/login", "/portal/password-reset", new_password]
    for path in public:
        page.goto(url + path)
        check_screen(page, path, findings)
        page.screenshot(path=shots / f"portal-{shot_name(path)}-1200.png", full_page=True)
    # A form whose token expired: the 400 page.
    page.goto(f"{url}/portal/login")
    page.evaluate(
        """() => {
          const form = document.createElement('form');
          form.method = 'post';
          form.action = '/portal/language';
          document.body.appendChild(form);
          form.submit();
        }"""
    )
    page.wait_for_url(f"{url}/portal/language")
    assert page.locator("h1").inner_text() == "This form has expired"
    check_screen(page, "csrf-error", findings)
    page.screenshot(path=shots / "portal-error-csrf-1200.png", full_page=True)

    # Logged in: every screen the portal's links lead to.
    log_in(page, url)
    seen, visited = set(), []
    for path in crawl(page, url, "/portal/", is_screen, seen, MAX_SCREENS):
        visited.append(path)
        assert "/portal/login" not in page.url, f"{path} logged the person out"
        check_screen(page, path, findings)
        page.screenshot(path=shots / f"portal-{shot_name(path)}-1200.png", full_page=True)
    # The 404 page: an address of the portal that is no page.
    page.goto(url + NOWHERE)
    assert page.locator("h1").inner_text() == "Page not found"
    check_screen(page, "not-found", findings)
    page.screenshot(path=shots / "portal-error-404-1200.png", full_page=True)

    too_wide = {}
    page.set_viewport_size({"width": 380, "height": 800})
    fits_a_phone(page, url, [*visited, NOWHERE], shots, too_wide)
    context.close()

    # The logged-out pages at 380 px, and the 403 page of a role without billing.
    guest = browser.new_context(viewport={"width": 380, "height": 800})
    page = guest.new_page()
    fits_a_phone(page, url, public, shots, too_wide)
    log_in(page, url, NO_BILLING_EMAIL)
    forbidden = page.goto(f"{url}/portal/invoices")
    assert forbidden.status == 403
    assert page.locator("h1").inner_text() == "Not part of your access"
    check_screen(page, "forbidden", findings)
    page.screenshot(path=shots / "portal-error-403-380.png", full_page=True)
    guest.close()

    # The crawl found the portal's screens: home, invoices, subscriptions and
    # a cancel, payment method, sites and a site, activity.
    assert len(seen) >= 8, sorted(seen)
    assert not findings["inaccessible"], findings["inaccessible"]
    assert not too_wide, too_wide
    assert not findings["unreachable"], "\n".join(
        f"{path}: {len(missing)} not reached by Tab, e.g. " + " | ".join(missing[:4])
        for path, missing in findings["unreachable"].items()
    )
