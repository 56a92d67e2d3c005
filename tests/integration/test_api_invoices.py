"""Billing through the API: bill, edit the draft, finalize, pay offline,
credit, void, subscriptions, the audit log."""

import pytest

from tests import shop as shops
from tests.conftest import snapshot


@pytest.fixture
def shop(api_eur):
    api = api_eur
    plans = shops.api_product(api, "Hosting", {"monthly": shops.MONTHLY, "setup": shops.SETUP})
    vat = shops.api_vat(api)
    client = shops.api_client(api)
    site = shops.api_site(api, client["id"], "Shop", "https://shop.example")
    return {**plans, "vat": vat, "client": client, "site": site}


def draft(api, shop, **overrides):
    body = {
        "client_id": shop["client"]["id"],
        "site_id": shop["site"]["id"],
        "items": [
            {"plan_id": shop["setup"]["id"]},
            {"plan_id": shop["monthly"]["id"], "quantity": 2},
        ],
        "tax_rate_ids": [shop["vat"]["id"]],
        "note": "Thanks!",
        **overrides,
    }
    response = api.post("/invoices", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_bill_a_client_then_send(api_eur, shop):
    invoice = draft(api_eur, shop)
    assert invoice["status"] == "draft" and invoice["number"] is None
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == (20800, 4160, 24960)
    assert invoice["total_display"] == "€249.60"
    assert invoice["hosted_url"] is None
    sent = api_eur.post(f"/invoices/{invoice['id']}/finalize").get_json()
    assert sent["status"] == "open"
    assert sent["number"].startswith("INV-") and sent["number"].endswith("00001")
    assert sent["hosted_url"].endswith("/i/" + sent["hosted_url"].rsplit("/", 1)[1])
    subs = api_eur.get(f"/subscriptions?client_id={shop['client']['id']}&tab=current").get_json()
    assert [(s["status"], s["quantity"]) for s in subs["data"]] == [("pending", 2)]
    client = api_eur.get(f"/clients/{shop['client']['id']}").get_json()
    assert (client["unpaid_invoices"], client["card"]) == (1, None)


def test_each_invoice_lists_the_actions_its_state_allows(api_eur, shop):
    invoice = draft(api_eur, shop, items=[{"plan_id": shop["setup"]["id"]}])
    assert invoice["actions"] == ["edit", "delete", "finalize", "download"]
    sent = api_eur.post(f"/invoices/{invoice['id']}/finalize").get_json()
    assert sent["actions"] == [
        "record_payment",
        "remind",
        "void",
        "mark_uncollectible",
        "download",
    ]
    api_eur.post(f"/invoices/{invoice['id']}/payments", json={"amount": 100, "method": "cash"})
    partly = api_eur.get(f"/invoices/{invoice['id']}").get_json()
    assert partly["actions"] == [
        "record_payment",
        "remind",
        "mark_uncollectible",
        "refund",
        "download",
    ]
    api_eur.post(f"/invoices/{invoice['id']}/payments", json={"amount": 17900, "method": "cash"})
    listed = api_eur.get("/invoices").get_json()["data"][0]
    assert listed["status"] == "paid" and listed["actions"] == ["refund", "download"]


def test_draft_can_be_edited_and_deleted_but_not_an_issued_invoice(api_eur, shop, db):
    invoice = draft(api_eur, shop)
    edited = api_eur.patch(
        f"/invoices/{invoice['id']}",
        json={"items": [{"plan_id": shop["setup"]["id"]}], "tax_rate_ids": []},
    ).get_json()
    assert edited["total"] == 15000 and len(edited["lines"]) == 1
    api_eur.post(f"/invoices/{invoice['id']}/finalize")
    before = snapshot(db)
    assert api_eur.patch(f"/invoices/{invoice['id']}", json={"note": "x"}).status_code == 409
    assert api_eur.delete(f"/invoices/{invoice['id']}").status_code == 409
    assert snapshot(db) == before
    other = draft(api_eur, shop)
    assert api_eur.delete(f"/invoices/{other['id']}").status_code == 204


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"items": []}, "items"),
        ({"items": [{"plan_id": 999}]}, "items.0.plan_id"),
        ({"items": [{"plan_id": 1, "quantity": 0}]}, "items"),
        ({"tax_rate_ids": [999]}, "tax_rate_ids"),
        ({"client_id": 999}, "client_id"),
        ({"site_id": 999}, "site_id"),
        ({"language": "it"}, "language"),
    ],
)
def test_invalid_bills_are_refused_and_change_nothing(api_eur, shop, db, overrides, field):
    before = snapshot(db)
    response = api_eur.post(
        "/invoices",
        json={
            "client_id": shop["client"]["id"],
            "items": [{"plan_id": shop["setup"]["id"]}],
            **overrides,
        },
    )
    assert response.status_code == 422, response.get_json()
    assert any(
        key.startswith(field.split(".")[0]) for key in response.get_json()["error"]["fields"]
    )
    assert snapshot(db) == before


