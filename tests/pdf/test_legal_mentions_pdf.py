"""The mentions French law asks of an invoice, printed in the PDF in the
invoice's language: the seller's legal identity, the client's SIREN and VAT
number, VAT per rate, the service period of recurring lines, the payment
terms (penalties, the 40 EUR indemnity for a business, no early-payment
discount), the category of the operation, the exemption wording."""

from __future__ import annotations

import pytest
import time_machine

from bridge.billing import business, catalog, clients, invoices
from bridge.billing.invoices import Item
from bridge.models import Invoice
from bridge.pdf import render_credit_note_pdf, render_invoice_pdf
from tests import shop as shops
from tests.pdf.conftest import PAID, Shop, pdf_text

SELLER = {
    "company_name": "Pixel Press",
    "address_line1": "12 rue de la République",
    "postal_code": "69002",
    "city": "Lyon",
    "country": "FR",
    "tax_id": "FR11123456782",
    **shops.FRENCH_LEGAL_DETAILS,
}

# A French business client.
BUYER = {
    "name": "Marie Martin",
    "company": "Boulangerie Martin",
    "country": "FR",
    "address_line1": "3 place Bellecour",
    "postal_code": "69002",
    "city": "Lyon",
    "siren": "552012346",
    "tax_id": "FR11123456782",
}


@pytest.fixture
def french(db) -> Shop:
    """A French SAS billing a French business, 20 % VAT on top."""
    with db.session() as s:
        shops.open_business(s, **SELLER)
        plans = shops.add_product(
            s,
            "Web",
            {
                "build": shops.one_time("Site build", 100_000),
                "care": shops.recurring("Care", 9_900),
            },
        )
        vat = shops.add_vat(s)
        client = shops.add_client(s, **BUYER)
        return Shop(db, client, plans["build"], plans["care"], vat)


def _pdf(shop: Shop, invoice_id: int, language: str) -> str:
    with shop.db.session() as s:
        return pdf_text(render_invoice_pdf(s, s.get(Invoice, invoice_id), language))


def test_a_french_business_invoice_carries_every_mention_in_french(french):
    invoice_id = french.invoice([Item(french.design), Item(french.hosting)], language="fr")
    text = _pdf(french, invoice_id, "fr")
    for mention in (
        "SAS au capital de 10 000,00 €",
        "SIREN : 123456782 — RCS Paris",
        "SIRET : 12345678200010",
        "FR11123456782",
        "SIREN : 552012346",
        "N° TVA : FR11123456782",
        "DATE D’ÉMISSION",
        "DATE D’ÉCHÉANCE",
        "Catégorie de l'opération : prestation de services",
        "Pénalités de retard : trois fois le taux d'intérêt légal.",
        "Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : 40,00 €",
        "Pas d'escompte pour paiement anticipé.",
    ):
        assert mention in text, mention
    # VAT has a row per rate, after the subtotal before tax.
    assert "Sous-total\nVAT (20 %)\nTotal" in text


def test_a_consumer_gets_no_business_only_mention_and_the_settings_wording_wins(french):
    with french.db.session() as s:
        business.update_settings(
            s,
            {
                "late_payment_penalty_text": "Penalties: 10 % a year.",
                "early_payment_discount_text": "2 % off when paid within 8 days.",
            },
        )
        consumer = shops.add_client(s, name="Paul", email="paul@example.com", country="FR")
    french.client = consumer
    text = _pdf(french, french.invoice(), "en")
    assert "Penalties: 10 % a year." in text and "2 % off when paid within 8 days." in text
    assert "Fixed indemnity" not in text and "three times" not in text
    assert "Category of operation: provision of services" in text


def test_exempt_rates_print_their_wording_and_an_individual_entrepreneur_ei(french):
    with french.db.session() as s:
        business.update_settings(s, {"individual_entrepreneur": True, "legal_form": ""})
        franchise = catalog.create_tax_rate(
            s, name="TVA 0 %", percentage="0", inclusive=False, exemption="franchise"
        ).id
        reverse = catalog.create_tax_rate(
            s, name="Autoliquidation", percentage="0", inclusive=False, exemption="reverse_charge"
        ).id
    invoice_id = french.invoice(
        [
            Item(french.design, tax_rate_ids=(franchise,)),
            Item(french.hosting, tax_rate_ids=(reverse,)),
        ],
        language="fr",
    )
    text = _pdf(french, invoice_id, "fr")
    assert "TVA non applicable, art. 293 B du CGI" in text and "Autoliquidation" in text
    assert "Pixel Press EI" in text and "au capital" not in text and "RCS" not in text


def test_outside_france_no_french_terms_are_printed(french):
    with french.db.session() as s:
        business.update_settings(s, {"country": "BE"})
        clients.update_client(s, clients.get_client(s, french.client), {"country": "BE"})
    text = _pdf(french, french.invoice(), "en")
    assert "Category of operation" not in text and "Fixed indemnity" not in text
    assert "SIREN: 123456782" in text


def test_a_credit_note_prints_the_number_and_date_of_the_invoice_it_corrects(french):
    invoice_id = french.invoice([Item(french.design)], language="fr")
    french.pay(invoice_id)
    with time_machine.travel(PAID, tick=False), french.db.session() as s:
        invoice = invoices.get_invoice(s, invoice_id, lock=True)
        note = invoices.issue_credit_note(s, invoice, amount=24_000, reason="Geste commercial")
        s.commit()
        text = pdf_text(render_credit_note_pdf(s, note, "fr"))
    for mention in (
        "Avoir",
        "N° D’AVOIR",
        "CN-2026-00001",
        "CORRIGE LA FACTURE",
        "INV-2026-00001",
        "DATE DE LA FACTURE\n31 janvier 2026",
        "Avoir sur la facture INV-2026-00001",
        "SIREN : 552012346",
        "SAS au capital de 10 000,00 €",
        "Geste commercial",
    ):
        assert mention in text, mention
    assert "200,00 €" in text and "40,00 €" in text and "240,00 €" in text
    assert "Pénalités de retard" not in text
