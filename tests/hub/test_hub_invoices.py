"""The Hub's invoices and subscriptions through the test client: the list
with its filters, the invoice page with the actions its state allows, an
offline payment (recorded once however often the form is sent), a refund,
bad input per form, and the subscriptions' tabs."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from bridge.models import CreditNote, Invoice, InvoiceStatus, Payment
from tests.e2e.conftest import make_invoice, make_shop
from tests.hub.conftest import csrf_token


def text_of(response) -> str:
    return response.data.decode()


def form_key(page: str, form_id: str) -> str:
    """The idempotency key of one form of the invoice page."""
    form = re.search(rf'<form[^>]*id="{form_id}".*?</form>', page, re.S)
    assert form, form_id
    match = re.search(r'name="key" type="hidden" value="([^"]+)"', form.group(0))
    assert match
    return match.group(1)


def post_form(hub, invoice_id: int, path: str, form_id: str | None, data: dict):
    page = text_of(hub.client.get(f"/invoices/{invoice_id}"))
    fields = {"csrf_token": csrf_token(page), **data}
    if form_id:
        fields.setdefault("key", form_key(page, form_id))
    return hub.client.post(f"/invoices/{invoice_id}/{path}", data=fields)


def invoice_row(db, invoice_id: int) -> Invoice | None:
    with db.session() as s:
        invoice = s.get(Invoice, invoice_id)
        if invoice is not None:
            s.expunge(invoice)
        return invoice


def count(db, model) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


@pytest.fixture
def shop(db):
    return make_shop(db)


def test_an_empty_business_sees_no_invoices_and_no_subscriptions(hub):
    assert 'id="no-invoices"' in text_of(hub.client.get("/invoices"))
    assert 'id="no-subscriptions"' in text_of(hub.client.get("/subscriptions"))
    assert hub.client.get("/invoices/999").status_code == 404


def test_the_invoice_list_is_newest_first_and_filters_by_status_and_client(hub, db, shop):
    draft = make_invoice(db, shop, "draft")
    paid = make_invoice(db, shop, "paid")
    page = text_of(hub.client.get("/invoices"))
    assert "2 invoices" in page
    assert page.index(f"/invoices/{paid.id}") < page.index(f"/invoices/{draft.id}")
    assert paid.number in page and "Alice Martin" in page
    only_paid = text_of(hub.client.get("/invoices?status=paid"))
    assert f'/invoices/{paid.id}"' in only_paid and f'/invoices/{draft.id}"' not in only_paid
    assert 'id="no-match"' in text_of(hub.client.get("/invoices?client_id=999"))
    assert "2 invoices" in text_of(hub.client.get(f"/invoices?client_id={shop.client_id}"))
    # Nonsense filters are ignored, not errors.
    assert hub.client.get("/invoices?status=nope&page=x&client_id=-1").status_code == 200


@pytest.mark.parametrize(
    ("status", "shown", "hidden"),
    [
        ("draft", ["do-finalize", "do-delete"], ["do-void", "payment-form", "refund-form"]),
        (
            "open",
            ["do-void", "do-mark-uncollectible", "payment-form"],
            ["do-finalize", "refund-form"],
        ),
        ("paid", ["refund-form"], ["do-void", "payment-form", "do-finalize"]),
        ("void", [], ["do-void", "payment-form", "refund-form", "do-delete"]),
        ("uncollectible", ["payment-form", "do-void"], ["do-mark-uncollectible", "refund-form"]),
    ],
)
def test_the_invoice_page_offers_only_what_its_state_allows(hub, db, shop, status, shown, hidden):
    made = make_invoice(db, shop, status)
    page = text_of(hub.client.get(f"/invoices/{made.id}"))
    for name in shown:
        assert f'id="{name}"' in page, name
    for name in hidden:
        assert f'id="{name}"' not in page, name
    assert f"/invoices/{made.id}/pdf" in page
    assert ("/i/" in page) == (status != "draft")
    assert 'id="totals"' in page and "VAT" in page


def test_a_draft_is_sent_then_cannot_be_deleted(hub, db, shop):
    made = make_invoice(db, shop, "draft")
    response = post_form(hub, made.id, "finalize", None, {})
    assert response.status_code == 303
    assert invoice_row(db, made.id).status == InvoiceStatus.OPEN
    page = text_of(hub.client.get(f"/invoices/{made.id}"))
    assert "The invoice was sent." in page and "Invoice drafted" in page
    assert page.count("Invoice finalized") == 1 and "invoice.finalized" not in page
    response = post_form(hub, made.id, "delete", None, {})
    assert response.status_code == 409
    assert invoice_row(db, made.id) is not None


def test_a_draft_is_deleted(hub, db, shop):
    made = make_invoice(db, shop, "draft")
    assert post_form(hub, made.id, "delete", None, {}).status_code == 303
    assert invoice_row(db, made.id) is None


def test_an_open_invoice_is_voided_or_written_off(hub, db, shop):
    first, second = make_invoice(db, shop, "open"), make_invoice(db, shop, "open")
    assert post_form(hub, first.id, "void", None, {}).status_code == 303
    assert invoice_row(db, first.id).status == InvoiceStatus.VOID
    assert post_form(hub, second.id, "mark_uncollectible", None, {}).status_code == 303
    assert invoice_row(db, second.id).status == InvoiceStatus.UNCOLLECTIBLE


def test_an_offline_payment_marks_the_invoice_paid_once_however_often_it_is_sent(hub, db, shop):
    made = make_invoice(db, shop, "open")
    due = invoice_row(db, made.id).amount_due
    page = text_of(hub.client.get(f"/invoices/{made.id}"))
    data = {
        "csrf_token": csrf_token(page),
        "key": form_key(page, "payment-form"),
        "amount": f"{due // 100}.{due % 100:02d}",
        "method": "bank_transfer",
        "received_on": "",
        "reference": "Transfer 42",
    }
    first = hub.client.post(f"/invoices/{made.id}/payments", data=data)
    second = hub.client.post(f"/invoices/{made.id}/payments", data=data)
    assert first.status_code == second.status_code == 303
    assert count(db, Payment) == 1
    invoice = invoice_row(db, made.id)
    assert invoice.status == InvoiceStatus.PAID and invoice.amount_due == 0
    page = text_of(hub.client.get(f"/invoices/{made.id}"))
    assert "This payment was already recorded." in page
    assert "Transfer 42" in page and "Bank transfer" in page


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("amount", "", "is not a valid amount"),
        ("amount", "12,50", "is not a valid amount"),
        ("amount", "-5", "cannot be negative"),
        ("amount", "1.234", "at most 2 decimals"),
        ("amount", "0", "Must be more than zero."),
        ("method", "card", "Not a valid choice"),
        ("received_on", "yesterday", "Not a valid date value"),
        ("reference", "x" * 201, "Field cannot be longer than 200 characters."),
    ],
)
def test_a_bad_payment_form_says_why_next_to_the_field_and_records_nothing(
    hub, db, shop, field, value, message
):
    made = make_invoice(db, shop, "open")
    data = {"amount": "10.00", "method": "cash", "received_on": "", "reference": ""}
    response = post_form(hub, made.id, "payments", "payment-form", data | {field: value})
    assert response.status_code == 422
    page = text_of(response)
    error = re.search(rf'id="{field}-error">(.*?)</p>', page, re.S)
    assert error and message in error.group(1), page
    assert count(db, Payment) == 0


def test_a_payment_dated_before_the_invoice_is_refused_by_the_domain(hub, db, shop):
    made = make_invoice(db, shop, "open")
    data = {"amount": "10.00", "method": "cash", "received_on": "2001-01-01", "reference": ""}
    response = post_form(hub, made.id, "payments", "payment-form", data)
    assert response.status_code == 409
    assert 'id="invoice-error"' in text_of(response)
    assert count(db, Payment) == 0


def test_a_partial_refund_makes_one_credit_note_however_often_it_is_sent(hub, db, shop):
    made = make_invoice(db, shop, "paid")
    page = text_of(hub.client.get(f"/invoices/{made.id}"))
    data = {
        "csrf_token": csrf_token(page),
        "key": form_key(page, "refund-form"),
        "amount": "100.00",
        "reason": "Goodwill",
    }
    assert hub.client.post(f"/invoices/{made.id}/refund", data=data).status_code == 303
    assert hub.client.post(f"/invoices/{made.id}/refund", data=data).status_code == 303
    assert count(db, CreditNote) == 1
    assert invoice_row(db, made.id).amount_refunded == 10000
    page = text_of(hub.client.get(f"/invoices/{made.id}"))
    assert "Goodwill" in page and "This refund was already made." in page


@pytest.mark.parametrize(
    ("value", "status", "message"),
    [
        ("abc", 422, "is not a valid amount"),
        ("0", 422, "Must be more than zero."),
        ("999999.00", 409, None),
    ],
)
def test_a_bad_refund_says_why_and_refunds_nothing(hub, db, shop, value, status, message):
    made = make_invoice(db, shop, "paid")
    response = post_form(hub, made.id, "refund", "refund-form", {"amount": value, "reason": ""})
    assert response.status_code == status
    page = text_of(response)
    if message:
        error = re.search(r'id="refund_amount-error">(.*?)</p>', page, re.S)
        assert error and message in error.group(1)
    else:
        assert 'id="invoice-error"' in page
    assert count(db, CreditNote) == 0
    # The form can be sent again once corrected: the key was not spent.
    again = post_form(hub, made.id, "refund", "refund-form", {"amount": "1.00", "reason": ""})
    assert again.status_code == 303 and count(db, CreditNote) == 1


def test_the_pdf_downloads_with_the_apis_headers(hub, db, shop):
    made = make_invoice(db, shop, "open")
    response = hub.client.get(f"/invoices/{made.id}/pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf" and response.data.startswith(b"%PDF")
    assert response.headers["Content-Disposition"] == f'attachment; filename="{made.number}.pdf"'
    assert "no-store" in response.headers["Cache-Control"]


def test_a_read_only_user_sees_no_actions_and_cannot_write(hub, db, shop, monkeypatch):

    made = make_invoice(db, shop, "open")
    monkeypatch.setattr("bridge.auth.logins.read_only", lambda user: True)
    page = text_of(hub.client.get(f"/invoices/{made.id}"))
    assert 'id="payment-form"' not in page and 'id="do-void"' not in page
    response = hub.client.post(f"/invoices/{made.id}/void", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 403
    assert invoice_row(db, made.id).status == InvoiceStatus.OPEN


def test_the_subscriptions_list_has_current_and_inactive_tabs(hub, db, shop):
    make_invoice(db, shop, "paid")  # starts the hosting subscription
    current = text_of(hub.client.get("/subscriptions"))
    assert "Managed hosting" in current and "Alice Martin" in current and "Active" in current
    assert 'id="no-subscriptions"' in text_of(hub.client.get("/subscriptions?tab=inactive"))


def test_a_refund_to_the_card_goes_through_the_payment_gateway_once(hub, db, shop, monkeypatch):
    from bridge.billing import invoices
    from bridge.hub import invoices as screen

    calls = []

    class FakeGateway:
        def refund(self, session, invoice, amount, reason=""):
            calls.append((invoice.id, amount, reason))
            return invoices.issue_credit_note(session, invoice, amount=amount, reason=reason)

    monkeypatch.setattr(screen, "payment_gateway", lambda *args: FakeGateway())
    made = make_invoice(db, shop, "paid")
    page = text_of(hub.client.get(f"/invoices/{made.id}"))
    data = {
        "csrf_token": csrf_token(page),
        "key": form_key(page, "refund-form"),
        "amount": "12.34",
        "reason": "Late delivery",
        "refund_to_card": "y",
    }
    assert hub.client.post(f"/invoices/{made.id}/refund", data=data).status_code == 303
    assert hub.client.post(f"/invoices/{made.id}/refund", data=data).status_code == 303
    assert calls == [(made.id, 1234, "Late delivery")]
    assert count(db, CreditNote) == 1


def test_a_refund_the_gateway_refuses_changes_nothing_and_can_be_sent_again(
    hub, db, shop, monkeypatch
):
    from bridge.core.errors import Unavailable
    from bridge.hub import invoices as screen

    class DownGateway:
        def refund(self, session, invoice, amount, reason=""):
            session.commit()  # as the Stripe gateway does before asking Stripe
            raise Unavailable("Stripe could not be reached. Nothing was changed.")

    monkeypatch.setattr(screen, "payment_gateway", lambda *args: DownGateway())
    made = make_invoice(db, shop, "paid")
    page = text_of(hub.client.get(f"/invoices/{made.id}"))
    data = {
        "csrf_token": csrf_token(page),
        "key": form_key(page, "refund-form"),
        "amount": "1.00",
        "refund_to_card": "y",
    }
    response = hub.client.post(f"/invoices/{made.id}/refund", data=data)
    assert response.status_code == 409
    assert "Stripe could not be reached" in text_of(response)
    monkeypatch.setattr(screen, "payment_gateway", lambda *args: None)
    data.pop("refund_to_card")
    assert hub.client.post(f"/invoices/{made.id}/refund", data=data).status_code == 303
    assert count(db, CreditNote) == 1
