"""Account credit on the pages: the Hub client page shows the balance and
its ledger and grants credit (errors next to the field, once per form);
the portal home shows "Account credit: €X" when there is some; the hosted
page and the PDF say what account credit paid, and what a negative
(downgrade) invoice credited."""

from __future__ import annotations

import re

from bridge.billing import balances, clients, invoices
from bridge.models import Invoice
from tests.hub.conftest import STAFF_EMAIL, Hub, add_staff, csrf_token
from tests.pdf.conftest import pdf_text
from tests.portal.billing import invoice_of


def _grant(db, client_id: int, amount: int, reason: str = "Goodwill") -> None:
    with db.session() as s:
        balances.grant(s, clients.get_client(s, client_id), amount=amount, reason=reason)


def test_the_portal_home_shows_the_account_credit_only_when_some(db, shop, portal):
    assert "Account credit" not in portal.get("/portal/").data.decode()
    _grant(db, shop.client_id, 1250)
    page = portal.get("/portal/").data.decode()
    assert re.search(r'id="account-credit-EUR"><strong>Account credit: €12.50</strong>', page)


def test_hosted_page_and_pdf_show_what_credit_paid(client, db, shop):
    _grant(db, shop.client_id, 10000)
    made = invoice_of(db, shop, shop.client_id)  # 1,557.60, of which 100.00 from credit
    page = client.get(f"/i/{made.token}").data.decode()
    assert 'id="paid-from-credit">€100.00<' in page
    assert 'id="amount-paid"' not in page
    assert 'id="amount-due">€1,457.60<' in page
    text = pdf_text(client.get(f"/i/{made.token}/pdf").data)
    assert "Paid from account credit" in text and "€100.00" in text


def test_a_negative_invoice_says_it_was_credited(client, db, shop):
    made = invoice_of(db, shop, shop.client_id, "draft")
    with db.session() as s:
        invoice = s.get(Invoice, made.id)
        for line in invoice.lines:  # a credit larger than the charge, as a downgrade
            line.net, line.tax, line.total = -line.net, -line.tax, -line.total
        invoice.subtotal, invoice.tax, invoice.total = (
            -invoice.subtotal,
            -invoice.tax,
            -invoice.total,
        )
        invoices.finalize(s, invoice)
        number = invoice.number
    page = client.get(f"/i/{made.token}").data.decode()
    assert 'id="credited-to-account">€1,557.60<' in page
    assert 'id="amount-due">€0.00<' in page and "pay-form" not in page
    text = pdf_text(client.get(f"/i/{made.token}/pdf").data)
    assert "Credited to your account" in text and number in text


def test_the_hub_client_page_grants_and_lists_credit(app, db, shop):
    add_staff(db)
    hub = Hub(app.test_client())
    assert hub.login(STAFF_EMAIL).status_code == 302
    path = f"/clients/{shop.client_id}?tab=invoices"
    page = hub.client.get(path).data.decode()
    assert 'id="credit-balance"><strong>€0.00</strong>' in page
    assert "No account credit yet." in page
    keys = re.findall(r'name="key" value="([^"]+)"', page)
    assert len(keys) == len(set(keys))  # each form its own once-key
    key = re.search(r'class="panel filters credit-form".*?name="key" value="([^"]+)"', page, re.S)
    form = {"csrf_token": csrf_token(page), "key": key.group(1)}

    bad = hub.client.post(
        f"/clients/{shop.client_id}/balance", data={**form, "amount": "12,50", "reason": ""}
    )
    assert bad.status_code == 422
    text = bad.data.decode()
    assert 'id="credit-amount-error"' in text and 'aria-invalid="true"' in text

    done = hub.client.post(
        f"/clients/{shop.client_id}/balance",
        data={**form, "amount": "12.50", "reason": "Outage in May"},
    )
    assert done.status_code == 302
    again = hub.client.post(
        f"/clients/{shop.client_id}/balance",
        data={**form, "amount": "12.50", "reason": "Outage in May"},
    )
    assert again.status_code == 302  # the same form twice grants once
    with db.session() as s:
        assert balances.balance_of(s, shop.client_id, "EUR") == 1250
    page = hub.client.get(path).data.decode()
    assert 'id="credit-balance"><strong>€12.50</strong>' in page
    assert "Granted by hand" in page and "Outage in May" in page
    overview = hub.client.get(f"/clients/{shop.client_id}").data.decode()
    assert re.search(r'id="figure-credit"><dt>Account credit</dt><dd>€12.50</dd>', overview)


def test_the_portal_invoice_list_names_payments_from_credit(db, shop, portal):
    _grant(db, shop.client_id, 500)
    invoice_of(db, shop, shop.client_id)
    page = portal.get("/portal/invoices").data.decode()
    assert "€5.00 by account credit on" in page
