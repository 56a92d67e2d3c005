"""Setup's billing sections in Debian's Chromium at 1200 and 380 px: the
four pages walked through the side menu (a connected Stripe test account
with its disconnect confirmation), a refused statement descriptor
next to its field, the brand colour changed (the invoice header preview
follows as it is typed, and after saving), the logo in the preview, the
sample PDF downloaded. axe-core on every page; screenshots go to
``BRIDGE_SCREENSHOTS`` when set."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

from bridge import demo  # noqa: E402
from bridge.billing import business  # noqa: E402
from bridge.core import clock  # noqa: E402
from tests.e2e.conftest import LiveServer  # noqa: E402
from tests.hub.test_hub_browser import (  # noqa: E402,F401  (fixtures)
    WIDTHS,
    _axe,
    _fits,
    _log_in,
    _page,
    _serve,
    browser,
    shots,
)

LONG_COMPANY = "Pixel & Press Agentur für Webentwicklung, Hosting und Suchmaschinenoptimierung"

LOGO = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="160" height="48" viewBox="0 0 160 48">'
    b'<rect width="48" height="48" rx="10" fill="#0f766e"/>'
    b'<text x="24" y="32" font-size="22" font-family="sans-serif" fill="#fff" '
    b'text-anchor="middle">PP</text>'
    b'<text x="58" y="32" font-size="20" font-family="sans-serif" fill="#111827">Pixel</text>'
    b"</svg>"
)


def _demo_with_a_logo(app, session) -> None:
    demo.load(session, app.extensions["bridge.secret_box"])
    business.update_settings(session, {"company_name": LONG_COMPANY})
    business.set_logo(session, LOGO, business.LOGO_MAX)
    # A Stripe test account, as connecting stores it (the keys encrypted).
    box = app.extensions["bridge.secret_box"]
    settings = business.get_settings(session)
    settings.stripe_secret_key_encrypted = box.encrypt("sk_test_51NvBrowserDemo4242")
    settings.stripe_publishable_key = "pk_test_51NvBrowserDemo4242"
    settings.stripe_webhook_secret_encrypted = box.encrypt("whsec_browserdemo")
    settings.stripe_account_id = "acct_1Nv0FGQ9RKHgCVdK"
    settings.stripe_account_name = "Pixel & Press Agency"
    settings.stripe_account_email = "owner@pixelpress.example"
    settings.stripe_livemode = False
    settings.stripe_connected_at = clock.now()


@pytest.fixture(scope="module")
def setup_site(browser, sqlite_template, tmp_path_factory):  # noqa: F811
    app = _serve(sqlite_template, tmp_path_factory.mktemp("setup-billing"), fill=_demo_with_a_logo)
    with LiveServer(app) as server:
        yield server
    app.extensions["bridge.db"].dispose()


def _check(page, width, shots, name):  # noqa: F811
    page.screenshot(path=shots / f"hub-{name}-{width}.png", full_page=True)
    _axe(page)
    _fits(page, width)


def _header_colour(page) -> str:
    return page.locator(".preview-bar").evaluate("e => getComputedStyle(e).backgroundColor")


@pytest.mark.parametrize("width", WIDTHS)
def test_an_agency_walks_through_its_billing_setup(browser, setup_site, shots, width):  # noqa: F811
    url = setup_site.url
    context, page = _page(browser, width)
    _log_in(page, url)
    page.click(".sidenav >> text=Setup")
    page.wait_for_url(url + "/setup/billing-account")
    assert page.locator("#account-name").inner_text() == "Pixel & Press Agency"
    assert page.locator(".mode-test").inner_text() == "Test mode"
    assert page.locator("#secret-hint").inner_text() == "sk_test_…4242"
    assert "sk_test_51NvBrowserDemo4242" not in page.content()
    page.click("summary:has-text('Disconnect Stripe')")
    assert page.locator("#disconnect-form").is_visible()
    _check(page, width, shots, "setup-billing-account")

    # Payment preferences: the currency is read-only; a bad descriptor
    # comes back next to its field.
    page.click(".setup-nav >> text=Payment preferences")
    page.wait_for_url(url + "/setup/payments")
    assert page.locator("#currency").inner_text() == "EUR"
    page.fill("#statement_descriptor", "Pix")
    page.click("#payments-form button[type=submit]")
    assert page.locator("#statement_descriptor-error").is_visible()
    _check(page, width, shots, "setup-payments-error")
    page.fill("#statement_descriptor", "PIXEL PRESS")
    page.fill("#invoice_net_terms_days", "30")
    page.click("#payments-form button[type=submit]")
    page.wait_for_url(url + "/setup/payments")
    assert page.locator("#statement_descriptor").input_value() == "PIXEL PRESS"

    # Company & branding: the header preview follows the colour as it is
    # typed, and keeps it once saved.
    page.click(".setup-nav >> text=Company & branding")
    page.wait_for_url(url + "/setup/company")
    assert page.locator(".preview-logo").is_visible()
    assert page.locator(".preview-company").inner_text() == LONG_COMPANY
    page.fill("#brand_color", "#b45309")
    assert _header_colour(page) == "rgb(180, 83, 9)"
    assert page.locator("#brand_color_picker").input_value() == "#b45309"
    page.click("#company-form button[type=submit]")
    page.wait_for_url(url + "/setup/company")
    assert page.locator(".banner-ok").is_visible()
    assert _header_colour(page) == "rgb(180, 83, 9)"
    _check(page, width, shots, "setup-company")

    # Invoice customization and its sample PDF.
    page.click(".setup-nav >> text=Invoice customization")
    page.wait_for_url(url + "/setup/invoices")
    _check(page, width, shots, "setup-invoices")
    with page.expect_download() as download:
        page.click("#preview-sample")
    assert download.value.suggested_filename == "sample-invoice.pdf"
    assert [p for p in page.problems if "status of 422" not in p] == [], page.problems
    context.close()
