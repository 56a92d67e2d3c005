"""xhtml2pdf parses a stylesheet once per process (``bridge.pdf.render``):
an invoice drawn with the stylesheets parsed earlier is the same PDF as one
that parses them anew, the page box is still read for every document, and
a changed brand colour is a new stylesheet, not the old one reused."""

from __future__ import annotations

import pytest
from reportlab import rl_config

from bridge.billing import business
from bridge.models import Invoice
from bridge.pdf import render as pdf_render
from bridge.pdf import render_invoice_pdf
from tests.pdf.conftest import pdf_reader


@pytest.fixture
def invariant(monkeypatch):
    """PDFs without their creation date and random id, to compare bytes."""
    monkeypatch.setattr(rl_config, "invariant", 1)


def render(db, invoice_id: int) -> bytes:
    with db.session() as s:
        return render_invoice_pdf(s, s.get(Invoice, invoice_id))


def test_an_invoice_drawn_with_stylesheets_parsed_before_is_the_same_pdf(
    db, shop, invariant, monkeypatch
):
    invoice_id = shop.invoice()
    monkeypatch.setattr(pdf_render, "_parsed_stylesheets", {})
    parsed_anew = render(db, invoice_id)
    kept = dict(pdf_render._parsed_stylesheets)
    # xhtml2pdf's default stylesheet and the invoice's rules; not the page box.
    assert len(kept) == 2
    assert not any("@" in text for text in kept)
    assert render(db, invoice_id) == parsed_anew
    assert pdf_render._parsed_stylesheets == kept


def test_the_page_box_is_read_for_every_document(db, shop):
    invoice_id = shop.invoice()
    for _ in range(2):
        page = pdf_reader(render(db, invoice_id)).pages[0]
        # A4 (595 x 842 pt): @page is parsed for each document, not kept.
        assert (round(page.mediabox.width), round(page.mediabox.height)) == (595, 842)


def test_a_changed_brand_colour_shows_on_the_next_pdf(db, shop):
    teal = b".058824 .462745 .431373 rg"  # #0f766e as ReportLab writes it
    violet = b".486275 .227451 .929412 rg"  # #7c3aed, the shop's
    invoice_id = shop.invoice()
    assert violet in first_page_content(render(db, invoice_id))  # its stylesheet now kept
    with db.session() as s:
        business.update_settings(s, {"brand_color": "#0f766e"})
    content = first_page_content(render(db, invoice_id))
    assert teal in content
    assert violet not in content


def first_page_content(data: bytes) -> bytes:
    return pdf_reader(data).pages[0].get_contents().get_data()
