"""Charges: an invoice charged to the client's saved card with a
PaymentIntent (off-session for renewals and retries, on-session from the
hosted page, where the bank may ask for 3-D Secure), and payments left
pending settled by looking them up.

Exactly once (ARCHITECTURE decision 4): every charge carries an idempotency
key derived from our own ids (``bb-invoice-{id}-attempt-{n}``); it is first a
``Payment`` row in status *pending* carrying that key, committed before the
request leaves, then the outcome. A payment left *pending* (crash, timeout)
is settled later by ``reconcile_pending``, which looks the PaymentIntent up
before it ever sends the request again, and sends it again only with the
same key. Outcomes are recorded by the domain
(``bridge.billing.payments.apply_outcome``), through the payment state
machine.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import stripe
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridge.billing.business import get_settings
from bridge.billing.payments import (
    CARD_GATEWAY,
    COLLECTIBLE,
    ChargeResult,
    Outcome,
    PreparedCharge,
    apply_outcome,
    card_payments,
    charge_result,
    lock_invoice,
    lock_payment,
    record_outcome,
)
from bridge.core import clock
from bridge.core.errors import Conflict, NotFound, Unavailable
from bridge.core.money import InvalidAmount, card_limit, stripe_amount, stripe_charge_amount
from bridge.models import Client, Invoice, Payment, PaymentMethod, PaymentState, PaymentStatus
from bridge.payments.stripe.client import (
    UNKNOWN_OUTCOME,
    StripeApi,
    id_of,
    release,
    retrieve,
    translated,
)

log = logging.getLogger(__name__)

CARD_LIMIT_CODE = "amount_not_chargeable_by_card"
"""The ``Conflict`` code of an amount Stripe cannot take by card (below its
minimum, above its maximum): such an invoice is paid offline."""

SUFFIX_MAX = 22 - 10 - 2
"""The longest statement descriptor suffix that fits every account: card
statements print the account's prefix (2 to 10 characters), ``* `` and the
suffix, 22 characters in all (https://docs.stripe.com/get-started/account/
statement-descriptors)."""


def descriptor_suffix(descriptor: str | None) -> str | None:
    """The ``statement_descriptor_suffix`` card charges carry for the
    business's statement descriptor, as statements print it (upper case,
    cut to ``SUFFIX_MAX``); None when there is none or nothing with a
    letter is left (Stripe wants one)."""
    suffix = (descriptor or "").upper()[:SUFFIX_MAX].strip()
    return suffix if any(c.isalpha() for c in suffix) else None


# A pending payment younger than this may still be in flight: leave it be.
PENDING_GRACE = timedelta(minutes=1)
# Stripe keeps idempotency keys for 24 hours: a request is sent again under
# its key only within that window (after it, "not found" means "never sent").
REPLAY_WINDOW = timedelta(hours=23)
# How far before our own row a PaymentIntent is looked for (clock skew).
LOOKUP_MARGIN = timedelta(hours=1)


def outcome_of_intent(intent: dict) -> Outcome:
    """A PaymentIntent's state as a payment outcome."""
    status = intent.get("status")
    error = intent.get("last_payment_error") or {}
    common = {
        "payment_intent_id": intent.get("id"),
        "payment_method_id": id_of(intent.get("payment_method"))
        or id_of(error.get("payment_method")),
    }
    if status == "succeeded":
        return Outcome(PaymentStatus.SUCCEEDED, **common)
    if status in ("requires_action", "requires_source_action"):
        return Outcome(
            PaymentStatus.REQUIRES_ACTION,
            client_secret=intent.get("client_secret"),
            code="authentication_required",
            message="The bank asks the cardholder to authenticate this payment.",
            **common,
        )
    if status == "requires_payment_method":
        if "authentication_required" in (error.get("code"), error.get("decline_code")):
            # Off-session, Stripe fails a payment that needs 3-D Secure; the
            # client completes it on the page with the same PaymentIntent.
            return Outcome(
                PaymentStatus.REQUIRES_ACTION,
                client_secret=intent.get("client_secret"),
                code="authentication_required",
                message=error.get("message"),
                **common,
            )
        return Outcome(
            PaymentStatus.FAILED,
            code=error.get("decline_code") or error.get("code") or "payment_failed",
            message=error.get("message") or "The payment failed.",
            **common,
        )
    if status == "canceled":
        return Outcome(
            PaymentStatus.CANCELED,
            code=intent.get("cancellation_reason") or "canceled",
            message="The payment was canceled.",
            **common,
        )
    # processing, requires_confirmation, requires_capture: not settled yet.
    return Outcome(PaymentStatus.PENDING, **common)


