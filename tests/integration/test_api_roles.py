"""Roles through the API: fixed system roles, custom roles, the default role."""

import pytest

from tests.conftest import snapshot

SEO_REVIEWER = {
    "name": "SEO reviewer",
    "description": "Sees SEO, runs scans.",
    "permissions": {
        "sites": {"level": "view"},
        "seo": {"level": "custom", "actions": ["scan"]},
    },
}


def roles_by_key(api):
    return {r["system_key"] or r["name"]: r for r in api.get("/roles").get_json()["data"]}


def test_the_three_system_roles_exist_and_billing_only_is_the_default(api):
    roles = roles_by_key(api)
    assert [r["name"] for r in api.get("/roles").get_json()["data"]] == [
        "View all & access billing",
        "Edit all & access billing",
        "Billing only",
    ]
    assert all(roles[k]["system"] for k in ("view_all", "edit_all", "billing_only"))
    assert [r["system_key"] for r in roles.values() if r["is_default"]] == ["billing_only"]
    assert roles["edit_all"]["permissions"]["hosting"] == {"level": "edit", "actions": []}
    assert roles["billing_only"]["permissions"]["seo"] == {"level": "off", "actions": []}


@pytest.mark.parametrize("key", ["view_all", "edit_all", "billing_only"])
def test_system_roles_cannot_be_edited_or_deleted(api, db, key):
    role = roles_by_key(api)[key]
    before = snapshot(db)
    edit = api.patch(f"/roles/{role['id']}", json={"name": "Mine now"})
    assert edit.status_code == 409
    assert edit.get_json()["error"]["code"] == "system_role_immutable"
    delete = api.delete(f"/roles/{role['id']}")
    assert delete.status_code == 409
    assert snapshot(db) == before


def test_custom_role_is_created_with_a_normalized_permission_set(api):
    response = api.post("/roles", json=SEO_REVIEWER)
    assert response.status_code == 201
    role = response.get_json()
    assert role["system"] is False and role["is_default"] is False
    assert role["permissions"] == {
        "sites": {"level": "view", "actions": []},
        "hosting": {"level": "off", "actions": []},
        "seo": {"level": "custom", "actions": ["scan"]},
        "site_billing": {"level": "off", "actions": []},
        "billing": {"level": "off", "actions": []},
    }


@pytest.mark.parametrize(
    "permissions, area",
    [
        ({"seo": {"level": "custom", "actions": ["delete_site"]}}, "seo"),
        ({"seo": {"level": "custom", "actions": []}}, "seo"),
        ({"hosting": {"level": "view", "actions": ["staging"]}}, "hosting"),
        ({"billing": {"level": "owner"}}, "billing"),
        ({"mail": {"level": "view"}}, "mail"),
    ],
)
def test_invalid_permission_sets_are_refused(api, db, permissions, area):
    before = snapshot(db)
    response = api.post("/roles", json={"name": "Bad", "permissions": permissions})
    assert response.status_code == 422
    fields = response.get_json()["error"]["fields"]
    assert area in str(fields)
    assert snapshot(db) == before


def test_role_names_are_unique_ignoring_case(api):
    api.post("/roles", json=SEO_REVIEWER)
    response = api.post("/roles", json={**SEO_REVIEWER, "name": "seo REVIEWER"})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "duplicate_name"


def test_custom_role_can_be_edited(api):
    role = api.post("/roles", json=SEO_REVIEWER).get_json()
    response = api.patch(
        f"/roles/{role['id']}",
        json={"name": "SEO lead", "permissions": {"seo": {"level": "edit"}}},
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["name"] == "SEO lead"
    assert body["permissions"]["seo"] == {"level": "edit", "actions": []}
    assert body["permissions"]["sites"] == {"level": "off", "actions": []}


def test_exactly_one_default_role_at_any_time(api):
    role = api.post("/roles", json=SEO_REVIEWER).get_json()
    response = api.post(f"/roles/{role['id']}/default")
    assert response.status_code == 200
    defaults = [r["name"] for r in api.get("/roles").get_json()["data"] if r["is_default"]]
    assert defaults == ["SEO reviewer"]
    # New clients get it.
    client = api.post("/clients", json={"name": "C", "email": "c@example.com"}).get_json()
    assert client["role"]["name"] == "SEO reviewer"
    # Setting it again changes nothing.
    assert api.post(f"/roles/{role['id']}/default").status_code == 200
    edit_all = roles_by_key(api)["edit_all"]
    api.post(f"/roles/{edit_all['id']}/default")
    defaults = [r["system_key"] for r in api.get("/roles").get_json()["data"] if r["is_default"]]
    assert defaults == ["edit_all"]


def test_the_default_role_cannot_be_deleted(api):
    role = api.post("/roles", json=SEO_REVIEWER).get_json()
    api.post(f"/roles/{role['id']}/default")
    response = api.delete(f"/roles/{role['id']}")
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "default_role"


def test_a_role_in_use_cannot_be_deleted_until_its_clients_move(api):
    role = api.post("/roles", json=SEO_REVIEWER).get_json()
    client = api.post(
        "/clients", json={"name": "C", "email": "c@example.com", "role_id": role["id"]}
    ).get_json()
    response = api.delete(f"/roles/{role['id']}")
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "role_in_use"
    billing_only = roles_by_key(api)["billing_only"]
    api.patch(f"/clients/{client['id']}", json={"role_id": billing_only["id"]})
    assert api.delete(f"/roles/{role['id']}").status_code == 204
    assert api.get(f"/roles/{role['id']}").status_code == 404


def test_the_database_allows_only_one_default_role(db):
    from sqlalchemy.exc import IntegrityError

    from bridge.models import Role

    with pytest.raises(IntegrityError), db.session() as session:
        for role in session.query(Role):
            role.is_default = True


def test_permission_vocabulary_is_published(api):
    body = api.get("/permissions").get_json()
    assert body["levels"] == ["off", "view", "edit", "custom"]
    hosting = next(a for a in body["areas"] if a["key"] == "hosting")
    assert {"staging", "analytics", "logs", "emails", "backups"} <= set(
        hosting["read_actions"] + hosting["write_actions"]
    )
    seo = next(a for a in body["areas"] if a["key"] == "seo")
    assert set(seo["read_actions"] + seo["write_actions"]) == {"view", "scan", "configure"}
