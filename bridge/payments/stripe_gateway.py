"""Stripe: the gateway and the card flows built on it.

Plain Python over a ``Session``, no Flask: the hosted invoice page, the REST
API, the scheduler and the webhooks all call these functions.

Every function that talks to Stripe **commits** the session it is given,
because what Stripe did cannot be rolled back: its own writes are committed
before a request leaves (so a crash while waiting is recoverable) and the
outcome is committed as soon as it is known. No database transaction is
held open while waiting on Stripe (on SQLite that would hold the one write
lock for a network round trip).

Exactly once (ARCHITECTURE decision 4): every Stripe write carries an
idempotency key derived from our own ids (``bb-invoice-{id}-attempt-{n}``,
``bb-refund-{payment}-{n}``, ``bb-customer-{id}``); a charge is first a
``Payment`` row in status *pending* carrying that key, committed before the
request leaves, then the outcome. A payment left *pending* (crash, timeout)
is settled later by ``reconcile_pending``, which looks the PaymentIntent up
before it ever sends the request again, and sends it again only with the
same key.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import stripe
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridge.auth.secrets import SecretBox
from bridge.billing import audit, invoices
from bridge.billing.business import get_settings
from bridge.core import clock
from bridge.core.errors import Conflict, DomainError, Invalid, NotFound, Unavailable
from bridge.core.money import from_stripe_amount, stripe_amount
from bridge.models import (
    Client,
    CreditNote,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PaymentState,
    PaymentStatus,
)
from bridge.payments.ratelimit import RateLimiter, default_rate

log = logging.getLogger(__name__)

API_VERSION = "2024-06-20"
"""The Stripe API version every request is pinned to."""
DEFAULT_API_BASE = stripe.DEFAULT_API_BASE
DEFAULT_MAX_NETWORK_RETRIES = 2
GATEWAY = "stripe"

# A pending payment younger than this may still be in flight: leave it be.
PENDING_GRACE = timedelta(minutes=1)
# Stripe keeps idempotency keys for 24 hours: a request is sent again under
# its key only within that window (after it, "not found" means "never sent").
REPLAY_WINDOW = timedelta(hours=23)
# How far before our own row a PaymentIntent is looked for (clock skew).
LOOKUP_MARGIN = timedelta(hours=1)

COLLECTIBLE = (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE)

# Errors after which Stripe may or may not have acted: the payment stays
# pending and is settled by looking it up later.
UNKNOWN_OUTCOME = (
    stripe.APIConnectionError,
    stripe.APIError,
    stripe.RateLimitError,
    stripe.IdempotencyError,
)


class StripeUnavailable(Unavailable):
    """Stripe could not be reached, or answered 5xx / 429, after retries.
    Nothing is known to have changed: try again later."""

    code = "stripe_unavailable"


class StripeRefused(DomainError):
    """Stripe refused the request (a 4xx other than a card decline, or a
    key it does not accept); the message is Stripe's."""

    code = "stripe_refused"


# The gateway ------------------------------------------------------------------


def api_base_from(config) -> str:
    """The API base of an app's config: ``STRIPE_API_BASE`` (env
    ``BRIDGE_STRIPE_API_BASE``), else Stripe's."""
    return config.get("STRIPE_API_BASE") or DEFAULT_API_BASE


def is_live_key(key: str) -> bool:
    return key.startswith(("sk_live_", "rk_live_", "pk_live_"))


def _plain(obj) -> dict:
    """A Stripe object as plain dicts and lists (``to_dict`` is recursive)."""
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