def _outcome_of_error(api: StripeApi, exc: stripe.StripeError) -> Outcome:
    """The outcome of a charge request Stripe answered with an error (4xx)."""
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    error = body.get("error") or {}
    intent = error.get("payment_intent") if isinstance(error.get("payment_intent"), dict) else {}
    intent_id = intent.get("id") or id_of(error.get("payment_intent"))
    if not intent_id and error.get("charge"):
        # localstripe names only the failed charge; the charge knows its intent.
        try:
            intent_id = api.retrieve_charge(error["charge"]).get("payment_intent")
        except stripe.StripeError:
            log.warning("could not read charge %s of a declined payment", error["charge"])
    code = error.get("code") or exc.code
    decline_code = error.get("decline_code")
    method_id = id_of(error.get("payment_method")) or id_of(intent.get("payment_method"))
    if "authentication_required" in (code, decline_code):
        secret = intent.get("client_secret")
        if not secret and intent_id:
            try:
                secret = api.retrieve_payment_intent(intent_id).get("client_secret")
            except stripe.StripeError:
                log.warning("could not read PaymentIntent %s needing action", intent_id)
        return Outcome(
            PaymentStatus.REQUIRES_ACTION,
            payment_intent_id=intent_id,
            client_secret=secret,
            code="authentication_required",
            message=error.get("message") or exc.user_message,
            payment_method_id=method_id,
        )
    if not code:
        code = {
            stripe.AuthenticationError: "stripe_key_refused",
            stripe.PermissionError: "stripe_permission_denied",
            stripe.InvalidRequestError: "invalid_request",
        }.get(type(exc), "payment_failed")
    return Outcome(
        PaymentStatus.FAILED,
        payment_intent_id=intent_id,
        code=decline_code or code,
        message=error.get("message") or exc.user_message or "The payment failed.",
        payment_method_id=method_id,
    )


def _record(session: Session, payment_id: int, outcome: Outcome) -> ChargeResult:
    """Store Stripe's answer on the payment and its invoice. Until this
    commits, a payment whose request left stays pending (and a crash here
    is what ``reconcile_pending`` recovers from)."""
    return record_outcome(session, payment_id, outcome)


def _card_label(client: Client) -> str:
    if client.card_last4:
        return f"{client.card_brand or 'card'} ending {client.card_last4}"
    return "card"


def _add_pending(
    session: Session, invoice: Invoice, client: Client, amount: int, attempt: int, now: datetime
) -> Payment:
    """Attempt ``attempt``'s pending payment, carrying its idempotency key;
    the invoice's payment shows as processing."""
    payment = Payment(
        invoice=invoice,
        client_id=invoice.client_id,
        amount=amount,
        currency=invoice.currency,
        method=PaymentMethod.CARD,
        gateway=CARD_GATEWAY,
        status=PaymentStatus.PENDING,
        reference=_card_label(client),
        idempotency_key=f"bb-invoice-{invoice.id}-attempt-{attempt}",
        created_at=now,
    )
    session.add(payment)
    invoice.payment_state = PaymentState.PROCESSING
    invoice.updated_at = now
    return payment


def _begin_charge(session: Session, invoice_id: int) -> tuple[str, int]:
    """Under the invoice's lock, decide what a charge request does: settle
    the attempt still pending (``pending``), revisit the one waiting for the
    client's authentication (``action``), or start attempt n+1 (``send``),
    whose pending row it commits here, before any request leaves. Commits."""
    invoice = lock_invoice(session, invoice_id)
    if invoice.status not in COLLECTIBLE or invoice.amount_due <= 0:
        raise Conflict(
            f"A {invoice.status.value} invoice with {invoice.amount_due} due takes no payment.",
            code="invoice_not_payable",
        )
    client = invoice.client
    if not client.stripe_customer_id or not client.default_payment_method_id:
        raise Conflict("The client has no saved card.", code="no_saved_card")
    attempts = card_payments(session, invoice.id)
    latest = attempts[-1] if attempts else None
    if latest is not None and latest.status == PaymentStatus.PENDING:
        session.commit()
        return "pending", latest.id
    if (
        latest is not None
        and latest.status == PaymentStatus.REQUIRES_ACTION
        and latest.stripe_payment_intent_id
    ):
        session.commit()
        return "action", latest.id
    limit = card_limit(invoice.amount_due, invoice.currency)
    if limit is not None:
        # Refused before anything is stored or sent: Stripe would refuse it
        # at every attempt (the caller makes the invoice offline-only).
        raise Conflict(
            f"This invoice cannot be paid by card: {limit.message(invoice.currency)}",
            code=CARD_LIMIT_CODE,
        )
    amount = stripe_charge_amount(invoice.amount_due, invoice.currency)
    stripe_amount(amount, invoice.currency)  # refuse before anything is stored
    now = clock.now()
    payment = _add_pending(session, invoice, client, amount, len(attempts) + 1, now)
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(
            "Another charge of this invoice is under way.", code="charge_in_progress"
        ) from exc
    return "send", payment.id


