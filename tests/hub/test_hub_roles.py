"""The Hub's roles screen (SPEC 4) through the test client: the three system
roles read-only, custom roles created, edited and deleted with each area off,
view, edit or custom, the default role, the refusals the domain makes, and
bad input coming back next to its field with nothing changed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bridge.auth.permissions import AREAS
from bridge.models import AuditEntry, Role
from tests import shop as shops
from tests.conftest import snapshot
from tests.hub.conftest import Hub, add_staff


def text_of(response) -> str:
    return response.data.decode()


def role_form(name: str = "Hosting helper", **fields) -> dict:
    """Everything off unless ``fields`` say otherwise."""
    return {
        "name": name,
        "description": "Hosting tools, no SEO.",
        **{f"level-{area}": "off" for area in AREAS},
    } | fields


def role_named(db, name: str) -> Role | None:
    with db.session() as s:
        role = s.scalar(select(Role).where(Role.name == name))
        if role is not None:
            s.expunge(role)
        return role


@pytest.fixture
def custom(db) -> int:
    """A custom role "Site editor": sites and SEO to edit."""
    from bridge.billing import roles

    with db.session() as s:
        return roles.create_role(
            s,
            name="Site editor",
            permissions={"sites": {"level": "edit"}, "seo": {"level": "edit"}},
        ).id


@pytest.fixture
def reader(client, db) -> Hub:
    """Logged in as a read-only staff user."""
    add_staff(db, email="reader@agency.example", name="Rita Reader", read_only=True)
    hub = Hub(client)
    assert hub.login(email="reader@agency.example").status_code == 302
    return hub


def test_the_list_shows_the_system_roles_read_only_and_the_default(hub, db):
    with db.session() as s:
        shops.add_client(s)
        shops.add_client(s, name="Bob", email="bob@example.com")
    page = text_of(hub.client.get("/roles"))
    assert '<a href="/roles" aria-current="page">' in page
    for name in ("View all &amp; access billing", "Edit all &amp; access billing", "Billing only"):
        assert name in page
    assert page.count(">System</span>") == 3
    assert page.count("role-default") == 1
    billing_only = page[page.index("Billing only") :]
    assert "Default" in billing_only[:600]
    assert "2 clients" in billing_only[:600]  # new clients got the default role
    assert "/edit" not in page  # system roles have no editor
    assert 'id="no-custom-roles"' in page
    assert 'id="new-role"' in page


def test_a_custom_role_with_a_custom_area_is_created_through_the_domain(hub, db, staff):
    response = hub.post(
        "/roles/new",
        role_form(
            **{
                "level-hosting": "custom",
                "actions-hosting": ["logs", "backups"],
                "level-billing": "edit",
                # the checkboxes of a non-custom level are sent, and ignored
                "actions-sites": ["manage"],
                "level-sites": "view",
            }
        ),
        page="/roles/new",
    )
    assert response.status_code == 303, response.data
    role = role_named(db, "Hosting helper")
    assert role.description == "Hosting tools, no SEO."
    assert role.permissions["hosting"] == {"level": "custom", "actions": ["backups", "logs"]}
    assert role.permissions["sites"] == {"level": "view", "actions": []}
    assert role.permissions["billing"] == {"level": "edit", "actions": []}
    assert role.permissions["seo"] == {"level": "off", "actions": []}
    with db.session() as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "role.created"))
        assert (entry.actor_kind, entry.actor_id) == ("staff", staff)
    page = text_of(hub.client.get(response.headers["Location"]))
    assert "The role was saved." in page
    assert "Custom: Logs, Backups" in page  # in the area's order, seeing it implied
    assert 'id="no-custom-roles"' not in page


def test_the_editor_shows_each_area_with_its_levels_and_actions(hub, custom):
    page = text_of(hub.client.get(f"/roles/{custom}/edit"))
    assert 'value="Site editor"' in page
    for area in ("sites", "hosting", "seo", "site_billing", "billing"):
        for level in ("off", "view", "edit", "custom"):
            assert f'id="level-{area}-{level}"' in page
        assert f'<label class="check" for="action-{area}-view">' in page
    assert 'id="level-sites-edit" name="level-sites" value="edit" checked' in page
    # switching an area to custom starts from what its level gives
    assert 'id="action-seo-scan" name="actions-seo" value="scan" checked' in page
    assert 'id="action-hosting-logs" name="actions-hosting" value="logs">' in page


def test_a_custom_role_is_edited(hub, db, custom):
    response = hub.post(
        f"/roles/{custom}/edit",
        role_form("Site editor (SEO)", **{"level-seo": "custom", "actions-seo": ["scan"]}),
        page=f"/roles/{custom}/edit",
    )
    assert response.status_code == 303, response.data
    role = role_named(db, "Site editor (SEO)")
    assert role.id == custom
    assert role.permissions["seo"] == {"level": "custom", "actions": ["scan"]}
    assert role.permissions["sites"]["level"] == "off"


def test_a_system_role_has_no_editor(hub, db):
    system = role_named(db, "Billing only")
    assert hub.client.get(f"/roles/{system.id}/edit").status_code == 404
    before = snapshot(db)
    answer = hub.post(f"/roles/{system.id}/edit", role_form("Mine"), page="/roles")
    assert answer.status_code == 404
    assert snapshot(db) == before
    assert hub.client.get("/roles/99999/edit").status_code == 404


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "  "}, "name", "Required."),
        ({"name": "x" * 101}, "name", "Too long."),
        ({"name": "billing ONLY"}, "name", "Another role has this name."),
        ({"description": "x" * 301}, "description", "Too long."),
        ({"level-seo": "custom"}, "area-seo", "Pick at least one action"),
        ({"level-seo": "custom", "actions-seo": ["staging"]}, "area-seo", "Pick actions from"),
        ({"level-hosting": "admin"}, "area-hosting", "Choose a level."),
    ],
)
def test_bad_input_comes_back_next_to_its_field_and_changes_nothing(
    hub, db, fields, field, message
):
    before = snapshot(db)
    response = hub.post("/roles/new", role_form(**fields), page="/roles/new")
    assert response.status_code == 422
    page = text_of(response)
    assert f'<p class="field-error" id="{field}-error">' in page
    error = page[page.index(f'id="{field}-error">') :]
    assert error.split("</p>")[0].endswith(message) or message in error.split("</p>")[0]
    assert 'id="form-error"' in page
    assert snapshot(db) == before
    assert "Please correct the fields below." in page


def test_bad_input_on_an_edit_keeps_the_role_as_it_was(hub, db, custom):
    before = snapshot(db)
    response = hub.post(
        f"/roles/{custom}/edit", role_form("", **{"level-seo": "custom"}), page="/roles"
    )
    assert response.status_code == 422
    assert 'id="name-error"' in text_of(response) and 'id="area-seo-error"' in text_of(response)
    assert snapshot(db) == before


def test_make_default_moves_the_default_and_new_clients_get_it(hub, db, custom):
    response = hub.post(f"/roles/{custom}/default", page="/roles")
    assert response.status_code == 303
    assert role_named(db, "Site editor").is_default
    assert not role_named(db, "Billing only").is_default
    page = text_of(hub.client.get("/roles"))
    assert "The default role for new clients was changed." in page
    with db.session() as s:
        client_id = shops.add_client(s)
        from bridge.models import Client

        assert s.get(Client, client_id).role_id == custom


def test_an_unused_custom_role_is_deleted(hub, db, custom):
    response = hub.post(f"/roles/{custom}/delete", page="/roles")
    assert response.status_code == 303
    assert role_named(db, "Site editor") is None
    assert "The role was deleted." in text_of(hub.client.get("/roles"))


def test_a_role_clients_have_is_not_deleted_and_the_page_says_why(hub, db, custom):
    with db.session() as s:
        shops.add_client(s, role_id=custom)
    before = snapshot(db)
    response = hub.post(f"/roles/{custom}/delete", page="/roles")
    assert response.status_code == 409
    page = text_of(response)
    assert "“Site editor” is the role of 1 client: give that client another role first." in page
    assert 'id="role-error"' in page
    assert snapshot(db) == before


def test_the_default_role_offers_no_delete_and_refuses_one(hub, db, custom):
    hub.post(f"/roles/{custom}/default", page="/roles")
    page = text_of(hub.client.get("/roles"))
    assert f'action="/roles/{custom}/delete"' not in page
    response = hub.post(f"/roles/{custom}/delete", page="/roles")
    assert response.status_code == 409
    assert "is the default role: make another role the default first." in text_of(response)
    system = role_named(db, "Billing only")
    response = hub.post(f"/roles/{system.id}/delete", page="/roles")
    assert response.status_code == 409
    assert "System roles cannot be changed or deleted" in text_of(response)


def test_a_read_only_user_sees_the_roles_without_any_write_button(reader, db, custom):
    page = text_of(reader.client.get("/roles"))
    assert "Site editor" in page
    assert 'id="new-role"' not in page
    assert "/edit" not in page and "/default" not in page and "/delete" not in page
    assert reader.client.get("/roles/new").status_code == 403
    assert reader.client.get(f"/roles/{custom}/edit").status_code == 403
    before = snapshot(db)
    assert reader.post(f"/roles/{custom}/default", page="/roles").status_code == 403
    assert snapshot(db) == before
