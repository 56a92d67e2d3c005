"""The portal's Sites page: the client's sites and, per site, what the
role grants there, which is the plugin's own answer (``/api/v1/site/access``)."""

from __future__ import annotations

import re

from sqlalchemy import select

from bridge.auth.permissions import AREAS
from bridge.billing import roles
from bridge.billing import sites as site_book
from bridge.models import Role, Site, User
from bridge.portal import sites as page
from tests.portal.conftest import PERSON_EMAIL, set_role
from tests.portal.objects import LONG_URL, add_site, give_custom_role


def access_of(page_html: str, site_id: int) -> dict[str, str]:
    """Area -> the words shown for it, in the site's card."""
    card = page_html.split(f'id="site-{site_id}"', 1)[1].split("</li>", 1)[0]
    pairs = re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", card, re.S)
    return {dt: re.sub(r"<[^>]+>", "", dd).strip() for dt, dd in pairs}


def test_every_area_and_action_has_words():
    assert set(page.AREA_WORDS) == set(AREAS)
    assert set(page.ACTION_WORDS) == {a for area in AREAS.values() for a in area.actions}


def test_the_sites_with_what_the_role_grants_as_the_plugin_is_told(app, db, shop, portal):
    set_role(db, shop.client_id, "edit_all")
    shop_site = add_site(app, db, shop.client_id, "Shop", "https://shop.example/")
    long_site = add_site(app, db, shop.client_id, "Blog", LONG_URL)
    old_site = add_site(app, db, shop.client_id, "Old site", "https://old.example", disabled=True)
    response = portal.get("/portal/sites")
    assert response.status_code == 200
    html = response.data.decode()
    assert 'href="https://shop.example/wp-admin/" rel="noopener"' in html
    assert f'href="{LONG_URL}/wp-admin/"' in html
    assert "target=" not in html
    assert html.count(">Disabled<") == 1 and f'id="site-{old_site}"' in html
    assert html.index("Blog") < html.index("Shop") < html.index("Old site")  # disabled last
    shown = access_of(html, shop_site)
    assert shown["Hosting"] == "view, analytics, logs, emails, backups, staging"
    assert shown["Billing"] == "view, pay"
    # The same policy as the plugin's answer, area by area.
    with db.session() as session:
        answer = site_book.access(session, session.get(Site, long_site), PERSON_EMAIL)
    for key, actions in answer["areas"].items():
        assert access_of(html, long_site)[page.AREA_WORDS[key]] == ", ".join(
            page.ACTION_WORDS[a] for a in actions
        )


def test_a_custom_role_shows_its_actions_and_what_is_off(app, db, shop, portal):
    give_custom_role(db, shop.client_id)
    site = add_site(app, db, shop.client_id, "Shop", "https://shop.example")
    shown = access_of(portal.get("/portal/sites").data.decode(), site)
    assert shown == {
        "Sites": "view",
        "Hosting": "view, analytics, backups",
        "SEO": "no access",
        "Site billing": "view",
        "Billing": "view, pay",
    }


def test_one_site_by_its_id_and_someone_elses_is_not_found(app, db, shop, portal, second_client):
    set_role(db, shop.client_id, "view_all")
    mine = add_site(app, db, shop.client_id, "Shop", "https://shop.example")
    theirs = add_site(app, db, second_client, "Bob's", "https://bob.example")
    assert b"https://shop.example/wp-admin/" in portal.get(f"/portal/sites/{mine}").data
    assert portal.get(f"/portal/sites/{theirs}").status_code == 404
    assert portal.get("/portal/sites/999999").status_code == 404


def test_no_site_yet_says_so(db, shop, portal):
    set_role(db, shop.client_id, "view_all")
    response = portal.get("/portal/sites")
    assert response.status_code == 200
    assert b"No site is connected to your account yet." in response.data


def test_billing_only_has_no_sites_in_the_nav_and_the_page_is_refused(app, db, shop, portal):
    set_role(db, shop.client_id, "billing_only")
    site = add_site(app, db, shop.client_id, "Shop", "https://shop.example")
    assert b'href="/portal/sites"' not in portal.get("/portal/").data
    for path in ("/portal/sites", f"/portal/sites/{site}"):
        response = portal.get(path)
        assert response.status_code == 403
        assert b"Not part of your access" in response.data
    set_role(db, shop.client_id, "view_all")
    assert b'href="/portal/sites"' in portal.get("/portal/").data


