"""A client's account as its people read it in the portal: what is due
now, what renews next, their invoices, payments and credit notes. Reads
only, and always for one client."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bridge.billing import invoices, renewals, subscriptions
from bridge.billing.taxes import invoice_totals
from bridge.core import clock
from bridge.core.paging import Page
from bridge.models import Plan
from bridge.models.invoices import CreditNote, Invoice, InvoiceStatus, PaymentStatus
from bridge.models.subscriptions import Subscription, SubscriptionStatus

# The status filter of the invoice list: what each choice shows. A client
# never sees drafts.
INVOICE_FILTERS = {
    "all": (
        InvoiceStatus.OPEN,
        InvoiceStatus.UNCOLLECTIBLE,
        InvoiceStatus.PAID,
        InvoiceStatus.VOID,
    ),
    "unpaid": (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE),
    "paid": (InvoiceStatus.PAID,),
    "void": (InvoiceStatus.VOID,),
}
UNPAID = INVOICE_FILTERS["unpaid"]


@dataclass
class Dues:
    """The client's unpaid invoices, the oldest due first, and what they
    add up to in each currency."""

    invoices: list[Invoice] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)

    def overdue(self, invoice: Invoice, now: datetime | None = None) -> bool:
        return is_overdue(invoice, now)


def is_overdue(invoice: Invoice, now: datetime | None = None) -> bool:
    """Unpaid after its due date."""
    return (
        invoice.status in UNPAID
        and invoice.due_at is not None
        and invoice.due_at < (now or clock.now())
    )


def dues(session: Session, client_id: int) -> Dues:
    """What the client owes now."""
    unpaid = session.scalars(
        select(Invoice)
        .where(Invoice.client_id == client_id, Invoice.status.in_(UNPAID))
        .order_by(Invoice.due_at, Invoice.id)
    )
    found = Dues()
    for invoice in unpaid:
        if invoice.amount_due <= 0:
            continue
        found.invoices.append(invoice)
        found.totals[invoice.currency] = found.totals.get(invoice.currency, 0) + invoice.amount_due
    return found


@dataclass(frozen=True)
class Renewal:
    """The next renewal of an active subscription: when, and what its
    invoice will come to (taxes included, at today's rates)."""

    subscription: Subscription
    renews_at: datetime
    amount: int
    currency: str


def next_renewals(session: Session, client_id: int, limit: int = 10) -> list[Renewal]:
    """The client's active subscriptions that renew, soonest first, priced
    as the scheduler would (``renewals.renewal_line``). One set to end with
    its period, or whose billing cycles are used up, does not renew."""
    active = session.scalars(
        select(Subscription)
        .where(
            Subscription.client_id == client_id,
            Subscription.status == SubscriptionStatus.ACTIVE,
            Subscription.cancel_at_period_end.is_(False),
            Subscription.paused_at.is_(None),
            Subscription.current_period_end.is_not(None),
        )
        .options(selectinload(Subscription.plan).selectinload(Plan.product))
        .options(selectinload(Subscription.site))
        .order_by(Subscription.current_period_end, Subscription.id)
    )
    found = []
    for subscription in active:
        cycles = subscription.plan.billing_cycles
        if cycles is not None and subscription.cycles_invoiced >= cycles:
            continue
        start, end = subscriptions.period_bounds(
            session, subscription, subscription.period_index + 1
        )
        _rates, _line, totals = renewals.renewal_line(session, subscription, start, end)
        found.append(
            Renewal(subscription, start, invoice_totals([totals]).total, subscription.currency)
        )
        if len(found) == limit:
            break
    return found


def client_invoices(
    session: Session, client_id: int, status: str = "all", page: int = 1, per_page: int = 25
) -> Page:
    """A page of the client's issued invoices (never drafts), newest first,
    ``status`` one of INVOICE_FILTERS; their payments loaded."""
    found = invoices.list_invoices(
        session,
        client_id=client_id,
        statuses=INVOICE_FILTERS.get(status, INVOICE_FILTERS["all"]),
        page=page,
        per_page=per_page,
    )
    if found.items:  # the payments of the page's invoices, one query
        session.scalars(
            select(Invoice)
            .where(Invoice.id.in_([i.id for i in found.items]))
            .options(selectinload(Invoice.payments))
        ).all()
    return found


def receipts(invoice: Invoice) -> list:
    """The payments received for ``invoice`` (succeeded ones), oldest first."""
    return [p for p in invoice.payments if p.status == PaymentStatus.SUCCEEDED]


def credit_notes(session: Session, client_id: int) -> list[CreditNote]:
    """The client's credit notes, newest first, with their invoices."""
    return list(
        session.scalars(
            select(CreditNote)
            .where(CreditNote.client_id == client_id)
            .options(selectinload(CreditNote.invoice))
            .order_by(CreditNote.id.desc())
        )
    )
