"""A client's person reaches nothing of another client's, nor of the Hub,
nor of the API, whichever page is asked: the routes are read from the URL
map (``tests.portal.routes``), so pages other branches add are checked too.

Alice's client owns an invoice, a subscription and a site; Bob (another
client, with a role that opens everything, so that only ownership may
refuse him) asks for them."""

from __future__ import annotations

import re

import pytest

from bridge.models import Site
from bridge.portal import area
from tests.portal.conftest import PERSON_EMAIL, set_role
from tests.portal.objects import own_objects
from tests.portal.routes import PORTAL, urls

# Alice's client as the shop made it (tests.e2e.conftest.make_shop).
ALICE_WORDS = ("Alice Martin", "Martin Bakery", "alice@martin-bakery.example", PERSON_EMAIL)
# The API routes a client session may reach without a token: the OpenAPI
# document (public, no data) and the plugin's unsigned connect (it takes a
# one-time code, and answers 400 to anything else).
API_OPEN = {"api-docs.openapi_json", "site.Connect"}


@pytest.fixture
def owned(app, db, shop, person):
    return own_objects(app, db, shop)


@pytest.fixture
def bob(db, second_client, other_portal):
    set_role(db, second_client, "edit_all")
    return other_portal


def shown_to_another_client(app, owned, bob) -> list[tuple]:
    """The pages naming this client's objects that Bob's session got
    anything but a 404 from."""
    answered = []
    for endpoint, url, has_ids in urls(app, PORTAL, "GET", owned):
        if has_ids:
            response = bob.get(url)
            if response.status_code != 404:
                answered.append((endpoint, url, response.status_code))
    return answered


def test_every_portal_page_naming_another_clients_object_is_not_found(app, owned, bob):
    pages = urls(app, PORTAL, "GET", owned)
    assert any(e == "client.site" for e, _url, _ids in pages)  # the map is read right
    assert shown_to_another_client(app, owned, bob) == []


@pytest.fixture
def probes(app):
    """Two portal pages for the check above: one reaches its site with
    ``area.own``, one forgets to (added before the app's first request)."""

    def owned_probe(site_id):
        area.own(Site, site_id)
        return "shown"

    app.add_url_rule("/portal/probe-owned/<int:site_id>", "client.probe_owned", owned_probe)
    app.add_url_rule("/portal/probe-leaky/<int:site_id>", "client.probe_leaky", lambda site_id: "x")


def test_the_check_finds_a_page_that_forgets_ownership(probes, app, owned, bob):
    answered = shown_to_another_client(app, owned, bob)
    assert {endpoint for endpoint, _url, _status in answered} == {"client.probe_leaky"}


def test_no_portal_page_shows_another_clients_name_email_or_invoices(app, owned, bob):
    pages = [(e, url) for e, url, has_ids in urls(app, PORTAL, "GET", public=True) if not has_ids]
    assert any(e == "client.sites" for e, _url in pages)
    words = [*ALICE_WORDS, *owned.numbers]
    leaks = []
    for endpoint, url in pages:
        response = bob.get(url)
        assert response.status_code < 500, (endpoint, url)
        text = response.get_data(as_text=True)
        leaks += [(endpoint, word) for word in words if word in text]
    assert leaks == []


def test_no_hub_page_opens_for_a_client_session(app, owned, portal):
    pages = urls(app, "hub.", "GET", owned, public=True)
    assert len(pages) > 20
    opened = []
    for endpoint, url, _ids in pages:
        if endpoint == "hub.static":  # the Hub's stylesheet and scripts
            continue
        response = portal.get(url)
        to_portal = response.status_code == 302 and response.location.endswith("/portal/")
        if not (to_portal or response.status_code == 403):
            opened.append((endpoint, url, response.status_code))
    assert opened == []


def api_calls(app):
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint in API_OPEN:
            continue
        url = re.sub(r"<[^>]+>", "1", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url


def test_the_api_refuses_a_client_session_without_a_token(app, owned, portal):
    calls = list(api_calls(app))
    assert len(calls) > 40
    answered = []
    for endpoint, method, url in calls:
        response = portal.client.open(url, method=method, json={"name": "Changed"})
        if response.status_code != 401 or not response.is_json or "error" not in response.json:
            answered.append((endpoint, method, url, response.status_code))
    assert answered == []