def test_offline_payments_pay_the_invoice_and_activate_subscriptions(api_eur, shop):
    invoice = draft(api_eur, shop)
    api_eur.post(f"/invoices/{invoice['id']}/finalize")
    part = api_eur.post(
        f"/invoices/{invoice['id']}/payments",
        json={"amount": 4960, "method": "bank_transfer", "reference": "VIR 123"},
    )
    assert part.status_code == 201
    assert api_eur.get(f"/invoices/{invoice['id']}").get_json()["amount_due"] == 20000
    too_much = api_eur.post(
        f"/invoices/{invoice['id']}/payments", json={"amount": 20001, "method": "cash"}
    )
    assert too_much.status_code == 422
    card = api_eur.post(f"/invoices/{invoice['id']}/payments", json={"amount": 1, "method": "card"})
    assert card.status_code == 422
    rest = api_eur.post(
        f"/invoices/{invoice['id']}/payments", json={"amount": 20000, "method": "cheque"}
    )
    assert rest.status_code == 201
    paid = api_eur.get(f"/invoices/{invoice['id']}").get_json()
    assert (paid["status"], paid["amount_due"], len(paid["payments"])) == ("paid", 0, 2)
    subs = api_eur.get(f"/subscriptions?client_id={shop['client']['id']}").get_json()["data"]
    assert subs[0]["status"] == "active" and subs[0]["current_period_end"]


def test_payment_dates_must_carry_a_time_zone(api_eur, shop):
    invoice = draft(api_eur, shop)
    api_eur.post(f"/invoices/{invoice['id']}/finalize")
    response = api_eur.post(
        f"/invoices/{invoice['id']}/payments",
        json={"amount": 100, "method": "cash", "received_at": "2026-01-01T10:00:00"},
    )
    assert response.status_code == 422


def test_credit_notes_refund_what_was_paid(api_eur, shop):
    invoice = draft(api_eur, shop, items=[{"plan_id": shop["setup"]["id"]}])
    api_eur.post(f"/invoices/{invoice['id']}/finalize")
    nothing_paid = api_eur.post(f"/invoices/{invoice['id']}/credit-notes", json={"amount": 1})
    assert nothing_paid.status_code == 409
    assert nothing_paid.get_json()["error"]["code"] == "exceeds_refundable"
    api_eur.post(f"/invoices/{invoice['id']}/payments", json={"amount": 18000, "method": "cash"})
    note = api_eur.post(
        f"/invoices/{invoice['id']}/credit-notes", json={"amount": 6000, "reason": "Discount"}
    ).get_json()
    assert (note["subtotal"], note["tax"], note["number"][-5:]) == (5000, 1000, "00001")
    body = api_eur.get(f"/invoices/{invoice['id']}").get_json()
    assert body["amount_refunded"] == 6000 and len(body["credit_notes"]) == 1


