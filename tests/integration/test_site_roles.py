"""A person's role on one site of their client, through HTTP on SQLite and
PostgreSQL: staff set and remove it, it beats the client's role on that site
only (what ``/api/v1/site/access`` answers the site's plugin, signed), and
what cannot be is refused with a stable code and nothing changed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bridge.models import SiteRole
from tests.conftest import snapshot
from tests.integration.test_site_api import (
    add_user,
    error_code,
    make_client,
    make_site,
    ok,
    plugin_for,
)

EDIT_ALL = {
    "sites": ["view", "manage"],
    "hosting": ["view", "analytics", "logs", "emails", "backups", "staging"],
    "seo": ["view", "scan", "configure"],
    "site_billing": ["view", "pay"],
    "billing": ["view", "pay"],
}
BILLING_ONLY = {
    "sites": [],
    "hosting": [],
    "seo": [],
    "site_billing": ["view", "pay"],
    "billing": ["view", "pay"],
}


def system_role(api, key: str) -> dict:
    return next(r for r in ok(api.get("/roles"))["data"] if r["system_key"] == key)


@pytest.fixture
def two_sites(api, client):
    """A Billing only client with a shop and a blog, their plugins, and Jane."""
    customer = make_client(api, 1)
    shop = make_site(api, customer["id"], "Shop")
    blog = make_site(api, customer["id"], "Blog")
    jane = add_user(api, customer["id"], "jane@acme.example", "Jane")
    return customer, shop, blog, jane, plugin_for(client, shop), plugin_for(client, blog)


def site_roles_path(customer, person, site=None) -> str:
    path = f"/clients/{customer['id']}/users/{person['id']}/site-roles"
    return path if site is None else f"{path}/{site['id']}"


def access(plugin, email="jane%40acme.example") -> dict:
    return ok(plugin.get(f"/access?email={email}"))


def test_a_role_on_one_site_beats_the_client_role_there_only(api, two_sites):
    customer, shop, blog, jane, shop_plugin, blog_plugin = two_sites
    edit_all = system_role(api, "edit_all")
    assert access(shop_plugin)["areas"] == BILLING_ONLY

    given = ok(api.put(site_roles_path(customer, jane, shop), json={"role_id": edit_all["id"]}))
    assert given["site"] == {"id": shop["id"], "name": "Shop", "url": shop["url"]}
    assert (
        given["role"] == given["effective_role"] == {"id": edit_all["id"], "name": edit_all["name"]}
    )

    on_shop = access(shop_plugin)
    assert on_shop["role"] == {"id": edit_all["id"], "name": "Edit all & access billing"}
    assert on_shop["areas"] == EDIT_ALL
    on_blog = access(blog_plugin)
    assert on_blog["role"] == {"id": customer["role"]["id"], "name": "Billing only"}
    assert on_blog["areas"] == BILLING_ONLY

    listed = ok(api.get(site_roles_path(customer, jane)))["data"]
    assert [(e["site"]["name"], e["role"], e["effective_role"]["name"]) for e in listed] == [
        ("Blog", None, "Billing only"),
        ("Shop", {"id": edit_all["id"], "name": edit_all["name"]}, "Edit all & access billing"),
    ]

    # Removing it falls back to the client's role on the shop.
    assert api.delete(site_roles_path(customer, jane, shop)).status_code == 204
    assert access(shop_plugin)["areas"] == BILLING_ONLY
    assert ok(api.get(site_roles_path(customer, jane)))["data"][1]["role"] is None
    # Removing it again changes nothing.
    assert api.delete(site_roles_path(customer, jane, shop)).status_code == 204


def test_a_role_on_a_site_is_the_persons_alone(api, two_sites):
    """Joe, of the same client, keeps the client's role on the shop."""
    customer, shop, _, jane, shop_plugin, _ = two_sites
    add_user(api, customer["id"], "joe@acme.example")
    edit_all = system_role(api, "edit_all")
    ok(api.put(site_roles_path(customer, jane, shop), json={"role_id": edit_all["id"]}))
    assert access(shop_plugin, "joe%40acme.example")["areas"] == BILLING_ONLY


def test_the_client_role_changing_leaves_a_site_role_in_place(api, two_sites):
    customer, shop, blog, jane, shop_plugin, blog_plugin = two_sites
    billing_only = system_role(api, "billing_only")
    ok(
        api.patch(
            f"/clients/{customer['id']}", json={"role_id": system_role(api, "edit_all")["id"]}
        )
    )
    ok(api.put(site_roles_path(customer, jane, shop), json={"role_id": billing_only["id"]}))
    assert access(shop_plugin)["areas"] == BILLING_ONLY
    assert access(blog_plugin)["areas"] == EDIT_ALL


