"""The portal's invoices: the client's issued invoices only, newest first,
filtered and paged, each opening its hosted page and PDF, with its
payments; the client's credit notes."""

from __future__ import annotations

from bridge.billing import invoices
from bridge.models.invoices import Invoice
from tests.portal.billing import give_role_without_billing, invoice_of, make_overdue, rows


def test_every_issued_invoice_of_the_client_newest_first_never_a_draft(
    db, shop, portal, second_client
):
    made = [invoice_of(db, shop, shop.client_id, s) for s in ("open", "paid", "void")]
    draft = invoice_of(db, shop, shop.client_id, "draft")
    theirs = invoice_of(db, shop, second_client)
    page = portal.get("/portal/invoices")
    assert page.status_code == 200
    assert rows(page.data, "invoice-") == [f"invoice-{m.id}" for m in reversed(made)]
    text = page.data.decode()
    assert f'id="invoice-{draft.id}"' not in text and draft.token not in text
    assert theirs.number not in text and theirs.token not in text
    for invoice in made:
        assert f'href="/i/{invoice.token}"' in text
        assert f'id="pdf-{invoice.id}" href="/i/{invoice.token}/pdf"' in text
    assert "Payment due" in text and "Paid" in text and "Void" in text


def test_the_status_filter(db, shop, portal):
    open_one = invoice_of(db, shop, shop.client_id)
    paid = invoice_of(db, shop, shop.client_id, "paid")
    void = invoice_of(db, shop, shop.client_id, "void")
    late = invoice_of(db, shop, shop.client_id, "uncollectible")

    def shown(status):
        return rows(portal.get(f"/portal/invoices?status={status}").data, "invoice-")

    assert shown("unpaid") == [f"invoice-{late.id}", f"invoice-{open_one.id}"]
    assert shown("paid") == [f"invoice-{paid.id}"]
    assert shown("void") == [f"invoice-{void.id}"]
    assert len(shown("nonsense")) == 4
    empty = portal.get("/portal/invoices?status=paid")
    assert 'aria-current="page">Paid' in empty.data.decode()


def test_an_empty_list_and_an_empty_filter_say_so(db, shop, portal):
    assert "No invoices yet." in portal.get("/portal/invoices").data.decode()
    invoice_of(db, shop, shop.client_id)
    text = portal.get("/portal/invoices?status=void").data.decode()
    assert "No invoices here." in text and "Show all invoices" in text


def test_twenty_five_a_page(db, shop, portal):
    made = [invoice_of(db, shop, shop.client_id) for _ in range(27)]
    first = portal.get("/portal/invoices")
    assert len(rows(first.data, "invoice-")) == 25
    assert "Page 1 of 2" in first.data.decode()
    assert 'rel="next" href="/portal/invoices?page=2"' in first.data.decode()
    second = portal.get("/portal/invoices?page=2")
    assert rows(second.data, "invoice-") == [f"invoice-{made[1].id}", f"invoice-{made[0].id}"]
    assert portal.get("/portal/invoices?page=abc").status_code == 200
    unpaid = portal.get("/portal/invoices?status=unpaid").data.decode()
    assert 'href="/portal/invoices?page=2&amp;status=unpaid"' in unpaid


def test_an_overdue_invoice_and_the_payments_of_a_paid_one(db, shop, portal):
    late = invoice_of(db, shop, shop.client_id)
    make_overdue(db, late.id)
    invoice_of(db, shop, shop.client_id, "paid")
    text = portal.get("/portal/invoices").data.decode()
    assert 'class="status status-overdue">Overdue<' in text
    assert 'class="overdue">' in text  # its due date in red
    # The paid one shows its bank transfer (the hosted page only totals them).
    assert "by bank transfer on" in text


def test_credit_notes_are_listed_with_their_invoice(db, shop, portal, second_client):
    paid = invoice_of(db, shop, shop.client_id, "paid")
    theirs = invoice_of(db, shop, second_client, "paid")
    with db.session() as session:
        for made in (paid, theirs):
            invoice = invoices.get_invoice(session, made.id, lock=True)
            invoices.issue_credit_note(session, invoice, amount=1000, reason="Goodwill")
        mine, other = (
            session.get(Invoice, made.id).credit_notes[0].number for made in (paid, theirs)
        )
    text = portal.get("/portal/invoices").data.decode()
    assert "Credit notes" in text
    assert mine in text and other not in text
    assert "€10.00" in text


def test_a_role_without_billing_is_refused(db, shop, portal):
    invoice_of(db, shop, shop.client_id)
    give_role_without_billing(db, shop.client_id)
    page = portal.get("/portal/invoices")
    assert page.status_code == 403
    assert b"/i/" not in page.data


def test_the_invoices_speak_french(db, shop, portal):
    invoice_of(db, shop, shop.client_id, "paid")
    invoice_of(db, shop, shop.client_id)
    portal.post("/portal/language", {"language": "fr", "next": "/portal/invoices"})
    text = portal.get("/portal/invoices").data.decode()
    assert "Factures" in text
    assert "Payée" in text
    assert "par virement le" in text