def test_void_and_uncollectible_follow_the_state_machine(api_eur, shop):
    invoice = draft(api_eur, shop)
    assert api_eur.post(f"/invoices/{invoice['id']}/void").status_code == 409  # a draft
    api_eur.post(f"/invoices/{invoice['id']}/finalize")
    written_off = api_eur.post(f"/invoices/{invoice['id']}/mark-uncollectible").get_json()
    assert written_off["status"] == "uncollectible"
    voided = api_eur.post(f"/invoices/{invoice['id']}/void")
    assert voided.get_json()["status"] == "void"
    again = api_eur.post(f"/invoices/{invoice['id']}/void")
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "illegal_transition"
    subs = api_eur.get(f"/subscriptions?client_id={shop['client']['id']}&tab=inactive").get_json()
    assert [s["status"] for s in subs["data"]] == ["cancelled"]


def test_subscription_cancel_resume_and_reactivate(api_eur, shop):
    invoice = draft(api_eur, shop, items=[{"plan_id": shop["monthly"]["id"]}])
    api_eur.post(f"/invoices/{invoice['id']}/finalize")
    api_eur.post(f"/invoices/{invoice['id']}/payments", json={"amount": 3480, "method": "cash"})
    sub = api_eur.get("/subscriptions").get_json()["data"][0]
    at_end = api_eur.post(
        f"/subscriptions/{sub['id']}/cancel", json={"at_period_end": True}
    ).get_json()
    assert at_end["cancel_at_period_end"] is True and at_end["status"] == "active"
    resumed = api_eur.post(f"/subscriptions/{sub['id']}/resume").get_json()
    assert resumed["cancel_at_period_end"] is False
    assert api_eur.post(f"/subscriptions/{sub['id']}/reactivate").status_code == 409
    now = api_eur.post(
        f"/subscriptions/{sub['id']}/cancel", json={"at_period_end": False}
    ).get_json()
    assert now["status"] == "cancelled"
    new_invoice = api_eur.post(f"/subscriptions/{sub['id']}/reactivate")
    assert new_invoice.status_code == 201
    assert new_invoice.get_json()["status"] == "open"
    assert new_invoice.get_json()["billing_reason"] == "reactivation"


def test_one_time_items_can_be_billed_again(api_eur, shop):
    invoice = draft(api_eur, shop)
    api_eur.post(f"/invoices/{invoice['id']}/finalize")
    items = api_eur.get(f"/clients/{shop['client']['id']}/one-time-items").get_json()["data"]
    assert [(i["description"], i["quantity"]) for i in items] == [("Hosting — Setup", 1)]
    again = api_eur.post(f"/invoices/{invoice['id']}/lines/{items[0]['line_id']}/bill-again")
    assert again.status_code == 201
    assert again.get_json()["status"] == "draft" and again.get_json()["total"] == 18000
    recurring_line = invoice["lines"][1]["id"]
    assert (
        api_eur.post(f"/invoices/{invoice['id']}/lines/{recurring_line}/bill-again").status_code
        == 409
    )


def test_invoice_lists_filter_and_page(api_eur, shop):
    for _ in range(3):
        draft(api_eur, shop)
    first = draft(api_eur, shop)
    api_eur.post(f"/invoices/{first['id']}/finalize")
    assert api_eur.get("/invoices?status=open").get_json()["total"] == 1
    page = api_eur.get(f"/invoices?client_id={shop['client']['id']}&per_page=2").get_json()
    assert (page["total"], page["pages"], len(page["data"])) == (4, 2, 2)


def test_audit_log_names_the_token_and_the_action(api_eur, shop):
    invoice = draft(api_eur, shop)
    api_eur.post(f"/invoices/{invoice['id']}/finalize")
    log = api_eur.get(f"/audit-log?client_id={shop['client']['id']}").get_json()["data"]
    actions = [entry["action"] for entry in log]
    assert "invoice.finalized" in actions and "client.created" in actions
    assert all(entry["actor_kind"] == "api_token" for entry in log)
    assert "staff@agency.example" in log[0]["actor_label"]
    everything = str(
        [entry["summary"] for entry in api_eur.get("/audit-log?per_page=100").get_json()["data"]]
    )
    assert "secret_encrypted" not in everything and "bbs_" not in everything
    assert "hosted_token" not in everything