def _charge_params(
    payment: Payment, invoice: Invoice, client: Client, suffix: str | None, *, on_session: bool
) -> dict:
    """The PaymentIntent create request of a pending card payment."""
    params = {
        "amount": stripe_amount(payment.amount, payment.currency),
        "currency": payment.currency.lower(),
        "customer": client.stripe_customer_id,
        "payment_method": client.default_payment_method_id,
        "payment_method_types": ["card"],
        "confirm": True,
        "metadata": {
            "bb_payment_id": str(payment.id),
            "bb_invoice_id": str(invoice.id),
            "bb_invoice_number": invoice.number or "",
            "bb_client_id": str(client.id),
        },
    }
    if not on_session:
        params["off_session"] = True
    if suffix:
        # Card charges take only a suffix, printed after the account's prefix.
        params["statement_descriptor_suffix"] = suffix
    return params


def prepare_first_charges(session: Session, invoices: list[Invoice]) -> list[PreparedCharge]:
    """Renewal day's charges in sets: the first card attempt of each of
    ``invoices`` (locked by the caller, none with a card payment yet), its
    pending payment added with its idempotency key and its request made
    ready. An invoice the saved card cannot pay as it is (no card, an amount
    Stripe refuses) is left out: charged one by one, it is refused with its
    reason. Flushes; the caller commits before anything is sent, so the
    exactly-once rule of ``charge_invoice`` holds for each charge."""
    now = clock.now()
    staged = []
    for invoice in invoices:
        client = invoice.client
        if (
            invoice.status not in COLLECTIBLE
            or invoice.amount_due <= 0
            or not client.stripe_customer_id
            or not client.default_payment_method_id
            or card_limit(invoice.amount_due, invoice.currency) is not None
        ):
            continue
        amount = stripe_charge_amount(invoice.amount_due, invoice.currency)
        try:
            stripe_amount(amount, invoice.currency)
        except InvalidAmount:
            continue
        payment = _add_pending(session, invoice, client, amount, 1, now)
        staged.append((invoice, client, payment))
    if not staged:
        return []
    session.flush()
    suffix = descriptor_suffix(get_settings(session).statement_descriptor)
    return [
        PreparedCharge(
            invoice.id,
            payment.id,
            payment.idempotency_key,
            _charge_params(payment, invoice, client, suffix, on_session=False),
        )
        for invoice, client, payment in staged
    ]


def send_prepared(api: StripeApi, charge: PreparedCharge) -> Outcome | None:
    """Send a prepared charge (its pending row committed) and return what
    Stripe answered, None when the answer is unknown (the payment stays
    pending, settled later by the same key). Touches no database session:
    safe from any thread."""
    try:
        intent = api.create_payment_intent(charge.request, charge.idempotency_key)
    except (*UNKNOWN_OUTCOME, Unavailable) as exc:
        log.warning(
            "charge %s (%s): outcome unknown, left pending: %s",
            charge.payment_id,
            charge.idempotency_key,
            exc,
        )
        return None
    except stripe.StripeError as exc:
        return _outcome_of_error(api, exc)
    return outcome_of_intent(intent)


def _send(
    session: Session, api: StripeApi, payment_id: int, *, on_session: bool = False
) -> ChargeResult:
    """Send the charge of a pending payment (under its own key) and record
    what Stripe answered."""
    payment = session.get(Payment, payment_id)
    invoice = payment.invoice
    suffix = descriptor_suffix(get_settings(session).statement_descriptor)
    params = _charge_params(payment, invoice, invoice.client, suffix, on_session=on_session)
    key = payment.idempotency_key
    release(session)
    try:
        intent = api.create_payment_intent(params, key)
    except UNKNOWN_OUTCOME as exc:
        log.warning("charge %s (%s): outcome unknown, left pending: %s", payment_id, key, exc)
        return charge_result(session.get(Payment, payment_id))
    except stripe.StripeError as exc:
        outcome = _outcome_of_error(api, exc)
    else:
        outcome = outcome_of_intent(intent)
    return _record(session, payment_id, outcome)


