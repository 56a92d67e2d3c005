"""*Bill client* in Debian's Chromium, at 1200 and 380 px: the top bar's
button, bad input shown next to its field, rows added with plain posts, the
client's sites loaded in place (htmx), the review with the domain's totals,
then send; an empty catalogue says what to do. axe-core on every screen;
screenshots to ``BRIDGE_SCREENSHOTS``."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

from tests.hub import test_hub_browser as hub_browser  # noqa: E402
from tests.hub.test_hub_browser import LONG_NAME, WIDTHS, _axe, _fits, _log_in, _page, expect  # noqa: E402

# The Hub's browser fixtures (Chromium, the demo agency, an empty business).
browser = hub_browser.browser
busy_site = hub_browser.busy_site
empty_site = hub_browser.empty_site
shots = hub_browser.shots


@pytest.mark.parametrize("width", WIDTHS)
def test_an_agency_bills_a_client_with_two_plans_and_a_tax(browser, busy_site, shots, width):
    context, page = _page(browser, width)
    _log_in(page, busy_site.url)
    page.click("a.bill-button")
    page.wait_for_url(busy_site.url + "/bill")
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-bill-{width}.png", full_page=True)

    # Nothing chosen: each field says what it needs.
    page.click("button[value=continue]")
    expect(page.locator("#client_id-error")).to_be_visible()
    expect(page.locator("#items-0-plan_id-error")).to_be_visible()
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-bill-errors-{width}.png", full_page=True)

    # Choosing the client loads its sites in place.
    page.select_option("#client_id", label=LONG_NAME)
    page.select_option("#client_id", index=1)
    expect(page.locator("#site_id option")).not_to_have_count(1)
    page.select_option("#site_id", index=1)
    page.select_option("#items-0-plan_id", index=1)
    page.fill("#items-0-quantity", "2")
    page.click("button[value=add]")
    page.select_option("#items-1-plan_id", index=2)
    page.locator("input[name=tax_rate_ids]").first.check()
    page.fill("#note", "Thank you for your business.")
    _fits(page, width)
    page.screenshot(path=shots / f"hub-bill-filled-{width}.png", full_page=True)

    page.click("button[value=continue]")
    expect(page.locator("h1")).to_have_text("Review")
    assert page.locator(".bill-review tbody tr").count() == 2
    assert page.locator("#review-total").inner_text().startswith("€")
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-bill-review-{width}.png", full_page=True)

    page.click("button[value=send]")
    page.wait_for_url("**/invoices/*")
    # The form's 422 answer, and the invoice page (another screen's) when it
    # is not there yet, are the only resources the browser may call failed.
    unexpected = [p for p in page.problems if "(UNPROCESSABLE ENTITY)" not in p]
    unexpected = [p for p in unexpected if "404" not in p or not page.url.split("/")[-1].isdigit()]
    assert not unexpected, page.problems
    context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_bill_client_in_a_business_without_plans_says_what_to_do(browser, empty_site, shots, width):
    context, page = _page(browser, width)
    _log_in(page, empty_site.url)
    page.goto(empty_site.url + "/bill")
    expect(page.locator("text=No active plan yet")).to_be_visible()
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-bill-empty-{width}.png", full_page=True)
    assert not page.problems, page.problems
    context.close()