def test_read_only_tokens_cannot_bill(api_eur, api_read_only, shop, db):
    before = snapshot(db)
    response = api_read_only.post(
        "/invoices",
        json={"client_id": shop["client"]["id"], "items": [{"plan_id": shop["setup"]["id"]}]},
    )
    assert response.status_code == 403
    assert api_read_only.get("/invoices").status_code == 200
    assert snapshot(db) == before


@pytest.mark.parametrize(
    "fmt", ["INV-{year}", "{seq:5}", "{customer}-{seq}", "{seq!r}", "{year:04}-{seq}", "{seq"]
)
def test_bad_number_formats_are_refused(api_eur, fmt):
    response = api_eur.patch("/settings", json={"invoice_number_format": fmt})
    assert response.status_code == 422
    assert "invoice_number_format" in response.get_json()["error"]["fields"]


def test_number_format_without_year_never_restarts(api_eur, shop):
    assert (
        api_eur.patch("/settings", json={"invoice_number_format": "F{seq:04}"}).status_code == 200
    )
    invoice = draft(api_eur, shop)
    assert api_eur.post(f"/invoices/{invoice['id']}/finalize").get_json()["number"] == "F0001"


def test_staff_see_that_an_amount_below_stripes_minimum_cannot_be_paid_by_card(api_eur, shop):
    invoice = draft(api_eur, shop, items=[{"plan_id": shop["setup"]["id"]}])
    body = api_eur.post(f"/invoices/{invoice['id']}/finalize").get_json()
    assert body["card_payment"] is None  # 180.00 EUR: a card can pay it
    paid = api_eur.post(
        f"/invoices/{invoice['id']}/payments",
        json={"amount": body["amount_due"] - 30, "method": "cash"},
    )
    assert paid.status_code == 201, paid.get_json()

    expected = {
        "reason": "below_minimum",
        "limit": 50,
        "message": "This amount cannot be paid by card: Stripe's smallest card payment in "
        "EUR is 0.50 EUR. Record an offline payment instead.",
    }
    assert api_eur.get(f"/invoices/{invoice['id']}").get_json()["card_payment"] == expected
    (listed,) = [i for i in api_eur.get("/invoices").get_json()["data"] if i["id"] == invoice["id"]]
    assert listed["card_payment"] == expected
    # Paid in full: nothing is due, nothing to say.
    api_eur.post(f"/invoices/{invoice['id']}/payments", json={"amount": 30, "method": "cash"})
    assert api_eur.get(f"/invoices/{invoice['id']}").get_json()["card_payment"] is None


def test_card_payment_names_stripes_maximum_above_it():
    from types import SimpleNamespace

    from bridge.api.invoices import card_payment

    # KWD in Stripe's steps of 10 fils: the largest charge is ...990.
    huge = SimpleNamespace(amount_due=999_999_999_995, currency="KWD")
    assert card_payment(huge)["reason"] == "above_maximum"
    assert card_payment(huge)["limit"] == 999_999_999_990
    assert card_payment(SimpleNamespace(amount_due=1_000, currency="KWD")) is None


def stage_format(db, **formats):
    """A format saved before formats were checked against issued numbers:
    written straight in the database, past the settings' check."""
    from sqlalchemy import update

    from bridge.models import BusinessSettings

    with db.session() as s:
        s.execute(update(BusinessSettings).values(**formats))


def test_finalize_with_a_number_format_that_collides_is_a_409_naming_the_setting(api_eur, shop, db):
    first = draft(api_eur, shop)
    number = api_eur.post(f"/invoices/{first['id']}/finalize").get_json()["number"]
    # INV-2026-{seq:05}: a series of its own, whose first number is issued.
    stage_format(db, invoice_number_format=number[:-5] + "{seq:05}")
    second = draft(api_eur, shop)
    before = snapshot(db)

    for _attempt in range(2):  # every time, until the format changes
        response = api_eur.post(f"/invoices/{second['id']}/finalize")
        assert response.status_code == 409, response.get_json()
        error = response.get_json()["error"]
        assert error["code"] == "number_format_collides"
        assert number in error["message"]
        assert "change the invoice number format in the settings" in error["message"]
        assert error["fields"] == {
            "invoice_number_format": [f"Gives a number already issued: {number}."]
        }
    assert snapshot(db) == before
    assert api_eur.get(f"/invoices/{second['id']}").get_json()["status"] == "draft"

    patched = api_eur.patch("/settings", json={"invoice_number_format": "B-{year}-{seq:05}"})
    assert patched.status_code == 200, patched.get_json()
    assert api_eur.post(f"/invoices/{second['id']}/finalize").get_json()["number"].startswith("B-")


