"""A client user in a real browser (Debian's Chromium driven by Playwright):
log in to WordPress, open Billing, follow Pay to the bridge's hosted invoice
page. Skipped with the reason when Chromium or Playwright is missing, except
in CI (``CI=true``), where that fails the run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser import chromium
from tests.wordpress.conftest import JANE, system_role, use_role

pytestmark = pytest.mark.slow  # WordPress on PHP and a browser

WAIT_MS = 20_000


@pytest.fixture(scope="module")
def browser():
    yield from chromium()


def test_client_user_pays_from_the_billing_page(browser, connected, wordpress, bridge):
    from playwright.sync_api import expect

    use_role(bridge, wordpress, system_role(bridge, "billing_only"))
    due = bridge.open_invoice()  # due now, whatever the other tests paid

    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{wordpress.url}/wp-login.php")
        page.fill("#user_login", JANE[0])
        page.fill("#user_pass", JANE[1])
        page.click("#wp-submit")
        page.wait_for_url("**/wp-admin/**", timeout=WAIT_MS)

        # The menu leads to Billing, which shows the unpaid badge. (The first
        # page after login spent its one bridge call on the user's access.)
        menu = page.locator("#toplevel_page_billing-bridge")
        expect(menu).to_be_visible()
        menu.locator("a.menu-top").click()
        expect(page.locator("#billing-bridge-billing h1")).to_have_text("Billing")
        badge = menu.locator("a.menu-top .billing-bridge-unpaid")
        expect(badge).to_have_text(str(bridge.unpaid_count()))
        row = page.locator(f"#bb-invoice-{due.id}")
        expect(row.locator(".bb-status")).to_have_text("Unpaid")
        expect(page.locator("#toplevel_page_billing-bridge")).not_to_contain_text("Hosting")

        with page.expect_popup(timeout=WAIT_MS) as popup:
            row.locator("a.bb-pay").click()
        hosted = popup.value
        hosted.wait_for_load_state()
        assert hosted.url.startswith(f"{bridge.url}/i/{due.token}")
        expect(hosted.locator("#invoice-number")).to_have_text(due.number, timeout=WAIT_MS)
        expect(hosted.locator("#invoice-status")).to_have_text("Payment due")
        if os.environ.get("BRIDGE_E2E_SCREENSHOTS"):
            folder = Path(os.environ["BRIDGE_E2E_SCREENSHOTS"])
            folder.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(folder / "wp-billing.png"), full_page=True)
        assert errors == []
    finally:
        context.close()