class StripeGateway:
    """One Stripe account, reached with ``stripe.StripeClient`` pinned to
    ``API_VERSION``. Answers are plain dicts.

    Retries: the SDK retries connection errors, timeouts, 409 and 5xx up to
    ``max_network_retries`` times with exponential backoff, sending the same
    headers, hence the same ``Idempotency-Key``, each time. It does not retry
    a plain 429 (only when Stripe adds ``Stripe-Should-Retry: true``), so
    ``_call`` retries rate-limited requests itself, with the same arguments
    and so the same key.
    """

    def __init__(
        self,
        secret_key: str,
        *,
        api_base: str | None = None,
        max_network_retries: int = DEFAULT_MAX_NETWORK_RETRIES,
        timeout: float = 30.0,
        retry_delay: float = 0.5,
        rate_limit: float | None = None,
    ):
        self.api_base = (api_base or DEFAULT_API_BASE).rstrip("/")
        self.livemode = is_live_key(secret_key)
        # Paced below Stripe's limits (0: no client-side limit).
        rate = default_rate(self.livemode) if rate_limit is None else rate_limit
        self.limiter = RateLimiter(rate) if rate > 0 else None
        self.max_network_retries = max_network_retries
        self.retry_delay = retry_delay
        self.client = stripe.StripeClient(
            secret_key,
            stripe_version=API_VERSION,
            max_network_retries=max_network_retries,
            base_addresses={"api": self.api_base},
            http_client=stripe.RequestsClient(timeout=timeout),
        )

    def __repr__(self) -> str:
        mode = "live" if self.livemode else "test"
        return f"<StripeGateway {self.api_base} ({mode})>"

    def _call(self, method: Callable, *args, **kwargs) -> dict:
        delay = self.retry_delay
        for attempt in itertools.count():
            if self.limiter is not None:
                self.limiter.acquire()
            try:
                return _plain(method(*args, **kwargs))
            except stripe.RateLimitError:
                if attempt >= self.max_network_retries:
                    raise
                log.info("Stripe rate limit: retrying in %.2f s", delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _key(idempotency_key: str) -> dict:
        return {"idempotency_key": idempotency_key}

    # Customers and cards

    def create_customer(self, params: dict, idempotency_key: str) -> dict:
        v1 = self.client.v1
        return self._call(v1.customers.create, params=params, options=self._key(idempotency_key))

    def create_setup_intent(self, params: dict, idempotency_key: str) -> dict:
        v1 = self.client.v1
        return self._call(
            v1.setup_intents.create, params=params, options=self._key(idempotency_key)
        )

    def retrieve_setup_intent(self, setup_intent_id: str) -> dict:
        return self._call(self.client.v1.setup_intents.retrieve, setup_intent_id)

    def retrieve_payment_method(self, payment_method_id: str) -> dict:
        return self._call(self.client.v1.payment_methods.retrieve, payment_method_id)

    # Payments

    def create_payment_intent(self, params: dict, idempotency_key: str) -> dict:
        v1 = self.client.v1
        return self._call(
            v1.payment_intents.create, params=params, options=self._key(idempotency_key)
        )

    def retrieve_payment_intent(self, payment_intent_id: str) -> dict:
        return self._call(self.client.v1.payment_intents.retrieve, payment_intent_id)

    def cancel_payment_intent(self, payment_intent_id: str, idempotency_key: str) -> dict:
        v1 = self.client.v1
        return self._call(
            v1.payment_intents.cancel, payment_intent_id, options=self._key(idempotency_key)
        )

    def payment_intents_of(self, customer: str, created_since: int) -> list[dict]:
        """The customer's PaymentIntents created since a Unix time, through the
        list endpoint (strongly consistent, unlike search, whose index lags)."""
        try:
            return list(
                self._pages(
                    self.client.v1.payment_intents.list,
                    {"customer": customer, "created": {"gte": created_since}},
                )
            )
        except stripe.InvalidRequestError as exc:
            if exc.http_status != 400:
                raise
            # A Stripe stand-in that takes no list filters (localstripe answers
            # 400 "Unexpected customer, created"): list all and filter here.
            log.info("PaymentIntent list filters refused (%s): filtering locally", exc)
            return [
                intent
                for intent in self._pages(self.client.v1.payment_intents.list, {})
                if intent.get("customer") == customer
                and (intent.get("created") or 0) >= created_since
            ]

    def _pages(self, list_method: Callable, params: dict, cap: int = 1000) -> Iterator[dict]:
        params = {**params, "limit": 100}
        for seen in itertools.count(step=100):
            page = self._call(list_method, params=params)
            items = page.get("data") or []
            yield from items
            if not page.get("has_more") or not items or seen + 100 >= cap:
                return
            params = {**params, "starting_after": items[-1]["id"]}

    def retrieve_charge(self, charge_id: str) -> dict:
        return self._call(self.client.v1.charges.retrieve, charge_id)

    def refunds_of_charge(self, charge_id: str) -> list[dict]:
        return list(self._pages(self.client.v1.refunds.list, {"charge": charge_id}))

    def create_refund(self, params: dict, idempotency_key: str) -> dict:
        v1 = self.client.v1
        return self._call(v1.refunds.create, params=params, options=self._key(idempotency_key))

    # The account

    def retrieve_account(self) -> dict:
        return self._call(self.client.v1.accounts.retrieve_current)

    def ping(self) -> None:
        """A cheap authenticated read: proves the key is accepted."""
        self._call(self.client.v1.customers.list, params={"limit": 1})


@contextmanager
def _translated() -> Iterator[None]:
    """Stripe's exceptions as domain errors, for calls whose failure the
    caller reports to a person (not charges: those record an outcome)."""
    try:
        yield
    except UNKNOWN_OUTCOME as exc:
        raise StripeUnavailable(
            "Stripe could not be reached. Nothing was changed; try again in a moment."
        ) from exc
    except stripe.AuthenticationError as exc:
        raise StripeRefused(
            "Stripe refused the secret key: check it in the settings.",
            code="stripe_key_refused",
        ) from exc
    except stripe.StripeError as exc:
        message = exc.user_message or "Stripe refused the request."
        raise StripeRefused(message, code=exc.code or StripeRefused.code) from exc


# Settings: keys, account, the gateway -------------------------------------------


@dataclass(frozen=True)
class AccountInfo:
    """What Stripe says about the account a secret key belongs to.
    ``limited``: the server has no account endpoint (localstripe), so only
    the key was checked and ``id``, ``name`` and ``email`` are unknown."""

    id: str | None
    name: str | None
    email: str | None
    livemode: bool
    limited: bool = False


@dataclass(frozen=True)
class StripeSettings:
    """The stored Stripe configuration, secrets decrypted. Never serialize
    this whole: show ``secret_key_hint`` instead of the keys."""

    secret_key: str | None = field(repr=False)
    publishable_key: str | None
    webhook_secret: str | None = field(repr=False)
    account_id: str | None
    account_name: str | None
    account_email: str | None
    livemode: bool | None
    connected_at: datetime | None

    @property
    def configured(self) -> bool:
        """Card payments are possible (a secret key is stored)."""
        return self.secret_key is not None

    @property
    def secret_key_hint(self) -> str | None:
        """``sk_test_…a1b2``: enough to recognise a key, not to use it."""
        if not self.secret_key:
            return None
        prefix = self.secret_key[: self.secret_key.find("_", 3) + 1]
        return f"{prefix}…{self.secret_key[-4:]}"


SECRET_PREFIXES = ("sk_test_", "sk_live_", "rk_test_", "rk_live_")
PUBLISHABLE_PREFIXES = ("pk_test_", "pk_live_")


def _check_key_formats(secret_key: str, publishable_key: str) -> None:
    errors: dict[str, list[str]] = {}
    if not secret_key.startswith(SECRET_PREFIXES) or len(secret_key) > 200:
        errors["secret_key"] = ["A Stripe secret key starts with sk_test_ or sk_live_."]
    if not publishable_key.startswith(PUBLISHABLE_PREFIXES) or len(publishable_key) > 200:
        errors["publishable_key"] = ["A publishable key starts with pk_test_ or pk_live_."]
    if not errors and is_live_key(secret_key) != is_live_key(publishable_key):
        errors["publishable_key"] = ["Both keys must be test keys, or both live keys."]
    if errors:
        raise Invalid("These are not Stripe keys of one mode.", fields=errors)


def verify_keys(
    secret_key: str,
    publishable_key: str,
    api_base: str | None = None,
    *,
    max_network_retries: int = 1,
) -> AccountInfo:
    """Check the keys' formats and modes, then ask Stripe for the account
    the secret key belongs to (``GET /v1/account``).

    Raises ``Invalid`` for malformed or mismatched keys, ``StripeRefused``
    (code ``stripe_key_refused``) for a key Stripe does not accept,
    ``StripeUnavailable`` when Stripe cannot be reached. A server other than
    Stripe's that has no account endpoint (localstripe) answers with
    ``limited=True`` after a cheap authenticated read instead.
    """
    secret_key, publishable_key = secret_key.strip(), publishable_key.strip()
    _check_key_formats(secret_key, publishable_key)
    gateway = StripeGateway(secret_key, api_base=api_base, max_network_retries=max_network_retries)
    livemode = is_live_key(secret_key)
    with _translated():
        try:
            account = gateway.retrieve_account()
        except stripe.StripeError as exc:
            # localstripe answers 404 with a plain-text body (an APIError to the SDK).
            if exc.http_status != 404 or gateway.api_base == DEFAULT_API_BASE:
                raise
            log.warning(
                "%s has no /v1/account (a Stripe stand-in such as localstripe): "
                "checked the key only",
                gateway.api_base,
            )
            gateway.ping()
            return AccountInfo(id=None, name=None, email=None, livemode=livemode, limited=True)
    profile = account.get("business_profile") or {}
    dashboard = (account.get("settings") or {}).get("dashboard") or {}
    name = profile.get("name") or dashboard.get("display_name")
    return AccountInfo(
        id=account.get("id"),
        name=name or None,
        email=account.get("email") or None,
        livemode=livemode,
    )


def save_stripe_settings(
    session: Session,
    box: SecretBox,
    secret_key: str,
    publishable_key: str,
    webhook_secret: str,
    api_base: str | None = None,
) -> StripeSettings:
    """Verify the keys with Stripe, then store them (the secret key and the
    webhook secret encrypted) with the account's facts and the time of
    connection. Commits. Raises as ``verify_keys`` does, and ``Invalid``
    for a webhook secret that is not one (``whsec_...``)."""
    webhook_secret = webhook_secret.strip()
    if not webhook_secret.startswith("whsec_") or len(webhook_secret) > 200:
        raise Invalid(
            "The webhook signing secret starts with whsec_ (Stripe shows it on the "
            "webhook endpoint's page).",
            fields={"webhook_secret": ["Not a webhook signing secret."]},
        )
    info = verify_keys(secret_key, publishable_key, api_base)
    settings = get_settings(session)
    audit.name_action(session, settings, "settings.stripe_connected")
    settings.stripe_secret_key_encrypted = box.encrypt(secret_key.strip())
    settings.stripe_publishable_key = publishable_key.strip()
    settings.stripe_webhook_secret_encrypted = box.encrypt(webhook_secret)
    settings.stripe_account_id = info.id
    settings.stripe_account_name = (info.name or "")[:200] or None
    settings.stripe_account_email = (info.email or "")[:254] or None
    settings.stripe_livemode = info.livemode
    settings.stripe_connected_at = settings.updated_at = clock.now()
    session.commit()
    return stripe_settings(session, box)


def disconnect_stripe(session: Session) -> None:
    """Forget the keys and the account: the bridge goes back to offline
    payments. Saved cards stay on the clients (they are Stripe's ids). Commits."""
    settings = get_settings(session)
    audit.name_action(session, settings, "settings.stripe_disconnected")
    for column in (
        "stripe_secret_key_encrypted",
        "stripe_publishable_key",
        "stripe_webhook_secret_encrypted",
        "stripe_account_id",
        "stripe_account_name",
        "stripe_account_email",
        "stripe_livemode",
        "stripe_connected_at",
    ):
        setattr(settings, column, None)
    settings.updated_at = clock.now()
    session.commit()


def stripe_settings(session: Session, box: SecretBox) -> StripeSettings:
    """The stored configuration with its secrets decrypted (``ValueError``
    when they cannot be: the encryption key changed since they were saved)."""
    settings = get_settings(session)

    def decrypt(token: str | None) -> str | None:
        return box.decrypt(token) if token else None

    return StripeSettings(
        secret_key=decrypt(settings.stripe_secret_key_encrypted),
        publishable_key=settings.stripe_publishable_key,
        webhook_secret=decrypt(settings.stripe_webhook_secret_encrypted),
        account_id=settings.stripe_account_id,
        account_name=settings.stripe_account_name,
        account_email=settings.stripe_account_email,
        livemode=settings.stripe_livemode,
        connected_at=settings.stripe_connected_at,
    )


def gateway_for(
    session: Session,
    box: SecretBox,
    api_base: str | None = None,
    *,
    max_network_retries: int = DEFAULT_MAX_NETWORK_RETRIES,
    rate_limit: float | None = None,
) -> StripeGateway | None:
    """The Stripe gateway of the stored key, or None when there is none
    (offline payments only). ``rate_limit``: requests per second (default
    80 live, 20 test; 0 for none)."""
    token = get_settings(session).stripe_secret_key_encrypted
    if not token:
        return None
    return StripeGateway(
        box.decrypt(token),
        api_base=api_base,
        max_network_retries=max_network_retries,
        rate_limit=rate_limit,
    )


# Customers and saved cards ------------------------------------------------------


def _release(session: Session) -> None:
    """End the current transaction before waiting on Stripe."""
    session.commit()


def ensure_customer(session: Session, gateway: StripeGateway, client: Client) -> str:
    """The client's Stripe customer id, creating the customer the first time
    (idempotency key ``bb-customer-{client.id}``). Commits."""
    if client.stripe_customer_id:
        return client.stripe_customer_id
    params: dict = {
        "name": client.name,
        "email": client.email,
        "metadata": {"bb_client_id": str(client.id)},
    }
    address = {
        key: value
        for key, value in (
            ("line1", client.address_line1),
            ("line2", client.address_line2),
            ("city", client.city),
            ("postal_code", client.postal_code),
            ("state", client.state),
            ("country", client.country),
        )
        if value
    }
    if address:
        params["address"] = address
    client_id = client.id
    _release(session)
    with _translated():
        customer = gateway.create_customer(params, f"bb-customer-{client_id}")
    client = session.get(Client, client_id)
    if client.stripe_customer_id is None:
        client.stripe_customer_id = customer["id"]
        client.updated_at = clock.now()
    session.commit()
    return client.stripe_customer_id


def start_card_setup(session: Session, gateway: StripeGateway, client: Client) -> dict:
    """A SetupIntent to save a card for off-session charges: ``{"id",
    "client_secret"}`` for Stripe.js ``confirmCardSetup`` in the browser.
    Creates the customer if needed. Commits."""
    customer = ensure_customer(session, gateway, client)
    params = {
        "customer": customer,
        "usage": "off_session",
        "payment_method_types": ["card"],
        "metadata": {"bb_client_id": str(client.id)},
    }
    # A SetupIntent costs nothing until confirmed, so each call may make a
    # new one; the key still makes the SDK's retries of this call safe.
    key = f"bb-setup-{client.id}-{secrets.token_hex(8)}"
    with _translated():
        intent = gateway.create_setup_intent(params, key)
    return {"id": intent["id"], "client_secret": intent["client_secret"]}


def id_of(value) -> str | None:
    """An id from a field that may hold the id or the expanded object."""
    if isinstance(value, dict):
        return value.get("id")
    return value


def complete_card_setup(
    session: Session, gateway: StripeGateway, client: Client, setup_intent_id: str
) -> None:
    """Make the card of a succeeded SetupIntent the client's default card
    (its brand, last 4 digits and expiry are stored for display). Raises
    ``NotFound`` for a SetupIntent of another customer, ``Conflict``
    (``card_setup_incomplete``) for one that has not succeeded. Commits."""
    client_id, customer = client.id, client.stripe_customer_id
    _release(session)
    with _translated():
        try:
            intent = gateway.retrieve_setup_intent(setup_intent_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                raise NotFound("No such card setup.") from exc
            raise
        if customer is None or id_of(intent.get("customer")) != customer:
            raise NotFound("No such card setup.")
        if intent.get("status") != "succeeded":
            raise Conflict(
                f"The card was not saved (the setup is {intent.get('status')}).",
                code="card_setup_incomplete",
            )
        payment_method_id = id_of(intent.get("payment_method"))
        if not payment_method_id:
            raise Conflict("The card setup has no card.", code="card_setup_incomplete")
        method = gateway.retrieve_payment_method(payment_method_id)
    card = method.get("card") or {}
    client = session.get(Client, client_id)
    audit.name_action(session, client, "client.card_saved")
    client.default_payment_method_id = payment_method_id
    client.card_brand = (card.get("brand") or "")[:20] or None
    client.card_last4 = (card.get("last4") or "")[:4] or None
    client.card_exp_month = card.get("exp_month")
    client.card_exp_year = card.get("exp_year")
    client.updated_at = clock.now()
    session.commit()


# Charging -----------------------------------------------------------------------


@dataclass(frozen=True)
class ChargeResult:
    """How a charge ended, for the page or job that asked.

    ``status``: ``succeeded``; ``requires_action`` (the client must
    authenticate in the browser: ``stripe.confirmCardPayment(client_secret,
    {payment_method: payment_method_id})``, then ``settle_payment_intent``);
    ``failed`` (``decline_code`` and ``message`` say why); ``processing``
    (Stripe's answer is not known yet: the payment stays pending and is
    settled by a webhook or ``reconcile_pending``).
    """

    status: str
    payment_id: int | None
    client_secret: str | None = None
    decline_code: str | None = None
    message: str | None = None
    payment_intent_id: str | None = None
    payment_method_id: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What Stripe says happened to one payment."""

    status: PaymentStatus
    payment_intent_id: str | None = None
    client_secret: str | None = None
    code: str | None = None
    message: str | None = None
    payment_method_id: str | None = None


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


def _outcome_of_error(gateway: StripeGateway, exc: stripe.StripeError) -> Outcome:
    """The outcome of a charge request Stripe answered with an error (4xx)."""
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    error = body.get("error") or {}
    intent = error.get("payment_intent") if isinstance(error.get("payment_intent"), dict) else {}
    intent_id = intent.get("id") or id_of(error.get("payment_intent"))
    if not intent_id and error.get("charge"):
        # localstripe names only the failed charge; the charge knows its intent.
        try:
            intent_id = gateway.retrieve_charge(error["charge"]).get("payment_intent")
        except stripe.StripeError:
            log.warning("could not read charge %s of a declined payment", error["charge"])
    code = error.get("code") or exc.code
    decline_code = error.get("decline_code")
    method_id = id_of(error.get("payment_method")) or id_of(intent.get("payment_method"))
    if "authentication_required" in (code, decline_code):
        secret = intent.get("client_secret")
        if not secret and intent_id:
            try:
                secret = gateway.retrieve_payment_intent(intent_id).get("client_secret")
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


def lock_invoice(session: Session, invoice_id: int) -> Invoice:
    # Invoice first, then its payments, everywhere: one lock order, no deadlock.
    return session.get(Invoice, invoice_id, with_for_update=True, populate_existing=True)


def lock_payment(session: Session, payment_id: int) -> tuple[Invoice, Payment]:
    invoice_id = session.scalar(select(Payment.invoice_id).where(Payment.id == payment_id))
    invoice = lock_invoice(session, invoice_id)
    payment = session.get(Payment, payment_id, with_for_update=True, populate_existing=True)
    return invoice, payment


def card_payments(session: Session, invoice_id: int) -> list[Payment]:
    """The invoice's card payments (one per charge attempt), oldest first."""
    return list(
        session.scalars(
            select(Payment)
            .where(Payment.invoice_id == invoice_id, Payment.gateway == GATEWAY)
            .order_by(Payment.id)
        )
    )


def _is_latest(session: Session, payment: Payment) -> bool:
    latest = session.scalar(
        select(func.max(Payment.id)).where(
            Payment.invoice_id == payment.invoice_id, Payment.gateway == GATEWAY
        )
    )
    return latest == payment.id


INVOICE_STATE = {
    PaymentStatus.FAILED: PaymentState.FAILED,
    PaymentStatus.REQUIRES_ACTION: PaymentState.ACTION_REQUIRED,
    PaymentStatus.CANCELED: PaymentState.NONE,
    PaymentStatus.PENDING: PaymentState.PROCESSING,
}


def apply_outcome(session: Session, invoice: Invoice, payment: Payment, outcome: Outcome) -> None:
    """Record ``outcome`` on a locked payment and its invoice, in any order
    and any number of times: a succeeded payment is final (never applied
    twice, never undone by a late failure); a canceled one only gives way to
    a success; the invoice's payment state follows its latest attempt while
    it is unpaid. Does not commit."""
    if payment.status == PaymentStatus.SUCCEEDED:
        return
    if payment.status == PaymentStatus.CANCELED and outcome.status != PaymentStatus.SUCCEEDED:
        return
    now = clock.now()
    if outcome.payment_intent_id and payment.stripe_payment_intent_id is None:
        payment.stripe_payment_intent_id = outcome.payment_intent_id
        payment.updated_at = now
    if outcome.status == PaymentStatus.SUCCEEDED:
        audit.name_action(session, payment, "payment.succeeded")
        payment.status = PaymentStatus.SUCCEEDED
        payment.received_at = payment.updated_at = now
        payment.failure_code = payment.failure_message = None
        if invoice.status not in COLLECTIBLE:
            log.warning(
                "card payment %s succeeded on %s invoice %s: refund it if it is not owed",
                payment.id,
                invoice.status.value,
                invoice.id,
            )
        invoices.apply_payment(session, invoice, payment)
        if invoice.status in COLLECTIBLE:
            invoice.payment_state = PaymentState.NONE
        return
    if outcome.status != payment.status:
        audit.name_action(session, payment, f"payment.{outcome.status.value}")
        payment.status = outcome.status
        payment.updated_at = now
    if outcome.status != PaymentStatus.PENDING:
        payment.failure_code = (outcome.code or "")[:100] or None
        payment.failure_message = (outcome.message or "")[:500] or None
    if invoice.status in COLLECTIBLE and _is_latest(session, payment):
        state = INVOICE_STATE[outcome.status]
        if invoice.payment_state != state:
            invoice.payment_state = state
            invoice.updated_at = now


def _result(payment: Payment, outcome: Outcome | None = None) -> ChargeResult:
    outcome = outcome or Outcome(payment.status)
    common = {
        "payment_id": payment.id,
        "payment_intent_id": payment.stripe_payment_intent_id or outcome.payment_intent_id,
        "payment_method_id": outcome.payment_method_id,
    }
    if payment.status == PaymentStatus.SUCCEEDED:
        return ChargeResult("succeeded", **common)
    if payment.status == PaymentStatus.REQUIRES_ACTION:
        return ChargeResult(
            "requires_action",
            client_secret=outcome.client_secret,
            decline_code="authentication_required",
            message=payment.failure_message,
            **common,
        )
    if payment.status in (PaymentStatus.FAILED, PaymentStatus.CANCELED):
        return ChargeResult(
            "failed", decline_code=payment.failure_code, message=payment.failure_message, **common
        )
    return ChargeResult(
        "processing",
        message="The payment is being processed: its outcome will be recorded shortly.",
        **common,
    )


def _record(session: Session, payment_id: int, outcome: Outcome) -> ChargeResult:
    invoice, payment = lock_payment(session, payment_id)
    apply_outcome(session, invoice, payment, outcome)
    session.commit()
    return _result(payment, outcome)


def _card_label(client: Client) -> str:
    if client.card_last4:
        return f"{client.card_brand or 'card'} ending {client.card_last4}"
    return "card"


def _begin_charge(session: Session, invoice_id: int) -> tuple[str, int]:
    """Under the invoice's lock, decide what a charge request does: settle
    the attempt still pending (``pending``), revisit the one waiting for the
    client's authentication (``action``), or start attempt n+1 (``send``),
    whose pending row is committed here, before any request leaves."""
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
    amount = invoice.amount_due
    stripe_amount(amount, invoice.currency)  # refuse before anything is stored
    now = clock.now()
    payment = Payment(
        invoice=invoice,
        client_id=invoice.client_id,
        amount=amount,
        currency=invoice.currency,
        method=PaymentMethod.CARD,
        gateway=GATEWAY,
        status=PaymentStatus.PENDING,
        reference=_card_label(client),
        idempotency_key=f"bb-invoice-{invoice.id}-attempt-{len(attempts) + 1}",
        created_at=now,
    )
    session.add(payment)
    invoice.payment_state = PaymentState.PROCESSING
    invoice.updated_at = now
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(
            "Another charge of this invoice is under way.", code="charge_in_progress"
        ) from exc
    return "send", payment.id


def _send(
    session: Session, gateway: StripeGateway, payment_id: int, *, on_session: bool = False
) -> ChargeResult:
    """Send the charge of a pending payment (under its own key) and record
    what Stripe answered."""
    payment = session.get(Payment, payment_id)
    invoice = payment.invoice
    client = invoice.client
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
    key = payment.idempotency_key
    _release(session)
    try:
        intent = gateway.create_payment_intent(params, key)
    except UNKNOWN_OUTCOME as exc:
        log.warning("charge %s (%s): outcome unknown, left pending: %s", payment_id, key, exc)
        return _result(session.get(Payment, payment_id))
    except stripe.StripeError as exc:
        outcome = _outcome_of_error(gateway, exc)
    else:
        outcome = outcome_of_intent(intent)
    return _record(session, payment_id, outcome)


def _find_intent(gateway: StripeGateway, payment: Payment, customer: str | None) -> dict | None:
    """The PaymentIntent of a payment: by its stored id, else by the
    ``bb_payment_id`` metadata among the customer's recent PaymentIntents."""
    if payment.stripe_payment_intent_id:
        return gateway.retrieve_payment_intent(payment.stripe_payment_intent_id)
    if not customer:
        return None
    since = int((payment.created_at - LOOKUP_MARGIN).timestamp())
    matches = [
        intent
        for intent in gateway.payment_intents_of(customer, since)
        if _belongs(intent, payment)
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
    session: Session, gateway: StripeGateway, payment_id: int, now: datetime | None = None
) -> ChargeResult:
    """Settle a payment left pending: from its PaymentIntent if Stripe has
    one; else, once it cannot be in flight any more, by sending the request
    again under the same key (or, past Stripe's idempotency window, by
    recording that it was never sent)."""
    now = now or clock.now()
    payment = session.get(Payment, payment_id)
    invoice = payment.invoice
    customer = invoice.client.stripe_customer_id
    created_at = payment.created_at
    _release(session)
    try:
        intent = _find_intent(gateway, payment, customer)
    except UNKNOWN_OUTCOME as exc:
        log.warning("payment %s: Stripe unreachable while settling: %s", payment_id, exc)
        return _result(payment)
    if intent is not None:
        return _record(session, payment_id, outcome_of_intent(intent))
    if now - created_at < PENDING_GRACE:
        return _result(payment)
    invoice, payment = lock_payment(session, payment_id)
    if (
        payment.status != PaymentStatus.PENDING
        or invoice.status not in COLLECTIBLE
        or invoice.amount_due < payment.amount
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
        return _result(payment)
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
        return _result(payment)
    session.commit()
    log.info(
        "payment %s never reached Stripe: sending it under %s", payment_id, payment.idempotency_key
    )
    return _send(session, gateway, payment_id)


def _refresh_action(
    session: Session, gateway: StripeGateway, payment_id: int, *, cancel_if_card_changed: bool
) -> ChargeResult:
    """A payment waiting for authentication, as Stripe sees it now."""
    payment = session.get(Payment, payment_id)
    intent_id = payment.stripe_payment_intent_id
    default_card = payment.invoice.client.default_payment_method_id
    _release(session)
    with _translated():
        intent = gateway.retrieve_payment_intent(intent_id)
        outcome = outcome_of_intent(intent)
        if (
            cancel_if_card_changed
            and outcome.status == PaymentStatus.REQUIRES_ACTION
            and outcome.payment_method_id not in (None, default_card)
        ):
            # The client saved another card since: this attempt is dropped
            # and the invoice charged with the new card.
            try:
                intent = gateway.cancel_payment_intent(intent_id, f"bb-payment-{payment_id}-cancel")
            except stripe.InvalidRequestError:
                intent = gateway.retrieve_payment_intent(intent_id)
            outcome = outcome_of_intent(intent)
    return _record(session, payment_id, outcome)


def charge_invoice(
    session: Session, gateway: StripeGateway, invoice: Invoice, *, on_session: bool = False
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
            return _send(session, gateway, payment_id, on_session=on_session)
        if action == "pending":
            return _resolve_pending(session, gateway, payment_id)
        result = _refresh_action(session, gateway, payment_id, cancel_if_card_changed=True)
        if result.status in ("requires_action", "succeeded", "processing"):
            return result
        # That attempt failed or was canceled: go round for a new one.
    raise Conflict("The invoice could not be charged; try again.", code="charge_in_progress")


def payment_action(session: Session, gateway: StripeGateway, payment: Payment) -> ChargeResult:
    """For a payment waiting for the client's authentication: its current
    state, with the client secret the page needs while it still waits
    (settled and recorded if it has ended meanwhile). Commits."""
    if payment.gateway != GATEWAY or not payment.stripe_payment_intent_id:
        raise NotFound("No such card payment.")
    return _refresh_action(session, gateway, payment.id, cancel_if_card_changed=False)


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
        or payment.gateway != GATEWAY
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
    gateway: StripeGateway,
    payment_intent_id: str,
    *,
    invoice: Invoice | None = None,
) -> ChargeResult:
    """Fetch a PaymentIntent and record its state on our payment and invoice
    (after 3-D Secure in the browser, from the reconcile job or webhooks).
    Idempotent: a succeeded payment is counted once, and a late failure never
    un-pays an invoice. Raises ``NotFound`` for a PaymentIntent that is not
    one of ours (or not ``invoice``'s, when given). Commits."""
    _release(session)
    with _translated():
        try:
            intent = gateway.retrieve_payment_intent(payment_intent_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                raise NotFound("No such payment.") from exc
            raise
    payment = payment_for_intent(session, intent)
    if payment is None or (invoice is not None and payment.invoice_id != invoice.id):
        raise NotFound("No such payment.")
    return _record(session, payment.id, outcome_of_intent(intent))


def reconcile_pending(
    session: Session,
    gateway: StripeGateway,
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
                Payment.gateway == GATEWAY,
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
            result = _resolve_pending(session, gateway, payment_id, now)
        except Exception:  # one payment's trouble must not stop the others
            session.rollback()
            log.exception("reconciling payment %s failed", payment_id)
            continue
        if result.status != "processing":
            settled += 1
    return settled


# Refunds ------------------------------------------------------------------------


def _refunded_on(session: Session, payment_id: int) -> tuple[int, int]:
    """(amount credited against a payment, number of its credit notes)."""
    total, count = session.execute(
        select(func.coalesce(func.sum(CreditNote.amount), 0), func.count()).where(
            CreditNote.refund_payment_id == payment_id
        )
    ).one()
    return int(total), int(count)


def refund(
    session: Session,
    gateway: StripeGateway,
    invoice: Invoice,
    amount: int,
    reason: str = "",
) -> CreditNote:
    """Refund ``amount`` (minor units) of the invoice's card payment at
    Stripe, then record it as a credit note carrying the refund's id.

    The refund comes from the newest succeeded card payment that still
    covers it (idempotency key ``bb-refund-{payment}-{n}``, n counting that
    payment's credit notes, so a retry after a crash is a replay). If the
    ``charge.refunded`` webhook recorded the refund first, that credit note
    is returned. Raises ``Invalid`` (amount), ``Conflict``
    (``no_card_payment``, not creditable), ``StripeRefused``,
    ``StripeUnavailable``. Commits.
    """
    invoice = lock_invoice(session, invoice.id)
    if invoice.status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID):
        raise Conflict(
            f"A {invoice.status.value} invoice cannot be credited.", code="not_creditable"
        )
    if not 1 <= amount <= invoices.refundable(invoice):
        raise Invalid(
            f"The amount must be between 1 and what was paid and not refunded "
            f"({invoices.refundable(invoice)}).",
            fields={"amount": ["Out of range."]},
        )
    candidates = [
        p
        for p in reversed(card_payments(session, invoice.id))
        if p.status == PaymentStatus.SUCCEEDED and p.stripe_payment_intent_id
    ]
    if not candidates:
        raise Conflict(
            "No card payment of this invoice can be refunded through Stripe: "
            "issue a credit note for money returned another way.",
            code="no_card_payment",
        )
    payment = None
    left = 0
    for candidate in candidates:
        refunded, count = _refunded_on(session, candidate.id)
        left = max(left, candidate.amount - refunded)
        if candidate.amount - refunded >= amount:
            payment, number = candidate, count + 1
            break
    if payment is None:
        raise Invalid(
            f"A refund comes from one card payment: at most {left} here.",
            fields={"amount": ["More than one card payment holds."]},
        )
    params = {
        "payment_intent": payment.stripe_payment_intent_id,
        "amount": stripe_amount(amount, invoice.currency),
        "metadata": {
            "bb_invoice_id": str(invoice.id),
            "bb_payment_id": str(payment.id),
            "bb_reason": reason[:500],
        },
    }
    payment_id, invoice_id, currency = payment.id, invoice.id, invoice.currency
    _release(session)
    with _translated():
        stripe_refund = gateway.create_refund(params, f"bb-refund-{payment_id}-{number}")
    if stripe_refund.get("status") in ("failed", "canceled"):
        raise StripeRefused(
            f"Stripe did not refund the payment (refund {stripe_refund.get('status')}).",
            code="refund_failed",
        )
    invoice = lock_invoice(session, invoice_id)
    existing = session.scalar(
        select(CreditNote).where(CreditNote.stripe_refund_id == stripe_refund["id"])
    )
    if existing is not None:
        if reason and not existing.reason:
            existing.reason = reason[:500]
        session.commit()
        return existing
    note = invoices.issue_credit_note(
        session,
        invoice,
        amount=from_stripe_amount(stripe_refund["amount"], currency),
        reason=reason[:500],
        refund_payment=session.get(Payment, payment_id),
        stripe_refund_id=stripe_refund["id"],
    )
    session.commit()
    return note


def record_refund(
    session: Session, invoice: Invoice, payment: Payment, stripe_refund: dict
) -> CreditNote | None:
    """A refund made at Stripe (the dashboard, or our own ``refund`` whose
    webhook arrived first) as a credit note, once per refund id; capped at
    what is still refundable. Does not commit."""
    refund_id = stripe_refund.get("id")
    if not refund_id or stripe_refund.get("status") not in ("succeeded", "pending", None):
        return None
    if session.scalar(select(CreditNote.id).where(CreditNote.stripe_refund_id == refund_id)):
        return None
    amount = from_stripe_amount(int(stripe_refund.get("amount") or 0), invoice.currency)
    amount = min(amount, invoices.refundable(invoice))
    if amount <= 0:
        log.warning("refund %s of invoice %s: nothing left to credit", refund_id, invoice.id)
        return None
    reason = (stripe_refund.get("metadata") or {}).get("bb_reason") or "Refunded in Stripe"
    return invoices.issue_credit_note(
        session,
        invoice,
        amount=amount,
        reason=reason[:500],
        refund_payment=payment,
        stripe_refund_id=refund_id,
    )
