"""A small shop for the PDF tests: an EUR business with its profile,
custom fields shown on invoices and not, two plans, 20 % VAT, and a client
whose name needs more than Latin-1.

The PDF tests run on SQLite, without a Flask app (rendering needs neither),
to stay fast; ``test_postgres.py`` runs a representative set of them on
PostgreSQL too, for the queries.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import time_machine
from PIL import Image
from pypdf import PdfReader

from bridge.billing import business, clients, custom_fields, invoices
from bridge.billing.invoices import Item
from bridge.db import Database
from bridge.models import (
    CustomFieldEntity,
    CustomFieldType,
    Invoice,
    PaymentMethod,
)
from tests import shop as shops
from tests.conftest import sqlite_copy

ISSUED = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
PAID = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
CLIENT_NAME = "Café Zoë Łódź Straße"
# 1 028.75 + 20 % VAT (205.75) = 1 234.50
DESIGN_AMOUNT = 102_875


@dataclass
class Shop:
    db: object
    client: int
    design: int
    hosting: int
    vat: int

    def invoice(self, items=None, *, language=None, note="", finalize=True) -> int:
        """A finalized (or draft) invoice; returns its id."""
        with time_machine.travel(ISSUED, tick=False), self.db.session() as s:
            invoice = invoices.bill_client(
                s,
                clients.get_client(s, self.client),
                items or [Item(self.design)],
                tax_rate_ids=[self.vat],
                language=language,
                note=note,
            )
            if finalize:
                invoices.finalize(s, invoice)
            return invoice.id

    def pay(self, invoice_id: int, amount: int | None = None) -> None:
        with time_machine.travel(PAID, tick=False), self.db.session() as s:
            invoice = s.get(Invoice, invoice_id)
            invoices.record_offline_payment(
                s,
                invoice,
                amount=amount or invoice.amount_due,
                method=PaymentMethod.BANK_TRANSFER,
            )


@pytest.fixture
def database_url(sqlite_template, sqlite_directory):
    """A migrated SQLite database of the test's own (the suite-wide fixture
    runs every test on PostgreSQL as well)."""
    yield from sqlite_copy(sqlite_template, sqlite_directory)


@pytest.fixture
def db(database_url):
    """The database alone: no app to build."""
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def shop(db) -> Shop:
    with time_machine.travel(datetime(2026, 1, 30, tzinfo=UTC), tick=False), db.session() as s:
        shops.open_business(s)
        for entity, label, show in (
            (CustomFieldEntity.BUSINESS, "SIRET", True),
            (CustomFieldEntity.BUSINESS, "Internal code", False),
            (CustomFieldEntity.CLIENT, "Purchase order", True),
            (CustomFieldEntity.CLIENT, "Account notes", False),
        ):
            custom_fields.create_field(
                s, entity=entity, label=label, field_type=CustomFieldType.TEXT, show_on_invoice=show
            )
        business.update_settings(
            s,
            {
                "company_name": "Pixel Press Studio",
                "address_line1": "12 rue de la République",
                "city": "Lyon",
                "postal_code": "69002",
                "country": "FR",
                "email": "billing@pixelpress.example",
                "tax_id": "FR12345678901",
                "brand_color": "#7c3aed",
                "invoice_footer": "IBAN FR76 3000 6000 0112 3456 7890 189",
                "custom_fields": {"siret": "SIRET-55501", "internal_code": "HIDDEN-BIZ-77"},
            },
        )
        plans = shops.add_product(
            s,
            "Website",
            {
                "design": shops.one_time("Redesign", DESIGN_AMOUNT),
                "hosting": shops.recurring("Hosting", 2_900),
            },
        )
        vat = shops.add_vat(s)
        client = shops.add_client(
            s,
            name=CLIENT_NAME,
            email="zoe@example.com",
            company='Zoë & Co "Le Café"',
            address_line1="Ulica Piotrkowska 1",
            city="Łódź",
            postal_code="90-001",
            country="PL",
            custom_fields={"purchase_order": "PO-7781", "account_notes": "HIDDEN-CLIENT-99"},
        )
        return Shop(db, client, plans["design"], plans["hosting"], vat)


@pytest.fixture
def no_render(monkeypatch):
    """Call it to make any further render fail: whatever comes back after
    that came from the cache."""

    def refuse(*args, **kwargs):
        raise AssertionError("rendered instead of served from the cache")

    def apply():
        monkeypatch.setattr("bridge.pdf.cache.render_invoice_pdf", refuse)

    return apply


# Reading PDFs -------------------------------------------------------------------

# Babel writes no-break and narrow no-break spaces (French thousands, "1 234,50 €",
# date ranges); compare with plain spaces.
_SPACES = re.compile(r"[\u00a0\u202f\u2009\u2007]")


def normalise(text: str) -> str:
    return _SPACES.sub(" ", text)


def pdf_text(data: bytes) -> str:
    """All the text of a PDF, spaces normalised; fails unless pypdf reads
    it as a PDF of at least one page."""
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) >= 1
    return normalise("\n".join(page.extract_text() for page in reader.pages))


def pdf_reader(data: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(data))


def png_logo() -> bytes:
    image = Image.new("RGBA", (300, 100), (0, 0, 0, 0))
    for x in range(20, 280):
        for y in range(30, 70):
            image.putpixel((x, y), (124, 58, 237, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