def _find_intent(api: StripeApi, payment: Payment, customer: str | None) -> dict | None:
    """The PaymentIntent of a payment: by its stored id, else by the
    ``bb_payment_id`` metadata among the customer's recent PaymentIntents."""
    if payment.stripe_payment_intent_id:
        return api.retrieve_payment_intent(payment.stripe_payment_intent_id)
    if not customer:
        return None
    since = int((payment.created_at - LOOKUP_MARGIN).timestamp())
    matches = [
        intent for intent in api.payment_intents_of(customer, since) if _belongs(intent, payment)
    ]
    if len(matches) > 1:
        log.warning("payment %s has %d PaymentIntents", payment.id, len(matches))
        matches.sort(key=lambda i: (i.get("status") != "succeeded", -(i.get("created") or 0)))
    return matches[0] if matches else None


def _belongs(intent: dict, payment: Payment) -> bool:
    metadata = intent.get("metadata") or {}
    return metadata.get("bb_payment_id") == str(payment.id) and metadata.get(
        "bb_invoice_id"
    ) == str(payment.invoice_id)


def _resolve_pending(
    session: Session, api: StripeApi, payment_id: int, now: datetime | None = None
) -> ChargeResult:
    """Settle a payment left pending: from its PaymentIntent if Stripe has
    one; else, once it cannot be in flight any more, by sending the request
    again under the same key (or, past Stripe's idempotency window, by
    recording that it was never sent). Commits what it learns."""
    now = now or clock.now()
    payment = session.get(Payment, payment_id)
    invoice = payment.invoice
    customer = invoice.client.stripe_customer_id
    created_at = payment.created_at
    release(session)
    try:
        intent = _find_intent(api, payment, customer)
    except UNKNOWN_OUTCOME as exc:
        log.warning("payment %s: Stripe unreachable while settling: %s", payment_id, exc)
        return charge_result(payment)
    if intent is not None:
        return _record(session, payment_id, outcome_of_intent(intent))
    if now - created_at < PENDING_GRACE:
        return charge_result(payment)
    invoice, payment = lock_payment(session, payment_id)
    if (
        payment.status != PaymentStatus.PENDING
        or invoice.status not in COLLECTIBLE
        or stripe_charge_amount(invoice.amount_due, invoice.currency) < payment.amount
    ):
        if payment.status == PaymentStatus.PENDING:
            apply_outcome(
                session,
                invoice,
                payment,
                Outcome(
                    PaymentStatus.CANCELED,
                    code="superseded",
                    message="Not sent: the invoice changed before the charge reached Stripe.",
                ),
            )
        session.commit()
        return charge_result(payment)
    if now - created_at >= REPLAY_WINDOW:
        apply_outcome(
            session,
            invoice,
            payment,
            Outcome(
                PaymentStatus.FAILED,
                code="not_sent",
                message="The charge request never reached Stripe.",
            ),
        )
        session.commit()
        return charge_result(payment)
    session.commit()
    log.info(
        "payment %s never reached Stripe: sending it under %s", payment_id, payment.idempotency_key
    )
    return _send(session, api, payment_id)


def _refresh_action(
    session: Session, api: StripeApi, payment_id: int, *, cancel_if_card_changed: bool
) -> ChargeResult:
    """A payment waiting for authentication, as Stripe sees it now."""
    payment = session.get(Payment, payment_id)
    intent_id = payment.stripe_payment_intent_id
    default_card = payment.invoice.client.default_payment_method_id
    release(session)
    with translated():
        intent = api.retrieve_payment_intent(intent_id)
        outcome = outcome_of_intent(intent)
        if (
            cancel_if_card_changed
            and outcome.status == PaymentStatus.REQUIRES_ACTION
            and outcome.payment_method_id not in (None, default_card)
        ):
            # The client saved another card since: this attempt is dropped
            # and the invoice charged with the new card.
            try:
                intent = api.cancel_payment_intent(intent_id, f"bb-payment-{payment_id}-cancel")
            except stripe.InvalidRequestError:
                intent = api.retrieve_payment_intent(intent_id)
            outcome = outcome_of_intent(intent)
    return _record(session, payment_id, outcome)


