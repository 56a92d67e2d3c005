"""The products & services screen in Debian's Chromium at 1200 and 380 px:
the list with a very long product name, a plan opened, a new product whose
bad price comes back next to its field, a duplicated plan, archive and the
archived filter; the empty catalogue. axe-core on every screen; screenshots
go to ``BRIDGE_SCREENSHOTS`` when set."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

from bridge import demo  # noqa: E402
from bridge.billing import catalog  # noqa: E402
from tests.e2e.conftest import LiveServer  # noqa: E402
from tests.hub.test_hub_browser import (  # noqa: E402,F401  (fixtures)
    WIDTHS,
    _axe,
    _fits,
    _log_in,
    _only_the_admin,
    _page,
    _serve,
    browser,
    shots,
)
from tests.shop import recurring  # noqa: E402

LONG_PRODUCT = "Wartung und Sicherheitsüberwachung für WordPress-Mehrfachinstallationen mit Staging"


def _demo_with_a_long_product(app, session) -> None:
    demo.load(session, app.extensions["bridge.secret_box"])
    product = catalog.create_product(session, name=LONG_PRODUCT)
    spec = recurring(LONG_PRODUCT + " — jährlich im Voraus", 1250000, cycles=3)
    catalog.create_plan(
        session,
        product,
        name=spec.name,
        kind=spec.kind,
        amount=spec.amount,
        interval_unit=spec.interval_unit,
        interval_count=spec.interval_count,
        billing_cycles=spec.billing_cycles,
    )


@pytest.fixture(scope="module")
def catalogue_site(browser, sqlite_template, tmp_path_factory):  # noqa: F811
    folder = tmp_path_factory.mktemp("catalogue")
    app = _serve(sqlite_template, folder, fill=_demo_with_a_long_product)
    with LiveServer(app) as server:
        yield server
    app.extensions["bridge.db"].dispose()


@pytest.fixture(scope="module")
def empty_catalogue(browser, sqlite_template, tmp_path_factory):  # noqa: F811
    app = _serve(sqlite_template, tmp_path_factory.mktemp("nocatalogue"), fill=_only_the_admin)
    with LiveServer(app) as server:
        yield server
    app.extensions["bridge.db"].dispose()


def _check(page, width, shots, name):  # noqa: F811
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-{name}-{width}.png", full_page=True)


@pytest.mark.parametrize("width", WIDTHS)
def test_an_agency_manages_its_products_and_plans(browser, catalogue_site, shots, width):  # noqa: F811
    url = catalogue_site.url
    context, page = _page(browser, width)
    _log_in(page, url)
    page.click(".sidenav >> text=Products & services")
    page.wait_for_url(url + "/products")
    assert page.locator(".product-name", has_text=LONG_PRODUCT).count() == 1
    page.locator("summary", has_text=LONG_PRODUCT).click()
    _check(page, width, shots, "products")

    # A new product: a price with too many decimals comes back next to its field.
    page.click("#new-product")
    page.fill("#name", f"Care {width}")
    page.fill("#plan_name", "Care monthly")
    page.select_option("#kind", "recurring")
    page.fill("#amount", "19.999")
    page.click("button:has-text('Create product')")
    assert page.locator("#amount-error").is_visible()
    _check(page, width, shots, "product-new-error")
    page.fill("#amount", "19.90")
    page.fill("#billing_cycles", "12")
    page.click("button:has-text('Create product')")
    page.wait_for_url("**/products?product=*")
    product = page.locator(".product", has_text=f"Care {width}")
    row = product.locator(".plans tr", has_text="Care monthly")
    assert "€19.90" in row.inner_text() and "12 cycles" in row.inner_text()

    # Duplicate the plan: the form comes prefilled, saving adds a new plan.
    row.locator("text=Duplicate").click()
    assert page.locator("#plan_name").input_value() == "Care monthly (copy)"
    assert page.locator("#amount").input_value() == "19.90"
    _check(page, width, shots, "plan-duplicate")
    page.fill("#plan_name", "Care monthly 2027")
    page.fill("#amount", "24")
    page.click("button:has-text('Save plan')")
    page.wait_for_url("**/products?product=*")
    assert "€24.00" in product.locator(".plans tr", has_text="Care monthly 2027").inner_text()

    # Archive the product: it leaves the active list for the archived one.
    product.locator("button:has-text('Archive')").last.click()
    page.goto(url + "/products?status=archived")
    assert page.locator(".product-name", has_text=f"Care {width}").count() == 1
    _check(page, width, shots, "products-archived")
    # The one console message: the refused form's 422 answer.
    assert [p for p in page.problems if "status of 422" not in p] == [], page.problems
    context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_an_empty_catalogue_says_what_a_product_is(browser, empty_catalogue, shots, width):  # noqa: F811
    context, page = _page(browser, width)
    _log_in(page, empty_catalogue.url)
    page.goto(empty_catalogue.url + "/products")
    assert page.locator("#no-products").is_visible()
    _check(page, width, shots, "products-empty")
    page.click("#new-product")
    _check(page, width, shots, "product-new")
    page.goto(empty_catalogue.url + "/products")
    page.click("#tax-rates-link")
    page.fill("#name", f"VAT {width}")
    page.fill("#percentage", "20")
    page.click("button:has-text('Add tax rate')")
    page.wait_for_url("**/tax-rates")
    assert "20 %" in page.locator("tr", has_text=f"VAT {width}").inner_text()
    _check(page, width, shots, "tax-rates")
    assert not page.problems, page.problems
    context.close()
