"""Issue 14, Lines, in Debian's Chromium at 1200 and 380 px: a decimal
quantity and a one-off line with its own tax on *Bill client*, the review
naming each line's rates, then the invoice page. axe-core on every screen;
screenshots to ``BRIDGE_SCREENSHOTS``."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

from tests.hub import test_hub_browser as hub_browser  # noqa: E402
from tests.hub.test_hub_browser import WIDTHS, _axe, _fits, _log_in, _page, expect  # noqa: E402

browser = hub_browser.browser
busy_site = hub_browser.busy_site
shots = hub_browser.shots


@pytest.mark.parametrize("width", WIDTHS)
def test_an_agency_bills_hours_and_a_one_off_line(browser, busy_site, shots, width):
    context, page = _page(browser, width)
    _log_in(page, busy_site.url)
    page.goto(busy_site.url + "/bill")
    page.select_option("#client_id", index=1)
    page.select_option("#items-0-plan_id", index=1)
    page.fill("#items-0-quantity", "1.5")
    page.click("button[value=add-one-off]")
    expect(page.locator("#items-1-description")).to_be_visible()
    page.click("button[value=continue]")
    expect(page.locator("#items-1-description-error")).to_be_visible()
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-bill-one-off-errors-{width}.png", full_page=True)
    page.fill("#items-1-description", "Migration from the old host, with the mailboxes")
    page.fill("#items-1-unit_amount", "350.00")
    page.fill("#items-1-quantity", "0.25")
    page.select_option("#items-1-tax", index=1)  # no tax
    page.locator("input[name=tax_rate_ids]").first.check()
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-bill-one-off-{width}.png", full_page=True)
    page.click("button[value=continue]")
    expect(page.locator("h1")).to_have_text("Review")
    assert page.locator(".bill-review tbody tr").count() == 2
    expect(page.locator(".bill-review tbody")).to_contain_text("1.5")
    expect(page.locator(".bill-review tbody")).to_contain_text("No tax")
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-bill-one-off-review-{width}.png", full_page=True)
    page.click("button[value=send]")
    page.wait_for_url("**/invoices/*")
    expect(page.locator(".lines")).to_contain_text("0.25")
    _fits(page, width)
    page.screenshot(path=shots / f"hub-invoice-one-off-{width}.png", full_page=True)
    context.close()
