"""Changing a subscription's plan from the Hub in Debian's Chromium at 1200
and 380 px: the form, the preview with its prorated lines, applied; then a change at the next
renewal previewed, scheduled, shown and cancelled; axe-core
on each (no serious or critical violation), nothing wider than the window.
Screenshots go to ``BRIDGE_SCREENSHOTS`` when set."""

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
def test_staff_change_now_then_at_renewal(browser, agency_site, shots, width):  # noqa: F811
    context, page = _page(browser, width)
    _log_in(page, agency_site.url)
    page.goto(agency_site.url + "/clients?sort=-mrr")
    page.locator("a.client-link").nth(1 if width == WIDTHS[0] else 2).click()
    page.wait_for_url("**/clients/*")
    page.goto(page.url.split("?")[0] + "?tab=products")
    _fits(page, width)
    page.screenshot(path=shots / f"hub-plan-change-row-{width}.png", full_page=True)
    page.locator("a:has-text('Change plan')").first.click()
    page.wait_for_url("**/change")
    page.fill("#quantity", "2.5")
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-plan-change-form-{width}.png", full_page=True)
    page.click("button[value=preview]")
    expect(page.locator("#change-total")).to_be_visible()
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-plan-change-preview-{width}.png", full_page=True)
    page.click("button[value=apply]")
    page.wait_for_url("**tab=products")
    expect(page.locator("a:has-text('Change plan')").first).to_be_visible()

    # Then at the next renewal: scheduled, shown on the client page, cancelled.
    page.locator("a:has-text('Change plan')").first.click()
    page.wait_for_url("**/change")
    page.fill("#quantity", "4")
    page.check("#when-renewal")
    page.click("button[value=preview]")
    expect(page.locator("#change-total")).to_be_visible()
    expect(page.locator("button[value=apply]")).to_contain_text("Schedule for")
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-plan-change-renewal-{width}.png", full_page=True)
    page.click("button[value=apply]")
    page.wait_for_url("**tab=products")
    expect(page.locator(".pending-change-note").first).to_be_visible()
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-plan-change-scheduled-{width}.png", full_page=True)
    page.locator("button:has-text('Cancel scheduled change')").first.click()
    page.wait_for_url("**tab=products")
    expect(page.locator(".pending-change-note")).to_have_count(0)
    context.close()
