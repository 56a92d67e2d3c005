"""Invoice PDFs: a valid document, the invoice's words in its language,
totals formatted by Babel, an embedded font that draws é, €, ß and ł,
custom fields and the logo as the settings say, stamps, the sample."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bridge.billing import business, custom_fields, invoices
from bridge.billing.invoices import Item
from bridge.models import Client, CustomField, Invoice, NumberSeries
from bridge.pdf import render_invoice_pdf, render_sample_pdf
from tests.pdf.conftest import CLIENT_NAME, pdf_reader, pdf_text, png_logo


def render(db, invoice_id, language=None) -> bytes:
    with db.session() as s:
        return render_invoice_pdf(s, s.get(Invoice, invoice_id), language)


def test_english_invoice_has_number_parties_lines_and_totals(db, shop):
    invoice_id = shop.invoice(note="Thank you!\nDziękujemy, płatność w 14 dni")
    text = pdf_text(render(db, invoice_id))
    for expected in (
        "Invoice",
        "INV-2026-00001",
        "January 31, 2026",  # issued
        "February 14, 2026",  # due, after 14 days
        "Pixel Press Studio",
        "12 rue de la République",
        "Tax ID: FR12345678901",
        CLIENT_NAME,
        'Zoë & Co "Le Café"',  # spaces kept around & and quotes
        "Łódź",
        "Poland",
        "Website — Redesign",
        "€1,028.75",  # unit price, amount, subtotal
        "VAT (20%)",
        "€205.75",
        "€1,234.50",  # total and amount due
        "Amount paid",
        "€0.00",
        "Thank you!\nDziękujemy, płatność w 14 dni",
        "IBAN FR76 3000 6000 0112 3456 7890 189",
    ):
        assert expected in text, expected
    assert all(char in text for char in "é€ßŁłęź")
    assert "PAID" not in text and "DRAFT" not in text


def test_the_font_is_embedded_dejavu(db, shop):
    reader = pdf_reader(render(db, shop.invoice()))
    fonts = {
        str(font.get_object()["/BaseFont"])
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert any(name.endswith("+DejaVuSans") for name in fonts), fonts
    assert any(name.endswith("+DejaVuSans-Bold") for name in fonts), fonts


def test_french_invoice_in_french_words_dates_and_amounts(db, shop):
    text = pdf_text(render(db, shop.invoice(language="fr")))
    for expected in (
        "Facture",
        "FACTURÉ À",  # labels are set in capitals
        "NUMÉRO DE FACTURE",
        "31 janvier 2026",
        "14 février 2026",
        "N° TVA : FR12345678901",
        "Pologne",
        "1 028,75 €",
        "VAT (20 %)",  # the rate's name is the agency's, the format is French
        "Sous-total",
        "1 234,50 €",
        "Reste à payer",
        "Montant payé",
    ):
        assert expected in text, expected
    assert "Amount due" not in text and "€1,234.50" not in text


def test_german_invoice_in_german_words_dates_and_amounts(db, shop):
    # German is only a catalogue (bridge/translations/de): nothing in the
    # renderer knows it.
    text = pdf_text(render(db, shop.invoice(language="de")))
    for expected in (
        "Rechnung",
        "RECHNUNGSEMPFÄNGER",
        "RECHNUNGSNUMMER",
        "RECHNUNGSDATUM",
        "31. Januar 2026",
        "FÄLLIG AM",
        "14. Februar 2026",
        "USt-IdNr.: FR12345678901",
        "Polen",
        "Beschreibung",
        "1.028,75 €",
        "VAT (20 %)",
        "Zwischensumme",
        "Gesamt",
        "1.234,50 €",
        "Bereits bezahlt",
        "0,00 €",
        "Offener Betrag",
    ):
        assert expected in text, expected
    assert "Amount due" not in text and "Reste à payer" not in text


def test_the_invoice_dates_are_the_business_time_zone_days(db, shop):
    # Issued 31 January at 10:00 UTC: already 1 February (00:00) in Kiribati.
    with db.session() as s:
        business.get_settings(s).timezone = "Pacific/Kiritimati"
        s.commit()
    text = pdf_text(render(db, shop.invoice()))
    assert "February 1, 2026" in text and "January 31, 2026" not in text


def test_the_language_asked_for_wins_over_the_invoice_language(db, shop):
    text = pdf_text(render(db, shop.invoice(language="en"), language="fr"))
    assert "Reste à payer" in text and "1 234,50 €" in text


def test_a_paid_invoice_is_stamped_paid_with_its_payment(db, shop):
    invoice_id = shop.invoice()
    shop.pay(invoice_id)
    text = pdf_text(render(db, invoice_id))
    assert "PAID" in text
    assert "PAID ON" in text and "February 2, 2026" in text
    assert "DUE DATE" not in text
    # Paid in full: amount paid is the total, nothing is due.
    assert text.count("€1,234.50") == 2 and "€0.00" in text

    fr = pdf_text(render(db, invoice_id, "fr"))
    assert "PAYÉE" in fr and "PAYÉE LE" in fr


def test_void_and_draft_invoices_are_stamped(db, shop):
    invoice_id = shop.invoice()
    with db.session() as s:
        invoices.void(s, s.get(Invoice, invoice_id))
    assert "VOID" in pdf_text(render(db, invoice_id))
    draft = shop.invoice(finalize=False)
    text = pdf_text(render(db, draft))
    assert "DRAFT" in text and "INV-" not in text


def test_a_recurring_line_shows_its_period_once_paid(db, shop):
    invoice_id = shop.invoice([Item(shop.hosting)])
    shop.pay(invoice_id)
    text = pdf_text(render(db, invoice_id))
    assert "Website — Hosting (Feb 2 – Mar 2, 2026)" in text


def test_custom_fields_marked_for_invoices_appear_and_others_do_not(db, shop):
    invoice_id = shop.invoice()
    text = pdf_text(render(db, invoice_id))
    assert "SIRET: SIRET-55501" in text
    assert "Purchase order: PO-7781" in text
    assert "HIDDEN-BIZ-77" not in text and "HIDDEN-CLIENT-99" not in text

    with db.session() as s:
        business.update_settings(s, {"invoice_show_custom_fields": False})
    text = pdf_text(render(db, invoice_id))
    assert "SIRET-55501" not in text and "PO-7781" not in text


def test_a_custom_field_flag_change_shows_on_the_next_pdf(db, shop):
    invoice_id = shop.invoice()
    with db.session() as s:
        field = s.scalar(select(CustomField).where(CustomField.key == "account_notes"))
        custom_fields.update_field(s, field, {"show_on_invoice": True})
    assert "Account notes: HIDDEN-CLIENT-99" in pdf_text(render(db, invoice_id))


def test_show_client_info_off_keeps_only_the_name(db, shop):
    invoice_id = shop.invoice()
    with db.session() as s:
        business.update_settings(s, {"invoice_show_client_info": False})
    text = pdf_text(render(db, invoice_id))
    assert CLIENT_NAME in text
    assert "zoe@example.com" not in text and "Piotrkowska" not in text


def test_logo_is_drawn_only_when_shown(db, shop):
    with db.session() as s:
        business.set_logo(s, png_logo(), max_bytes=512 * 1024)
    invoice_id = shop.invoice()
    with_logo = pdf_reader(render(db, invoice_id))
    assert len(with_logo.pages[0].images) == 1

    with db.session() as s:
        business.update_settings(s, {"invoice_show_logo": False})
    without = pdf_reader(render(db, invoice_id))
    assert len(without.pages[0].images) == 0
    # Without a logo the company name heads the page (and opens "From").
    assert pdf_text(render(db, invoice_id)).count("Pixel Press Studio") == 2


def test_an_svg_logo_is_drawn(db, shop):
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="200" height="60">'
        b'<rect width="200" height="60" fill="#7c3aed"/></svg>'
    )
    with db.session() as s:
        business.set_logo(s, svg, max_bytes=512 * 1024)
    assert "Invoice" in pdf_text(render(db, shop.invoice()))


def test_wrapped_descriptions_keep_the_columns_level(db, shop):
    """A description that wraps pushes the next line down in every column:
    each amount sits on the first line of its own description."""
    from bridge.billing import catalog
    from bridge.models import PlanKind

    with db.session() as s:
        product = catalog.get_plan(s, shop.design).product
        long = catalog.create_plan(
            s,
            product,
            name="Migration of the old site with DNS, certificates, staging, redirects, "
            "content import and a final review with the client",
            kind=PlanKind.ONE_TIME,
            amount=123_400,
        )
        short = catalog.create_plan(s, product, name="Tail", kind=PlanKind.ONE_TIME, amount=7_777)
        long_id, short_id = long.id, short.id
    invoice_id = shop.invoice([Item(long_id), Item(short_id)])
    page = pdf_reader(render(db, invoice_id)).pages[0]
    positions: dict[str, float] = {}

    def visit(text, cm, tm, font_dict, font_size):
        for part in text.splitlines():
            if part.strip():
                positions.setdefault(part.strip(), tm[5] + cm[5])

    page.extract_text(visitor_text=visit)
    first = next(y for t, y in positions.items() if t.startswith("Website — Migration"))
    assert positions["€1,234.00"] == pytest.approx(first, abs=0.5)
    tail = positions["Website — Tail"]
    assert positions["€77.77"] == pytest.approx(tail, abs=0.5)
    assert tail < first - 20  # two wrapped lines lower, at least


def test_many_lines_flow_over_pages(db, shop):
    invoice_id = shop.invoice([Item(shop.design, 1 + i % 3) for i in range(70)])
    data = render(db, invoice_id)
    assert len(pdf_reader(data).pages) >= 2
    text = pdf_text(data)
    assert text.count("Website — Redesign") == 70
    with db.session() as s:
        total = s.get(Invoice, invoice_id).total
    assert f"€{total // 100:,}.{total % 100:02}" in text


def test_sample_pdf_uses_the_settings_and_saves_nothing(db, shop):
    def counts(s):
        return [
            s.scalar(select(func.count()).select_from(model))
            for model in (Invoice, Client, NumberSeries)
        ]

    with db.session() as s:
        before = counts(s)
        english = pdf_text(render_sample_pdf(s))
        french = pdf_text(render_sample_pdf(s, "fr"))
        german = pdf_text(render_sample_pdf(s, "de"))
        assert counts(s) == before
    assert "SAMPLE" in english and "Pixel Press Studio" in english
    assert "SIRET: SIRET-55501" in english and "Purchase order: Sample text" in english
    assert "EXEMPLE" in french and "Facture" in french and "Reste à payer" in french
    assert "MUSTER" in german and "Musterkunde" in german and "Offener Betrag" in german
