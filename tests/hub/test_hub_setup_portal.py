"""Setup's Client portal section: where clients log in, and the switch that
lets them cancel their own subscriptions (``portal_client_can_cancel``,
off by default). Saved through the domain as the API's PATCH saves it,
audited as the staff user; read-only staff see it disabled and cannot
change it; the API shows and changes the same setting."""

from __future__ import annotations

import re

from sqlalchemy import select

from bridge.billing.business import get_settings
from bridge.models import AuditEntry
from tests.hub.conftest import STAFF_EMAIL

PAGE = "/setup/portal"


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.data.decode())


def can_cancel(db) -> bool:
    with db.session() as s:
        return get_settings(s).portal_client_can_cancel


def test_the_section_is_in_setup_and_off_by_default(hub, db):
    page = hub.client.get(PAGE)
    assert page.status_code == 200
    body = text_of(page)
    assert 'href="/setup/portal" aria-current="page">Client portal</a>' in body
    assert (
        "Clients may cancel their subscriptions from the portal (at the end of the paid period)"
        in body
    )
    assert re.search(r'id="portal-login-url" href="http[^"]+/portal/login">', body)
    assert 'name="portal_client_can_cancel"' in body and "checked" not in body
    assert not can_cancel(db)


def test_turning_it_on_and_off_is_saved_and_audited(hub, db):
    answer = hub.post(PAGE, {"portal_client_can_cancel": "y"}, page=PAGE)
    assert answer.status_code == 303 and answer.headers["Location"].endswith(PAGE)
    assert can_cancel(db)
    body = text_of(hub.client.get(PAGE))
    assert "Client portal settings saved." in body and "checked" in body
    assert hub.post(PAGE, {}, page=PAGE).status_code == 303
    assert not can_cancel(db)
    with db.session() as s:
        rows = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "settings.updated")
            .order_by(AuditEntry.id)
        ).all()
        changes = [r.summary.get("portal_client_can_cancel") for r in rows]
        assert changes[-2:] == [[False, True], [True, False]]
        assert rows[-1].actor_kind == "staff" and rows[-1].actor_label == STAFF_EMAIL


def test_read_only_staff_see_it_disabled_and_cannot_change_it(hub, db, monkeypatch):
    monkeypatch.setattr("bridge.auth.logins.read_only", lambda user: True)
    body = text_of(hub.client.get(PAGE))
    assert "<fieldset disabled>" in body and ">Save</button>" not in body
    answer = hub.post(PAGE, {"portal_client_can_cancel": "y"}, page=PAGE)
    assert answer.status_code == 403
    assert not can_cancel(db)


def test_the_api_shows_and_changes_the_same_setting(api, db):
    assert api.get("/settings").json["portal_client_can_cancel"] is False
    answer = api.patch("/settings", json={"portal_client_can_cancel": True})
    assert answer.status_code == 200 and answer.json["portal_client_can_cancel"] is True
    assert can_cancel(db)
    bad = api.patch("/settings", json={"portal_client_can_cancel": "maybe"})
    assert bad.status_code == 422


def test_apply_configuration_is_delegated_to_roles_only_when_turned_on(hub, db):
    body = text_of(hub.client.get(PAGE))
    assert 'name="seo_configure_delegated"' in body and "checked" not in body
    answer = hub.post(PAGE, {"seo_configure_delegated": "y"}, page=PAGE)
    assert answer.status_code == 303
    with db.session() as s:
        settings = get_settings(s)
        assert settings.seo_configure_delegated and not settings.portal_client_can_cancel
    assert hub.post(PAGE, {"portal_client_can_cancel": "y"}, page=PAGE).status_code == 303
    with db.session() as s:
        settings = get_settings(s)
        assert not settings.seo_configure_delegated and settings.portal_client_can_cancel
