"""The client page's People tab: a person's role on each site of the client
("Same as client-wide" by default), set and reset through a CSRF-protected
form, and what the site's plugin is then told."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bridge.auth.permissions import SYSTEM_ROLES
from bridge.billing import clients, sites
from bridge.billing import roles as role_book
from bridge.core import clock
from bridge.models import Role, Site, SiteRole
from tests import shop as shops


def text_of(response) -> str:
    return response.data.decode()


@pytest.fixture
def people(db):
    """Alice's client (Billing only) with a shop and a blog, and Bea, one of its people."""
    with db.session() as s:
        client_id = shops.add_client(s)
        client = clients.get_client(s, client_id)
        now = clock.now()
        for number, name in enumerate(("Shop", "Blog"), start=1):
            s.add(
                Site(
                    public_id=f"site_{number}",
                    client_id=client_id,
                    name=name,
                    url=f"https://{name.lower()}.example",
                    secret_encrypted="-",
                    secret_rotated_at=now,
                    created_at=now,
                )
            )
        s.flush()
        bea = sites.add_client_user(s, client, email="bea@martin.example", name="Bea Baker")
        found = {site.name: site.id for site in client.sites}
        edit_all = s.scalar(select(Role.id).where(Role.system_key == "edit_all"))
        return client_id, bea.id, found["Shop"], found["Blog"], edit_all


def access_on(db, site_id: int, email: str = "bea@martin.example") -> dict:
    with db.session() as s:
        return sites.access(s, s.get(Site, site_id), email)


def own_roles(db) -> dict[int, int]:
    with db.session() as s:
        return {row.site_id: row.role_id for row in s.scalars(select(SiteRole))}


def test_each_site_offers_same_as_client_wide_by_default(hub, people):
    client_id, bea, shop, blog, _ = people
    page = text_of(hub.client.get(f"/clients/{client_id}?tab=people"))
    assert "Roles on each site" in page
    form = page.split(f'action="/clients/{client_id}/people/{bea}/site-roles"')[1]
    form = form.split("</form>")[0]
    assert 'name="csrf_token"' in form
    for site_id in (shop, blog):
        select_html = form.split(f'name="site-{site_id}"')[1].split("</select>")[0]
        assert re.search(
            r'<option value="" selected>Same as client-wide \(Billing only\)', select_html
        )
        assert select_html.count(" selected") == 1


def test_a_role_set_on_one_site_changes_that_site_only_and_can_be_reset(hub, db, people):
    client_id, bea, shop, blog, edit_all = people
    base = f"/clients/{client_id}"
    page = f"{base}?tab=people"
    saved = hub.post(
        f"{base}/people/{bea}/site-roles", {f"site-{shop}": str(edit_all), f"site-{blog}": ""}, page
    )
    assert saved.status_code == 302
    assert saved.headers["Location"].endswith(f"tab=people&saved={bea}#person-{bea}")
    assert own_roles(db) == {shop: edit_all}
    assert access_on(db, shop)["areas"]["hosting"] == [
        "view",
        "analytics",
        "logs",
        "emails",
        "backups",
        "staging",
    ]
    assert access_on(db, blog)["areas"]["hosting"] == []

    shown = text_of(hub.client.get(f"{page}&saved={bea}"))
    assert "Edit all &amp; access billing on Shop" in shown
    shop_select = shown.split(f'name="site-{shop}"')[1].split("</select>")[0]
    assert f'<option value="{edit_all}" selected>' in shop_select
    assert "Saved" in shown

    hub.post(f"{base}/people/{bea}/site-roles", {f"site-{shop}": "", f"site-{blog}": ""}, page)
    assert own_roles(db) == {}
    assert access_on(db, shop)["areas"]["hosting"] == []


def test_a_bad_role_is_refused_and_no_site_changes(hub, db, people):
    client_id, bea, shop, blog, edit_all = people
    base = f"/clients/{client_id}"
    for bad in ("999", "x", "1" * 40):
        response = hub.post(
            f"{base}/people/{bea}/site-roles",
            {f"site-{shop}": str(edit_all), f"site-{blog}": bad},
            f"{base}?tab=people",
        )
        assert response.status_code == 422
        assert "No such role." in text_of(response)
        assert own_roles(db) == {}


def test_the_form_needs_its_csrf_token(hub, db, people):
    client_id, bea, shop, _, edit_all = people
    response = hub.client.post(
        f"/clients/{client_id}/people/{bea}/site-roles", data={f"site-{shop}": str(edit_all)}
    )
    assert response.status_code == 400
    assert own_roles(db) == {}


def test_another_clients_person_is_not_found_here(hub, db, people):
    client_id, bea, shop, _, edit_all = people
    with db.session() as s:
        other = shops.add_client(s, name="Other", email="other@example.com")
    response = hub.post(
        f"/clients/{other}/people/{bea}/site-roles", {f"site-{shop}": str(edit_all)}, "/"
    )
    assert response.status_code == 404
    assert own_roles(db) == {}


def test_a_read_only_user_sees_the_roles_but_no_form(hub, db, people, monkeypatch):
    client_id, bea, shop, _, edit_all = people
    with db.session() as s:
        role_book.set_site_role(
            s,
            sites.get_client_user(s, clients.get_client(s, client_id), bea),
            s.get(Site, shop),
            edit_all,
        )
    monkeypatch.setattr("bridge.auth.logins.read_only", lambda user: True)
    page = text_of(hub.client.get(f"/clients/{client_id}?tab=people"))
    assert "site-roles-form" not in page
    assert f"Shop: {SYSTEM_ROLES['edit_all']['name']}".replace("&", "&amp;") in page
    response = hub.post(f"/clients/{client_id}/people/{bea}/site-roles", {f"site-{shop}": ""}, "/")
    assert response.status_code == 403
    assert own_roles(db) == {shop: edit_all}
