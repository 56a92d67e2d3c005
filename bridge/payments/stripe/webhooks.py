"""Stripe webhook events: verified, stored raw by event id, applied once.

The discipline (after dj-stripe): the signature is checked against the
stored signing secret over the exact bytes received (five minutes of
tolerance); then, in one transaction, the event row is inserted by its id,
the event is applied inside a savepoint, and the row is marked processed.

- A duplicate delivery, even five at once, finds the row: the primary key
  decides (``INSERT ... ON CONFLICT DO NOTHING``; a concurrent insert of the
  same id waits for the first transaction and then does nothing), so only
  one delivery applies the event and every one is acknowledged.
- A handler that fails rolls back to the savepoint: the raw event stays,
  with the traceback in ``error``, and the answer is a 500 so that Stripe
  delivers it again; the next delivery applies it.
- Order does not matter: payment handlers read the PaymentIntent from
  Stripe as it is now rather than trusting a snapshot that may be older
  than one already applied, and every outcome goes through
  ``bridge.billing.payments.apply_outcome``, where success is final. (Without a
  stored secret key, the event's own snapshot is used, under the same
  rules.)
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import stripe
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridge.auth.secrets import SecretBox
from bridge.billing import audit
from bridge.billing.payments import apply_outcome, lock_invoice, lock_payment
from bridge.core import clock
from bridge.models import Payment, PaymentStatus, StripeEvent
from bridge.payments.stripe.charges import outcome_of_intent, payment_for_intent
from bridge.payments.stripe.client import StripeApi, id_of
from bridge.payments.stripe.keys import gateway_for, stripe_settings
from bridge.payments.stripe.refunds import record_refund

log = logging.getLogger(__name__)

TOLERANCE = 300
"""Seconds a signature's timestamp may be old (Stripe's default)."""


class WebhookRejected(Exception):
    """The delivery is not a verifiable Stripe event (HTTP 400); nothing was stored."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Delivery:
    """What became of one delivery: applied now, a ``duplicate`` of one
    already applied, or stored with the ``error`` (a traceback) of its
    handler."""

    event_id: str
    type: str
    duplicate: bool = False
    error: str | None = None


def verify(payload: bytes, signature: str | None, secret: str) -> dict:
    """The event in ``payload`` if ``signature`` (the ``Stripe-Signature``
    header: ``t=...,v1=...[,v1=...]``) signs these exact bytes with
    ``secret`` and is at most ``TOLERANCE`` seconds old; else
    ``WebhookRejected``. Any one of several ``v1`` signatures may match
    (Stripe signs with both secrets while one is being rolled)."""
    # The SDK's check (what ``construct_event`` runs), then our own parsing:
    # construct_event assumes the signed JSON is an object.
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, TOLERANCE)
    except stripe.SignatureVerificationError as exc:
        raise WebhookRejected("invalid_signature", f"Bad Stripe signature: {exc}") from exc
    except ValueError as exc:  # not UTF-8
        raise WebhookRejected("invalid_payload", "The body is not a JSON event.") from exc
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise WebhookRejected("invalid_payload", "The body is not a JSON event.") from exc
    if not (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and 0 < len(event["id"]) <= 100
        and isinstance(event.get("type"), str)
        and 0 < len(event["type"]) <= 100
        and isinstance(event.get("created"), int)
        and isinstance((event.get("data") or {}).get("object"), dict)
    ):
        raise WebhookRejected("invalid_event", "The body is not a Stripe event.")
    return event


def receive(
    session: Session,
    box: SecretBox,
    payload: bytes,
    signature: str | None,
    *,
    api_base: str | None = None,
) -> Delivery:
    """Verify, store and apply one delivery. Raises ``WebhookRejected``
    (nothing stored) for a delivery that cannot be verified. Commits."""
    settings = stripe_settings(session, box)
    gateway = gateway_for(session, box, api_base)
    session.rollback()  # that was only reading: end it before verifying
    if not settings.webhook_secret:
        raise WebhookRejected("webhook_not_configured", "No webhook signing secret is configured.")
    event = verify(payload, signature, settings.webhook_secret)
    audit.set_actor(session, audit.Actor("stripe_webhook", None, event["id"]))
    return _store_and_apply(session, gateway, event, payload.decode("utf-8"))


def _insert_if_absent(session: Session, values: dict) -> bool:
    """Insert the event row unless its id is stored; True if inserted."""
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        statement = (
            insert(StripeEvent).values(**values).on_conflict_do_nothing(index_elements=["id"])
        )
        return session.execute(statement).rowcount == 1
    try:
        with session.begin_nested():
            session.add(StripeEvent(**values))
        return True
    except IntegrityError:
        return False


def _store_and_apply(
    session: Session, gateway: StripeApi | None, event: dict, payload: str
) -> Delivery:
    """Store the event by its id, then apply it once. Commits the stored row
    first, so a failure while applying it is recorded, never lost."""
    now = clock.now()
    inserted = _insert_if_absent(
        session,
        {
            "id": event["id"],
            "type": event["type"],
            "livemode": bool(event.get("livemode")),
            "created": event["created"],
            "payload": payload,
            "received_at": now,
            "attempts": 0,
        },
    )
    row = session.get(StripeEvent, event["id"], with_for_update=True, populate_existing=True)
    if not inserted and row.processed_at is not None:
        session.commit()
        return Delivery(event["id"], event["type"], duplicate=True)
    row.attempts += 1
    handler = HANDLERS.get(event["type"])
    try:
        with session.begin_nested():
            if handler is not None:
                handler(session, gateway, event["data"]["object"])
    except Exception:  # any failure is stored and answered 500: Stripe retries
        error = traceback.format_exc()
        log.exception("Stripe event %s (%s) failed", event["id"], event["type"])
        row.error = error[-20000:]
        session.commit()
        return Delivery(event["id"], event["type"], error=error)
    row.processed_at = clock.now()
    row.error = None
    session.commit()
    return Delivery(event["id"], event["type"])


