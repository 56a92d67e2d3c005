"""The hosted invoice page over HTTP (Flask's test client, SQLite and
PostgreSQL): what the client sees in each invoice state, the security
headers, and the pay endpoints refusing what they must refuse."""

from __future__ import annotations

import pytest

from bridge.billing import business, invoices
from bridge.core import clock
from bridge.models import Client, Invoice, Payment, PaymentMethod, PaymentState, PaymentStatus
from bridge.portal import views
from tests.conftest import snapshot
from tests.e2e.conftest import OFFLINE_INSTRUCTIONS, invoice_row

PAY_ENDPOINTS = ("setup-intent", "pay", "confirm", "authenticate")
STRIPE_JS = "https://js.stripe.example/v3/"
STRIPE_ORIGIN = "https://js.stripe.example"
# A transparent 1x1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def text_of(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def stripe_on(app, db, monkeypatch):
    """Card payments configured, without any Stripe: the page only needs to
    know that a gateway exists and the publishable key."""
    app.config["STRIPE_JS_URL"] = STRIPE_JS
    with db.session() as s:
        business.get_settings(s).stripe_publishable_key = "pk_test_hosted_page"
    monkeypatch.setattr(views, "_gateway", lambda session: object())


# Finding the invoice ------------------------------------------------------------


