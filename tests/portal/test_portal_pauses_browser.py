"""The portal's Subscriptions page with a paused plan in Debian's Chromium
at 1200 and 380 px: axe-core (no serious or critical violation), nothing
wider than the window. Screenshots go to ``BRIDGE_SCREENSHOTS`` when set."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from bridge import create_app
from bridge.billing import business, pauses
from bridge.core import clock
from bridge.models.subscriptions import Subscription
from tests.e2e.conftest import LiveServer, make_shop
from tests.hub.test_hub_browser import WIDTHS, browser, shots  # noqa: F401
from tests.hub.test_hub_every_screen_browser import axe_violations
from tests.portal.billing import invoice_of
from tests.portal.conftest import PERSON_EMAIL, add_person
from tests.portal.test_portal_billing_browser import _log_in
from tests.portal.test_portal_subscriptions import subscription_of

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def paused_server(sqlite_template, tmp_path_factory):
    folder = tmp_path_factory.mktemp("portal-pauses")
    shutil.copy(sqlite_template, folder / "bridge.sqlite3")
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{folder / 'bridge.sqlite3'}",
            "SECRET_KEY": "portal-pauses-secret",
            "MAIL_FOLDER": str(folder / "mail"),
        }
    )
    db = app.extensions["bridge.db"]
    shop = make_shop(db)
    with db.session() as session:
        business.finish_getting_started(session)
    add_person(db, shop.client_id)
    paid = invoice_of(db, shop, shop.client_id, "paid")
    sub = subscription_of(db, paid.id)
    with db.session() as session:
        until = (clock.now() + timedelta(days=95)).date()
        pauses.pause(session, session.get(Subscription, sub.id), until)
        session.commit()
    with LiveServer(app) as server:
        yield server
    db.dispose()


def test_a_paused_plan_in_the_portal_passes_axe_and_fits_a_phone(
    browser,  # noqa: F811
    paused_server,
    shots: Path,  # noqa: F811
):
    page = _log_in(browser, paused_server, PERSON_EMAIL)
    problems = {}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(paused_server.url + "/portal/subscriptions")
        assert page.locator(".plan-paused").count() == 1
        shot = shots / f"portal-subscriptions-paused-{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        wide = page.evaluate(
            "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"
        )
        violations = axe_violations(page)
        if wide or violations:
            problems[width] = {"scrolls sideways": wide, "axe": violations}
    assert problems == {}
