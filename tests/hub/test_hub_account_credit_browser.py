"""Account credit in Debian's Chromium at 1200 and 380 px: the client
page's Invoices tab with its ledger and the *Grant credit* form (a bad
amount first, the message next to the field, then the credit granted and
listed); axe-core on each (no serious or critical violation), nothing
wider than the window."""

from __future__ import annotations

import pytest

from tests.hub.test_hub_browser import (
    WIDTHS,
    _axe,
    _fits,
    _log_in,
    _page,
    browser,  # noqa: F401  (a fixture)
    expect,
    shots,  # noqa: F401  (a fixture)
)
from tests.hub.test_hub_client_page_browser import agency_site  # noqa: F401  (a fixture)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("width", WIDTHS)
def test_staff_grant_credit_from_the_client_page(browser, agency_site, shots, width):  # noqa: F811
    context, page = _page(browser, width)
    _log_in(page, agency_site.url)
    page.goto(agency_site.url + "/clients/1?tab=invoices")
    expect(page.locator("#account-credit")).to_be_visible()
    _axe(page)
    _fits(page, width)
    page.fill("#credit-amount", "12,5")
    page.fill("#credit-reason", "Two days offline in May, with a reason long enough to wrap")
    page.click(".credit-form button[type=submit]")
    expect(page.locator("#credit-amount-error")).to_be_visible()
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-credit-error-{width}.png", full_page=True)
    page.fill("#credit-amount", "12.50")
    page.click(".credit-form button[type=submit]")
    page.wait_for_url("**/clients/1?tab=invoices*")
    expect(page.locator(".credit-entries")).to_contain_text("Two days offline in May")
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-credit-granted-{width}.png", full_page=True)
    # The refused form's answer is a 422 on purpose; nothing else went wrong.
    assert [p for p in page.problems if "status of 422" not in p] == []
    context.close()
