"""A person's role on each site, in Debian's Chromium at 1200 and 380 px:
the demo client's person gets *Edit all* on a site with a very long name
through the People tab; axe-core finds no serious or critical violation and
nothing is wider than the window. Screenshots go to ``BRIDGE_SCREENSHOTS``
when set."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bridge import demo
from bridge.billing import clients, sites
from bridge.models import Site
from tests.e2e.conftest import LiveServer
from tests.hub.test_hub_browser import (
    LONG_NAME,
    WIDTHS,
    _axe,
    _fits,
    _log_in,
    _page,
    _serve,
    browser,  # noqa: F401  (a fixture)
    expect,
    shots,  # noqa: F401  (a fixture)
)

pytestmark = pytest.mark.slow

LONG_URL = "https://" + "hohenzollern-sigmaringen-" * 3 + "webdesign.example/shop"


def _demo_with_a_second_site(app, session) -> None:
    """The demo agency; a client of it with a site gets a person and a
    second site, named long."""
    demo.load(session, app.extensions["bridge.secret_box"])
    client = session.scalar(select(Site).order_by(Site.id).limit(1)).client
    person = sites.add_client_user(session, client, email="maya@studio.example", name="Maya Green")
    clients.create_site(
        session, app.extensions["bridge.secret_box"], client, name=LONG_NAME, url=LONG_URL
    )
    session.flush()
    app.config["SITE_ROLES_CLIENT"] = (client.id, person.id)


@pytest.fixture(scope="module")
def agency_site(browser, sqlite_template, tmp_path_factory):  # noqa: F811
    app = _serve(
        sqlite_template, tmp_path_factory.mktemp("site-roles"), fill=_demo_with_a_second_site
    )
    with LiveServer(app) as server:
        server.ids = app.config["SITE_ROLES_CLIENT"]
        yield server
    app.extensions["bridge.db"].dispose()


@pytest.mark.parametrize("width", WIDTHS)
def test_a_person_gets_another_role_on_one_site(browser, agency_site, shots, width):  # noqa: F811
    client_id, person_id = agency_site.ids
    context, page = _page(browser, width)
    _log_in(page, agency_site.url)
    page.goto(f"{agency_site.url}/clients/{client_id}?tab=people")
    details = page.locator(f"#site-roles-{person_id}")
    details.locator("summary").click()
    select_ = details.locator("select").filter(has=page.locator("option[selected][value='']")).first
    expect(select_).to_be_visible()
    _axe(page)
    _fits(page, width)
    long_site = details.locator(".field", has_text=LONG_NAME).locator("select")
    long_site.select_option(label="Edit all & access billing")
    details.locator("button[type=submit]").click()
    page.wait_for_url(f"**/clients/{client_id}?tab=people&saved={person_id}*")
    expect(page.locator(f"#site-roles-{person_id} .status")).to_have_text("Saved")
    expect(page.locator(f"#person-{person_id} .site-role")).to_have_text(
        f"Edit all & access billing on {LONG_NAME}"
    )
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-client-site-roles-{width}.png", full_page=True)
    assert not page.problems, page.problems
    context.close()
