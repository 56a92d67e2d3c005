"""Setup's *Import from Stripe* in Debian's Chromium at 1200 and 380 px: a
dry run started from the screen, its page polling until the report shows
(a conflict, a customer with a very long name, Stripe's subscription and
what the import does with it), then one customer ticked and imported with
Stripe asked to cancel its subscription at period end. Stripe is
``responses`` in Stripe's documented shapes, as the import's own tests do.
axe-core on every screen; screenshots go to ``BRIDGE_SCREENSHOTS`` when set."""

from __future__ import annotations

import pytest
import responses

pytestmark = pytest.mark.slow

from bridge import demo  # noqa: E402
from bridge.billing import clients  # noqa: E402
from bridge.billing.business import get_settings  # noqa: E402
from tests.e2e.conftest import LiveServer  # noqa: E402
from tests.hub.test_hub_browser import (  # noqa: E402,F401  (fixtures)
    WIDTHS,
    _axe,
    _fits,
    _log_in,
    _page,
    _serve,
    browser,
    shots,
)
from tests.payments import stripe_shapes as shapes  # noqa: E402

LONG_NAME = "Maximilian Alexander von Hohenzollern-Sigmaringen Webdesign und Hosting GmbH & Co. KG"
PERIOD_START = 1_796_083_200  # 2026-12-01
PERIOD_END = 1_798_761_600  # 2027-01-01


def _demo_with_stripe(app, session) -> None:
    demo.load(session, app.extensions["bridge.secret_box"])
    box = app.extensions["bridge.secret_box"]
    get_settings(session).stripe_secret_key_encrypted = box.encrypt("sk_test_hubbrowser")
    taken = clients.create_client(session, name="Carol (bridge)", email="carol@example.com")
    taken.stripe_customer_id = "cus_elsewhere"


@pytest.fixture(scope="module")
def stripe_account():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru("http://127.0.0.1")
        stripe = shapes.FakeStripe(mock)
        monthly = shapes.price("price_care", "prod_care", 4900, nickname="Monthly care")
        stripe.lists["customers"] = [
            shapes.customer("cus_1200", "wide@example.com", f"1200 {LONG_NAME}"),
            shapes.customer("cus_380", "narrow@example.com", f"380 {LONG_NAME}"),
            shapes.customer("cus_carol", "carol@example.com", "Carol"),
        ]
        stripe.lists["products"] = [shapes.product("prod_care", "Website care")]
        stripe.lists["prices"] = [
            monthly,
            shapes.price("price_usd", "prod_care", 5900, currency="usd"),
        ]
        stripe.lists["subscriptions"] = [
            shapes.subscription(f"sub_{w}", f"cus_{w}", monthly, start=PERIOD_START, end=PERIOD_END)
            for w in WIDTHS
        ]
        yield stripe


@pytest.fixture(scope="module")
def agency(browser, sqlite_template, tmp_path_factory, stripe_account):  # noqa: F811
    app = _serve(sqlite_template, tmp_path_factory.mktemp("stripe-import"), fill=_demo_with_stripe)
    with LiveServer(app) as server:
        yield server
    app.extensions["bridge.db"].dispose()


def _check(page, width, shots, name):  # noqa: F811
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-stripe-import-{name}-{width}.png", full_page=True)


@pytest.mark.parametrize("width", WIDTHS)
def test_staff_dry_run_then_import_one_customer(browser, agency, stripe_account, shots, width):  # noqa: F811
    url = agency.url
    context, page = _page(browser, width)
    _log_in(page, url)
    page.goto(url + "/setup")
    page.click(".setup-nav >> text=Import from Stripe")
    page.wait_for_url("**/setup/import-stripe")
    _check(page, width, shots, "start")

    # The dry run: its page polls itself until the report is there.
    page.click("button:has-text('Start a dry run')")
    page.wait_for_selector("#import-counts", timeout=60_000)
    carol = page.locator("#import-problems tr", has_text="cus_carol")
    assert "Conflict" in carol.inner_text()
    assert "belongs to another client" in carol.inner_text()
    mine = page.locator("#import-clients tr", has_text=f"cus_{width}")
    assert "Would create" in mine.inner_text() and LONG_NAME in mine.inner_text()
    subscription = page.locator("#import-subscriptions tr", has_text=f"sub_{width}")
    assert "Jan 1, 2027" in subscription.inner_text()
    _check(page, width, shots, "dry-run")

    # One customer ticked, Stripe asked to end its subscription at period end.
    page.check(f"#pick-cus_{width}")
    page.check("#which-some")
    page.check("#subs-cancel")
    page.click("#apply-form button[type=submit]")
    page.wait_for_selector("text=Imported:", timeout=60_000)
    row = page.locator("#import-subscriptions tr", has_text=f"sub_{width}")
    assert "Stripe was asked to cancel it at that period end" in row.inner_text()
    assert f"cus_{width}" in page.locator("#import-clients").inner_text()
    assert "cus_carol" not in page.locator("#import-clients").inner_text()
    _check(page, width, shots, "applied")
    assert (f"sub_{width}", {"cancel_at_period_end": "true"}) in stripe_account.updates
    assert page.problems == []
    context.close()
