"""Every form of the Hub, found in the blueprint's URL map rather than listed
by hand (a screen added later is covered the day it lands): a POST without
the CSRF token is refused, and a read-only staff user's POST is refused,
both before the view runs and with nothing written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, inspect, select, table

from bridge.hub import auth, views
from tests.e2e.conftest import make_invoice, make_shop
from tests.hub.conftest import Hub


def hub_writes(app) -> list[str]:
    """A URL for every POST route of the Hub (ids of the shop's objects do
    not matter: the refusals come before any view reads them)."""
    urls = []
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("hub.") or "POST" not in (rule.methods or ()):
            continue
        values = {}
        for argument in rule.arguments:
            converter = rule._converters[argument]
            choices = getattr(converter, "items", None)  # any(...) converters
            values[argument] = sorted(choices)[0] if choices else 1
        urls.append((rule.endpoint, adapter.build(rule.endpoint, values)))
    return sorted(urls)


def row_counts(db) -> dict[str, int]:
    """Rows per table: what a refused POST must leave as it was."""
    with db.session() as session:
        names = inspect(session.get_bind()).get_table_names()
        return {
            name: session.scalar(select(func.count()).select_from(table(name)))
            for name in names
            if name != "alembic_version"
        }


@pytest.fixture
def shop(db):
    shop = make_shop(db)
    make_invoice(db, shop, "open")
    make_invoice(db, shop, "paid")
    return shop


def test_the_hub_has_forms_to_check(app):
    endpoints = {endpoint for endpoint, _url in hub_writes(app)}
    # The list comes from the URL map: these must be in it, or it is wrong.
    assert {"hub.logout", "hub.login", "hub.bill"} <= endpoints
    assert len(endpoints) > 20


def test_every_hub_post_without_the_csrf_token_is_refused_and_changes_nothing(hub, db, shop, app):
    before = row_counts(db)
    accepted = []
    for endpoint, url in hub_writes(app):
        response = hub.client.post(url, data={"name": "Changed", "amount": "1.00"})
        if response.status_code != 400 or b"This form has expired" not in response.data:
            accepted.append((endpoint, url, response.status_code))
    assert accepted == []
    assert row_counts(db) == before
    assert hub.client.get("/").status_code == 200  # still logged in


def test_a_read_only_staff_user_gets_403_on_every_hub_post_and_changes_nothing(
    client, staff, db, shop, app, monkeypatch
):
    monkeypatch.setattr(auth, "read_only", lambda user: True)
    hub = Hub(client)
    assert hub.login().status_code == 302
    token_page = "/clients"
    before = row_counts(db)
    allowed = []
    for endpoint, url in hub_writes(app):
        if endpoint in views.ALWAYS_ALLOWED_WRITES:
            continue
        response = hub.post(url, {"name": "Changed", "amount": "1.00"}, page=token_page)
        if response.status_code != 403:
            allowed.append((endpoint, url, response.status_code))
    assert allowed == []
    assert row_counts(db) == before