def test_drafts_unknown_and_garbled_tokens_are_404(client, new_invoice):
    draft = new_invoice("draft")
    opened = new_invoice("open")
    for path in (
        draft.path,
        "/i/" + "A" * 43,
        "/i/" + opened.token[:-1],
        "/i/" + opened.token + "x",
        "/i/" + opened.token.swapcase(),
        "/i/short",
        "/i/" + "a" * 65,
        "/i/%27%3Cscript%3E" + "a" * 30,
        "/i/" + opened.token + "%00",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert opened.number not in text_of(response)
        assert response.headers["Cache-Control"] == "no-store"
    assert "Invoice not found" in text_of(client.get(draft.path))


def test_pay_endpoints_of_unknown_and_draft_tokens_are_json_404(client, new_invoice):
    draft = new_invoice("draft")
    bodies = {
        "setup-intent": {},
        "pay": {"setup_intent_id": "seti_1"},
        "confirm": {"payment_intent_id": "pi_1"},
        "authenticate": {},
    }
    for token in (draft.token, "B" * 43, "garbled!"):
        for endpoint, body in bodies.items():
            response = client.post(f"/i/{token}/{endpoint}", json=body)
            assert response.status_code == 404, (token, endpoint)
            assert response.get_json()["error"]["code"] == "not_found"


# What the client sees -------------------------------------------------------------


def test_open_invoice_shows_number_lines_taxes_and_amount_due(client, new_invoice):
    invoice = new_invoice("open", note="Thank you for your trust.")
    response = client.get(invoice.path)
    assert response.status_code == 200
    page = text_of(response)
    assert invoice.number in page
    assert 'id="invoice-status" class="status status-open">Payment due<' in page
    for text in (
        "Pixel &amp; Pine Studio",
        "Martin Bakery",
        "Alice Martin",
        "Website care — Site build",
        "Website care — Managed hosting",
        "€1,200.00",  # the build
        "€98.00",  # 2 x 49.00 of hosting
        "€1,298.00",  # subtotal
        "VAT (20%)",
        "€259.60",  # tax
        "Thank you for your trust.",
        "FR12345678901",
    ):
        assert text in page, text
    assert 'id="amount-due">€1,557.60<' in page
    # Offline only here: no Stripe.js, no card form, the instructions.
    assert "pay-form" not in page and "<script" not in page
    assert "IBAN FR76 3000 6000 0112 3456 7890 189" in page


def test_partly_paid_invoice_shows_amount_paid_and_what_is_left(client, db, new_invoice):
    invoice = new_invoice("open")
    with db.session() as s:
        row = s.get(Invoice, invoice.id)
        invoices.record_offline_payment(s, row, amount=57760, method=PaymentMethod.CASH)
    page = text_of(client.get(invoice.path))
    assert 'id="amount-paid">€577.60<' in page
    assert 'id="amount-due">€980.00<' in page


def test_paid_invoice_shows_paid_and_no_pay_form(client, new_invoice, stripe_on):
    invoice = new_invoice("paid")
    page = text_of(client.get(invoice.path))
    assert 'class="status status-paid">Paid<' in page
    assert "Thank you: this invoice is paid." in page
    assert 'id="amount-due">€0.00<' in page and 'id="amount-paid">€1,557.60<' in page
    assert "pay-form" not in page and "card-element" not in page
    assert STRIPE_JS not in page and OFFLINE_INSTRUCTIONS.split()[0] not in page


def test_void_and_uncollectible_show_their_state_and_no_pay_form(client, new_invoice, stripe_on):
    for status, word, message in (
        ("void", "Void", "This invoice was cancelled"),
        ("uncollectible", "Uncollectible", "This invoice is closed"),
    ):
        page = text_of(client.get(new_invoice(status).path))
        assert f'class="status status-{status}">{word}<' in page
        assert message in page
        assert "pay-form" not in page and "<script" not in page


def test_offline_instructions_when_stripe_is_not_configured(client, new_invoice):
    page = text_of(client.get(new_invoice("open").path))
    assert "How to pay" in page
    assert "BIC AGRIFRPP" in page
    assert "Stripe" not in page


def test_without_instructions_the_page_says_whom_to_contact(client, db, new_invoice):
    with db.session() as s:
        business.get_settings(s).offline_payment_instructions = ""
    page = text_of(client.get(new_invoice("open").path))
    assert "Please contact us to arrange payment." in page
    assert "mailto:billing@pixelpine.example" in page


def test_card_form_and_stripe_js_when_stripe_is_configured(client, new_invoice, stripe_on):
    invoice = new_invoice("open")
    response = client.get(invoice.path)
    page = text_of(response)
    assert f'<script src="{STRIPE_JS}"></script>' in page
    assert '<script src="/portal/static/hosted-invoice.js"></script>' in page
    assert 'id="pay-form"' in page and 'id="card-element"' in page
    assert 'data-publishable-key="pk_test_hosted_page"' in page
    assert "Pay €1,557.60" in page
    # The offline way stays available, folded.
    assert "Other ways to pay" in page and "BIC AGRIFRPP" in page
    csp = dict(
        part.strip().split(" ", 1)
        for part in response.headers["Content-Security-Policy"].split(";")
        if " " in part.strip()
    )
    assert csp["script-src"] == f"'self' {STRIPE_ORIGIN}"
    assert csp["frame-src"] == STRIPE_ORIGIN
    assert csp["connect-src"] == f"'self' {STRIPE_ORIGIN}"
    assert csp["default-src"] == "'none'"


def test_real_stripe_js_gets_the_origins_stripe_documents(client, app, new_invoice, stripe_on):
    app.config["STRIPE_JS_URL"] = "https://js.stripe.com/v3/"
    csp = client.get(new_invoice("open").path).headers["Content-Security-Policy"]
    assert "script-src 'self' https://js.stripe.com https://*.js.stripe.com;" in csp
    assert "connect-src 'self' https://js.stripe.com https://api.stripe.com;" in csp
    assert (
        "frame-src https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com;" in csp
    )


def test_action_required_invoice_offers_to_complete_authentication(
    client, db, new_invoice, stripe_on
):
    invoice = new_invoice("open")
    with db.session() as s:
        row = s.get(Invoice, invoice.id)
        row.payment_state = PaymentState.ACTION_REQUIRED
    page = text_of(client.get(invoice.path))
    assert 'id="authenticate-button"' in page
    assert "Your bank asks you to confirm a payment" in page
    assert 'id="pay-form"' in page  # or another card


def test_failed_renewal_charge_is_explained(client, db, new_invoice, stripe_on):
    invoice = new_invoice("open")
    with db.session() as s:
        row = s.get(Invoice, invoice.id)
        row.payment_state = PaymentState.FAILED
        s.add(
            Payment(
                invoice_id=row.id,
                client_id=row.client_id,
                amount=row.amount_due,
                currency="EUR",
                method=PaymentMethod.CARD,
                gateway="stripe",
                status=PaymentStatus.FAILED,
                failure_message="Your card has insufficient funds.",
                created_at=clock.now(),
            )
        )
    page = text_of(client.get(invoice.path))
    assert "The last attempt to charge your card failed: Your card has insufficient funds." in page


def test_processing_payment_shows_no_form(client, db, new_invoice, stripe_on):
    invoice = new_invoice("open")
    with db.session() as s:
        s.get(Invoice, invoice.id).payment_state = PaymentState.PROCESSING
    page = text_of(client.get(invoice.path))
    assert 'id="processing-banner"' in page and "pay-form" not in page
    response = client.post(f"{invoice.path}/setup-intent", json={})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "payment_in_progress"


def test_french_invoice_is_written_in_french(client, new_invoice):
    invoice = new_invoice("open", language="fr")
    page = text_of(client.get(invoice.path))
    assert '<html lang="fr">' in page
    assert "Facture" in page and "À payer" in page and "Reste à payer" in page
    assert "1\u202f557,60\xa0€" in page
    # The rate keeps the name the agency gave it; the number is French.
    assert "VAT (20\u202f%)" in page


def test_german_invoice_is_written_in_german(client, db, new_invoice, stripe_on):
    invoice = new_invoice("open", language="de")
    issued = invoice_row(db, invoice.id).issued_at
    page = text_of(client.get(invoice.path))
    assert '<html lang="de">' in page
    for expected in (
        "Rechnung",
        "Zahlung fällig",
        "Offener Betrag",
        "Zwischensumme",
        "Gesamt",
        "Fällig am",
        "Ausgestellt am",
        "Rechnungsempfänger",
        "Diese Rechnung bezahlen",
        "1.557,60\xa0€",
        "VAT (20\xa0%)",
        "USt-IdNr.: FR12345678901",
        issued.strftime("%d.%m.%Y"),  # Babel's medium German date
    ):
        assert expected in page, expected
    assert "Amount due" not in page and "Reste à payer" not in page


def test_the_not_found_page_speaks_the_business_language(client, db):
    with db.session() as s:
        business.get_settings(s).invoice_language = "de"
    page = text_of(client.get("/i/" + "C" * 43))
    assert "Rechnung nicht gefunden" in page and '<html lang="de">' in page


def test_everything_is_escaped(client, db, shop, new_invoice):
    with db.session() as s:
        business.get_settings(s).company_name = "<script>alert('co')</script>"
        business.get_settings(s).offline_payment_instructions = '<img src=x onerror="alert(1)">'
        s.get(Client, shop.client_id).name = "<b>Alice</b>"
    page = text_of(client.get(new_invoice("open", note="<i>note</i>").path))
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#39;co&#39;)&lt;/script&gt;" in page
    assert "&lt;b&gt;Alice&lt;/b&gt;" in page and "&lt;i&gt;note&lt;/i&gt;" in page


def test_brand_colour_and_logo(client, app, db, new_invoice):
    with db.session() as s:
        business.set_logo(s, PNG, app.config["MAX_IMAGE_BYTES"])
    invoice = new_invoice("open")
    response = client.get(invoice.path)
    page = text_of(response)
    nonce = response.headers["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert f'<style nonce="{nonce}">:root {{ --brand: #0f766e; --brand-text: #ffffff; }}' in page
    assert f'src="/i/{invoice.token}/logo"' in page
    logo = client.get(f"/i/{invoice.token}/logo")
    assert logo.status_code == 200 and logo.data == PNG and logo.mimetype == "image/png"
    assert "sandbox" in logo.headers["Content-Security-Policy"]
    assert client.get("/i/" + "C" * 43 + "/logo").status_code == 404
    # Hidden by the invoice settings: neither shown nor served.
    with db.session() as s:
        business.get_settings(s).invoice_show_logo = False
    assert "/logo" not in text_of(client.get(invoice.path))
    assert client.get(f"/i/{invoice.token}/logo").status_code == 404


def test_the_client_downloads_the_pdf_with_the_token(client, new_invoice):
    invoice = new_invoice("open")
    page = text_of(client.get(invoice.path))
    pdf = client.get(f"{invoice.path}/pdf")
    assert f'href="{invoice.path}/pdf"' in page
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert pdf.headers["Content-Disposition"].startswith("attachment;")
    assert client.get("/i/" + "D" * 43 + "/pdf").status_code == 404


# Headers -------------------------------------------------------------------------------


def test_security_headers_on_the_page_and_its_errors(client, new_invoice):
    invoice = new_invoice("open")
    for response in (
        client.get(invoice.path),
        client.get("/i/" + "D" * 43),
        client.post(f"{invoice.path}/pay", json={}),
    ):
        headers = response.headers
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Cache-Control"] == "no-store"
        assert headers["X-Content-Type-Options"] == "nosniff"
        csp = headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert "script-src 'self';" in csp  # no Stripe.js when offline
        assert "unsafe-inline" not in csp


# The pay endpoints refuse bad input ---------------------------------------------------


BAD_PAY_REQUESTS = [
    (
        {"data": "setup_intent_id=seti_1", "content_type": "application/x-www-form-urlencoded"},
        415,
        "unsupported_media_type",
    ),
    (
        {"data": '{"setup_intent_id": "seti_1"}', "content_type": "text/plain"},
        415,
        "unsupported_media_type",
    ),
    ({"data": "{not json", "content_type": "application/json"}, 400, "invalid_json"),
    # Valid JSON but not an object: the API's answer, a 422 naming no field.
    ({"json": ["seti_1"]}, 422, "validation_error"),
    ({"json": {}}, 422, "validation_error"),
    ({"json": {"setup_intent_id": 12}}, 422, "validation_error"),
    ({"json": {"setup_intent_id": None}}, 422, "validation_error"),
    ({"json": {"setup_intent_id": "pi_123"}}, 422, "validation_error"),
    ({"json": {"setup_intent_id": "seti_1'; drop table"}}, 422, "validation_error"),
    ({"json": {"setup_intent_id": "seti_1", "amount": 1}}, 422, "validation_error"),
    ({"json": {"setup_intent_id": "seti_" + "a" * 5000}}, 413, "payload_too_large"),
    (
        {"json": {"setup_intent_id": "seti_1"}, "headers": {"Origin": "https://evil.example"}},
        403,
        "forbidden",
    ),
    ({"json": {"setup_intent_id": "seti_1"}, "headers": {"Origin": "null"}}, 403, "forbidden"),
]


def test_pay_refuses_bad_requests_and_changes_nothing(app, client, db, new_invoice, stripe_on):
    # Refused calls count against the page's limit too (test_hosted_page_limits.py).
    app.config["HOSTED_PAGE_LIMIT_PER_TOKEN"] = "100 per minute"
    invoice = new_invoice("open")
    before = snapshot(db)
    for kwargs, status, code in BAD_PAY_REQUESTS:
        response = client.post(f"{invoice.path}/pay", **kwargs)
        assert response.status_code == status, (kwargs, response.get_json())
        error = response.get_json()["error"]
        assert error["code"] == code and error["message"], kwargs
        assert response.headers["Cache-Control"] == "no-store"
    assert snapshot(db) == before


def test_pay_errors_name_the_fields_like_the_api(client, new_invoice, stripe_on):
    invoice = new_invoice("open")
    response = client.post(f"{invoice.path}/pay", json={"setup_intent_id": "pi_1", "amount": 1})
    assert response.status_code == 422
    assert response.get_json() == {
        "error": {
            "code": "validation_error",
            "message": "The request has invalid fields.",
            "fields": {"setup_intent_id": ["Not a valid id."], "amount": ["Unknown field."]},
        }
    }
    missing = client.post(f"{invoice.path}/confirm", json={}).get_json()["error"]
    assert list(missing["fields"]) == ["payment_intent_id"]
    extra = client.post(f"{invoice.path}/setup-intent", json={"x": 1}).get_json()["error"]
    assert (extra["code"], extra["fields"]) == ("validation_error", {"x": ["Unknown field."]})


def test_bad_bodies_get_the_apis_own_answers(client, api, new_invoice, stripe_on):
    invoice = new_invoice("open")
    for kwargs in (
        {"data": "{not json", "content_type": "application/json"},
        {"json": ["seti_1"]},
    ):
        page = client.post(f"{invoice.path}/pay", **kwargs)
        staff = api.post("/clients", **kwargs)
        assert (page.status_code, page.get_json()) == (staff.status_code, staff.get_json())


def test_same_origin_requests_pass_the_origin_check(client, new_invoice):
    invoice = new_invoice("open")
    response = client.post(
        f"{invoice.path}/setup-intent", json={}, headers={"Origin": "http://localhost"}
    )
    # Past the checks: refused only because this bridge takes no cards.
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "card_payments_unavailable"


def test_pay_endpoints_take_only_post(client, new_invoice):
    invoice = new_invoice("open")
    for endpoint in PAY_ENDPOINTS:
        assert client.get(f"{invoice.path}/{endpoint}").status_code == 405


def test_closed_invoices_take_no_payment(client, new_invoice, stripe_on):
    for status in ("paid", "void", "uncollectible"):
        invoice = new_invoice(status)
        for endpoint, body in (
            ("setup-intent", {}),
            ("pay", {"setup_intent_id": "seti_1"}),
            ("authenticate", {}),
        ):
            response = client.post(f"{invoice.path}/{endpoint}", json=body)
            assert response.status_code == 409, (status, endpoint)
            assert response.get_json()["error"]["code"] == "invoice_not_payable"


def test_confirm_reaches_only_the_invoices_own_payments(client, db, new_invoice, stripe_on):
    mine, other = new_invoice("open"), new_invoice("open")
    with db.session() as s:
        s.add(
            Payment(
                invoice_id=other.id,
                client_id=invoice_row(db, other.id).client_id,
                amount=100,
                currency="EUR",
                method=PaymentMethod.CARD,
                gateway="stripe",
                status=PaymentStatus.REQUIRES_ACTION,
                stripe_payment_intent_id="pi_OtherInvoice",
                created_at=clock.now(),
            )
        )
    response = client.post(f"{mine.path}/confirm", json={"payment_intent_id": "pi_OtherInvoice"})
    assert response.status_code == 404
    assert response.get_json()["error"] == {
        "code": "not_found",
        "message": "No such payment for this invoice.",
        "fields": {},
    }


def test_offline_bridge_refuses_card_payments(client, new_invoice):
    invoice = new_invoice("open")
    response = client.post(f"{invoice.path}/setup-intent", json={})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "card_payments_unavailable"
