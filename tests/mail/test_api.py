"""The email API: templates (list, read, edit, reset, preview, test send),
the outbox and the email settings; staff only, read-only tokens only read."""

from __future__ import annotations

import pytest

from tests.conftest import snapshot
from tests.mail.conftest import outbox

CLIENT_KEYS = [
    "client_invitation",
    "client_password_reset",
    "invoice_sent",
    "payment_receipt",
    "payment_failed",
    "action_required",
    "upcoming_renewal",
    "overdue_reminder",
    "subscription_cancelled",
    "subscription_paused",
    "subscription_resumed",
    "subscription_expired",
]
AGENCY_KEYS = [
    "agency_payment_received",
    "agency_payment_failed",
    "agency_subscription_behind",
    "agency_invitation_accepted",
    "agency_reconciliation",
    "staff_password_reset",
]


def test_list_every_template_with_its_placeholders(api):
    response = api.get("/email-templates")
    assert response.status_code == 200
    templates = {t["key"]: t for t in response.get_json()["data"]}
    assert list(templates) == CLIENT_KEYS + AGENCY_KEYS
    assert {templates[k]["audience"] for k in CLIENT_KEYS} == {"client"}
    assert {templates[k]["audience"] for k in AGENCY_KEYS} == {"agency"}
    sent = templates["invoice_sent"]
    names = [p["name"] for p in sent["placeholders"]]
    for name in ("client_name", "invoice_number", "amount_due", "due_date", "pay_link"):
        assert name in names
    assert "[[pay_link]]" in sent["body_html"] and "[[pay_link]]" in sent["body_text"]
    assert sent["customized"] is False and sent["updated_at"] is None
    assert "retry_date" in [p["name"] for p in templates["payment_failed"]["placeholders"]]
    assert "retry_date" not in names


def test_edit_then_reset_a_template(api):
    body = {
        "subject": "Your invoice [[ invoice_number ]]",
        "body_html": "<p>Hi [[client_name]], pay <a href='[[pay_link]]'>here</a>.</p>",
    }
    response = api.put("/email-templates/invoice_sent", json=body)
    assert response.status_code == 200, response.get_json()
    saved = response.get_json()
    assert saved["customized"] is True and saved["updated_at"]
    assert saved["subject"] == body["subject"] and saved["body_text"] == ""
    assert api.get("/email-templates/invoice_sent").get_json()["subject"] == body["subject"]
    preview = api.post("/email-templates/invoice_sent/preview", json={}).get_json()
    assert preview["subject"] == "Your invoice INV-2026-00042"
    # No text body: derived from the HTML, links written out.
    assert "Hi Ada Lovelace, pay here (https://billing.example/i/sample)." in preview["text"]
    reset = api.delete("/email-templates/invoice_sent").get_json()
    assert reset["customized"] is False
    assert reset["subject"] == "Invoice [[invoice_number]] from [[company_name]]"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"subject": "Hi [[client_nme]]"}, "subject", "[[client_nme]]"),
        ({"body_html": "<p>[[retry_date]]</p>"}, "body_html", "[[retry_date]]"),
        ({"body_text": "Due [[due_date]] [[secret_key]]"}, "body_text", "[[secret_key]]"),
        ({"body_html": "<p>Hello [[client_name</p>"}, "body_html", "Unbalanced"),
    ],
)
def test_unknown_or_unbalanced_placeholders_are_refused_and_change_nothing(
    api, db, body, field, words
):
    before = snapshot(db)
    full = {"subject": "Invoice [[invoice_number]]", "body_html": "<p>Hi</p>", **body}
    response = api.put("/email-templates/invoice_sent", json=full)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert list(error["fields"]) == [field]
    assert words in error["fields"][field][0]
    if "[[" in words:
        assert error["code"] == "unknown_placeholder" and words in error["message"]
    assert snapshot(db) == before


def test_unknown_template_is_a_404(api):
    assert api.get("/email-templates/nope").status_code == 404
    assert (
        api.put("/email-templates/nope", json={"subject": "a", "body_html": "b"}).status_code == 404
    )
    assert api.post("/email-templates/nope/preview", json={}).status_code == 404


