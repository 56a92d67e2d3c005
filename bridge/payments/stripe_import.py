"""Import from Stripe, Stripe's half: list customers, products, prices and
subscriptions through ``StripeApi`` (every page paced by the rate limiter, a
rate-limited page retried), hand them batch by batch to the business rules
(``bridge.billing.stripe_import``), one transaction per batch, and ask
Stripe to cancel taken-over subscriptions at period end when told to.

A dry run takes the same path and rolls every batch back: its report is
exactly what the real run would do. No transaction stays open while a page
is read from Stripe.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

import stripe
from sqlalchemy.orm import Session

from bridge.billing import audit, stripe_import
from bridge.billing.business import require_currency
from bridge.billing.stripe_import import ImportReport, StripeImport, SubscriptionMode, id_of
from bridge.core.errors import Conflict, DomainError, NotFound
from bridge.payments.stripe.client import StripeApi, release, retrieve, translated
from bridge.payments.stripe.keys import gateway_for

log = logging.getLogger(__name__)

BATCH = 100
# The customer's default card and tax ids come with each customer of a page.
CUSTOMER_EXPAND = ["tax_ids", "invoice_settings.default_payment_method"]

Progress = Callable[[str, int], None]


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def read_ahead(items: Iterable, size: int) -> Iterator[list]:
    """``items`` in lists of ``size``, the next list read from Stripe by a
    thread while the caller writes this one (the import then takes about
    the longer of listing and writing, not their sum). Only reads happen
    ahead; the caller never waits on Stripe inside a transaction."""
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for chunk in _chunks(items, size):
                if not put(chunk):
                    return
            put(done)
        except BaseException as exc:  # handed to the caller, raised there
            put(exc)

    reader = threading.Thread(target=read, name="stripe-import-reader", daemon=True)
    reader.start()
    try:
        while (item := ready.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def stripe_customers(api: StripeApi, ids: list[str] | None) -> Iterator[dict | str]:
    """Every customer, or those of ``ids`` (an id Stripe does not know is
    yielded as the bare id)."""
    if ids is None:
        yield from api.list_all("customers", {"expand": [f"data.{e}" for e in CUSTOMER_EXPAND]})
        return
    for customer_id in ids:
        try:
            yield retrieve(
                lambda i: api.retrieve_customer(i, {"expand": CUSTOMER_EXPAND}),
                customer_id,
                "No such customer.",
            )
        except NotFound:
            yield customer_id


def stripe_prices(api: StripeApi) -> Iterator[dict]:
    """Every price, active or not. A Stripe stand-in without ``/v1/prices``
    (localstripe) is read through ``/v1/plans``, Stripe's older name for the
    recurring prices (a plan's id is a price id), in the price's shape."""
    try:
        prices = api.list_all("prices")
        first = next(prices, None)
    except stripe.StripeError as exc:
        if exc.http_status != 404:
            raise
        log.info("No /v1/prices at %s: reading /v1/plans", api.api_base)
        yield from (price_of_plan(plan) for plan in api.list_all("plans"))
        return
    if first is not None:
        yield first
        yield from prices


def price_of_plan(plan: dict) -> dict:
    """A Stripe plan in the shape of the price it is."""
    return {
        "id": plan["id"],
        "object": "price",
        "active": plan.get("active", True),
        "product": plan.get("product"),
        "currency": plan.get("currency"),
        "unit_amount": plan.get("amount"),
        "nickname": plan.get("nickname"),
        "billing_scheme": plan.get("billing_scheme", "per_unit"),
        "tiers_mode": plan.get("tiers_mode"),
        "transform_quantity": plan.get("transform_usage"),
        "custom_unit_amount": None,
        "type": "recurring",
        "recurring": {
            "interval": plan.get("interval"),
            "interval_count": plan.get("interval_count") or 1,
            "usage_type": plan.get("usage_type", "licensed"),
        },
    }


def _apply(session: Session, importer: StripeImport, step: Callable, batch: list) -> None:
    """One batch, one transaction. Commits (or rolls back, on a dry run and
    on any error, so a failed batch leaves nothing half-done)."""
    try:
        step(session, batch)
    except BaseException:
        session.rollback()
        raise
    if importer.dry_run:
        session.rollback()
    else:
        session.commit()


def import_from_stripe(
    session: Session,
    api: StripeApi,
    importer: StripeImport,
    *,
    customers: list[str] | None = None,
    batch: int = BATCH,
    progress: Progress | None = None,
) -> ImportReport:
    """Import customers (all, or those of ``customers``), the catalog, and
    Stripe's subscriptions (listed, or taken over, as ``importer`` says).
    ``progress(phase, n)`` is called after each batch with the number of
    Stripe objects it held. Commits after each batch. Raises
    ``StripeUnavailable`` / ``StripeRefused`` when Stripe fails: batches
    already committed stay (``importer.report`` tells them), and running
    again completes the import."""
    report = importer.report
    require_currency(session)
    release(session)
    tick = progress or (lambda _phase, _n: None)
    with translated():
        for chunk in read_ahead(stripe_customers(api, customers), batch):
            missing = [c for c in chunk if isinstance(c, str)]
            for customer_id in missing:
                importer.missing_customer(customer_id)
            found = [c for c in chunk if not isinstance(c, str)]
            _apply(session, importer, importer.customers, found)
            tick("customers", len(chunk))

        by_product: dict[str, list[dict]] = {}
        for price in stripe_prices(api):
            by_product.setdefault(id_of(price.get("product")), []).append(price)
        tick("prices", sum(len(p) for p in by_product.values()))
        for chunk in read_ahead(
            ((p, by_product.get(p["id"], [])) for p in api.list_all("products")), batch
        ):
            _apply(session, importer, importer.products, chunk)
            tick("products", len(chunk))

        selected = set(customers) if customers is not None else None
        for chunk in read_ahead(api.list_all("subscriptions"), batch):
            if selected is not None:
                chunk = [s for s in chunk if id_of(s.get("customer")) in selected]
            _apply(session, importer, importer.subscriptions, chunk)
            _cancel_at_stripe(api, importer)
            tick("subscriptions", len(chunk))
    return report


def _cancel_at_stripe(api: StripeApi, importer: StripeImport) -> None:
    """Ask Stripe to end each taken-over subscription when its paid period
    ends. After the batch is committed: a crash in between leaves a bridge
    subscription whose Stripe twin still renews, and the next run, finding
    it taken over and not yet ending, asks again (same idempotency key)."""
    pending, importer.to_cancel_at_stripe = importer.to_cancel_at_stripe, []
    if importer.dry_run:
        return
    for subscription_id in pending:
        api.cancel_subscription_at_period_end(
            subscription_id, f"bb-import-cancel-{subscription_id}"
        )
        importer.report.cancelled_at_stripe.append(subscription_id)


def run_job(
    database, box, job_id: int, *, api_base: str | None = None, rate_limit: float | None = None
) -> None:
    """Run a queued import job to its end (``succeeded`` with its report,
    or ``failed`` with the error's code), recording its progress as it
    goes. For a background thread: it opens its own sessions. Commits."""
    with database.session() as session:
        job = stripe_import.get_job(session, job_id)
        stripe_import.job_started(session, job)
        options, dry_run, requested_by = dict(job.options), job.dry_run, job.requested_by
    importer = StripeImport(
        dry_run=dry_run, subscriptions=SubscriptionMode(options["subscriptions"])
    )

    def progress(_phase: str, read: int) -> None:
        with database.session() as progress_session:
            stripe_import.job_progressed(progress_session, job_id, read)

    with database.session() as session:
        staff_id = options.get("staff_id")
        actor = audit.Actor("staff", staff_id, requested_by) if staff_id is not None else None
        audit.set_actor(session, actor or audit.Actor("api_token", None, requested_by))
        try:
            api = gateway_for(session, box, api_base, rate_limit=rate_limit)
            if api is None:
                raise Conflict(
                    "Connect Stripe first: the import reads from the Stripe account.",
                    code="stripe_not_configured",
                )
            import_from_stripe(
                session, api, importer, customers=options["customers"], progress=progress
            )
        except DomainError as exc:
            session.rollback()
            code, message = exc.code, exc.message
            if isinstance(exc.__cause__, stripe.RateLimitError):
                code = "stripe_rate_limited"
                message = (
                    "Stripe kept refusing requests as too many (rate limited): try again later."
                )
            job = stripe_import.get_job(session, job_id)
            stripe_import.job_failed(session, job, code, message, importer.report)
            return
        except Exception as exc:
            log.exception("Stripe import %s failed", job_id)
            session.rollback()
            job = stripe_import.get_job(session, job_id)
            stripe_import.job_failed(
                session, job, "import_failed", f"The import stopped: {exc}", importer.report
            )
            return
        job = stripe_import.get_job(session, job_id)
        stripe_import.job_finished(session, job, importer.report)
