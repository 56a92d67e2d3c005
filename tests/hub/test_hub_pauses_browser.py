"""Pausing from the Hub's client page in Debian's Chromium at 1200 and 380
px: the small pause form opened, a date chosen, the pause shown, resumed;
axe-core on each (no serious or critical violation), nothing wider than the
window. Screenshots go to ``BRIDGE_SCREENSHOTS`` when set."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bridge.core import clock
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
def test_staff_pause_a_subscription_until_a_date_and_resume_it(browser, agency_site, shots, width):  # noqa: F811
    context, page = _page(browser, width)
    _log_in(page, agency_site.url)
    page.goto(agency_site.url + "/clients?sort=-mrr")
    page.locator("a.client-link").nth(1 if width == WIDTHS[0] else 2).click()
    page.wait_for_url("**/clients/*")
    page.goto(page.url.split("?")[0] + "?tab=products")
    form = page.locator("details.pause-form").first
    form.locator("summary").click()
    until = (clock.now() + timedelta(days=120)).date().isoformat()
    form.locator("input[name=until]").fill(until)
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-client-pause-form-{width}.png", full_page=True)
    form.locator("button[type=submit]").click()
    expect(page.locator(".pause-note").first).to_be_visible()
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-client-paused-{width}.png", full_page=True)
    page.click("button:has-text('Resume now')")
    expect(page.locator(".pause-note")).to_have_count(0)
    context.close()