def test_preview_an_unsaved_edit_with_sample_values_escaped(api):
    api.patch("/settings", json={"company_name": "Pixel & Press", "brand_color": "#ff0066"})
    response = api.post(
        "/email-templates/payment_failed/preview",
        json={"body_html": "<p>[[failure_reason]] / [[company_name]]</p>"},
    )
    assert response.status_code == 200, response.get_json()
    preview = response.get_json()
    assert preview["subject"] == "Payment of invoice INV-2026-00042 failed"
    # Sample values escaped in the HTML; the business's own name where it is set.
    assert "<p>Your card has insufficient funds. / Pixel &amp; Press</p>" in preview["html"]
    assert "#ff0066" in preview["html"]
    assert preview["text"].startswith("Your card has insufficient funds. / Pixel & Press\n")
    assert api.get("/email-templates/payment_failed").get_json()["customized"] is False
    # No body at all: the template as it is.
    response = api.client.post(
        "/api/v1/email-templates/payment_failed/preview",
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert response.status_code == 200, response.get_json()


def test_send_a_test_queues_it_and_sends_nothing(api, db):
    response = api.post("/email-templates/invoice_sent/test", json={"to": "me@agency.example"})
    assert response.status_code == 202, response.get_json()
    queued = response.get_json()
    assert (queued["status"], queued["to"], queued["attempts"]) == (
        "queued",
        "me@agency.example",
        0,
    )
    assert queued["subject"].startswith("[Test] Invoice INV-2026-00042")
    again = api.post("/email-templates/invoice_sent/test", json={"to": "me@agency.example"})
    assert again.status_code == 202  # tests are never deduplicated
    assert len(outbox(db)) == 2
    bad = api.post("/email-templates/invoice_sent/test", json={"to": "not an address"})
    assert bad.status_code == 422 and "to" in bad.get_json()["error"]["fields"]


def test_outbox_lists_messages_with_paging_and_filters(api):
    for _ in range(3):
        api.post("/email-templates/client_invitation/test", json={"to": "me@agency.example"})
    page = api.get("/outbox?per_page=2").get_json()
    assert (page["total"], page["pages"], len(page["data"])) == (3, 2, 2)
    first = page["data"][0]
    assert first["trigger"] == "test:client_invitation" and first["last_error"] is None
    assert api.get("/outbox?status=sent").get_json()["total"] == 0
    assert api.get("/outbox?status=queued&trigger=test:client_invitation").get_json()["total"] == 3
    assert api.get("/outbox?status=bogus").status_code == 422


def test_email_settings(api):
    settings = api.get("/settings/email").get_json()
    assert settings["email_branding"] is True and settings["email_footer"] == ""
    assert settings["transport"] == "folder" and settings["from_address"]
    changed = api.patch(
        "/settings/email",
        json={"email_branding": False, "email_footer": "Line 1\nLine 2", "email_from_name": "PP"},
    ).get_json()
    assert (changed["email_branding"], changed["email_footer"]) == (False, "Line 1\nLine 2")
    assert api.patch("/settings/email", json={"email_branding": "no"}).status_code == 422


def test_read_only_tokens_may_only_read(api_read_only, db):
    before = snapshot(db)
    assert api_read_only.get("/email-templates").status_code == 200
    assert api_read_only.get("/email-templates/invoice_sent").status_code == 200
    assert api_read_only.get("/outbox").status_code == 200
    assert api_read_only.get("/settings/email").status_code == 200
    for method, path, body in (
        ("PUT", "/email-templates/invoice_sent", {"subject": "x", "body_html": "y"}),
        ("DELETE", "/email-templates/invoice_sent", None),
        ("POST", "/email-templates/invoice_sent/test", {"to": "me@agency.example"}),
        ("PATCH", "/settings/email", {"email_branding": False}),
    ):
        response = api_read_only.request(method, path, json=body)
        assert response.status_code == 403, (method, path)
    assert snapshot(db) == before


def test_without_a_token(client):
    assert client.get("/api/v1/email-templates").status_code == 401
    assert client.get("/api/v1/outbox").status_code == 401
