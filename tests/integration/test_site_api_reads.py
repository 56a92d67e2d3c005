"""What the site API's signed reads keep and skip, on SQLite and PostgreSQL:
a site's secret decrypted once per process, the business settings kept per
process and reloaded when another process changes them, no transaction
around a signed GET on PostgreSQL (a signed write keeps its own), and the
answers these shortcuts must not change."""

from __future__ import annotations

import pytest

from tests.integration.test_site_api import bill, hosting_plan, make_client, make_site, ok
from tests.integration.test_site_api import plugin_for as plugin_of
from tests.unit.test_secret_box import CountingFernet


@pytest.fixture
def acme(api_eur, client):
    """A client with a site on a hosting plan, and the site's plugin."""
    customer = make_client(api_eur, 1)
    site = make_site(api_eur, customer["id"])
    bill(api_eur, customer["id"], site["id"], hosting_plan(api_eur)["id"], pay=True)
    return customer, site, plugin_of(client, site)


# The site's secret ------------------------------------------------------------


def test_a_sites_secret_is_decrypted_once_for_its_signed_calls(app, acme):
    _customer, _site, plugin = acme
    box = app.extensions["bridge.secret_box"]
    box._fernet = counting = CountingFernet(box._fernet)
    for path in ("/summary", "/hosting-plan", "/access?email=c1@x.example"):
        ok(plugin.get(path))
    assert counting.decrypted == 1


def test_a_rotated_secret_signs_at_once_and_the_old_one_no_more(api, acme, client):
    customer, site, plugin = acme
    ok(plugin.get("/hosting-plan"))  # the old secret is kept decrypted
    rotated = ok(api.post(f"/clients/{customer['id']}/sites/{site['id']}/rotate-secret"))
    assert plugin.get("/hosting-plan").status_code == 401
    fresh = plugin_of(client, {"public_id": site["public_id"], "secret": rotated["secret"]})
    assert ok(fresh.get("/hosting-plan"))["hosting_plan"]["product"] == "Managed hosting"
