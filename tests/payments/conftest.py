"""Fixtures of the payment tests: a shop (EUR, plans, a client), open
invoices, stored Stripe keys, and localstripe on loopback (one server per
test session, emptied before each test that uses it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import stripe
import time_machine

from bridge.billing import clients, invoices
from bridge.billing.invoices import Item
from bridge.models import Client, Invoice
from tests import shop as shops
from tests.localstripe_server import start as start_localstripe

SECRET_KEY = "sk_test_bridge0000"
PUBLISHABLE_KEY = "pk_test_bridge0000"
WEBHOOK_SECRET = "whsec_bridge_test_secret"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    """The SDK sleeps 0.5 s or more between retries: not in tests."""
    http_client = stripe._http_client.HTTPClient
    monkeypatch.setattr(http_client, "INITIAL_DELAY", 0.0)
    monkeypatch.setattr(http_client, "MAX_DELAY", 0.0)


@pytest.fixture
def box(app):
    return app.extensions["bridge.secret_box"]


@pytest.fixture
def shop(db):
    """EUR business with a one-time plan (150.00), a monthly plan (29.00), a
    20 % VAT rate and one client; returns their ids."""
    with time_machine.travel(NOW - timedelta(days=1), tick=False), db.session() as s:
        shops.open_business(s)
        plans = shops.add_product(s, "Hosting", {"setup": shops.SETUP, "monthly": shops.MONTHLY})
        return {
            **plans,
            "vat": shops.add_vat(s),
            "client": shops.add_client(s, name="Alice Martin"),
        }


def open_invoice(db, shop, plan: str = "setup", *, taxed: bool = False) -> int:
    """A finalized (open) invoice of the shop's client for one plan."""
    with db.session() as s:
        client = clients.get_client(s, shop["client"])
        invoice = invoices.bill_client(
            s, client, [Item(shop[plan])], tax_rate_ids=[shop["vat"]] if taxed else []
        )
        invoices.finalize(s, invoice)
        return invoice.id


def save_card(db, client_id: int, customer="cus_test", method="pm_test_visa") -> None:
    """Give the client a Stripe customer and a saved card, as a completed
    card setup leaves them."""
    with db.session() as s:
        client = s.get(Client, client_id)
        client.stripe_customer_id = customer
        client.default_payment_method_id = method
        client.card_brand, client.card_last4 = "visa", "4242"
        client.card_exp_month, client.card_exp_year = 12, 2030


def store_keys(db, box, *, secret_key: str | None = SECRET_KEY) -> None:
    """Stripe keys as ``save_stripe_settings`` stores them, without asking
    Stripe (``secret_key=None``: only the webhook secret, no gateway)."""
    from bridge.billing.business import get_settings

    with db.session() as s:
        settings = get_settings(s)
        settings.stripe_secret_key_encrypted = box.encrypt(secret_key) if secret_key else None
        settings.stripe_publishable_key = PUBLISHABLE_KEY
        settings.stripe_webhook_secret_encrypted = box.encrypt(WEBHOOK_SECRET)


def get_invoice(db, invoice_id: int) -> Invoice:
    with db.session() as s:
        invoice = s.get(Invoice, invoice_id)
        invoice.payments, invoice.credit_notes  # noqa: B018  (loaded while open)
        return invoice


# localstripe --------------------------------------------------------------------


@pytest.fixture(scope="session")
def localstripe_server(tmp_path_factory):
    """One localstripe for the session (its store lives in memory only)."""
    server = start_localstripe(log_path=tmp_path_factory.mktemp("localstripe") / "server.log")
    yield server
    server.stop()


@pytest.fixture
def localstripe(localstripe_server):
    """The session's localstripe, emptied."""
    localstripe_server.reset()
    return localstripe_server