# Handlers: (session, gateway or None, the event's object) -> None ---------------


def _payment_of(session: Session, intent_id: str | None) -> Payment | None:
    if not intent_id:
        return None
    return session.scalar(select(Payment).where(Payment.stripe_payment_intent_id == intent_id))


def _payment_intent(session: Session, gateway: StripeApi | None, snapshot: dict) -> None:
    """payment_intent.succeeded / payment_failed / requires_action /
    canceled / processing: record the PaymentIntent's state on our payment."""
    payment = payment_for_intent(session, snapshot)
    if payment is None:
        log.info("PaymentIntent %s is not one of ours: ignored", snapshot.get("id"))
        return
    if payment.status == PaymentStatus.SUCCEEDED:
        return  # final: nothing an event says can change it
    intent = snapshot
    if gateway is not None:
        # The PaymentIntent as it is now, not as it was when this (perhaps
        # late, perhaps out-of-order) event was created.
        intent = gateway.retrieve_payment_intent(snapshot["id"])
    invoice, payment = lock_payment(session, payment.id)
    apply_outcome(session, invoice, payment, outcome_of_intent(intent))


def _charge_intent_id(gateway: StripeApi | None, obj: dict, charge_field: str) -> str | None:
    intent_id = id_of(obj.get("payment_intent"))
    if intent_id or gateway is None:
        return intent_id
    charge_id = id_of(obj.get(charge_field))
    return gateway.retrieve_charge(charge_id).get("payment_intent") if charge_id else None


class PaymentNotSettled(Exception):
    """A refund arrived for a payment whose success is not known here yet:
    the event stays unprocessed (500) and Stripe delivers it again."""


def _charge_refunded(session: Session, gateway: StripeApi | None, charge: dict) -> None:
    """charge.refunded: a credit note for each refund of the charge not
    recorded yet (our own ``refund`` records its refund id first, or finds
    the note this handler made).

    A refund may arrive before ``payment_intent.succeeded`` (Stripe does not
    order its events): only money that was received can be credited, so
    the PaymentIntent is first settled from Stripe (as it is now: a refunded
    charge succeeded) through ``apply_outcome``, as its own event would have.
    Without a secret key to ask Stripe, or when Stripe still does not say
    succeeded, the handler fails and the event is retried later, never
    marked processed with the refund lost."""
    intent_id = _charge_intent_id(gateway, charge, "id")
    payment = _payment_of(session, intent_id)
    intent = None
    if payment is None and gateway is not None and intent_id:
        # Our payment may not carry the PaymentIntent's id yet (the answer
        # to the charge was lost): the metadata we set on it finds it.
        intent = gateway.retrieve_payment_intent(intent_id)
        payment = payment_for_intent(session, intent)
    if payment is None:
        log.info("charge %s is not one of ours: ignored", charge.get("id"))
        return
    if payment.status != PaymentStatus.SUCCEEDED and gateway is not None and intent is None:
        intent = gateway.retrieve_payment_intent(payment.stripe_payment_intent_id or intent_id)
    if gateway is not None:
        refunds = gateway.refunds_of_charge(charge["id"])
    else:
        refunds = (charge.get("refunds") or {}).get("data") or []
    # The invoice's row lock before amount_paid or amount_refunded change.
    invoice, payment = lock_payment(session, payment.id)
    if intent is not None:
        apply_outcome(session, invoice, payment, outcome_of_intent(intent))
    if payment.status != PaymentStatus.SUCCEEDED:
        raise PaymentNotSettled(
            f"charge {charge.get('id')} was refunded but payment {payment.id} is "
            f"{payment.status.value} here: retried once its success is known"
        )
    for refund in sorted(refunds, key=lambda r: (r.get("created") or 0, r.get("id") or "")):
        record_refund(session, invoice, payment, refund)


def _dispute_created(session: Session, gateway: StripeApi | None, dispute: dict) -> None:
    """charge.dispute.created: the invoice is marked disputed (a dispute is
    read from the event itself: localstripe has no disputes to fetch)."""
    payment = _payment_of(session, _charge_intent_id(gateway, dispute, "charge"))
    if payment is None:
        log.info("dispute %s is not on one of our charges: ignored", dispute.get("id"))
        return
    invoice = lock_invoice(session, payment.invoice_id)
    if not invoice.disputed:
        audit.name_action(session, invoice, "invoice.disputed")
        invoice.disputed = True
        invoice.updated_at = clock.now()


HANDLERS: dict[str, Callable[[Session, StripeApi | None, dict], None]] = {
    "payment_intent.succeeded": _payment_intent,
    "payment_intent.payment_failed": _payment_intent,
    "payment_intent.requires_action": _payment_intent,
    "payment_intent.canceled": _payment_intent,
    "payment_intent.processing": _payment_intent,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute_created,
}
"""Event types applied; any other is stored, acknowledged and ignored."""
