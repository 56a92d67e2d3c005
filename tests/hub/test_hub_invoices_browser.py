"""The invoices and subscriptions screens in Debian's Chromium at 1200 and
380 px: the list, an invoice paid offline then partly refunded, the
subscriptions; axe-core on each (no serious or critical violation), nothing
wider than the window, no script or style the CSP refuses. Screenshots go to
``BRIDGE_SCREENSHOTS`` when set."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

from tests.e2e.conftest import LiveServer  # noqa: E402
from tests.hub.test_hub_browser import (  # noqa: E402
    _axe,
    _demo_with_billing,
    _fits,
    _log_in,
    _page,
    _serve,
    browser,  # noqa: F401
    shots,  # noqa: F401
)


def _with_an_open_invoice(app, session) -> None:
    from sqlalchemy import select

    from bridge.billing import clients, invoices
    from bridge.billing.invoices import Item
    from bridge.models import Plan

    _demo_with_billing(app, session)
    plan = session.scalars(select(Plan).order_by(Plan.id)).first()
    row = clients.list_clients(session, text="Hohenzollern").items[0]
    for _ in range(2):  # one for each width
        invoice = invoices.bill_client(
            session, clients.get_client(session, row.id), [Item(plan.id, 2)]
        )
        invoices.finalize(session, invoice)


@pytest.fixture(scope="module")
def site(browser, sqlite_template, tmp_path_factory):  # noqa: F811
    app = _serve(sqlite_template, tmp_path_factory.mktemp("invoices"), fill=_with_an_open_invoice)
    with LiveServer(app) as server:
        yield server
    app.extensions["bridge.db"].dispose()


@pytest.mark.parametrize("width", [1200, 380])
def test_an_agency_records_a_payment_and_refunds_part_of_it(browser, site, shots, width):  # noqa: F811
    context, page = _page(browser, width)
    _log_in(page, site.url)
    page.click("nav.sidenav >> text=Invoices")
    page.wait_for_url(site.url + "/invoices")
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-invoices-{width}.png", full_page=True)

    page.click("tr:has(.status-open) .invoice-number >> nth=0")
    invoice_url = page.url
    assert page.locator("#payment-form").is_visible()
    page.fill("#amount", "abc")
    page.click("#payment-form button[type=submit]")
    assert "is not a valid amount" in page.locator("#amount-error").inner_text()
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-invoice-error-{width}.png", full_page=True)

    due = page.locator("#amount-due").inner_text()
    page.goto(invoice_url)
    page.click("#payment-form button[type=submit]")
    page.wait_for_selector("text=The payment was recorded.")
    assert page.locator("h1 .status").inner_text() == "Paid"
    assert due != page.locator("#amount-due").inner_text()
    page.fill("#refund_amount", "1.00")
    page.fill("#reason", "Goodwill")
    page.click("#refund-form button[type=submit]")
    page.wait_for_selector("text=The refund was made.")
    assert "Goodwill" in page.locator(".credit-notes").inner_text()
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-invoice-{width}.png", full_page=True)

    page.click("nav.sidenav >> text=Subscriptions")
    page.wait_for_url(site.url + "/subscriptions")
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-subscriptions-{width}.png", full_page=True)
    page.click("text=Inactive")
    assert page.locator("#no-subscriptions").is_visible()
    _axe(page)
    # The bad amount's answer (a 422) is the only thing the console reports.
    assert [p for p in page.problems if "422" not in p] == [], page.problems
    context.close()