def test_a_credit_note_with_a_number_format_that_collides_is_a_409(api_eur, shop, db):
    invoice = draft(api_eur, shop, items=[{"plan_id": shop["setup"]["id"]}])
    api_eur.post(f"/invoices/{invoice['id']}/finalize")
    api_eur.post(f"/invoices/{invoice['id']}/payments", json={"amount": 18000, "method": "cash"})
    credit = f"/invoices/{invoice['id']}/credit-notes"
    number = api_eur.post(credit, json={"amount": 1000}).get_json()["number"]
    stage_format(db, credit_note_number_format=number[:-5] + "{seq:05}")

    response = api_eur.post(credit, json={"amount": 1000})

    assert response.status_code == 409, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "number_format_collides"
    assert "change the credit note number format in the settings" in error["message"]
    assert list(error["fields"]) == ["credit_note_number_format"]
    assert api_eur.get(f"/invoices/{invoice['id']}").get_json()["amount_refunded"] == 1000


def test_staff_download_the_pdf_and_a_sample(api_eur, shop):
    from io import BytesIO

    from pypdf import PdfReader

    invoice = draft(api_eur, shop)
    sent = api_eur.post(f"/invoices/{invoice['id']}/finalize").get_json()
    response = api_eur.get(f"/invoices/{invoice['id']}/pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert sent["number"] in response.headers["Content-Disposition"]
    text = PdfReader(BytesIO(response.data)).pages[0].extract_text()
    assert sent["number"] in text and "249.60" in text
    french = api_eur.get(f"/invoices/{invoice['id']}/pdf?language=fr")
    assert "249,60" in PdfReader(BytesIO(french.data)).pages[0].extract_text()
    german = api_eur.get(f"/invoices/{invoice['id']}/pdf?language=de")
    assert "Offener Betrag" in PdfReader(BytesIO(german.data)).pages[0].extract_text()
    assert api_eur.get(f"/invoices/{invoice['id']}/pdf?language=it").status_code == 422
    assert api_eur.get("/invoices/999/pdf").status_code == 404
    sample = api_eur.get("/settings/invoice-sample.pdf")
    assert sample.status_code == 200 and sample.data.startswith(b"%PDF")


def test_pdf_needs_a_token(client, api_eur, shop):
    invoice = draft(api_eur, shop)
    assert client.get(f"/api/v1/invoices/{invoice['id']}/pdf").status_code == 401


def test_an_offline_payment_cannot_predate_its_invoice(api_eur, shop):
    """A payment typed as received in 2016 on an invoice issued today would
    start its subscription in 2016 (and the renew job would bill ten years)."""
    invoice = draft(api_eur, shop)
    sent = api_eur.post(f"/invoices/{invoice['id']}/finalize").get_json()
    early = api_eur.post(
        f"/invoices/{invoice['id']}/payments",
        json={"amount": sent["total"], "method": "cash", "received_at": "2016-03-01T10:00:00Z"},
    )
    assert early.status_code == 422
    assert list(early.get_json()["error"]["fields"]) == ["received_at"]
    assert api_eur.get(f"/invoices/{invoice['id']}").get_json()["amount_paid"] == 0
    same_day = api_eur.post(
        f"/invoices/{invoice['id']}/payments",
        json={"amount": sent["total"], "method": "cash", "received_at": sent["issued_at"]},
    )
    assert same_day.status_code == 201, same_day.get_json()