def test_setting_a_site_role_again_or_changing_it_is_audited(api, two_sites):
    customer, shop, _, jane, shop_plugin, _ = two_sites
    path = site_roles_path(customer, jane, shop)
    view_all, edit_all = system_role(api, "view_all"), system_role(api, "edit_all")
    ok(api.put(path, json={"role_id": edit_all["id"]}))
    ok(api.put(path, json={"role_id": edit_all["id"]}))  # the same: nothing to record
    ok(api.put(path, json={"role_id": view_all["id"]}))
    assert access(shop_plugin)["role"]["name"] == "View all & access billing"
    assert api.delete(path).status_code == 204

    log = ok(api.get(f"/audit-log?client_id={customer['id']}"))["data"]
    entries = [e for e in log if e["object_type"] == "site_role"]
    assert sorted(e["action"] for e in entries) == [
        "site_role.created",
        "site_role.deleted",
        "site_role.updated",
    ]
    created = next(e for e in entries if e["action"] == "site_role.created")
    assert created["summary"]["user_id"] == jane["id"]
    assert created["summary"]["site_id"] == shop["id"]
    assert created["summary"]["role_id"] == edit_all["id"]
    updated = next(e for e in entries if e["action"] == "site_role.updated")
    assert updated["summary"]["role_id"] == [edit_all["id"], view_all["id"]]


def test_what_cannot_be_is_refused_and_changes_nothing(api, db, two_sites):
    customer, shop, _, jane, _, _ = two_sites
    other = make_client(api, 2)
    others_site = make_site(api, other["id"], "Elsewhere")
    mallory = add_user(api, other["id"], "mallory@other.example")
    edit_all = system_role(api, "edit_all")
    before = snapshot(db)

    response = api.put(site_roles_path(customer, jane, shop), json={"role_id": 999})
    assert error_code(response) == (422, "unknown_role")
    assert "role_id" in response.get_json()["error"]["fields"]
    response = api.put(
        site_roles_path(customer, jane, others_site), json={"role_id": edit_all["id"]}
    )
    assert error_code(response) == (422, "site_of_another_client")
    assert error_code(api.delete(site_roles_path(customer, jane, others_site))) == (
        422,
        "site_of_another_client",
    )
    # A person of another client, through this client: not found.
    response = api.put(site_roles_path(customer, mallory, shop), json={"role_id": edit_all["id"]})
    assert error_code(response) == (404, "not_found")
    assert api.get(site_roles_path(customer, mallory)).status_code == 404
    assert error_code(
        api.put(site_roles_path(customer, jane, {"id": 99999}), json={"role_id": edit_all["id"]})
    ) == (404, "not_found")
    for body in ({}, {"role_id": "2"}, {"role_id": 0}, {"role_id": True}, {"role_id": None}):
        response = api.put(site_roles_path(customer, jane, shop), json=body)
        assert error_code(response) == (422, "validation_error"), body
    assert snapshot(db) == before


def test_a_role_given_on_a_site_cannot_be_deleted(api, two_sites):
    customer, shop, _, jane, shop_plugin, _ = two_sites
    role = ok(
        api.post(
            "/roles", json={"name": "Shop keeper", "permissions": {"hosting": {"level": "view"}}}
        ),
        201,
    )
    ok(api.put(site_roles_path(customer, jane, shop), json={"role_id": role["id"]}))
    assert access(shop_plugin)["areas"]["hosting"] == ["view", "analytics", "logs"]
    assert error_code(api.delete(f"/roles/{role['id']}")) == (409, "role_in_use")
    assert api.delete(site_roles_path(customer, jane, shop)).status_code == 204
    assert api.delete(f"/roles/{role['id']}").status_code == 204


def test_removing_the_site_or_the_person_removes_their_site_roles(api, db, two_sites):
    customer, shop, blog, jane, _, _ = two_sites
    edit_all = system_role(api, "edit_all")
    ok(api.put(site_roles_path(customer, jane, shop), json={"role_id": edit_all["id"]}))
    ok(api.put(site_roles_path(customer, jane, blog), json={"role_id": edit_all["id"]}))
    assert api.delete(f"/clients/{customer['id']}/sites/{shop['id']}").status_code == 204
    listed = ok(api.get(site_roles_path(customer, jane)))["data"]
    assert [(e["site"]["name"], e["role"]["name"]) for e in listed] == [
        ("Blog", "Edit all & access billing")
    ]
    assert site_role_sites(db) == [blog["id"]]
    assert api.delete(f"/clients/{customer['id']}/users/{jane['id']}").status_code == 204
    assert site_role_sites(db) == []


def site_role_sites(db) -> list[int]:
    with db.session() as session:
        return list(session.scalars(select(SiteRole.site_id).order_by(SiteRole.site_id)))


def test_read_only_tokens_only_read_site_roles(api, api_read_only, two_sites):
    customer, shop, _, jane, _, _ = two_sites
    assert api_read_only.get(site_roles_path(customer, jane)).status_code == 200
    response = api_read_only.put(site_roles_path(customer, jane, shop), json={"role_id": 2})
    assert response.status_code == 403
    assert api_read_only.delete(site_roles_path(customer, jane, shop)).status_code == 403
