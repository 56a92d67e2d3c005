"""Issue 14, Discounts, on the PDF: the coupon named in the totals with what
it takes off, each line's discount in its own column, the columns adding up
(lines - discount + tax = total), in the invoice's language; a 100 %-off
invoice prints with a total of 0."""

from __future__ import annotations

import re

import time_machine

from bridge.billing import clients, coupons, invoices
from bridge.billing.invoices import Item
from bridge.models import Invoice
from bridge.pdf import render_invoice_pdf
from tests.pdf.conftest import ISSUED, pdf_text


def discounted(db, shop, *, language=None, **terms) -> int:
    """A finalized invoice of the redesign (1 028.75) and two months of
    hosting (2 x 29.00), 20 % VAT, with a coupon of ``terms``."""
    with time_machine.travel(ISSUED, tick=False), db.session() as s:
        coupon = coupons.create_coupon(s, **terms)
        invoice = invoices.bill_client(
            s,
            clients.get_client(s, shop.client),
            [Item(shop.design), Item(shop.hosting, 2)],
            tax_rate_ids=[shop.vat],
            language=language,
            coupon=coupon,
        )
        invoices.finalize(s, invoice)
        return invoice.id


def render(db, invoice_id) -> str:
    with db.session() as s:
        return pdf_text(render_invoice_pdf(s, s.get(Invoice, invoice_id)))


def amounts(text: str) -> list[int]:
    """Every English amount of the text in cents, in order ("-€1.00" -> -100)."""
    return [
        int(sign + whole.replace(",", "") + cents)
        for sign, whole, cents in re.findall(r"(-?)€([\d,]+)\.(\d\d)", text)
    ]


def test_the_coupon_and_each_lines_discount_print_and_add_up(db, shop):
    invoice_id = discounted(db, shop, name="SUMMER20", percent_off="20", code="SUMMER20")
    text = render(db, invoice_id)
    assert "Discount: SUMMER20 — 20% off" in text
    head = text.index("Description")
    assert text[head:].startswith("Description Qty Unit price Discount Amount") or (
        "Discount" in text[head : head + 60]
    )
    with db.session() as s:
        invoice = s.get(Invoice, invoice_id)
        lines = [(line.amount, line.discount) for line in invoice.lines]
        subtotal, discount, tax, total = (
            invoices.printed_subtotal(invoice, invoices.tax_summary(s, invoice)),
            invoice.discount,
            invoice.tax,
            invoice.total,
        )
    assert lines == [(102_875, 20_575), (5_800, 1_160)]
    printed = amounts(text)
    for amount, off in lines:
        assert amount in printed and -off in printed
    # Lines - discount + tax = total, every figure as printed.
    assert subtotal == sum(a for a, _ in lines) and discount == sum(d for _, d in lines)
    assert subtotal - discount + tax == total
    for figure in (subtotal, -discount, tax, total):
        assert figure in printed, figure


def test_an_amount_off_prints_the_amount_and_in_french(db, shop):
    invoice_id = discounted(db, shop, language="fr", name="Fidélité", amount_off=5_000)
    text = render(db, invoice_id)
    flat = " ".join(text.split())  # the label may wrap in its column
    assert "Remise : Fidélité — 50,00 € de réduction" in flat, text
    assert "-50,00 €" in text


def test_a_hundred_percent_off_invoice_prints_a_total_of_zero(db, shop):
    invoice_id = discounted(db, shop, name="Free", percent_off="100")
    text = render(db, invoice_id)
    with db.session() as s:
        invoice = s.get(Invoice, invoice_id)
        assert (invoice.total, invoice.tax, invoice.status.value) == (0, 0, "paid")
    assert "Discount: Free — 100% off" in text
    assert "-€1,028.75" in text and "-€58.00" in text
    assert re.search(r"Total\n(.*\n)*?€0\.00", text)


def test_an_invoice_without_discount_keeps_four_columns(db, shop):
    text = render(db, shop.invoice())
    assert "Discount" not in text
