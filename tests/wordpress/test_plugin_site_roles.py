"""A person's role on one site, in the real WordPress: the plugin, unchanged,
shows Jane what her role on this site allows while Sam, of the same client,
keeps the client's role; removing Jane's role on the site takes her back."""

from __future__ import annotations

import pytest

from tests.wordpress.conftest import JANE, SAM, system_role, use_role
from tests.wordpress.test_plugin_e2e import page

pytestmark = pytest.mark.slow  # WordPress on PHP with MariaDB


def person_id(bridge, email: str) -> int:
    people = bridge.api("GET", f"/clients/{bridge.shop.client_id}/users")["data"]
    return next(person["id"] for person in people if person["email"] == email)


def test_a_role_on_this_site_gives_one_person_more_than_the_client_role(
    connected, wordpress, bridge
):
    use_role(bridge, wordpress, system_role(bridge, "billing_only"))
    shop = bridge.shop
    path = f"/clients/{shop.client_id}/users/{person_id(bridge, JANE[2])}/site-roles/{shop.site_id}"
    jane = wordpress.login(JANE[0], JANE[1])
    sam = wordpress.login(SAM[0], SAM[1])
    assert page(jane, wordpress, "hosting").status_code == 403
    try:
        bridge.api("PUT", path, {"role_id": system_role(bridge, "edit_all")})
        wordpress.flush_plugin_cache()
        hosting = page(jane, wordpress, "hosting")
        assert hosting.status_code == 200
        assert shop.hosting_plan in hosting.text
        assert page(jane, wordpress, "seo").status_code == 200
        assert page(jane, wordpress, "billing").status_code == 200
        # Sam, of the same client, keeps the client's role here.
        assert page(sam, wordpress, "hosting").status_code == 403
        assert page(sam, wordpress, "billing").status_code == 200
    finally:
        bridge.api("DELETE", path)
        wordpress.flush_plugin_cache()
    assert page(jane, wordpress, "hosting").status_code == 403
