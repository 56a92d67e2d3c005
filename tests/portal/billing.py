"""Helpers of the portal's billing pages' tests: invoices of any client in
any state, moved through the domain, and a few direct touches for states
that need Stripe or time (a due date passed, a bank asking for 3-D Secure)."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

from sqlalchemy import select

from bridge.billing import audit, roles
from bridge.core import clock
from bridge.models import Client
from bridge.models.invoices import Invoice, PaymentState
from bridge.models.subscriptions import Subscription
from tests.e2e.conftest import MadeInvoice, Shop, make_invoice

STAFF = audit.Actor("staff", 1, "olivia@pixel-pine.example")


def invoice_of(db, shop: Shop, client_id: int, status: str = "open") -> MadeInvoice:
    """An invoice of ``client_id`` (the shop's plans) in ``status``."""
    return make_invoice(db, dataclasses.replace(shop, client_id=client_id), status)


def make_overdue(db, invoice_id: int, days: int = 10) -> None:
    with db.session() as session:
        session.get(Invoice, invoice_id).due_at = clock.now() - timedelta(days=days)


def ask_bank_confirmation(db, invoice_id: int) -> None:
    """The invoice's renewal charge waits for 3-D Secure."""
    with db.session() as session:
        session.get(Invoice, invoice_id).payment_state = PaymentState.ACTION_REQUIRED


def subscription_of(db, client_id: int) -> int:
    with db.session() as session:
        return session.scalar(
            select(Subscription.id).where(Subscription.client_id == client_id).limit(1)
        )


def give_role_without_billing(db, client_id: int) -> None:
    """A custom role: sites to look at, billing off."""
    with db.session() as session:
        role = roles.create_role(
            session, name="Sites only", permissions={"sites": {"level": "view"}}
        )
        session.get(Client, client_id).role_id = role.id


def rows(page: bytes, prefix: str) -> list[str]:
    """The ids of the page's elements starting with ``prefix`` (in order)."""
    return re.findall(rf'id="({re.escape(prefix)}[^"]*)"', page.decode())
