"""Every form of the portal, found in the URL map (``tests.portal.routes``):
a POST without the CSRF token, without a session, by another client's
person naming this client's objects, or by staff, is refused before the
view does anything, and nothing at all is written (``snapshot``)."""

from __future__ import annotations

import pytest

from bridge.models import Invoice
from bridge.portal import area
from tests.conftest import STAFF_PASSWORD, snapshot
from tests.hub.conftest import Hub, add_staff
from tests.portal.conftest import set_role
from tests.portal.objects import own_objects
from tests.portal.routes import PORTAL, urls

# What a form might send: enough for any view to act if it were let through.
DATA = {
    "name": "Changed",
    "url": "https://changed.example",
    "amount": "1.00",
    "confirm": "1",
    "action": "cancel",
    "email": "changed@example.com",
}


@pytest.fixture
def owned(app, db, shop, person):
    """Alice's client's invoice, subscription and site."""
    return own_objects(app, db, shop)


def writes(app, owned=None):
    return urls(app, PORTAL, "POST", owned)


def test_the_portal_has_forms_to_check(app, owned):
    endpoints = {endpoint for endpoint, _url, _ids in writes(app, owned)}
    assert "client.logout" in endpoints  # from the URL map: if not, the list is wrong
    assert not endpoints & {"client.login", "client.password_reset", "client.language"}


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(app, db, owned, portal):
    before = snapshot(db)
    accepted = []
    for endpoint, url, _ids in writes(app, owned):
        response = portal.client.post(url, data=DATA)
        if response.status_code != 400 or b"This form has expired" not in response.data:
            accepted.append((endpoint, url, response.status_code))
    assert accepted == []
    assert snapshot(db) == before
    assert portal.get("/portal/").status_code == 200  # still logged in


def test_a_post_without_a_session_is_refused_and_changes_nothing(app, db, owned, client):
    before = snapshot(db)
    accepted = []
    for endpoint, url, _ids in writes(app, owned):
        response = client.post(url, data=DATA)
        login_page = response.status_code == 302 and "/portal/login" in response.location
        if not (response.status_code == 401 or login_page):
            accepted.append((endpoint, url, response.status_code))
    assert accepted == []
    assert snapshot(db) == before


def answered_to_another_client(app, owned, bob) -> list[tuple]:
    """The POSTs naming this client's objects that Bob's session got
    anything but a 404 from."""
    answered = []
    for endpoint, url, has_ids in writes(app, owned):
        if not has_ids:
            continue
        response = bob.post(url, DATA)
        if response.status_code != 404:
            answered.append((endpoint, url, response.status_code))
    return answered


def test_another_clients_person_naming_this_clients_objects_gets_404(
    app, db, owned, other_portal, second_client
):
    # Bob's role opens everything: only ownership may refuse him.
    set_role(db, second_client, "edit_all")
    before = snapshot(db)
    assert answered_to_another_client(app, owned, other_portal) == []
    assert snapshot(db) == before
    assert other_portal.get("/portal/").status_code == 200  # still logged in


@pytest.fixture
def probes(app):
    """Two portal writes for the check above: one reaches its invoice with
    ``area.own``, one forgets to (added before the app's first request)."""

    def owned_probe(invoice_id):
        area.own(Invoice, invoice_id)
        return "done"

    app.add_url_rule(
        "/portal/probe-owned/<int:invoice_id>", "client.probe_owned", owned_probe, methods=["POST"]
    )
    app.add_url_rule(
        "/portal/probe-leaky/<int:invoice_id>",
        "client.probe_leaky",
        lambda invoice_id: "done",
        methods=["POST"],
    )


def test_the_check_finds_a_write_that_forgets_ownership(
    probes, app, db, owned, other_portal, second_client
):
    set_role(db, second_client, "edit_all")
    answered = answered_to_another_client(app, owned, other_portal)
    assert {endpoint for endpoint, _url, _status in answered} == {"client.probe_leaky"}


def test_a_staff_session_is_refused_on_every_portal_post(app, db, owned):
    add_staff(db)
    hub = Hub(app.test_client())
    assert hub.login(password=STAFF_PASSWORD).status_code == 302
    before = snapshot(db)
    accepted = []
    for endpoint, url, _ids in writes(app, owned):
        response = hub.post(url, DATA, page="/clients")
        if response.status_code != 403:
            accepted.append((endpoint, url, response.status_code))
    assert accepted == []
    assert snapshot(db) == before
    assert hub.client.get("/clients").status_code == 200  # still the Hub's


def test_the_routes_are_filled_with_the_clients_ids(app, owned):
    # The GET side of the same builder (tests.portal.test_portal_cross_client)
    # names this client's site for the one-site page.
    built = {url for _e, url, _i in urls(app, PORTAL, "GET", owned)}
    assert f"/portal/sites/{owned.site}" in built
