"""Domain events: what happened, recorded by the domain in the caller's
session, and the subscribers that act on it in that same transaction.

The domain (``bridge.billing``) says what happened and nothing more:
``record(session, InvoiceFinalized(invoice_id=7, send=True))``. Whoever must
act on it (the mail outbox, later the client activity feed or outgoing
webhooks) subscribes a plain function ``(session, event)`` to the event's
type. Subscribers run synchronously, inside the transaction that recorded
the event: what they write (an outbox row) commits or rolls back with the
change that caused it, and a subscriber that raises makes the domain call
raise, so the caller rolls the whole change back.

Subscriptions are made once per process by whatever wires the
application together (the app factory, the scheduler's context, the
benchmark, the tests); subscribing the same function twice is harmless.

A domain step that records the same events for a whole set of objects
(renewal day's batches) wraps them in ``handled_together(session)``:
subscribers that can work in sets (the outbox, one insert for the set's
emails) registered a scope for it with ``handle_in_sets``.

Each session also keeps the events it recorded (``recorded(session)``), in
order, without those of a rolled-back transaction or savepoint: tests
assert the exact events of a scenario step by step.

Events carry ids and the few values that are not in the database (an
attempt number, the next retry); subscribers load the rows themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction


@dataclass(frozen=True)
class Event:
    """Base of every domain event; subscribing to it receives them all."""


# Invoices ------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceFinalized(Event):
    """The invoice got its number and is open (payment due). ``send``: the
    client is to receive it with its pay link; not when it is charged to a
    saved card (a receipt follows) nor when there is nothing to pay."""

    invoice_id: int
    send: bool


@dataclass(frozen=True)
class InvoicePaid(Event):
    """The invoice is settled (by a payment, or at once when its total is zero)."""

    invoice_id: int


@dataclass(frozen=True)
class InvoiceVoided(Event):
    invoice_id: int


@dataclass(frozen=True)
class InvoiceMarkedUncollectible(Event):
    invoice_id: int


@dataclass(frozen=True)
class InvoiceOverdue(Event):
    """An open invoice passed one of the configured overdue thresholds."""

    invoice_id: int
    days_overdue: int


@dataclass(frozen=True)
class InvoiceReminded(Event):
    """Staff asked for the client to be reminded of an open invoice now."""

    invoice_id: int
    at: datetime


@dataclass(frozen=True)
class CreditNoteIssued(Event):
    credit_note_id: int
    invoice_id: int
    amount: int


# Payments ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentSucceeded(Event):
    """A payment (card, webhook or offline) counted towards the invoice.
    ``settled``: it is the payment that paid the invoice off."""

    payment_id: int
    invoice_id: int
    settled: bool


@dataclass(frozen=True)
class PaymentFailed(Event):
    """Charge ``attempt`` of a saved card for the invoice was declined;
    ``next_retry_at`` is None when no retry is left."""

    invoice_id: int
    attempt: int
    next_retry_at: datetime | None
    reason: str


@dataclass(frozen=True)
class PaymentRequiresAction(Event):
    """The bank wants the client to confirm charge ``attempt`` (3-D Secure)."""

    invoice_id: int
    attempt: int


@dataclass(frozen=True)
class SavedCardMissing(Event):
    """A renewal was to be charged to a saved card that is gone: the client
    pays it from its pay link instead."""

    invoice_id: int


@dataclass(frozen=True)
class CardPaymentImpossible(Event):
    """An invoice that was to be charged to a saved card cannot be paid by
    card (``reason``: below Stripe's minimum, above its maximum...): it is
    not charged, the client pays it offline from its pay link, and the
    agency is told."""

    invoice_id: int
    reason: str


# Subscriptions -------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionCreated(Event):
    """Finalizing ``invoice_id`` started a subscription, pending until it is paid."""

    subscription_id: int
    invoice_id: int


@dataclass(frozen=True)
class DiscountApplied(Event):
    """A coupon was applied to (or removed from) ``client_id`` or one of its
    subscriptions (its MRR may change)."""

    client_id: int


@dataclass(frozen=True)
class SubscriptionActivated(Event):
    """Payment of ``invoice_id`` made a pending subscription active (period 0)."""

    subscription_id: int
    invoice_id: int


@dataclass(frozen=True)
class SubscriptionRenewed(Event):
    """The subscription entered period ``period_index``, billed by ``invoice_id``."""

    subscription_id: int
    invoice_id: int
    period_index: int


@dataclass(frozen=True)
class SubscriptionPastDue(Event):
    """The renewal ``invoice_id`` could not be collected (dunning used up)."""

    subscription_id: int
    invoice_id: int | None


@dataclass(frozen=True)
class SubscriptionRecovered(Event):
    """Paying the renewal ``invoice_id`` made a past-due subscription active again."""

    subscription_id: int
    invoice_id: int


@dataclass(frozen=True)
class SubscriptionCancelScheduled(Event):
    """The subscription will end when its current period does."""

    subscription_id: int


@dataclass(frozen=True)
class SubscriptionCancelUndone(Event):
    """A subscription set to end at its period end will keep renewing."""

    subscription_id: int


@dataclass(frozen=True)
class SubscriptionPaused(Event):
    """No renewal from the end of the paid period until ``until`` (None:
    until resumed by hand)."""

    subscription_id: int
    until: datetime | None


@dataclass(frozen=True)
class SubscriptionResumed(Event):
    """A pause ended: a new period started with ``invoice_id`` (None when
    the pause ended before the paid period did: nothing to invoice)."""

    subscription_id: int
    invoice_id: int | None


# Why a subscription was cancelled.
CANCEL_REQUESTED = "requested"  # by staff or the client, effective now
CANCEL_AT_PERIOD_END = "period_end"  # as scheduled, when its period ended
CANCEL_PAST_DUE = "past_due"  # past due for longer than the business allows
CANCEL_INVOICE_VOIDED = "invoice_voided"  # pending: its first invoice was voided


@dataclass(frozen=True)
class SubscriptionPlanChanged(Event):
    """The plan and/or quantity changed now, prorated on ``invoice_id``."""

    subscription_id: int
    invoice_id: int
    old_plan_id: int
    old_quantity_e3: int
    plan_id: int
    quantity_e3: int


@dataclass(frozen=True)
class SubscriptionPlanChangeScheduled(Event):
    """A plan and/or quantity change is scheduled for the next renewal
    (``effective_at``: the end of the current period)."""

    subscription_id: int
    plan_id: int
    quantity_e3: int
    effective_at: datetime | None


@dataclass(frozen=True)
class SubscriptionPlanChangeUnscheduled(Event):
    """The change scheduled for the next renewal was cancelled."""

    subscription_id: int


@dataclass(frozen=True)
class SubscriptionPlanSwitched(Event):
    """At its renewal the subscription moved to the plan and quantity
    scheduled for it (no proration: the renewal invoice bills them)."""

    subscription_id: int
    old_plan_id: int
    old_quantity_e3: int
    plan_id: int
    quantity_e3: int


@dataclass(frozen=True)
class SubscriptionCancelled(Event):
    """The subscription ended by cancellation (``reason``: a ``CANCEL_*``)."""

    subscription_id: int
    reason: str


@dataclass(frozen=True)
class SubscriptionExpired(Event):
    """The subscription used up its billing cycles."""

    subscription_id: int


@dataclass(frozen=True)
class SubscriptionBehind(Event):
    """The renew job held the subscription: more of its periods went by
    without a renewal (since ``since``, its current period's end) than one
    run catches up, so none is invoiced until staff choose."""

    subscription_id: int
    since: datetime


@dataclass(frozen=True)
class UpcomingRenewal(Event):
    """The subscription renews at ``renews_at`` (within the reminder window)."""

    subscription_id: int
    renews_at: datetime


# Clients --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientInvited(Event):
    """A person of the client (``user_id``) was sent invitation
    ``invitation_id``. ``token`` is the link's secret: only its hash is
    stored, so the email is written from this event."""

    client_id: int
    user_id: int
    invitation_id: int
    token: str


@dataclass(frozen=True)
class InvitationAccepted(Event):
    """The person ``user_id`` set a password from their invitation link."""

    client_id: int
    user_id: int


# Subscribing and recording ----------------------------------------------------------------

Subscriber = Callable[[Session, Event], object]

_subscribers: dict[type[Event], list[Subscriber]] = {}

_LOG = "bridge.events"


def subscribe(event_type: type[Event], subscriber: Subscriber) -> None:
    """Call ``subscriber(session, event)`` for every event of ``event_type``
    (subclasses included) recorded from now on. Idempotent."""
    subscribers = _subscribers.setdefault(event_type, [])
    if subscriber not in subscribers:
        subscribers.append(subscriber)


def unsubscribe(event_type: type[Event], subscriber: Subscriber) -> None:
    """Undo ``subscribe``; nothing happens if it was not subscribed."""
    subscribers = _subscribers.get(event_type, [])
    if subscriber in subscribers:
        subscribers.remove(subscriber)


def subscribers_of(event_type: type[Event]) -> list[Subscriber]:
    """Who is called for an event of ``event_type``: the subscribers of
    the type itself first, then those of its base classes."""
    return [
        subscriber
        for cls in event_type.__mro__
        if issubclass(cls, Event)
        for subscriber in _subscribers.get(cls, ())
    ]


SetScope = Callable[[Session], AbstractContextManager]

_set_scopes: list[SetScope] = []


def handle_in_sets(scope: SetScope) -> None:
    """Enter ``scope(session)`` around every ``handled_together`` block, for a
    subscriber that does its work for a set at the end of it. Idempotent."""
    if scope not in _set_scopes:
        _set_scopes.append(scope)


@contextmanager
def handled_together(session: Session) -> Iterator[None]:
    """The events recorded within are handled as one set: each subscriber
    with a set scope (``handle_in_sets``) finishes its work when the block
    ends, in the same transaction; an error within leaves that work undone
    (the caller rolls the transaction back). No savepoint inside the block
    may be rolled back on its own: what the scopes keep would outlive it."""
    with ExitStack() as scopes:
        for scope in _set_scopes:
            scopes.enter_context(scope(session))
        yield


@dataclass
class _Entry:
    event: Event
    # The innermost transaction the event was recorded in; None once committed.
    transaction: SessionTransaction | None


def record(session: Session, event: Event) -> None:
    """Record that ``event`` happened in ``session``'s transaction and run its
    subscribers now. An exception of a subscriber propagates: the caller's
    transaction must then be rolled back, which also forgets the event."""
    transaction = session.get_nested_transaction() or session.get_transaction()
    if transaction is None:
        transaction = session.begin()
    session.info.setdefault(_LOG, []).append(_Entry(event, transaction))
    for subscriber in subscribers_of(type(event)):
        subscriber(session, event)


def recorded(session: Session) -> list[Event]:
    """The events recorded in ``session``, oldest first: those committed and
    those of the transaction in progress, none of a rollback."""
    return [entry.event for entry in session.info.get(_LOG, ())]


def _within(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


# The first entries of a session's log are committed (their transaction is
# None): their count is kept, so a commit or a rollback looks only at the
# entries after them. A scheduler's session records thousands of events in
# a run, and commits after each set.
_SETTLED = "bridge.events.settled"


@sa_event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    entries = session.info.get(_LOG)
    # A savepoint's commit only hands its events to the enclosing transaction.
    if entries and session.get_nested_transaction() is None:
        for entry in entries[session.info.get(_SETTLED, 0) :]:
            entry.transaction = None
        session.info[_SETTLED] = len(entries)


@sa_event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous: SessionTransaction) -> None:
    entries = session.info.get(_LOG)
    settled = session.info.get(_SETTLED, 0)
    if entries and len(entries) > settled:
        entries[settled:] = [e for e in entries[settled:] if not _within(e.transaction, previous)]


@sa_event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction ended without a commit (rolled back, or the
    # session closed): what it recorded did not happen.
    entries = session.info.get(_LOG)
    if entries and transaction.parent is None:
        del entries[session.info.get(_SETTLED, 0) :]
