"""Factur-X, profile EN 16931: the CII XML of issued invoices and credit notes
passes the official EN 16931 rules (the European Commission's Schematron
compiled to XSLT, run by SaxonC-HE: no failed assertion flagged fatal), and
the PDF/A-3 carries it as ``factur-x.xml`` with the Factur-X XMP metadata,
as the ``factur-x`` package reads them back.

The stylesheet is compiled once per test session (about 0.4 s here)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import facturx
import pytest
import time_machine
from lxml import etree
from saxonche import PySaxonProcessor

from bridge.billing import business, catalog, clients, invoices
from bridge.billing.invoices import Item
from bridge.core.errors import Conflict
from bridge.models import CreditNote, Invoice
from bridge.pdf import cii
from bridge.pdf.facturx import invoice_facturx_pdf
from tests import shop as shops
from tests.pdf.conftest import ISSUED, PAID, Shop, pdf_reader
from tests.pdf.test_legal_mentions_pdf import BUYER, SELLER

# The European Commission's EN 16931 rules for CII, compiled to XSLT, kept
# unchanged in tests/validators/en16931-cii (EUPL 1.2, see its README and
# LICENSE.txt), so every checkout and CI validate against the same release.
VALIDATOR = (
    Path(__file__).resolve().parents[1] / "validators/en16931-cii/EN16931-CII-validation.xslt"
)


def _stylesheet() -> Path | None:
    """The stylesheet: $BRIDGE_EN16931_XSLT (another release), else ours."""
    path = Path(os.environ.get("BRIDGE_EN16931_XSLT") or VALIDATOR)
    return path if path.is_file() else None


@pytest.fixture(scope="session")
def en16931():
    """The EN 16931 rules, compiled once: a function from XML bytes to the
    failed assertions flagged fatal (id and text)."""
    path = _stylesheet()
    if path is None:
        pytest.fail(f"the EN 16931 stylesheet is missing: {VALIDATOR}", pytrace=False)
    processor = PySaxonProcessor(license=False)
    executable = processor.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(path))

    def failures(xml: bytes) -> list[str]:
        node = processor.parse_xml(xml_text=xml.decode())
        svrl = executable.transform_to_string(xdm_node=node)
        assert "schematron-output" in svrl
        return re.findall(
            r'<svrl:failed-assert[^>]*flag="fatal"[^>]*>.*?<svrl:text>(.*?)</svrl:text>',
            svrl,
            re.S,
        )

    yield failures


@pytest.fixture
def seller(db):
    """A French SAS billing a French business; returns (client id, plan ids)."""

    def open_shop(currency: str = "EUR", build: int = 100_000, care: int = 9_900):
        with db.session() as s:
            shops.open_business(s, currency=currency, **SELLER)
            plans = shops.add_product(
                s,
                "Web",
                {
                    "build": shops.one_time("Site build", build),
                    "care": shops.recurring("Care", care),
                },
            )
            client = shops.add_client(s, **BUYER)
            return Shop(db, client, plans["build"], plans["care"], shops.add_vat(s))

    return open_shop


def _rate(db, percentage: str, **kwargs) -> int:
    with db.session() as s:
        return catalog.create_tax_rate(
            s, name=f"VAT {percentage}", percentage=percentage, inclusive=False, **kwargs
        ).id


def _xml(db, invoice_id: int) -> bytes:
    with db.session() as s:
        return cii.invoice_xml(s, s.get(Invoice, invoice_id))


def _credit(db, invoice_id: int, amount: int | None = None) -> bytes:
    with time_machine.travel(PAID, tick=False), db.session() as s:
        invoice = invoices.get_invoice(s, invoice_id, lock=True)
        note = invoices.issue_credit_note(s, invoice, amount=amount or invoice.amount_paid)
        s.commit()
        return cii.credit_note_xml(s, s.get(CreditNote, note.id))


def test_the_harness_accepts_the_commissions_own_example(en16931):
    example = VALIDATOR.parent / "CII_example1.xml"
    assert en16931(example.read_bytes()) == []


def test_the_harness_reports_a_broken_total(en16931, seller, db):
    shop = seller()
    xml = _xml(db, shop.invoice([Item(shop.design)]))
    broken = re.sub(rb"<ram:GrandTotalAmount>[^<]+<", b"<ram:GrandTotalAmount>1.00<", xml)
    assert any("BR-CO-15" in failure for failure in en16931(broken))


def test_an_invoice_with_several_vat_rates_and_its_stored_amounts(en16931, seller, db):
    shop = seller()
    reduced, low = _rate(db, "10"), _rate(db, "5.5")
    invoice_id = shop.invoice(
        [
            Item(shop.design, quantity="1.5"),
            Item(shop.hosting, quantity=3, tax_rate_ids=(reduced,)),
            Item(description="Audit", unit_amount=33_333, tax_rate_ids=(low,)),
        ]
    )
    xml = _xml(db, invoice_id)
    assert en16931(xml) == []
    with db.session() as s:
        invoice = s.get(Invoice, invoice_id)
        stored = (invoice.number, invoice.subtotal, invoice.tax, invoice.total)
    text = xml.decode()
    assert f"<ram:ID>{stored[0]}</ram:ID>" in text and "<ram:TypeCode>380</ram:TypeCode>" in text
    assert f"<ram:GrandTotalAmount>{stored[3] / 100:.2f}</ram:GrandTotalAmount>" in text
    assert f">{stored[2] / 100:.2f}</ram:TaxTotalAmount>" in text
    assert text.count("<ram:CategoryCode>S</ram:CategoryCode>") == 3 + 3  # lines + breakdown
    assert '<ram:ID schemeID="0002">552012346</ram:ID>' in text
    assert "<ram:DueDateDateTime>" in text


def test_an_invoice_with_an_inclusive_rate_and_a_coupon_like_reduction(en16931, seller, db):
    shop = seller()
    with db.session() as s:
        inclusive = catalog.create_tax_rate(s, name="TVA TTC", percentage="20", inclusive=True).id
    invoice_id = shop.invoice(
        [Item(shop.design, tax_rate_ids=(inclusive,)), Item(shop.hosting, quantity="2.5")]
    )
    assert en16931(_xml(db, invoice_id)) == []


def test_an_invoice_with_exempt_and_reverse_charge_lines(en16931, seller, db):
    shop = seller()
    franchise = _rate(db, "0", exemption="franchise")
    reverse = _rate(db, "0", exemption="reverse_charge")
    invoice_id = shop.invoice(
        [
            Item(shop.design, tax_rate_ids=(franchise,)),
            Item(shop.hosting, tax_rate_ids=(reverse,)),
            Item(description="Hosting abroad", unit_amount=5_000, tax_rate_ids=()),
        ]
    )
    xml = _xml(db, invoice_id).decode()
    assert "<ram:ExemptionReason>VAT not applicable, art. 293 B" in xml
    assert "<ram:ExemptionReasonCode>VATEX-EU-AE</ram:ExemptionReasonCode>" in xml
    # The commission's rules: every failure, shown if any.
    assert en16931(xml.encode()) == []


def test_a_partly_paid_invoice_says_what_was_paid_and_what_is_due(en16931, seller, db):
    shop = seller()
    invoice_id = shop.invoice([Item(shop.design)])
    shop.pay(invoice_id, 50_000)
    xml = _xml(db, invoice_id).decode()
    assert "<ram:TotalPrepaidAmount>500.00</ram:TotalPrepaidAmount>" in xml
    assert "<ram:DuePayableAmount>700.00</ram:DuePayableAmount>" in xml
    assert en16931(xml.encode()) == []


def test_a_credit_note_is_a_381_naming_the_invoice_it_corrects(en16931, seller, db):
    shop = seller()
    invoice_id = shop.invoice([Item(shop.design)])
    shop.pay(invoice_id)
    partial = _credit(db, invoice_id, 24_000).decode()
    assert "<ram:TypeCode>381</ram:TypeCode>" in partial
    assert "<ram:IssuerAssignedID>INV-2026-00001</ram:IssuerAssignedID>" in partial
    assert '<qdt:DateTimeString format="102">20260131</qdt:DateTimeString>' in partial
    assert "<ram:GrandTotalAmount>240.00</ram:GrandTotalAmount>" in partial
    assert en16931(partial.encode()) == []


def test_a_full_credit_note_of_a_multi_rate_invoice_keeps_the_invoices_split(en16931, seller, db):
    shop = seller()
    reduced = _rate(db, "10")
    invoice_id = shop.invoice([Item(shop.design), Item(shop.hosting, tax_rate_ids=(reduced,))])
    shop.pay(invoice_id)
    full = _credit(db, invoice_id)
    assert en16931(full) == []
    another = shop.invoice([Item(shop.design), Item(shop.hosting, tax_rate_ids=(reduced,))])
    shop.pay(another)
    with pytest.raises(Conflict) as refused:
        _credit(db, another, 1_000)
    assert refused.value.code == "einvoice_unsupported"


def test_a_zero_decimal_currency(en16931, seller, db):
    shop = seller("JPY", build=150_000, care=9_800)
    invoice_id = shop.invoice([Item(shop.design), Item(shop.hosting, quantity=3)])
    xml = _xml(db, invoice_id).decode()
    assert "<ram:InvoiceCurrencyCode>JPY</ram:InvoiceCurrencyCode>" in xml
    assert "<ram:LineTotalAmount>150000</ram:LineTotalAmount>" in xml
    assert en16931(xml.encode()) == []


def test_a_three_decimal_currency_while_its_amounts_fit_two_decimals(en16931, seller, db):
    shop = seller("KWD", build=125_500, care=9_900)
    invoice_id = shop.invoice([Item(shop.design), Item(shop.hosting)])
    xml = _xml(db, invoice_id).decode()
    assert "<ram:LineTotalAmount>125.50</ram:LineTotalAmount>" in xml
    assert en16931(xml.encode()) == []
    # 1.234 KWD cannot be written with EN 16931's two decimals: refused, not rounded.
    odd = shop.invoice([Item(description="Fee", unit_amount=1_234, tax_rate_ids=())])
    with pytest.raises(Conflict) as refused:
        _xml(db, odd)
    assert refused.value.code == "einvoice_unsupported"


def test_a_draft_has_no_e_invoice(seller, db):
    shop = seller()
    draft = shop.invoice(finalize=False)
    with pytest.raises(Conflict) as refused:
        _xml(db, draft)
    assert refused.value.code == "invoice_not_issued"


def test_the_facturx_pdf_embeds_the_xml_with_the_factur_x_metadata(seller, db):
    shop = seller()
    invoice_id = shop.invoice([Item(shop.design)])
    with db.session() as s:
        data = invoice_facturx_pdf(s, s.get(Invoice, invoice_id))
    filename, xml = facturx.get_xml_from_pdf(data, check_xsd=True)
    assert filename == "factur-x.xml" and xml == _xml(db, invoice_id)
    assert facturx.get_facturx_level(etree.fromstring(xml)) == "en16931"
    reader = pdf_reader(data)
    catalog_ = reader.trailer["/Root"]
    attached = catalog_["/AF"][0].get_object()
    assert attached["/F"] == "factur-x.xml" and attached["/AFRelationship"] == "/Data"
    xmp = catalog_["/Metadata"].get_object().get_data().decode()
    assert "<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>" in xmp
    assert "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in xmp
    assert "<pdfaid:part>3</pdfaid:part>" in xmp


def test_the_xml_is_written_in_the_invoices_language(seller, db):
    shop = seller()
    with db.session() as s:
        business.update_settings(s, {"invoice_language": "fr"})
        clients.update_client(s, clients.get_client(s, shop.client), {"country": "FR"})
    xml = _xml(db, shop.invoice([Item(shop.design)], language="fr")).decode()
    assert "Pas d&apos;escompte pour paiement anticipé." in xml or (
        "Pas d'escompte pour paiement anticipé." in xml
    )


@pytest.fixture(autouse=True)
def _issued_at_a_fixed_time():
    with time_machine.travel(ISSUED, tick=False):
        yield
