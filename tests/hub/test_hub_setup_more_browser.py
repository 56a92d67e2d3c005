"""Setup's custom fields, email templates, schedule and API tokens in
Debian's Chromium at 1200 and 380 px: a new field (bad, then good), a
template previewed, the schedule with a bad retry list, a token created and
its secret shown once. axe-core on every screen; screenshots go to
``BRIDGE_SCREENSHOTS`` when set."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

from bridge import demo  # noqa: E402
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

LONG_LABEL = "Vertragsnummer der Wartungsvereinbarung für Mehrfachinstallationen"


def _demo(app, session) -> None:
    demo.load(session, app.extensions["bridge.secret_box"])


@pytest.fixture(scope="module")
def agency(browser, sqlite_template, tmp_path_factory):  # noqa: F811
    app = _serve(sqlite_template, tmp_path_factory.mktemp("setup-more"), fill=_demo)
    with LiveServer(app) as server:
        yield server
    app.extensions["bridge.db"].dispose()


def _check(page, width, shots, name):  # noqa: F811
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-setup-{name}-{width}.png", full_page=True)


@pytest.mark.parametrize("width", WIDTHS)
def test_an_agency_walks_its_setup(browser, agency, shots, width):  # noqa: F811
    url = agency.url
    context, page = _page(browser, width)
    _log_in(page, url)
    page.goto(url + "/setup/custom-fields")

    # A custom field: a choice without options is refused next to its field.
    page.click("text=New field")
    page.fill("#label", f"{width} {LONG_LABEL}")
    page.select_option("#field_type", "choice")
    page.click("button:has-text('Add field')")
    assert page.locator("#options-error").is_visible()
    _check(page, width, shots, "custom-field-error")
    page.fill("#options", "Bronze\nSilver\nGold")
    page.click("button:has-text('Add field')")
    page.wait_for_url("**/setup/custom-fields?saved=1")
    assert page.locator("tr", has_text=f"{width} {LONG_LABEL}").count() == 1
    _check(page, width, shots, "custom-fields")

    # An email template: edited, previewed with sample values.
    page.click(".setup-nav >> text=Email templates")
    page.fill("#email_footer", "Pixel & Press · 12 rue des Arts, Paris")
    page.click("button:has-text('Save email settings')")
    page.wait_for_url("**/setup/email-templates?saved=1#email-settings")
    _check(page, width, shots, "email-templates")
    page.click("text=An invoice is issued (finalized) and sent to the client")
    page.fill("#subject", "Your invoice [[invoice_number]] from [[company_name]]")
    page.click("button:has-text('Preview')")
    assert "INV-2026-00042" in page.locator("#preview").inner_text()
    _check(page, width, shots, "email-template-preview")

    # The schedule: retries out of order come back; then saved.
    page.click(".setup-nav >> text=Schedule")
    page.fill("#dunning_retry_days", "5, 2")
    page.click("button:has-text('Save schedule')")
    assert page.locator("#dunning_retry_days-error").is_visible()
    _check(page, width, shots, "schedule-error")
    page.fill("#dunning_retry_days", "2, 5")
    page.select_option("#timezone", "Europe/Berlin")
    page.click("button:has-text('Save schedule')")
    page.wait_for_url("**/setup/schedule?saved=1")
    assert page.locator("#timezone").input_value() == "Europe/Berlin"

    # An API token: its secret shown once, then only its first characters.
    page.click(".setup-nav >> text=API tokens")
    page.fill("#token-name", f"Accounting export {width}")
    page.check("#access-full")
    page.click("button:has-text('Create token')")
    secret = page.locator("#secret-value").inner_text()
    assert secret.startswith("bb_")
    _check(page, width, shots, "api-token-created")
    page.click("text=I have copied it")
    row = page.locator("tr", has_text=f"Accounting export {width}")
    assert secret[:10] in row.inner_text() and secret not in page.content()
    _check(page, width, shots, "api-tokens")
    row.locator("text=Revoke").click()
    _check(page, width, shots, "api-token-revoke")
    page.click("button:has-text('Revoke token')")
    assert "Revoked" in page.locator("tr", has_text=f"Accounting export {width}").inner_text()
    # The console's only errors: the refused forms' 422 answers.
    assert [p for p in page.problems if "status of 422" not in p] == [], page.problems
    context.close()
