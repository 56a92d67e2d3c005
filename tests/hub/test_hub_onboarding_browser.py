"""An agency onboarding in Debian's Chromium, at 1200 and 380 px, from an
empty database with one staff user to a paid invoice: log in, Getting
started (currency, company, offline payments only, a product with two
recurring plans), a tax rate, a client with a site, *Bill client* with both
plans and the tax, the PDF preview, send, an offline payment; the invoice
shows Paid and the client's MRR moves. Then My account. axe-core on every
Getting started and account screen; screenshots of each step to
``BRIDGE_E2E_SCREENSHOTS`` (or ``BRIDGE_SCREENSHOTS``) when set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

from bridge import demo  # noqa: E402
from bridge.auth.accounts import create_staff_user  # noqa: E402
from tests.e2e.conftest import LiveServer  # noqa: E402
from tests.hub import test_hub_browser as hub_browser  # noqa: E402
from tests.hub.test_hub_browser import WIDTHS, _axe, _fits, _page, expect  # noqa: E402

browser = hub_browser.browser


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = os.environ.get("BRIDGE_E2E_SCREENSHOTS") or os.environ.get("BRIDGE_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _one_staff_user(app, session) -> None:
    create_staff_user(
        session, email=demo.ADMIN_EMAIL, password=demo.DEFAULT_DEMO_PASSWORD, name="Ada Owner"
    )


@pytest.fixture
def empty_database(browser, sqlite_template, tmp_path):
    app = hub_browser._serve(sqlite_template, tmp_path, fill=_one_staff_user)
    with LiveServer(app) as server:
        yield server
    app.extensions["bridge.db"].dispose()


class Steps:
    """Screenshots numbered in the order they were taken."""

    def __init__(self, page, folder: Path, width: int):
        self.page, self.folder, self.width, self.count = page, folder, width, 0

    def shot(self, name: str, axe: bool = False) -> None:
        if axe:
            _axe(self.page)
        _fits(self.page, self.width)
        self.count += 1
        path = self.folder / f"onboarding-{self.width}-{self.count:02d}-{name}.png"
        self.page.screenshot(path=path, full_page=True)


def _plan(page, name: str, amount: str, unit: str = "month") -> None:
    page.fill("#plan_name", name)
    page.select_option("#kind", "recurring")
    page.fill("#amount", amount)
    page.fill("#interval_count", "1")
    page.select_option("#interval_unit", unit)


@pytest.mark.parametrize("width", WIDTHS)
def test_an_agency_goes_from_an_empty_database_to_a_paid_invoice(
    browser, empty_database, shots, width
):
    url = empty_database.url
    context, page = _page(browser, width)
    steps = Steps(page, shots, width)

    # Log in: the Overview sends an empty business to Getting started.
    page.goto(url + "/")
    page.fill("#email", demo.ADMIN_EMAIL)
    page.fill("#password", demo.DEFAULT_DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/getting-started/currency")
    expect(page.locator(".step-current")).to_contain_text("Currency")
    steps.shot("currency", axe=True)

    # 1. The currency needs its confirmation.
    page.select_option("#currency", "EUR")
    page.click("button:has-text('Save and continue')")
    expect(page.locator("#confirm-error")).to_be_visible()
    steps.shot("currency-unconfirmed", axe=True)
    page.check("#confirm")
    page.click("button:has-text('Save and continue')")
    page.wait_for_url(url + "/getting-started/company")
    expect(page.locator(".step-done")).to_have_count(1)
    steps.shot("company", axe=True)

    # 2. The company: the email is checked next to its field.
    page.fill("#company_name", "Pixel & Press Agency")
    page.fill("#email", "billing at pixelpress")
    page.fill("#address_line1", "12 rue des Lilas")
    page.fill("#postal_code", "69003")
    page.fill("#city", "Lyon")
    page.select_option("#country", "FR")
    page.fill("#tax_id", "FR12345678901")
    page.select_option("#timezone", "Europe/Paris")
    page.click("button:has-text('Save and continue')")
    expect(page.locator("#email-error")).to_be_visible()
    steps.shot("company-error", axe=True)
    page.fill("#email", "billing@pixelpress.example")
    page.click("button:has-text('Save and continue')")
    page.wait_for_url(url + "/getting-started/payments")
    steps.shot("payments", axe=True)

    # 3. Offline payments only.
    page.fill("#offline_instructions", "Bank transfer to IBAN FR76 3000 6000 0112 3456 7890 189")
    page.click("button:has-text('Use offline payments only')")
    page.wait_for_url(url + "/getting-started/product")
    expect(page.locator(".step-done")).to_have_count(3)
    steps.shot("product", axe=True)

    # 4. A product with two recurring plans, then finish.
    page.fill("#name", "Managed WordPress Hosting")
    _plan(page, "Basic, monthly", "29")
    page.click("button:has-text('Create product')")
    page.wait_for_url("**/getting-started/product?added=1")
    _plan(page, "Care, monthly", "99")
    page.click("button:has-text('Add this plan')")
    page.wait_for_url("**/getting-started/product?added=1")
    expect(page.locator(".plan-summary li")).to_have_count(2)
    steps.shot("product-two-plans", axe=True)
    page.click("button:has-text('Finish and go to the overview')")
    page.wait_for_url(url + "/")
    expect(page.locator("h1")).to_have_text("Overview")
    steps.shot("overview")

    # A tax rate.
    page.goto(url + "/tax-rates")
    page.fill("#name", "VAT")
    page.fill("#percentage", "20")
    page.click("form.form button[type=submit]")
    expect(page.locator("table.tax-rates")).to_contain_text("VAT")
    steps.shot("tax-rate")

    # A client, and a site on the client page's sites tab.
    page.goto(url + "/clients/new")
    page.fill("#name", "Boulangerie Martin")
    page.fill("#email", "contact@boulangerie-martin.example")
    page.fill("#company", "Boulangerie Martin SARL")
    page.select_option("#country", "FR")
    page.click("button:has-text('Add client')")
    page.wait_for_url("**/clients/*")
    client_url = page.url
    page.goto(client_url + "?tab=sites")
    page.fill("#site-name", "Boulangerie website")
    page.fill("#site-url", "https://boulangerie-martin.example")
    page.click("button:has-text('Add site')")
    expect(page.locator("#site-secret")).to_be_visible()
    expect(page.locator(".site-name")).to_have_text("Boulangerie website")
    steps.shot("client-site")

    # A French agency billing a French business prints its legal identity:
    # without it the invoice cannot be sent (tests/hub/test_hub_setup_legal.py).
    page.goto(url + "/setup/legal")
    page.fill("#legal_form", "SAS")
    page.fill("#share_capital", "10000")
    page.fill("#siren", "123456782")
    page.fill("#rcs_city", "Lyon")
    page.click("button:has-text('Save')")
    expect(page.get_by_text("Legal mentions saved.")).to_be_visible()
    page.goto(client_url)

    # Bill client: both plans and the tax, on the site.
    page.click("a.bill-button")
    page.wait_for_url(url + "/bill")
    page.select_option("#client_id", label="Boulangerie Martin")
    expect(page.locator("#site_id option")).not_to_have_count(1)
    page.select_option("#site_id", label="Boulangerie website")
    page.select_option("#items-0-plan_id", index=1)
    page.click("button[value=add]")
    page.select_option("#items-1-plan_id", index=2)
    page.locator("input[name=tax_rate_ids]").first.check()
    steps.shot("bill")
    page.click("button[value=continue]")
    expect(page.locator("h1")).to_have_text("Review")
    assert page.locator(".bill-review tbody tr").count() == 2
    # (29 + 99) + 20 % VAT
    assert page.locator("#review-total").inner_text() == "€153.60"
    steps.shot("bill-review")

    # The PDF preview opens beside; nothing is saved by it.
    with context.expect_event(
        "response", lambda r: r.url.endswith("/bill/preview") and r.request.method == "POST"
    ) as preview_info:
        page.click("button:has-text('Preview')")
    preview = preview_info.value
    assert preview.status == 200
    assert preview.headers["content-type"] == "application/pdf"
    for other in context.pages:
        if other is not page:
            other.close()

    page.click("button[value=send]")
    page.wait_for_url("**/invoices/*")
    expect(page.locator("h1 .status-open")).to_have_text("Payment due")
    steps.shot("invoice-sent")
    invoice_url = page.url
    # Sent but unpaid: the subscriptions wait for the payment, no MRR yet.
    page.goto(url + "/clients")
    mrr = page.locator("tr", has_text="Boulangerie Martin").locator("td[data-label='MRR']")
    expect(mrr).to_have_text("€0.00")
    page.goto(invoice_url)

    # An offline payment of the amount due.
    page.fill("#amount", "153.60")
    page.select_option("#method", index=0)
    page.fill("#reference", "Transfer 2026-12")
    page.click("#payment-form button[type=submit]")
    page.wait_for_selector("text=The payment was recorded.")
    expect(page.locator("h1 .status")).to_have_text("Paid")
    steps.shot("invoice-paid")

    # The client's MRR moved: two monthly plans, before tax.
    page.goto(url + "/clients")
    expect(mrr).to_have_text("€128.00")
    page.goto(url + "/subscriptions")
    expect(page.locator("main")).to_contain_text("Care, monthly")
    steps.shot("clients-mrr")

    # My account, from the header.
    page.click("a.who-name")
    page.wait_for_url(url + "/account")
    steps.shot("account", axe=True)
    for current, outcome in [
        ("not my password", "#current_password-error"),
        (demo.DEFAULT_DEMO_PASSWORD, "#saved"),
    ]:
        page.fill("#current_password", current)
        page.fill("#password", "a new and long password")
        page.fill("#confirm", "a new and long password")
        page.click("button:has-text('Change password')")
        expect(page.locator(outcome)).to_be_visible()
        if outcome != "#saved":
            steps.shot("account-error", axe=True)
    steps.shot("account-saved", axe=True)

    problems = [p for p in page.problems if "UNPROCESSABLE ENTITY" not in p]
    problems = [p for p in problems if "status of 422" not in p]
    assert not problems, page.problems
    context.close()
