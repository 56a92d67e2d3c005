"""The client screens in Debian's Chromium at 1200 and 380 px: a client
added through the form (an error first), its page's tabs, a site added with
its secret shown once, a subscription set to cancel at the period end;
axe-core on each (no serious or critical violation), nothing wider than the
window. Screenshots go to ``BRIDGE_SCREENSHOTS`` when set."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import LiveServer
from tests.hub.test_hub_browser import (
    LONG_NAME,
    WIDTHS,
    _axe,
    _demo_with_billing,
    _fits,
    _log_in,
    _page,
    _serve,
    browser,  # noqa: F401  (a fixture)
    expect,
    shots,  # noqa: F401  (a fixture)
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def agency_site(browser, sqlite_template, tmp_path_factory):  # noqa: F811
    app = _serve(sqlite_template, tmp_path_factory.mktemp("clients"), fill=_demo_with_billing)
    with LiveServer(app) as server:
        yield server
    app.extensions["bridge.db"].dispose()


@pytest.mark.parametrize("width", WIDTHS)
def test_an_agency_adds_a_client_and_works_through_its_page(browser, agency_site, shots, width):  # noqa: F811
    context, page = _page(browser, width)
    _log_in(page, agency_site.url)
    page.goto(agency_site.url + "/clients")
    page.click("#new-client")
    page.wait_for_url("**/clients/new")
    _axe(page)
    _fits(page, width)
    # A wrong email comes back with the message next to the field.
    page.fill("#name", f"{LONG_NAME} {width}")
    page.fill("#email", "not an email")
    page.fill("#company", "Hohenzollern-Sigmaringen Digitalagentur GmbH & Co. KG")
    page.select_option("#country", "DE")
    page.click(".client-form button[type=submit]")
    expect(page.locator("#email-error")).to_be_visible()
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-client-form-error-{width}.png", full_page=True)
    page.fill("#email", f"max{width}@example.com")
    page.click(".client-form button[type=submit]")
    page.wait_for_url("**/clients/*")
    assert page.locator("h1").inner_text() == f"{LONG_NAME} {width}"
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-client-new-page-{width}.png", full_page=True)

    # A site, its secret shown once.
    page.click("nav.tabs >> text=Sites")
    assert page.locator(".empty").count() == 1
    page.fill("#site-name", "Digitalagentur")
    page.fill("#site-url", "https://hohenzollern-sigmaringen.example")
    page.click("button:has-text('Add site')")
    expect(page.locator("#site-secret")).to_be_visible()
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-client-site-secret-{width}.png", full_page=True)
    page.click("nav.tabs >> text=Sites")
    assert page.locator("#site-secret").count() == 0

    # A client with billing: every tab.
    page.goto(agency_site.url + "/clients?sort=-mrr")
    page.locator("a.client-link").first.click()
    page.wait_for_url("**/clients/*")
    for tab in ("overview", "products", "invoices", "sites", "people", "activity"):
        page.goto(page.url.split("?")[0] + f"?tab={tab}")
        _axe(page)
        _fits(page, width)
        page.screenshot(path=shots / f"hub-client-{tab}-{width}.png", full_page=True)
    page.goto(page.url.split("?")[0] + "?tab=products")
    if width == WIDTHS[0]:
        page.click("button:has-text('Cancel at period end')")
        expect(page.locator("button:has-text('Resume')")).to_be_visible()
        page.screenshot(path=shots / f"hub-client-products-cancelling-{width}.png", full_page=True)
    # The wrong email's answer is a 422, which the console reports; nothing else.
    problems = [p for p in page.problems if "status of 422" not in p]
    assert not problems, problems
    context.close()
