"""Factur-X (profile EN 16931): the invoice's PDF made a PDF/A-3 with its CII
XML attached as ``factur-x.xml`` (relationship "Data") and the Factur-X XMP
metadata, by the ``factur-x`` package, which also checks the XML against
the profile's XSD before embedding it."""

from __future__ import annotations

import logging

import facturx
from sqlalchemy.orm import Session

from bridge.billing import legal
from bridge.billing.business import get_settings
from bridge.core.errors import Conflict
from bridge.models import CreditNote, Invoice, InvoiceStatus
from bridge.pdf import cii
from bridge.pdf.cache import invoice_pdf
from bridge.pdf.render import render_credit_note_pdf

LEVEL = "en16931"
log = logging.getLogger(__name__)


def embed(pdf: bytes, xml: bytes, *, title: str, author: str, language: str) -> bytes:
    """``pdf`` as a Factur-X PDF/A-3 carrying ``xml`` (checked against the XSD)."""
    return facturx.generate_from_binary(
        pdf,
        xml,
        flavor="factur-x",
        level=LEVEL,
        check_xsd=True,
        lang=language,
        pdf_metadata={
            "author": author,
            "keywords": "Factur-X, Invoice",
            "title": title,
            "subject": title,
        },
    )


def invoice_facturx_pdf(session: Session, invoice: Invoice, language: str | None = None) -> bytes:
    """The Factur-X PDF of an issued invoice: its usual PDF with the XML."""
    xml = cii.invoice_xml(session, invoice)
    settings = get_settings(session)
    return embed(
        invoice_pdf(session, invoice, language),
        xml,
        title=f"Invoice {invoice.number}",
        author=settings.company_name,
        language=language or invoice.language or settings.invoice_language or "en",
    )


def credit_note_facturx_pdf(
    session: Session, note: CreditNote, language: str | None = None
) -> bytes:
    """The Factur-X PDF of a credit note (type 381)."""
    xml = cii.credit_note_xml(session, note)
    settings = get_settings(session)
    return embed(
        render_credit_note_pdf(session, note, language),
        xml,
        title=f"Credit note {note.number}",
        author=settings.company_name,
        language=language or note.invoice.language or settings.invoice_language or "en",
    )


def facturx_is_default(session: Session, invoice: Invoice) -> bool:
    """Whether the invoice's PDF is its Factur-X: the setting is on, the
    client is a business and the invoice is issued."""
    return (
        get_settings(session).facturx_default
        and legal.is_business(invoice.client)
        and invoice.status != InvoiceStatus.DRAFT
    )


def default_pdf(session: Session, invoice: Invoice) -> bytes:
    """The PDF the client gets (hosted page, email link): the Factur-X when
    it is the default, else the plain PDF. An invoice EN 16931 cannot carry
    still gets its plain PDF rather than nothing."""
    if facturx_is_default(session, invoice):
        try:
            return invoice_facturx_pdf(session, invoice)
        except Conflict as exc:
            log.warning("invoice %s: plain PDF, no Factur-X: %s", invoice.id, exc.message)
    return invoice_pdf(session, invoice)
