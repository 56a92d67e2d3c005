"""Setup's custom fields, email templates, schedule and API tokens through
the test client: each form's happy path, bad input coming back next to its
field with nothing changed, read-only staff, the token's secret shown once
and working against the REST API, a test email landing in the outbox."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bridge.mail import sanitize
from bridge.models import (
    ApiToken,
    AuditEntry,
    CustomField,
    CustomFieldEntity,
    CustomFieldType,
    EmailTemplate,
    OutboxMessage,
)
from tests.conftest import snapshot

# Bad input is refused before the database is asked anything new: one engine.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def text_of(response) -> str:
    return response.data.decode()


def add_field(db, label="Contract number", field_type=CustomFieldType.TEXT, **extra) -> int:
    with db.session() as s:
        field = CustomField(
            entity=extra.pop("entity", CustomFieldEntity.CLIENT),
            key=extra.pop("key", "contract_number"),
            label=label,
            field_type=field_type,
            options=extra.pop("options", []),
            required=False,
            show_on_invoice=False,
            position=0,
            **extra,
        )
        from bridge.core import clock

        field.created_at = clock.now()
        s.add(field)
        s.flush()
        return field.id


@sqlite_only
def test_setup_menu_lists_the_four_sections_in_order(hub):
    page = text_of(hub.client.get("/setup/custom-fields"))
    menu = page[page.index('class="setup-nav"') :]
    positions = [
        menu.index(t) for t in ("Custom fields", "Email templates", "Schedule", "API tokens")
    ]
    assert positions == sorted(positions)
    assert 'href="/setup/custom-fields" aria-current="page"' in page


# Custom fields -----------------------------------------------------------------------


@sqlite_only
def test_an_empty_list_offers_to_add_a_field(hub):
    page = text_of(hub.client.get("/setup/custom-fields"))
    assert "No fields yet." in page
    assert "/setup/custom-fields/new?entity=client" in page


def test_a_new_choice_field_appears_on_the_client_form(hub, db):
    response = hub.post(
        "/setup/custom-fields/new",
        {
            "entity": "client",
            "label": "Support tier",
            "field_type": "choice",
            "options": "Bronze\nSilver\n\nGold\n",
            "required": "y",
            "position": "2",
        },
        page="/setup/custom-fields/new",
    )
    assert response.status_code == 303
    with db.session() as s:
        field = s.scalars(select(CustomField)).one()
        assert (field.key, field.options, field.required) == (
            "support_tier",
            ["Bronze", "Silver", "Gold"],
            True,
        )
        entry = s.scalars(select(AuditEntry).where(AuditEntry.object_type == "custom_field")).one()
        assert (entry.actor_kind, entry.actor_label) == ("staff", "owner@agency.example")
    assert "Support tier" in text_of(hub.client.get("/setup/custom-fields"))
    form = text_of(hub.client.get("/clients/new"))
    assert "Support tier" in form and "Silver" in form


def test_a_field_is_edited_and_deleted(hub, db):
    field_id = add_field(db)
    page = text_of(hub.client.get(f"/setup/custom-fields/{field_id}"))
    assert 'value="Contract number"' in page
    assert 'name="field_type"' not in page  # the type never changes
    response = hub.post(
        f"/setup/custom-fields/{field_id}",
        {"label": "Contract no.", "show_on_invoice": "y", "position": "5"},
        page=f"/setup/custom-fields/{field_id}",
    )
    assert response.status_code == 303
    with db.session() as s:
        field = s.get(CustomField, field_id)
        assert (field.label, field.show_on_invoice, field.position, field.key) == (
            "Contract no.",
            True,
            5,
            "contract_number",
        )
    confirm = text_of(hub.client.get(f"/setup/custom-fields/{field_id}/delete"))
    assert "Contract no." in confirm and "This cannot be undone." in confirm
    response = hub.post(
        f"/setup/custom-fields/{field_id}/delete", page=f"/setup/custom-fields/{field_id}/delete"
    )
    assert response.status_code == 303
    with db.session() as s:
        assert s.get(CustomField, field_id) is None


@sqlite_only
@pytest.mark.parametrize(
    ("form", "field", "status"),
    [
        ({"label": "   "}, "label", 422),
        ({"label": "x" * 101}, "label", 422),
        ({"label": "Tier", "field_type": "choice", "options": ""}, "options", 422),
        ({"label": "Tier", "field_type": "choice", "options": "A\nA"}, "options", 422),
        ({"label": "Tier", "field_type": "text", "options": "A"}, "options", 422),
        ({"label": "Tier", "position": "-1"}, "position", 422),
        ({"label": "Tier", "field_type": "colour"}, "field_type", 422),
        ({"label": "Tier", "entity": "site"}, "entity", 422),
        ({"label": "Contract number"}, "label", 409),
    ],
)
def test_a_bad_custom_field_changes_nothing(hub, db, form, field, status):
    add_field(db)
    before = snapshot(db)
    data = {"entity": "client", "field_type": "text", "position": "0"} | form
    response = hub.post("/setup/custom-fields/new", data, page="/setup/custom-fields/new")
    assert response.status_code == status
    page = text_of(response)
    assert f'id="{field}-error"' in page
    assert 'aria-describedby="' + field + '-error"' in page
    assert snapshot(db) == before


@sqlite_only
def test_a_bad_edit_changes_nothing(hub, db):
    field_id = add_field(db, "Tier", CustomFieldType.CHOICE, key="tier", options=["A", "B"])
    before = snapshot(db)
    response = hub.post(
        f"/setup/custom-fields/{field_id}",
        {"label": "Tier", "options": "A\nA", "position": "0"},
        page=f"/setup/custom-fields/{field_id}",
    )
    assert response.status_code == 422
    assert 'id="options-error"' in text_of(response)
    assert snapshot(db) == before


# Schedule ----------------------------------------------------------------------------


def test_the_schedule_is_saved(hub, db):
    page = text_of(hub.client.get("/setup/schedule"))
    assert '<option selected value="UTC">UTC</option>' in page
    assert 'value="1, 3, 5, 7"' in page
    response = hub.post(
        "/setup/schedule",
        {
            "timezone": "Europe/Paris",
            "dunning_retry_days": "2, 4,9",
            "past_due_cancel_after_days": "",
            "renewal_reminder_days": "10",
            "overdue_reminder_days": "",
        },
        page="/setup/schedule",
    )
    assert response.status_code == 303
    from bridge.billing.business import get_settings

    with db.session() as s:
        settings = get_settings(s)
        assert settings.timezone == "Europe/Paris"
        assert settings.dunning_retry_days == [2, 4, 9]
        assert settings.past_due_cancel_after_days is None
        assert settings.renewal_reminder_days == 10
        assert settings.overdue_reminder_days == []
        assert s.scalars(select(AuditEntry).where(AuditEntry.object_type == "settings")).first()
    assert "Schedule saved." in text_of(hub.client.get("/setup/schedule?saved=1"))


GOOD_SCHEDULE = {
    "timezone": "UTC",
    "dunning_retry_days": "1, 3",
    "past_due_cancel_after_days": "14",
    "renewal_reminder_days": "7",
    "overdue_reminder_days": "3, 7",
}


@sqlite_only
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timezone", "Mars/Olympus"),
        ("timezone", ""),
        ("dunning_retry_days", "3, 1"),
        ("dunning_retry_days", "1, two"),
        ("dunning_retry_days", "0"),
        ("dunning_retry_days", ", ".join(str(d) for d in range(1, 13))),
        ("past_due_cancel_after_days", "-3"),
        ("past_due_cancel_after_days", "400"),
        ("renewal_reminder_days", ""),
        ("overdue_reminder_days", "7, 7"),
    ],
)
def test_a_bad_schedule_changes_nothing(hub, db, field, value):
    before = snapshot(db)
    response = hub.post("/setup/schedule", GOOD_SCHEDULE | {field: value}, page="/setup/schedule")
    assert response.status_code == 422
    page = text_of(response)
    assert f'id="{field}-error"' in page
    assert snapshot(db) == before


# Email templates ---------------------------------------------------------------------


def test_the_templates_are_listed_with_their_placeholders(hub):
    page = text_of(hub.client.get("/setup/email-templates"))
    assert "An invoice is issued (finalized) and sent to the client" in page
    editor = text_of(hub.client.get("/setup/email-templates/invoice_sent"))
    assert "[[invoice_number]]" in editor and "The invoice number" in editor
    assert 'id="subject"' in editor and 'id="body_html"' in editor


@sqlite_only
def test_the_default_can_be_started_from_another_language(hub):
    page = text_of(hub.client.get("/setup/email-templates/invoice_sent?language=fr"))
    assert "Facture [[invoice_number]]" in page


def test_a_template_is_previewed_saved_and_reset(hub, db):
    url = "/setup/email-templates/invoice_sent"
    edit = {
        "subject": "Your invoice [[invoice_number]]",
        "body_html": "<p>Hello [[client_name]]</p><script>alert(1)</script>"
        '<p><a class="button" href="[[pay_link]]" onclick="x()">Pay</a></p>',
        "body_text": "",
    }
    preview = hub.post(url, edit | {"action": "preview"}, page=url)
    assert preview.status_code == 200
    page = text_of(preview)
    page = page[page.index('id="preview"') :]
    assert "Your invoice INV-2026-00042" in page
    assert "Hello Ada Lovelace" in page
    assert "<script>alert" not in page and "onclick" not in page
    assert (
        '<a href="https://billing.example/i/sample" rel="noopener noreferrer" class="email-button">'
        in page
    )
    with db.session() as s:
        assert s.get(EmailTemplate, "invoice_sent") is None  # a preview saves nothing
    response = hub.post(url, edit | {"action": "save"}, page=url)
    assert response.status_code == 303
    with db.session() as s:
        assert s.get(EmailTemplate, "invoice_sent").subject == "Your invoice [[invoice_number]]"
    page = text_of(hub.client.get(url + "?saved=1"))
    assert "Template saved." in page and "Your edited version is used" in page
    assert "Edited" in text_of(hub.client.get("/setup/email-templates"))
    assert "This cannot be undone." in text_of(hub.client.get(url + "/reset"))
    response = hub.post(url + "/reset", page=url + "/reset")
    assert response.status_code == 303
    with db.session() as s:
        assert s.get(EmailTemplate, "invoice_sent") is None


@sqlite_only
@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"subject": ""}, "subject"),
        ({"subject": "x" * 301}, "subject"),
        ({"subject": "Hi [[nobody]]"}, "subject"),
        ({"body_html": "  "}, "body_html"),
        ({"body_html": "<p>Hi [[client_name</p>"}, "body_html"),
        ({"body_text": "Pay [[reset_link]]"}, "body_text"),
    ],
)
def test_a_bad_template_changes_nothing(hub, db, form, field):
    url = "/setup/email-templates/invoice_sent"
    before = snapshot(db)
    data = {"subject": "Invoice", "body_html": "<p>Hi</p>", "body_text": "", "action": "save"}
    response = hub.post(url, data | form, page=url)
    assert response.status_code == 422
    assert f'id="{field}-error"' in text_of(response)
    assert snapshot(db) == before


def test_a_test_email_lands_in_the_outbox(hub, db):
    url = "/setup/email-templates/payment_receipt"
    response = hub.post(url + "/test", {"to": "me@agency.example"}, page=url)
    assert response.status_code == 303
    with db.session() as s:
        message = s.scalars(select(OutboxMessage)).one()
        assert message.to_address == "me@agency.example"
        assert message.subject.startswith("[Test] ")
        assert message.trigger == "test:payment_receipt"
    assert "Test email queued" in text_of(hub.client.get(url + "?sent=1"))


@sqlite_only
@pytest.mark.parametrize("to", ["", "not-an-address", "a@" + "b" * 260 + ".example"])
def test_a_test_to_a_bad_address_sends_nothing(hub, db, to):
    url = "/setup/email-templates/payment_receipt"
    before = snapshot(db)
    response = hub.post(url + "/test", {"to": to}, page=url)
    assert response.status_code == 422
    assert 'id="to-error"' in text_of(response)
    assert snapshot(db) == before


def test_the_email_settings_are_saved(hub, db):
    page = text_of(hub.client.get("/setup/email-templates"))
    assert 'id="email_branding"' in page and "checked" in page
    response = hub.post(
        "/setup/email-settings",
        {"email_from_name": "Pixel & Press billing", "email_footer": "12 rue des Arts\nParis"},
        page="/setup/email-templates",
    )
    assert response.status_code == 303
    from bridge.billing.business import get_settings

    with db.session() as s:
        settings = get_settings(s)
        assert (settings.email_branding, settings.email_from_name, settings.email_footer) == (
            False,
            "Pixel & Press billing",
            "12 rue des Arts\nParis",
        )
    assert "Email settings saved." in text_of(hub.client.get("/setup/email-templates?saved=1"))


@sqlite_only
@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"email_from_name": "x" * 201}, "email_from_name"),
        ({"email_from_name": "Two\nlines"}, "email_from_name"),
        ({"email_footer": "x" * 2001}, "email_footer"),
        ({"email_footer": "bell \x07"}, "email_footer"),
    ],
)
def test_bad_email_settings_change_nothing(hub, db, form, field):
    before = snapshot(db)
    data = {"email_branding": "y", "email_from_name": "", "email_footer": ""} | form
    response = hub.post("/setup/email-settings", data, page="/setup/email-templates")
    assert response.status_code == 422
    assert f'id="{field}-error"' in text_of(response)
    assert snapshot(db) == before


@sqlite_only
def test_an_unknown_template_is_404(hub):
    assert hub.client.get("/setup/email-templates/nope").status_code == 404


def test_the_preview_is_rebuilt_from_an_allow_list():
    html = (
        "<html><head><style>p{}</style><title>T</title></head><body>"
        '<p style="x" onclick="y">A &amp; <b>B</b><img src="cid:z">'
        '<a href="javascript:alert(1)">x</a><iframe src="e">in</iframe><br/><div>open'
    )
    assert str(sanitize.safe_html(html)) == ("<p>A &amp; <b>B</b><a>x</a><br><div>open</div></p>")


# API tokens --------------------------------------------------------------------------


def token_form(hub) -> dict:
    page = text_of(hub.client.get("/setup/api-tokens"))
    key = re.search(r'id="token-key" name="key" type="hidden" value="([0-9a-f]+)"', page).group(1)
    return {"key": key, "name": "Accounting export", "access": "read_only"}


def test_a_token_is_shown_once_and_works_against_the_api(hub, db, client):
    assert "No API tokens yet." in text_of(hub.client.get("/setup/api-tokens"))
    form = token_form(hub)
    response = hub.post("/setup/api-tokens", form, page="/setup/api-tokens")
    assert response.status_code == 201
    page = text_of(response)
    secret = re.search(r'id="secret-value">(bb_[^<]+)<', page).group(1)
    assert "shown this once" in page
    assert response.headers["Cache-Control"] == "no-store"

    api = client.get("/api/v1/clients", headers={"Authorization": f"Bearer {secret}"})
    assert api.status_code == 200
    refused = client.post(
        "/api/v1/clients", json={"name": "X"}, headers={"Authorization": f"Bearer {secret}"}
    )
    assert refused.status_code == 403  # read only

    listing = text_of(hub.client.get("/setup/api-tokens"))
    assert "Accounting export" in listing and secret[:10] in listing
    assert secret not in listing
    # The same form sent again makes no second token and never shows the secret.
    again = hub.client.post("/setup/api-tokens", data=form | {"csrf_token": _csrf(hub)})
    assert again.status_code == 303
    followed = text_of(hub.client.get(again.headers["Location"]))
    assert secret not in followed and "cannot be shown again" in followed
    with db.session() as s:
        assert len(s.scalars(select(ApiToken)).all()) == 1


def _csrf(hub) -> str:
    from tests.hub.conftest import csrf_token

    return csrf_token(hub.client.get("/setup/api-tokens").data)


def test_a_full_access_token_writes_and_a_revoked_one_is_refused(hub, db, client):
    form = token_form(hub) | {"access": "full", "name": "Zapier"}
    page = text_of(hub.post("/setup/api-tokens", form, page="/setup/api-tokens"))
    secret = re.search(r'id="secret-value">(bb_[^<]+)<', page).group(1)
    headers = {"Authorization": f"Bearer {secret}"}
    created = client.post(
        "/api/v1/clients", json={"name": "Acme", "email": "acme@example.com"}, headers=headers
    )
    assert created.status_code == 201, created.get_json()
    with db.session() as s:
        token_id = s.scalars(select(ApiToken.id)).one()
    confirm = text_of(hub.client.get(f"/setup/api-tokens/{token_id}/revoke"))
    assert "Zapier" in confirm and "This cannot be undone." in confirm
    response = hub.post(f"/setup/api-tokens/{token_id}/revoke", page="/setup/api-tokens")
    assert response.status_code == 303
    assert client.get("/api/v1/clients", headers=headers).status_code == 401
    assert "Revoked" in text_of(hub.client.get("/setup/api-tokens"))


@sqlite_only
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "  "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"access": "admin"}, "access"),
        ({"key": ""}, "name"),
    ],
)
def test_a_bad_token_form_makes_no_token(hub, db, change, field):
    form = token_form(hub) | change
    before = snapshot(db)
    response = hub.post("/setup/api-tokens", form, page="/setup/api-tokens")
    assert response.status_code == 422
    assert f'id="{field}-error"' in text_of(response)
    assert "bb_" not in text_of(response)
    assert snapshot(db) == before


# Read-only staff ---------------------------------------------------------------------


def test_read_only_staff_see_no_write_buttons_and_cannot_write(hub, db, monkeypatch):
    field_id = add_field(db)
    monkeypatch.setattr("bridge.auth.logins.read_only", lambda user: True)
    fields = text_of(hub.client.get("/setup/custom-fields"))
    assert "Contract number" in fields and "/setup/custom-fields/new" not in fields
    assert f"/setup/custom-fields/{field_id}/delete" not in fields
    tokens = text_of(hub.client.get("/setup/api-tokens"))
    assert "Create token" not in tokens
    schedule = text_of(hub.client.get("/setup/schedule"))
    assert "Save schedule" not in schedule and "disabled" in schedule
    editor = text_of(hub.client.get("/setup/email-templates/invoice_sent"))
    assert "Save template" not in editor and "Send test" not in editor
    assert "[[invoice_number]]" in editor and "disabled" in editor
    assert "Save email settings" not in text_of(hub.client.get("/setup/email-templates"))
    before = snapshot(db)
    for path in (
        "/setup/custom-fields/new",
        f"/setup/custom-fields/{field_id}/delete",
        "/setup/schedule",
        "/setup/api-tokens",
        "/setup/email-templates/invoice_sent",
        "/setup/email-templates/invoice_sent/test",
        "/setup/email-templates/invoice_sent/reset",
        "/setup/email-settings",
    ):
        assert (
            hub.post(path, {"label": "X", "to": "a@b.example"}, page="/setup/schedule").status_code
            == 403
        )
    assert hub.client.get("/setup/custom-fields/new").status_code == 403
    assert snapshot(db) == before
