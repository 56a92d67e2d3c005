"""Roles and Setup > Team in Debian's Chromium at 1200 and 380 px: a custom
role made with a custom area (its action checkboxes appear only with
*Custom*, by CSS alone), made the default; the team with a read-only user.
axe-core on every screen; screenshots go to ``BRIDGE_SCREENSHOTS`` when set."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

from bridge import demo  # noqa: E402
from bridge.auth.accounts import create_staff_user  # noqa: E402
from tests.e2e.conftest import LiveServer  # noqa: E402
from tests.hub.test_hub_browser import (  # noqa: E402,F401  (fixtures)
    WIDTHS,
    _axe,
    _fits,
    _log_in,
    _page,
    _serve,
    browser,
    expect,
    shots,
)


def _demo_with_a_team(app, session) -> None:
    demo.load(session, app.extensions["bridge.secret_box"])
    create_staff_user(
        session,
        email="rita.reader-with-a-long-address@pixel-and-pine-studio.example",
        password=None,
        name="Rita Reader",
        read_only=True,
    )


@pytest.fixture(scope="module")
def team_site(browser, sqlite_template, tmp_path_factory):  # noqa: F811
    app = _serve(sqlite_template, tmp_path_factory.mktemp("roles"), fill=_demo_with_a_team)
    with LiveServer(app) as server:
        yield server
    app.extensions["bridge.db"].dispose()


def _check(page, width, shots, name):  # noqa: F811
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"hub-{name}-{width}.png", full_page=True)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_custom_role_with_a_custom_area_becomes_the_default(browser, team_site, shots, width):  # noqa: F811
    url = team_site.url
    name = f"Hosting helper with logs and backups ({width} px)"
    context, page = _page(browser, width)
    _log_in(page, url)
    page.click(".sidenav >> text=Roles")
    page.wait_for_url(url + "/roles")
    expect(page.locator(".status-system")).to_have_count(3)
    _check(page, width, shots, "roles")

    page.click("#new-role")
    page.wait_for_url(url + "/roles/new")
    hosting = page.locator("#area-hosting .area-actions")
    expect(hosting).to_be_hidden()
    page.fill("#name", name)
    page.fill("#description", "Hosting tools for the client's developer; no SEO.")
    page.check("#level-sites-view")
    page.check("#level-hosting-custom")
    expect(hosting).to_be_visible()  # Custom shows the area's actions
    page.check("#action-hosting-logs")
    page.check("#action-hosting-backups")
    page.check("#level-billing-edit")
    _check(page, width, shots, "role-editor")
    page.click("#save-role")
    page.wait_for_url(url + "/roles**")
    card = page.locator(".role", has_text=name)
    expect(card.locator(".grant-custom dd")).to_have_text("Custom: Logs, Backups")

    card.locator("button", has_text="Make default").click()
    page.wait_for_url(url + "/roles")
    card = page.locator(".role", has_text=name)
    expect(card.locator(".role-default")).to_have_count(1)
    expect(page.locator(".role-default")).to_have_count(1)
    expect(page.locator("[role=status]")).to_contain_text("default role for new clients")
    _check(page, width, shots, "roles-default")

    page.click(".sidenav >> text=Setup")
    page.click(".setup-nav >> text=Team")
    page.wait_for_url(url + "/setup/team")
    expect(page.locator(".person", has_text="Rita Reader")).to_contain_text("Read only")
    _check(page, width, shots, "team")
    assert not page.problems, page.problems
    context.close()
