"""End-to-end fixtures: a small agency (EUR, a catalog, VAT, one client) and
invoices in every state, built through the billing domain; for the browser
tests, localstripe and the app served by a real WSGI server on loopback."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from werkzeug.serving import make_server

from bridge.billing import clients, invoices
from bridge.billing.invoices import Item
from bridge.models import Invoice, PaymentMethod
from tests import shop as shops
from tests.conftest import sqlite_copy

OFFLINE_INSTRUCTIONS = "Bank transfer to IBAN FR76 3000 6000 0112 3456 7890 189\nBIC AGRIFRPP"


@dataclass(frozen=True)
class Shop:
    client_id: int
    build_plan_id: int
    hosting_plan_id: int
    vat_id: int


@dataclass(frozen=True)
class MadeInvoice:
    id: int
    token: str
    number: str | None

    @property
    def path(self) -> str:
        return f"/i/{self.token}"


def make_shop(db) -> Shop:
    """EUR; a site build (one-time, 1,200.00) and managed hosting (monthly,
    49.00); VAT 20 % on top; the client Alice Martin of Martin Bakery."""
    with db.session() as s:
        shops.open_business(
            s,
            company_name="Pixel & Pine Studio",
            email="billing@pixelpine.example",
            address_line1="12 rue des Lilas",
            postal_code="75011",
            city="Paris",
            country="FR",
            tax_id="FR12345678901",
            # A French seller billing a French business prints these.
            **shops.FRENCH_LEGAL_DETAILS,
            brand_color="#0f766e",
            offline_payment_instructions=OFFLINE_INSTRUCTIONS,
        )
        plans = shops.add_product(
            s,
            "Website care",
            {
                "build": shops.one_time("Site build", 120000),
                "hosting": shops.recurring("Managed hosting", 4900),
            },
        )
        vat = shops.add_vat(s)
        client = shops.add_client(
            s,
            name="Alice Martin",
            email="alice@martin-bakery.example",
            company="Martin Bakery",
            address_line1="3 place du Marché",
            postal_code="69002",
            city="Lyon",
            country="FR",
        )
        return Shop(client, plans["build"], plans["hosting"], vat)


def make_invoice(db, shop: Shop, status: str = "open", **kwargs) -> MadeInvoice:
    """An invoice of the shop's client in ``status`` (draft, open, paid,
    void, uncollectible), billed and moved through the domain."""
    with db.session() as s:
        client = clients.get_client(s, shop.client_id)
        invoice = invoices.bill_client(
            s,
            client,
            [Item(shop.build_plan_id), Item(shop.hosting_plan_id, 2)],
            tax_rate_ids=[shop.vat_id],
            **kwargs,
        )
        if status != "draft":
            invoices.finalize(s, invoice)
        if status == "paid":
            invoices.record_offline_payment(
                s, invoice, amount=invoice.amount_due, method=PaymentMethod.BANK_TRANSFER
            )
        elif status == "void":
            invoices.void(s, invoice)
        elif status == "uncollectible":
            invoices.mark_uncollectible(s, invoice)
        return MadeInvoice(invoice.id, invoice.hosted_token, invoice.number)


@pytest.fixture
def database_url(sqlite_template, sqlite_directory):
    """SQLite only (this overrides the suite's SQLite + PostgreSQL pair): the
    pages read what the domain wrote, the domain's own tests cover both
    databases, and the end-to-end tests keep to their time budget."""
    yield from sqlite_copy(sqlite_template, sqlite_directory)


@pytest.fixture
def shop(db) -> Shop:
    return make_shop(db)


@pytest.fixture
def new_invoice(db, shop) -> Callable[..., MadeInvoice]:
    """``new_invoice("paid")`` -> a paid invoice of the shop's client."""
    return lambda status="open", **kwargs: make_invoice(db, shop, status, **kwargs)


def invoice_row(db, invoice_id: int) -> Invoice:
    with db.session() as s:
        invoice = s.get(Invoice, invoice_id)
        s.expunge(invoice)
        return invoice


class LiveServer:
    """``app`` served by werkzeug's threaded WSGI server on a free loopback port."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()