def charge_invoice(
    session: Session, api: StripeApi, invoice: Invoice, *, on_session: bool = False
) -> ChargeResult:
    """Charge what is due on ``invoice`` to the client's saved card: an
    off-session PaymentIntent (``on_session=True`` when the client is on
    the page, so the bank asks for 3-D Secure there), idempotency key
    ``bb-invoice-{id}-attempt-{n}``.

    Exactly once: attempt n's pending ``Payment`` row is committed before the
    request leaves; then the outcome is recorded (succeeded: counted with
    ``invoices.apply_payment``; declined: failed with Stripe's decline code,
    invoice ``FAILED``; authentication needed: ``REQUIRES_ACTION``, invoice
    ``ACTION_REQUIRED``, the client secret returned). When Stripe's answer is
    unknown after retries the payment stays pending (``processing``). A
    charge while an attempt is pending settles that attempt instead of
    sending another; while one waits for authentication it returns that
    one (or cancels it, when the client has saved another card since).

    Raises ``Conflict``: ``invoice_not_payable``, ``no_saved_card``,
    ``charge_in_progress``. Commits.
    """
    for _ in range(3):
        action, payment_id = _begin_charge(session, invoice.id)
        if action == "send":
            return _send(session, api, payment_id, on_session=on_session)
        if action == "pending":
            return _resolve_pending(session, api, payment_id)
        result = _refresh_action(session, api, payment_id, cancel_if_card_changed=True)
        if result.status in ("requires_action", "succeeded", "processing"):
            return result
        # That attempt failed or was canceled: go round for a new one.
    raise Conflict("The invoice could not be charged; try again.", code="charge_in_progress")


def payment_action(session: Session, api: StripeApi, payment: Payment) -> ChargeResult:
    """For a payment waiting for the client's authentication: its current
    state, with the client secret the page needs while it still waits
    (settled and recorded if it has ended meanwhile). Commits."""
    if payment.gateway != CARD_GATEWAY or not payment.stripe_payment_intent_id:
        raise NotFound("No such card payment.")
    return _refresh_action(session, api, payment.id, cancel_if_card_changed=False)


def payment_for_intent(session: Session, intent: dict) -> Payment | None:
    """Our payment of a PaymentIntent: by its id, else by the metadata we set
    on it (checked against the invoice, so another installation's
    PaymentIntents on the same account are never taken for ours)."""
    intent_id = intent.get("id")
    payment = session.scalar(select(Payment).where(Payment.stripe_payment_intent_id == intent_id))
    if payment is not None:
        return payment
    raw = str((intent.get("metadata") or {}).get("bb_payment_id") or "")
    if not raw.isdigit():
        return None
    payment = session.get(Payment, int(raw))
    if (
        payment is None
        or payment.gateway != CARD_GATEWAY
        or payment.stripe_payment_intent_id not in (None, intent_id)
        or not _belongs(intent, payment)
    ):
        return None
    customer = id_of(intent.get("customer"))
    if customer and customer != payment.invoice.client.stripe_customer_id:
        return None
    return payment


def settle_payment_intent(
    session: Session,
    api: StripeApi,
    payment_intent_id: str,
    *,
    invoice: Invoice | None = None,
) -> ChargeResult:
    """Fetch a PaymentIntent and record its state on our payment and invoice
    (after 3-D Secure in the browser, from the reconcile job or webhooks).
    Idempotent: a succeeded payment is counted once, and a late failure never
    un-pays an invoice. Raises ``NotFound`` for a PaymentIntent that is not
    one of ours (or not ``invoice``'s, when given). Commits."""
    release(session)
    with translated():
        intent = retrieve(api.retrieve_payment_intent, payment_intent_id, "No such payment.")
    payment = payment_for_intent(session, intent)
    if payment is None or (invoice is not None and payment.invoice_id != invoice.id):
        raise NotFound("No such payment.")
    return _record(session, payment.id, outcome_of_intent(intent))


def reconcile_pending(
    session: Session,
    api: StripeApi,
    *,
    now: datetime | None = None,
    limit: int = 100,
) -> int:
    """Settle card payments pending for more than a minute (a crash or a
    timeout after the request left): each is looked up at Stripe and
    recorded, or sent again under its own idempotency key if Stripe never
    got it. Returns how many were settled. Safe to run from several
    schedulers at once (the keys make a repeated send a replay). Commits."""
    now = now or clock.now()
    payment_ids = list(
        session.scalars(
            select(Payment.id)
            .where(
                Payment.gateway == CARD_GATEWAY,
                Payment.status == PaymentStatus.PENDING,
                Payment.created_at <= now - PENDING_GRACE,
            )
            .order_by(Payment.id)
            .limit(limit)
        )
    )
    session.commit()
    settled = 0
    for payment_id in payment_ids:
        try:
            result = _resolve_pending(session, api, payment_id, now)
        except Exception:  # one payment's trouble must not stop the others
            session.rollback()
            log.exception("reconciling payment %s failed", payment_id)
            continue
        if result.status != "processing":
            settled += 1
    return settled
