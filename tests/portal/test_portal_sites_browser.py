"""The Sites page and the public pages of the portal in Debian's Chromium:
at 1200 and 380 px wide nothing scrolls sideways (a long site address
wraps), axe-core finds no serious or critical violation. Screenshots go to
``BRIDGE_SCREENSHOTS`` when it is set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

from bridge.billing import business  # noqa: E402
from tests.e2e.conftest import LiveServer, make_shop  # noqa: E402
from tests.hub.test_hub_browser import _serve, browser  # noqa: E402, F401
from tests.hub.test_hub_every_screen_browser import axe_violations  # noqa: E402
from tests.portal.conftest import PERSON_EMAIL, PERSON_PASSWORD, add_person, set_role  # noqa: E402
from tests.portal.objects import LONG_URL, add_site, give_custom_role  # noqa: E402

WIDTHS = (1200, 380)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = os.environ.get("BRIDGE_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("portal-shots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def agency(sqlite_template, tmp_path_factory):
    """Alice's client with three sites: one with a very long address, one
    disabled."""
    app = _serve(sqlite_template, tmp_path_factory.mktemp("sites"), fill=lambda *_: None)
    db = app.extensions["bridge.db"]
    shop = make_shop(db)
    with db.session() as session:
        business.finish_getting_started(session)
    add_person(db, shop.client_id)
    add_site(app, db, shop.client_id, "Martin Bakery shop", "https://shop.martin-bakery.example")
    add_site(app, db, shop.client_id, "Recipes blog", LONG_URL)
    add_site(app, db, shop.client_id, "Old site", "https://old.martin.example", disabled=True)
    with LiveServer(app) as server:
        server.db = db
        server.client_id = shop.client_id
        yield server
    db.dispose()


def look(page, url: str, name: str, shots: Path) -> dict:
    """The page at each width: its screenshot, and what is wrong with it."""
    problems = {}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(url)
        page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
        scroll = page.evaluate("document.documentElement.scrollWidth")
        if scroll > width:
            problems[f"{name}@{width} scrolls sideways"] = scroll
        violations = axe_violations(page)
        if violations:
            problems[f"{name}@{width} axe"] = violations
    return problems


def test_the_public_pages_fit_and_pass_axe(browser, agency, shots):  # noqa: F811
    page = browser.new_page()
    problems = {}
    problems |= look(page, f"{agency.url}/portal/login", "login", shots)
    problems |= look(page, f"{agency.url}/portal/password-reset", "reset", shots)
    problems |= look(page, f"{agency.url}/portal/password-reset/x", "reset-expired", shots)
    page.close()
    assert problems == {}, __import__("pprint").pformat(problems)


def test_the_sites_page_fits_and_passes_axe(browser, agency, shots):  # noqa: F811
    page = browser.new_page()
    page.goto(f"{agency.url}/portal/login")
    page.fill("#email", PERSON_EMAIL)
    page.fill("#password", PERSON_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{agency.url}/portal/")
    problems = {}
    set_role(agency.db, agency.client_id, "edit_all")
    problems |= look(page, f"{agency.url}/portal/sites", "sites-edit-all", shots)
    wp_admin = page.get_attribute("a.site-wp >> nth=0", "href")
    assert wp_admin.endswith("/wp-admin/")
    give_custom_role(agency.db, agency.client_id)
    problems |= look(page, f"{agency.url}/portal/sites", "sites-custom-role", shots)
    problems |= look(page, f"{agency.url}/portal/sites/999999", "error-404", shots)
    set_role(agency.db, agency.client_id, "billing_only")
    problems |= look(page, f"{agency.url}/portal/sites", "error-403", shots)
    page.close()
    assert problems == {}, __import__("pprint").pformat(problems)
