"""Which domain event sends which email: the one place that maps them.

Each subscriber loads the rows the event names and calls the matching
``bridge.mail.notify`` function, which queues the message in the outbox of
the same session: the email commits or rolls back with its event. Events
that tell nobody anything (a subscription created, an invoice voided...)
have no subscriber here.

``register()`` is called by everything that runs domain code: the app
factory, the scheduler's job context, the benchmark, the tests.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bridge.core import clock, events
from bridge.links import invitation_url
from bridge.mail import notify, outbox
from bridge.models import Invoice, Payment, Subscription, User


def invoice_finalized(session: Session, event: events.InvoiceFinalized) -> None:
    if event.send:
        notify.invoice_sent(session, session.get(Invoice, event.invoice_id))


def saved_card_missing(session: Session, event: events.SavedCardMissing) -> None:
    notify.invoice_sent(session, session.get(Invoice, event.invoice_id))


def card_payment_impossible(session: Session, event: events.CardPaymentImpossible) -> None:
    notify.card_payment_impossible(session, session.get(Invoice, event.invoice_id), event.reason)


def payment_succeeded(session: Session, event: events.PaymentSucceeded) -> None:
    # A receipt for the payment that settles the invoice; a part payment gets none.
    if event.settled:
        notify.payment_receipt(
            session,
            session.get(Invoice, event.invoice_id),
            session.get(Payment, event.payment_id),
        )


def payment_failed(session: Session, event: events.PaymentFailed) -> None:
    notify.payment_failed(
        session,
        session.get(Invoice, event.invoice_id),
        attempt=event.attempt,
        next_retry_at=event.next_retry_at,
        reason=event.reason,
    )


def payment_requires_action(session: Session, event: events.PaymentRequiresAction) -> None:
    notify.action_required(session, session.get(Invoice, event.invoice_id), attempt=event.attempt)


def invoice_overdue(session: Session, event: events.InvoiceOverdue) -> None:
    notify.overdue_reminder(
        session, session.get(Invoice, event.invoice_id), days_overdue=event.days_overdue
    )


def invoice_reminded(session: Session, event: events.InvoiceReminded) -> None:
    notify.payment_reminder(session, session.get(Invoice, event.invoice_id), at=event.at)


def upcoming_renewal(session: Session, event: events.UpcomingRenewal) -> None:
    notify.upcoming_renewal(
        session, session.get(Subscription, event.subscription_id), renews_at=event.renews_at
    )


def subscription_cancelled(session: Session, event: events.SubscriptionCancelled) -> None:
    # A pending subscription dropped with its voided first invoice never
    # started: the client is not told it ended.
    if event.reason != events.CANCEL_INVOICE_VOIDED:
        notify.subscription_cancelled(session, session.get(Subscription, event.subscription_id))


def subscription_paused(session: Session, event: events.SubscriptionPaused) -> None:
    notify.subscription_paused(session, session.get(Subscription, event.subscription_id))


def subscription_resumed(session: Session, event: events.SubscriptionResumed) -> None:
    subscription = session.get(Subscription, event.subscription_id)
    # With an invoice the new period starts on the resume date; without,
    # the pause ended before the paid period did (now).
    at = subscription.current_period_start if event.invoice_id else subscription.updated_at
    notify.subscription_resumed(session, subscription, at=at or clock.now())


def subscription_expired(session: Session, event: events.SubscriptionExpired) -> None:
    notify.subscription_expired(session, session.get(Subscription, event.subscription_id))


def subscription_behind(session: Session, event: events.SubscriptionBehind) -> None:
    notify.subscription_behind(
        session, session.get(Subscription, event.subscription_id), since=event.since
    )


def client_invited(session: Session, event: events.ClientInvited) -> None:
    notify.client_invitation(
        session, session.get(User, event.user_id), link=invitation_url(session, event.token)
    )


def invitation_accepted(session: Session, event: events.InvitationAccepted) -> None:
    notify.agency_invitation_accepted(session, session.get(User, event.user_id))


SUBSCRIBERS = {
    events.InvoiceFinalized: invoice_finalized,
    events.SavedCardMissing: saved_card_missing,
    events.CardPaymentImpossible: card_payment_impossible,
    events.PaymentSucceeded: payment_succeeded,
    events.PaymentFailed: payment_failed,
    events.PaymentRequiresAction: payment_requires_action,
    events.InvoiceOverdue: invoice_overdue,
    events.InvoiceReminded: invoice_reminded,
    events.UpcomingRenewal: upcoming_renewal,
    events.SubscriptionCancelled: subscription_cancelled,
    events.SubscriptionExpired: subscription_expired,
    events.SubscriptionPaused: subscription_paused,
    events.SubscriptionResumed: subscription_resumed,
    events.SubscriptionBehind: subscription_behind,
    events.ClientInvited: client_invited,
    events.InvitationAccepted: invitation_accepted,
}


def register() -> None:
    """Subscribe the emails to their events (idempotent); a set of events
    handled together (``events.handled_together``) has its emails written
    at its end, in one statement."""
    for event_type, subscriber in SUBSCRIBERS.items():
        events.subscribe(event_type, subscriber)
    events.handle_in_sets(outbox.queued_together)
