"""Setup's Overdue and grace section: per product category, the grace days
after an invoice's due date and what follows. Saved through the domain as
``PATCH /api/v1/settings/overdue`` saves it, audited as the staff user; a
bad number is shown next to its field and changes nothing; read-only staff
see it disabled and cannot change it."""

from __future__ import annotations

import re

from sqlalchemy import select

from bridge.billing import overdue
from bridge.billing.business import get_settings
from bridge.models import AuditEntry
from tests.hub.conftest import STAFF_EMAIL

PAGE = "/setup/overdue"
FORM = {
    "hosting_grace_days": "7",
    "hosting_after_grace": "restricted",
    "maintenance_grace_days": "30",
    "maintenance_after_grace": "nothing",
    "seo_grace_days": "0",
    "seo_after_grace": "banner",
}


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.data.decode())


def stored(db) -> dict:
    with db.session() as s:
        return overdue.policies_view(get_settings(s))


def test_the_section_is_in_setup_with_the_defaults(hub, db):
    page = hub.client.get(PAGE)
    assert page.status_code == 200
    body = text_of(page)
    assert 'href="/setup/overdue" aria-current="page">Overdue and grace</a>' in body
    for category in ("hosting", "maintenance", "seo"):
        days = f'id="{category}_grace_days" inputmode="numeric" name="{category}_grace_days"'
        assert days in body
        after = rf'name="{category}_after_grace">\s*<option value="nothing" selected>'
        assert re.search(after, body)
    assert '<option value="banner">A banner for every user</option>' in body
    assert "everyone who logs in to the site&#39;s wp-admin sees it too" in body


def test_saving_changes_each_category_and_is_audited(hub, db):
    answer = hub.post(PAGE, FORM, page=PAGE)
    assert answer.status_code == 303 and answer.headers["Location"].endswith(PAGE)
    assert stored(db) == {
        "hosting": {"grace_days": 7, "after_grace": "restricted"},
        "maintenance": {"grace_days": 30, "after_grace": "nothing"},
        "seo": {"grace_days": 0, "after_grace": "banner"},
    }
    body = text_of(hub.client.get(PAGE))
    assert "Overdue settings saved." in body
    assert '<option value="restricted" selected>' in body
    with db.session() as s:
        row = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "settings.updated")
            .order_by(AuditEntry.id.desc())
        ).first()
        assert "overdue_grace" in row.summary
        assert row.actor_kind == "staff" and row.actor_label == STAFF_EMAIL


def test_a_bad_number_is_shown_next_to_its_field_and_changes_nothing(hub, db):
    before = stored(db)
    for bad in ("-1", "366", "seven", ""):
        answer = hub.post(PAGE, {**FORM, "hosting_grace_days": bad}, page=PAGE)
        assert answer.status_code == 422
        body = text_of(answer)
        assert 'id="hosting_grace_days-error">A whole number of days from 0 to 365.' in body
        assert "Nothing was changed" in body
    assert stored(db) == before


def test_an_unknown_action_changes_nothing(hub, db):
    before = stored(db)
    answer = hub.post(PAGE, {**FORM, "seo_after_grace": "delete"}, page=PAGE)
    assert answer.status_code == 422 and stored(db) == before


def test_read_only_staff_see_it_disabled_and_cannot_change_it(hub, db, monkeypatch):
    monkeypatch.setattr("bridge.auth.logins.read_only", lambda user: True)
    body = text_of(hub.client.get(PAGE))
    assert '<fieldset disabled id="overdue-hosting">' in body and ">Save</button>" not in body
    assert hub.post(PAGE, FORM, page=PAGE).status_code == 403
    assert stored(db)["hosting"] == {"grace_days": 14, "after_grace": "nothing"}


def test_the_section_is_in_french(hub, db):
    body = text_of(hub.client.get(PAGE, headers={"Accept-Language": "fr"}))
    assert "Retard et délai de grâce" in body
