"""One function per email that tells someone something happened, called by
the subscribers of the domain's events (``bridge.mail.subscribers``).

Each function renders its message(s) now and queues them in the caller's
session, so the email is committed or rolled back with the event itself.
Each returns True when it queued the message, False when it did not: the
recipient has no email address, or the same (trigger, object, occasion)
was queued before (the dedupe key, see ``bridge.mail.outbox``). Nothing is
sent here: the scheduler delivers the outbox (``bridge.mail.delivery``).

An email is written in one language, its words, dates and amounts alike
(``bridge.mail.render.email_language``): an invoice's email in the
invoice's language, the others in the business's invoice language, by the
one localiser (``bridge.core.l10n``), dates in the business time zone.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from bridge.billing import plan_changes
from bridge.billing.business import get_settings
from bridge.billing.reconciliation import ReconciliationReport
from bridge.core import clock
from bridge.core.l10n import Localiser
from bridge.links import invoice_page_url, invoice_pdf_url
from bridge.mail import outbox
from bridge.mail.render import email_language, render
from bridge.models import (
    BusinessSettings,
    Client,
    Invoice,
    Payment,
    PaymentMethod,
    Subscription,
    User,
)

log = logging.getLogger(__name__)

# The public interface ------------------------------------------------------------


def invoice_sent(session: Session, invoice: Invoice) -> bool:
    """An invoice was finalized: the client gets it with its Pay link."""
    return _to_client(
        session,
        "invoice_sent",
        f"invoice_sent:invoice:{invoice.id}",
        invoice.client,
        lambda f: f.invoice(invoice),
        invoice=invoice,
    )


def payment_receipt(session: Session, invoice: Invoice, payment: Payment) -> bool:
    """A payment settled the invoice: a receipt to the client (the result)
    and a note to the agency (agency_payment_received)."""

    def values(f: _Formatter) -> dict:
        return {
            **f.invoice(invoice),
            "amount_paid": f.money(payment.amount, payment.currency),
            "payment_date": f.date(payment.received_at or payment.created_at),
            "payment_method": f.method(payment.method),
        }

    queued = _to_client(
        session,
        "payment_receipt",
        f"payment_receipt:payment:{payment.id}",
        invoice.client,
        values,
        invoice=invoice,
    )
    _to_agency(
        session,
        "agency_payment_received",
        f"agency_payment_received:payment:{payment.id}",
        invoice.client,
        values,
        invoice=invoice,
    )
    return queued


def payment_failed(
    session: Session,
    invoice: Invoice,
    *,
    attempt: int,
    next_retry_at: datetime | None,
    reason: str,
) -> bool:
    """Charge ``attempt`` of the invoice failed: the client is told (the
    result) and so is the agency (agency_payment_failed)."""

    def values(f: _Formatter) -> dict:
        return {
            **f.invoice(invoice),
            "attempt": str(attempt),
            "retry_date": f.date(next_retry_at) if next_retry_at else f.words["no_retry"],
            "failure_reason": reason or "",
        }

    occasion = f"invoice:{invoice.id}:attempt:{attempt}"
    queued = _to_client(
        session,
        "payment_failed",
        f"payment_failed:{occasion}",
        invoice.client,
        values,
        invoice=invoice,
    )
    _to_agency(
        session,
        "agency_payment_failed",
        f"agency_payment_failed:{occasion}",
        invoice.client,
        values,
        invoice=invoice,
    )
    return queued


def card_payment_impossible(session: Session, invoice: Invoice, reason: str) -> bool:
    """An invoice to be charged to the saved card cannot be paid by card:
    the client gets it with its pay link (the page says why and how to pay
    offline), the agency a failure note with the reason (attempt 0: no
    charge was sent, none will be retried)."""
    queued = invoice_sent(session, invoice)
    _to_agency(
        session,
        "agency_payment_failed",
        f"agency_payment_failed:invoice:{invoice.id}:not_by_card",
        invoice.client,
        lambda f: {
            **f.invoice(invoice),
            "attempt": "0",
            "retry_date": f.words["no_retry"],
            "failure_reason": reason,
        },
        invoice=invoice,
    )
    return queued


def action_required(session: Session, invoice: Invoice, *, attempt: int) -> bool:
    """The bank wants the client to confirm charge ``attempt`` (3-D Secure)."""
    return _to_client(
        session,
        "action_required",
        f"action_required:invoice:{invoice.id}:attempt:{attempt}",
        invoice.client,
        lambda f: {**f.invoice(invoice), "attempt": str(attempt)},
        invoice=invoice,
    )


def upcoming_renewal(session: Session, subscription: Subscription, *, renews_at: datetime) -> bool:
    """The subscription renews at ``renews_at`` (once per renewal date)."""
    return _to_client(
        session,
        "upcoming_renewal",
        f"upcoming_renewal:subscription:{subscription.id}:renews:{_stamp(renews_at)}",
        subscription.client,
        lambda f: {**f.renewal(subscription), "renewal_date": f.date(renews_at)},
        subscription=subscription,
    )


def subscription_behind(session: Session, subscription: Subscription, *, since: datetime) -> bool:
    """To the agency: the renew job holds the subscription, whose periods
    since ``since`` went by without a renewal (once per such date)."""
    return _to_agency(
        session,
        "agency_subscription_behind",
        f"agency_subscription_behind:subscription:{subscription.id}:since:{_stamp(since)}",
        subscription.client,
        lambda f: {**f.subscription(subscription), "renewal_date": f.date(since)},
        subscription=subscription,
    )


def overdue_reminder(session: Session, invoice: Invoice, *, days_overdue: int) -> bool:
    """The invoice is ``days_overdue`` days past due (once per such day)."""
    return _to_client(
        session,
        "overdue_reminder",
        f"overdue_reminder:invoice:{invoice.id}:days:{days_overdue}",
        invoice.client,
        lambda f: {**f.invoice(invoice), "days_overdue": str(days_overdue)},
        invoice=invoice,
    )


def payment_reminder(session: Session, invoice: Invoice, *, at: datetime) -> bool:
    """Staff remind the client of an open invoice (once per request, ``at``):
    the overdue reminder when it is past due, else the invoice again with
    its pay link."""
    dedupe_key = f"payment_reminder:invoice:{invoice.id}:at:{at.astimezone(UTC):%Y%m%dT%H%M%S.%fZ}"
    if invoice.due_at is not None and invoice.due_at < at:
        days_overdue = max(1, (at - invoice.due_at).days)
        return _to_client(
            session,
            "overdue_reminder",
            dedupe_key,
            invoice.client,
            lambda f: {**f.invoice(invoice), "days_overdue": str(days_overdue)},
            invoice=invoice,
        )
    return _to_client(
        session,
        "invoice_sent",
        dedupe_key,
        invoice.client,
        lambda f: f.invoice(invoice),
        invoice=invoice,
    )


def subscription_cancelled(session: Session, subscription: Subscription) -> bool:
    """The subscription is cancelled (now or at its period end)."""
    return _subscription_ended(session, "subscription_cancelled", subscription)


def subscription_paused(session: Session, subscription: Subscription) -> bool:
    """The subscription is paused (once per pause and date)."""
    until = subscription.paused_until
    return _to_client(
        session,
        "subscription_paused",
        f"subscription_paused:subscription:{subscription.id}"
        f":at:{_stamp(subscription.paused_at or clock.now())}"
        f":until:{_stamp(until) if until else 'none'}",
        subscription.client,
        lambda f: {
            **f.subscription(subscription),
            "pause_start": f.date(subscription.current_period_end),
            "resume_date": f.date(until) if until else f.l10n.gettext("further notice"),
        },
        subscription=subscription,
    )


def subscription_resumed(session: Session, subscription: Subscription, *, at: datetime) -> bool:
    """The pause ended at ``at`` (once per resume)."""
    return _to_client(
        session,
        "subscription_resumed",
        f"subscription_resumed:subscription:{subscription.id}:at:{_stamp(at)}",
        subscription.client,
        lambda f: {
            **f.subscription(subscription),
            "resume_date": f.date(at),
            "period_end": f.date(subscription.current_period_end),
        },
        subscription=subscription,
    )


def subscription_expired(session: Session, subscription: Subscription) -> bool:
    """The subscription used up its billing cycles."""
    return _subscription_ended(session, "subscription_expired", subscription)


def _subscription_ended(session: Session, key: str, subscription: Subscription) -> bool:
    return _to_client(
        session,
        key,
        f"{key}:subscription:{subscription.id}",
        subscription.client,
        lambda f: {**f.subscription(subscription), "end_date": f.date(_end(subscription))},
        subscription=subscription,
    )


def client_invitation(session: Session, user: User, *, link: str) -> bool:
    """Invite ``user`` (a client's login) with ``link``. Each new link is a new
    invitation (a re-invite sends again); the same link is queued once."""
    client = session.get(Client, user.client_id) if user.client_id else None
    digest = hashlib.sha256(link.encode()).hexdigest()[:24]

    def values(f: _Formatter) -> dict:
        return {
            **f.client(client),
            "client_name": user.name or (client.name if client else ""),
            "client_email": user.email,
            "invitation_link": link,
        }

    return _queue(
        session,
        "client_invitation",
        f"client_invitation:user:{user.id}:link:{digest}",
        user.email,
        values,
        client=client,
    )


def staff_password_reset(session: Session, user: User, *, link: str) -> bool:
    """Send ``user`` (staff) the link that sets a new Hub password; each new
    link is a new email, the same link is queued once."""
    digest = hashlib.sha256(link.encode()).hexdigest()[:24]

    def values(f: _Formatter) -> dict:
        return {
            "company_name": f.settings.company_name or "",
            "user_name": user.name or user.email,
            "reset_link": link,
        }

    return _queue(
        session,
        "staff_password_reset",
        f"staff_password_reset:user:{user.id}:link:{digest}",
        user.email,
        values,
    )


def client_password_reset(session: Session, user: User, *, link: str) -> bool:
    """Send ``user`` (a client's person) the link that sets a new portal
    password; each new link is a new email, the same link is queued once."""
    client = session.get(Client, user.client_id) if user.client_id else None
    digest = hashlib.sha256(link.encode()).hexdigest()[:24]

    def values(f: _Formatter) -> dict:
        return {
            **f.client(client),
            "user_name": user.name or user.email,
            "reset_link": link,
        }

    return _queue(
        session,
        "client_password_reset",
        f"client_password_reset:user:{user.id}:link:{digest}",
        user.email,
        values,
        client=client,
    )


def agency_invitation_accepted(session: Session, user: User) -> bool:
    """``user`` (a client's login) accepted the invitation: the agency is told."""
    client = session.get(Client, user.client_id) if user.client_id else None
    now = clock.now()

    def values(f: _Formatter) -> dict:
        result = f.client(client)
        result.update(
            client_name=(client.name if client else "") or user.name,
            client_email=user.email,
            accepted_date=f.date(now),
        )
        return result

    settings = get_settings(session)
    return _queue(
        session,
        "agency_invitation_accepted",
        f"agency_invitation_accepted:user:{user.id}",
        settings.email,
        values,
        client=client,
    )


def reconciliation_key(day: date) -> str:
    """The dedupe key of the reconciliation email of a (local) day."""
    return f"agency_reconciliation:day:{day.isoformat()}"


def reconciliation_sent(session: Session, day: date) -> bool:
    """Whether the agency got the reconciliation email of ``day`` already."""
    return outbox.is_queued(session, reconciliation_key(day))


def agency_reconciliation(session: Session, report: ReconciliationReport, *, day: date) -> bool:
    """To the agency: the reconciliation with Stripe found differences
    (once per local ``day``, however many times the job runs that day)."""
    if report.empty:
        return False

    def values(f: _Formatter) -> dict:
        return {
            "company_name": f.settings.company_name or "",
            "difference_count": str(len(report.differences)),
            "period_start": f.date(report.since),
            "differences": "\n".join(f"- {d.line()}" for d in report.differences),
        }

    return _queue(
        session,
        "agency_reconciliation",
        reconciliation_key(day),
        get_settings(session).email,
        values,
    )


# Values ----------------------------------------------------------------------------


class _Formatter:
    """Placeholder values written in the email's language by
    ``bridge.core.l10n`` (words from the catalogues, dates in the business
    time zone)."""

    def __init__(self, session: Session, settings: BusinessSettings, language: str):
        self.session = session
        self.settings = settings
        self.l10n = Localiser(language, settings.timezone)
        self.language = self.l10n.language
        l10n = self.l10n
        # Words a placeholder may need besides dates and amounts.
        self.words = {
            # TRANSLATORS: the retry date of a failed payment when none is planned.
            "no_retry": l10n.pgettext("next retry", "none"),
        }
        self.methods = {
            PaymentMethod.CARD: l10n.gettext("card"),
            PaymentMethod.BANK_TRANSFER: l10n.gettext("bank transfer"),
            PaymentMethod.CASH: l10n.gettext("cash"),
            PaymentMethod.CHEQUE: l10n.gettext("cheque"),
            PaymentMethod.OTHER: l10n.gettext("other means"),
            PaymentMethod.ACCOUNT_CREDIT: l10n.gettext("account credit"),
        }

    def money(self, amount: int, currency: str) -> str:
        return self.l10n.money(amount, currency)

    def date(self, value: date | datetime | None) -> str:
        """A calendar date as it is, an aware datetime as its day in the
        business time zone; empty for None."""
        return self.l10n.date(value)

    def method(self, method: PaymentMethod) -> str:
        return self.methods.get(method, str(method))

    def client(self, client: Client | None) -> dict:
        settings = self.settings
        return {
            "client_name": client.name if client else "",
            "client_email": client.email if client else "",
            "client_company": client.company if client else "",
            "company_name": settings.company_name,
            "company_email": settings.email,
            "company_phone": settings.phone,
            "company_website": settings.website,
        }

    def invoice(self, invoice: Invoice) -> dict:
        return {
            **self.client(invoice.client),
            "invoice_number": invoice.number or "",
            "total": self.money(invoice.total, invoice.currency),
            "amount_due": self.money(invoice.amount_due, invoice.currency),
            "issue_date": self.date(invoice.issue_date or invoice.issued_at),
            "due_date": self.date(invoice.due_at),
            "pay_link": invoice_page_url(self.session, invoice),
            "pdf_link": invoice_pdf_url(self.session, invoice),
        }

    def subscription(self, subscription: Subscription) -> dict:
        plan = subscription.plan
        return {
            **self.client(subscription.client),
            "plan_name": _plan_name(plan),
            "site_name": subscription.site.name if subscription.site else "",
            "amount": self.money(subscription.amount, subscription.currency),
        }

    def renewal(self, subscription: Subscription) -> dict:
        """As ``subscription``, with the plan and amount its next renewal
        bills: those of a change scheduled for it, if any."""
        fields = self.subscription(subscription)
        pending = plan_changes.pending_change(subscription)
        if pending is not None:
            fields["plan_name"] = _plan_name(pending.plan)
            fields["amount"] = self.money(pending.amount, subscription.currency)
        return fields


def _plan_name(plan) -> str:
    product = plan.product.name if plan.product else ""
    return (product if plan.name == product else f"{product} — {plan.name}").strip(" —")


def _end(subscription: Subscription) -> datetime:
    if subscription.ended_at:
        return subscription.ended_at
    if subscription.cancel_at_period_end and subscription.current_period_end:
        return subscription.current_period_end
    return subscription.cancelled_at or clock.now()


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


# Queueing ------------------------------------------------------------------------------


def _to_client(session, key, dedupe_key, client, values, *, invoice=None, subscription=None):
    return _queue(
        session,
        key,
        dedupe_key,
        client.email if client else "",
        values,
        client=client,
        invoice=invoice,
        subscription=subscription,
        language=invoice.language if invoice is not None else None,
    )


def _to_agency(session, key, dedupe_key, client, values, *, invoice=None, subscription=None):
    return _queue(
        session,
        key,
        dedupe_key,
        get_settings(session).email,
        values,
        client=client,
        invoice=invoice,
        subscription=subscription,
    )


def _queue(
    session: Session,
    key: str,
    dedupe_key: str,
    to: str | None,
    values,
    *,
    client: Client | None = None,
    invoice: Invoice | None = None,
    subscription: Subscription | None = None,
    language: str | None = None,
) -> bool:
    to = (to or "").strip()
    if not to or outbox.is_queued(session, dedupe_key):
        return False
    settings = get_settings(session)
    language = email_language(session, key, language)
    message = render(
        session, key, values(_Formatter(session, settings, language)), language=language
    )
    return outbox.enqueue(
        session,
        trigger=key,
        dedupe_key=dedupe_key,
        to=to,
        message=message,
        client_id=client.id if client else None,
        invoice_id=invoice.id if invoice else None,
        subscription_id=subscription.id if subscription else None,
    )
