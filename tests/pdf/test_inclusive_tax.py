"""Prices that include their tax print in consistent columns: a line's
unit price and amount are both gross (quantity x unit price), the subtotal
is the sum of the lines, the included tax is shown and not added. Before,
the line printed the gross unit price next to its net amount
(``1 x 340.00 = 285.71``)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import time_machine
from pypdf import PdfReader

from bridge.billing import catalog, clients, invoices
from bridge.billing.invoices import Item
from bridge.models import Invoice
from bridge.pdf import render_invoice_pdf
from tests import shop as shops
from tests.pdf.conftest import ISSUED, normalise, pdf_text

# 340.00 including 19 % VAT: 285.71 net + 54.29 VAT; three of them:
# 1,020.00 = 857.14 net + 162.86 VAT.
PRICE = 34_000


def inclusive_invoice(db, language: str | None = None) -> int:
    with time_machine.travel(datetime(2026, 1, 30, tzinfo=UTC), tick=False), db.session() as s:
        shops.open_business(s, company_name="Pixel Press Studio")
        plan = shops.add_product(s, "Website", {"care": shops.one_time("Care", PRICE)})["care"]
        vat = catalog.create_tax_rate(s, name="MwSt", percentage="19", inclusive=True).id
        client = shops.add_client(s)
    with time_machine.travel(ISSUED, tick=False), db.session() as s:
        invoice = invoices.bill_client(
            s,
            clients.get_client(s, client),
            [Item(plan), Item(plan, 3)],
            tax_rate_ids=[vat],
            language=language,
        )
        invoices.finalize(s, invoice)
        assert (invoice.subtotal, invoice.tax, invoice.total) == (114_285, 21_715, 136_000)
        return invoice.id


def layout_text(data: bytes) -> str:
    """pypdf's layout extraction: each printed row on one line of text."""
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text(extraction_mode="layout") for page in reader.pages)
    return re.sub(r"[ \u00a0\u202f]+", " ", normalise(text))


def test_inclusive_lines_print_gross_unit_and_amount(db):
    invoice_id = inclusive_invoice(db)
    with db.session() as s:
        data = render_invoice_pdf(s, s.get(Invoice, invoice_id))
    rows = layout_text(data)
    assert "Website — Care 1 €340.00 €340.00" in rows
    assert "Website — Care 3 €340.00 €1,020.00" in rows
    assert "Subtotal €1,360.00" in rows
    assert "MwSt (19%, included) €217.15" in rows
    assert "Total €1,360.00" in rows
    text = pdf_text(data)
    for net in ("€285.71", "€857.14", "€1,142.85"):
        assert net not in text, net


def test_inclusive_lines_on_the_hosted_page(app, db, client):
    invoice_id = inclusive_invoice(db, language="de")
    with db.session() as s:
        token = s.get(Invoice, invoice_id).hosted_token
    page = normalise(client.get(f"/i/{token}").get_data(as_text=True))
    cells = [
        re.sub(r"\s+", " ", cell).strip()
        for cell in re.findall(r'<td class="num"[^>]*>(.*?)</td>', page, re.S)
    ]
    assert cells[:6] == ["1", "340,00 €", "340,00 €", "3", "340,00 €", "1.020,00 €"]
    assert re.search(r'id="subtotal">\s*1.360,00 €', page)
    assert "MwSt (19 %, enthalten)" in page
    for net in ("285,71", "857,14", "1.142,85"):
        assert net not in page, net
