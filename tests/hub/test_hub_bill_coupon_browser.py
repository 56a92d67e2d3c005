"""Issue 14, Discounts, in Debian's Chromium at 1200 and 380 px: a coupon
code on *Bill client* (an unknown code first: the error next to the
field), the review with its Discount row, then the invoice page. axe-core
on every screen; screenshots to ``BRIDGE_SCREENSHOTS``."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

from bridge.billing import coupons  # noqa: E402
from tests.hub import test_hub_browser as hub_browser  # noqa: E402
from tests.hub.test_hub_browser import WIDTHS, _axe, _fits, _log_in, _page, expect  # noqa: E402

browser = hub_browser.browser
busy_site = hub_browser.busy_site
shots = hub_browser.shots


@pytest.fixture(scope="module")
def coupon_site(busy_site):
    db = busy_site.server.app.extensions["bridge.db"]
    with db.session() as s:
        coupons.create_coupon(s, name="Welcome", percent_off="12.5", code="WELCOME")
        s.commit()
    return busy_site


@pytest.mark.parametrize("width", WIDTHS)
def test_an_agency_bills_with_a_coupon_code(browser, coupon_site, shots, width):
    context, page = _page(browser, width)
    _log_in(page, coupon_site.url)
    page.goto(coupon_site.url + "/bill")
    page.select_option("#client_id", index=1)
    page.select_option("#items-0-plan_id", index=1)
    page.fill("#coupon_code", "NOT-A-CODE")
    page.click("button[value=continue]")
    expect(page.locator("#coupon_code-error")).to_be_visible()
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-bill-coupon-error-{width}.png", full_page=True)
    page.fill("#coupon_code", "welcome")
    page.click("button[value=continue]")
    expect(page.locator("h1")).to_have_text("Review")
    expect(page.locator(".bill-review")).to_contain_text("Discount")
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-bill-coupon-review-{width}.png", full_page=True)
    page.click("button[value=send]")
    page.wait_for_url("**/invoices/*")
    expect(page.locator("main")).to_contain_text("Discount")
    _fits(page, width)
    page.screenshot(path=shots / f"hub-invoice-coupon-{width}.png", full_page=True)
    context.close()
