"""Inviting a client in Debian's Chromium: staff press *Invite* on the
client's page (1200 px), the person opens the link of the queued email in
a fresh browser (380 px), is told their password is too easy to guess,
then sets a good one and lands, logged in, on their portal's home; the Hub
then says *Active since*.
axe-core on every screen; screenshots go to ``BRIDGE_SCREENSHOTS`` when set."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.slow

from sqlalchemy import select  # noqa: E402

from bridge.billing import clients as client_book  # noqa: E402
from bridge.billing.business import get_settings  # noqa: E402
from bridge.models import Client, OutboxMessage  # noqa: E402
from tests.e2e.conftest import LiveServer  # noqa: E402
from tests.hub.test_hub_browser import (  # noqa: E402,F401  (fixtures)
    _axe,
    _fits,
    _log_in,
    _only_the_admin,
    _page,
    _serve,
    browser,
    expect,
    shots,
)

NAME = "Maximilian von Hohenzollern-Sigmaringen Webdesign"
EMAIL = "max.hohenzollern@webdesign-sigmaringen.example"


def _agency_and_a_client(app, session) -> None:
    _only_the_admin(app, session)
    settings = get_settings(session)
    settings.company_name = "Pixel & Pine Studio"
    settings.email = "office@pixel-and-pine.example"
    client_book.create_client(session, name=NAME, email=EMAIL, company="Webdesign GmbH")


@pytest.fixture(scope="module")
def invite_site(browser, sqlite_template, tmp_path_factory):  # noqa: F811
    app = _serve(sqlite_template, tmp_path_factory.mktemp("invite"), fill=_agency_and_a_client)
    with LiveServer(app) as server:
        app.extensions["bridge.db"].set_public_url(server.url)
        server.app = app
        yield server
    app.extensions["bridge.db"].dispose()


def _check(page, width, shots, name):  # noqa: F811
    _axe(page)
    _fits(page, width)
    page.screenshot(path=shots / f"{name}-{width}.png", full_page=True)


def test_staff_invite_and_the_client_accepts_from_the_email(browser, invite_site, shots):  # noqa: F811
    url = invite_site.url
    db = invite_site.app.extensions["bridge.db"]
    with db.session() as session:
        client_id = session.scalar(select(Client.id).where(Client.email == EMAIL))

    context, page = _page(browser, 1200)
    _log_in(page, url)
    page.goto(f"{url}/clients/{client_id}")
    expect(page.locator("#invitation-state")).to_contain_text("Not invited yet")
    page.get_by_role("button", name="Invite", exact=True).click()
    expect(page.locator("#invitation-sent")).to_contain_text(EMAIL)
    expect(page.get_by_role("button", name="Invite again")).to_be_visible()
    _check(page, 1200, shots, "hub-client-invited")
    page.set_viewport_size({"width": 380, "height": 900})
    _check(page, 380, shots, "hub-client-invited")
    page.set_viewport_size({"width": 1200, "height": 900})

    with db.session() as session:
        body = session.scalar(
            select(OutboxMessage.body_text).where(OutboxMessage.trigger == "client_invitation")
        )
    link = re.search(r"https?://\S+/invitations/[A-Za-z0-9_-]+", body).group(0)
    assert link.startswith(url)

    guest, person = _page(browser, 380)
    person.goto(link)
    expect(person.locator("h1")).to_have_text("Set up your account")
    expect(person.locator(".company")).to_have_text("Pixel & Pine Studio")
    _check(person, 380, shots, "invitation")
    person.fill("#name", "Max Hohenzollern")
    person.fill("#password", "password1234")
    person.click("button[type=submit]")
    expect(person.locator("#password-error")).to_contain_text("too easy to guess")
    expect(person.locator("#name")).to_have_value("Max Hohenzollern")
    _check(person, 380, shots, "invitation-weak-password")
    person.fill("#password", "plum orbit lantern cactus")
    person.click("button[type=submit]")
    person.wait_for_url("**/portal/")
    expect(person.locator("h1")).to_contain_text("Hello")
    _check(person, 380, shots, "invitation-done")
    person.goto(link)  # used: the neutral page
    expect(person.locator("#invitation-invalid")).to_be_visible()
    _check(person, 380, shots, "invitation-invalid")
    # Chromium logs the 422 and the 410 themselves; nothing else went wrong.
    assert [p for p in person.problems if "status of 4" not in p] == []
    assert page.problems == []
    guest.close()

    page.reload()
    expect(page.locator("#invitation-state")).to_contain_text("Active since")
    expect(page.get_by_role("button", name="Invite again")).to_have_count(0)
    context.close()
