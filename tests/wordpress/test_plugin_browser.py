"""A client user in a real browser (Debian's Chromium driven by Playwright):
log in to WordPress, open Billing, follow Pay to the bridge's hosted invoice
page. Skipped with the reason when Chromium or Playwright is missing, except
in CI (``CI=true``), where that fails the run."""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.browser import chromium
from tests.wordpress.conftest import JANE, system_role, use_role

pytestmark = pytest.mark.slow  # WordPress on PHP and a browser

WAIT_MS = 20_000
# Logging in is WordPress's own work (its password check, session tokens in
# MariaDB, the first admin page); on a loaded machine it takes its time.
LOGIN_WAIT_MS = 60_000


@pytest.fixture(scope="module")
def browser():
    yield from chromium()


def test_client_user_pays_from_the_billing_page(browser, connected, wordpress, bridge):
    from playwright.sync_api import expect

    use_role(bridge, wordpress, system_role(bridge, "billing_only"))
    due = bridge.open_invoice()  # due now, whatever the other tests paid

    with logged_in(browser, wordpress, JANE) as (page, errors):
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


def test_my_account_reads_well_on_a_desktop_and_a_phone(browser, connected, wordpress, bridge):
    """My account at 1200 and 380 px: the invoices fit the width (each one
    a block of labelled lines on the phone), nothing scrolls sideways."""
    from playwright.sync_api import expect

    use_role(bridge, wordpress, system_role(bridge, "billing_only"))
    bridge.open_invoice()
    with logged_in(browser, wordpress, JANE) as (page, errors):
        page.goto(wordpress.admin_page("billing-bridge-account"))
        expect(page.locator("#billing-bridge-account h1")).to_have_text("My account")
        expect(page.locator("#billing-bridge-account-invoices")).to_be_visible()
        for width in (1200, 380):
            page.set_viewport_size({"width": width, "height": 900})
            page.reload()
            expect(page.locator("#billing-bridge-auto-pay")).to_be_visible()
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, (width, overflow)
            if os.environ.get("BRIDGE_E2E_SCREENSHOTS"):
                folder = Path(os.environ["BRIDGE_E2E_SCREENSHOTS"])
                folder.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(folder / f"wp-account-{width}.png"), full_page=True)
        assert errors == []


@contextmanager
def logged_in(browser, wordpress, user: tuple):
    """A 1200 px page of a new browser context, logged in to WordPress as
    ``user``, and the list of the page's script errors."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        log_in(page, wordpress, *user[:2])
        yield page, errors
    finally:
        context.close()


def log_in(page, wordpress, user: str, password: str) -> None:
    """Log in through WordPress's own form. When WordPress does not land on
    wp-admin, the failure says why: the form's error, the PHP server's log."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in (1, 2):
        page.goto(f"{wordpress.url}/wp-login.php")
        page.fill("#user_login", user)
        page.fill("#user_pass", password)
        # The form's own scripts may still reset the password as they start.
        if page.input_value("#user_pass") != password:
            page.fill("#user_pass", password)
        try:
            with page.expect_navigation(timeout=LOGIN_WAIT_MS):
                page.click("#wp-submit")
            if "/wp-admin/" not in page.url and attempt == 1:
                continue  # refused once (a field reset as it was sent): again
            break
        except PlaywrightTimeout as error:
            # No answer at all (not a refused login, which answers): the
            # PHP server's state is kept in the report, and the form tried
            # once more.
            state = f"no page after logging in ({error}); {_login_state(page, wordpress)}"
            if attempt == 2:
                pytest.fail(state)
            warnings.warn(state, stacklevel=1)
    if "/wp-admin/" not in page.url:
        pytest.fail(f"logging in did not reach wp-admin; {_login_state(page, wordpress)}")


def _login_state(page, wordpress) -> str:
    error = page.locator("#login_error")
    message = error.inner_text() if error.count() else "(no login error shown)"
    server_log = wordpress.server_log.read_text(errors="replace").splitlines()[-30:]
    debug_log = wordpress.debug_lines()[-30:]
    return (
        f"at {page.url}: {message}\nPHP server log:\n"
        + "\n".join(server_log)
        + "\nWordPress debug log:\n"
        + "\n".join(debug_log)
    )