def give_site_role(db, site_id: int, system_key: str) -> None:
    """Alice's own role on the site ``site_id``."""
    with db.session() as session:
        person = session.scalar(select(User).where(User.email_key == PERSON_EMAIL))
        role = session.scalar(select(Role.id).where(Role.system_key == system_key))
        roles.set_site_role(session, person, session.get(Site, site_id), role)


def test_a_role_on_one_site_shows_on_that_site_only(app, db, shop, portal):
    set_role(db, shop.client_id, "edit_all")
    shop_site = add_site(app, db, shop.client_id, "Shop", "https://shop.example")
    blog = add_site(app, db, shop.client_id, "Blog", "https://blog.example")
    give_site_role(db, shop_site, "billing_only")
    html = portal.get("/portal/sites").data.decode()
    assert access_of(html, shop_site)["Hosting"] == "no access"
    assert access_of(html, blog)["Hosting"] == "view, analytics, logs, emails, backups, staging"
    # Listed, so it opens, with the same words.
    one = portal.get(f"/portal/sites/{shop_site}")
    assert one.status_code == 200
    assert access_of(one.data.decode(), shop_site)["Hosting"] == "no access"


def take_site_role(db, site_id: int) -> None:
    """Alice's own role on ``site_id`` removed: the client's decides again."""
    with db.session() as session:
        person = session.scalar(select(User).where(User.email_key == PERSON_EMAIL))
        roles.remove_site_role(session, person, session.get(Site, site_id))


def listed_site_ids(page_html: str) -> list[int]:
    return [int(found) for found in re.findall(r'id="site-(\d+)"', page_html)]


SITES_LINK = b'href="/portal/sites"'


def test_a_role_that_sees_one_site_lists_and_opens_that_site_only(app, db, shop, portal):
    set_role(db, shop.client_id, "billing_only")
    shop_site = add_site(app, db, shop.client_id, "Shop", "https://shop.example")
    blog = add_site(app, db, shop.client_id, "Blog", "https://blog.example")
    give_site_role(db, shop_site, "view_all")
    assert SITES_LINK in portal.get("/portal/").data
    listing = portal.get("/portal/sites")
    assert listing.status_code == 200
    html = listing.data.decode()
    assert listed_site_ids(html) == [shop_site]
    assert "https://blog.example" not in html
    assert access_of(html, shop_site)["Hosting"] == "view, analytics, logs"
    one = portal.get(f"/portal/sites/{shop_site}")
    assert one.status_code == 200
    assert access_of(one.data.decode(), shop_site)["Hosting"] == "view, analytics, logs"
    assert portal.get(f"/portal/sites/{blog}").status_code == 403


def test_removing_the_one_site_role_hides_the_sites_again(app, db, shop, portal):
    set_role(db, shop.client_id, "billing_only")
    shop_site = add_site(app, db, shop.client_id, "Shop", "https://shop.example")
    give_site_role(db, shop_site, "edit_all")
    assert SITES_LINK in portal.get("/portal/invoices").data
    take_site_role(db, shop_site)
    assert SITES_LINK not in portal.get("/portal/invoices").data
    assert SITES_LINK not in portal.get("/portal/").data
    assert portal.get("/portal/sites").status_code == 403
    assert portal.get(f"/portal/sites/{shop_site}").status_code == 403


def test_a_site_role_without_the_sites_area_opens_no_sites_section(app, db, shop, portal):
    set_role(db, shop.client_id, "billing_only")
    shop_site = add_site(app, db, shop.client_id, "Shop", "https://shop.example")
    with db.session() as session:
        hosting_only = roles.create_role(
            session, name="Hosting only", permissions={"hosting": {"level": "view"}}
        )
        person = session.scalar(select(User).where(User.email_key == PERSON_EMAIL))
        session.flush()
        roles.set_site_role(session, person, session.get(Site, shop_site), hosting_only.id)
    assert SITES_LINK not in portal.get("/portal/").data
    assert portal.get("/portal/sites").status_code == 403


def test_two_site_roles_list_both_sites_and_not_a_third(app, db, shop, portal):
    set_role(db, shop.client_id, "billing_only")
    shop_site = add_site(app, db, shop.client_id, "Shop", "https://shop.example")
    blog = add_site(app, db, shop.client_id, "Blog", "https://blog.example")
    old = add_site(app, db, shop.client_id, "Old", "https://old.example")
    give_site_role(db, shop_site, "edit_all")
    give_site_role(db, blog, "view_all")
    html = portal.get("/portal/sites").data.decode()
    assert listed_site_ids(html) == [blog, shop_site]  # by name, as every list
    assert portal.get(f"/portal/sites/{old}").status_code == 403
