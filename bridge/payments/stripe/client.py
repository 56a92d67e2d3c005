"""The Stripe API as the payment flows use it: one ``stripe.StripeClient``
pinned to ``API_VERSION``, paced by the client-side rate limiter, retried
under the same idempotency key, answering plain dicts; and Stripe's errors
as domain errors.

Every function of this package that talks to Stripe **commits** the session
it is given, because what Stripe did cannot be rolled back: its own writes
are committed before a request leaves (so a crash while waiting is
recoverable) and the outcome is committed as soon as it is known. No
database transaction is held open while waiting on Stripe (on SQLite that
would hold the one write lock for a network round trip): ``release`` ends
it first.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import stripe
from sqlalchemy.orm import Session

from bridge.core.errors import DomainError, NotFound, Unavailable
from bridge.core.transactions import commit_now
from bridge.payments.ratelimit import RateLimiter, default_rate

log = logging.getLogger(__name__)

API_VERSION = "2024-06-20"
"""The Stripe API version every request is pinned to."""
DEFAULT_API_BASE = stripe.DEFAULT_API_BASE
DEFAULT_MAX_NETWORK_RETRIES = 2

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


def api_base_from(config) -> str:
    """The API base of an app's config: ``STRIPE_API_BASE`` (env
    ``BRIDGE_STRIPE_API_BASE``), else Stripe's."""
    return config.get("STRIPE_API_BASE") or DEFAULT_API_BASE


def is_live_key(key: str) -> bool:
    return key.startswith(("sk_live_", "rk_live_", "pk_live_"))


def id_of(value) -> str | None:
    """An id from a field that may hold the id or the expanded object."""
    if isinstance(value, dict):
        return value.get("id")
    return value


def retrieve(fetch, object_id: str, missing: str):
    """``fetch(object_id)`` from Stripe, where Stripe's 404 is our
    ``NotFound(missing)``: an id that is not there is the caller's mistake."""
    try:
        return fetch(object_id)
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            raise NotFound(missing) from exc
        raise


def release(session: Session) -> None:
    """Commits: ends the current transaction (and its row locks) before
    waiting on Stripe, also inside a request whose commits are deferred
    (an idempotent API request)."""
    commit_now(session)


def _plain(obj) -> dict:
    """A Stripe object as plain dicts and lists (``to_dict`` is recursive)."""
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


class StripeApi:
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
        return f"<{type(self).__name__} {self.api_base} ({mode})>"

    def _call(self, method: Callable, *args, **kwargs) -> dict:
        return _plain(self._request(method, *args, **kwargs))

    def _request(self, method: Callable, *args, **kwargs):
        """``method(*args, **kwargs)``, paced by the limiter, a 429 retried;
        the SDK's answer as it is (a ``StripeObject``)."""
        delay = self.retry_delay
        for attempt in itertools.count():
            if self.limiter is not None:
                self.limiter.acquire()
            try:
                return method(*args, **kwargs)
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

    def list_all(self, resource: str, params: dict | None = None) -> Iterator[dict]:
        """Every object of a list endpoint (``"customers"``, ``"products"``,
        ``"prices"``, ``"subscriptions"``...), with no cap, through the SDK's
        own pagination: ``ListObject.next_page`` (the step its
        ``auto_paging_iter`` repeats), taken here one page at a time so that
        each page goes through the limiter and a rate-limited page is
        retried."""
        list_method = getattr(self.client.v1, resource).list
        page = self._request(list_method, params={"limit": 100, **(params or {})})
        while True:
            for item in page.data:
                yield _plain(item)
            if not page.has_more or not page.data:
                return
            page = self._request(page.next_page)

    def set_default_card(self, customer_id: str, payment_method_id: str) -> dict:
        """Make a card the customer's default at Stripe
        (``invoice_settings.default_payment_method``), as its dashboard and
        its own invoices read it. Setting the same card again changes
        nothing, so the key only guards the SDK's retries of this call."""
        v1 = self.client.v1
        return self._call(
            v1.customers.update,
            customer_id,
            params={"invoice_settings": {"default_payment_method": payment_method_id}},
            options=self._key(f"bb-default-card-{customer_id}-{payment_method_id}"),
        )

    def retrieve_customer(self, customer_id: str, params: dict | None = None) -> dict:
        v1 = self.client.v1
        return self._call(v1.customers.retrieve, customer_id, params=params or {})

    def cancel_subscription_at_period_end(self, subscription_id: str, idempotency_key: str):
        """Ask Stripe to end a subscription when its paid period ends (no
        further charge there)."""
        v1 = self.client.v1
        return self._call(
            v1.subscriptions.update,
            subscription_id,
            params={"cancel_at_period_end": True},
            options=self._key(idempotency_key),
        )

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
def translated() -> Iterator[None]:
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
