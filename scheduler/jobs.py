"""The scheduler's jobs. Each is a function of a ``JobContext`` and "now",
calling the domain (``bridge.billing``), the payment gateway and the mail
outbox; each claims its rows with row locks, so any number of scheduler
processes can run every job at once.

``run_job`` runs one job, logs one structured line (job, counts, duration)
and never lets an exception escape, so one job's failure never stops the
others.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bridge.auth.secrets import SecretBox
from bridge.billing import (
    audit,
    collection,
    job_runs,
    metrics,
    pauses,
    reconciliation,
    reminders,
    renewals,
)
from bridge.billing.business import get_settings
from bridge.billing.gateway import PaymentGateway
from bridge.core import clock
from bridge.core.outages import is_database_unavailable
from bridge.db import Database
from bridge.mail import notify, subscribers
from bridge.payments import stripe_reconcile
from bridge.payments.gateways import payment_gateway
from bridge.payments.offline import OfflineGateway
from bridge.payments.ratelimit import SharedRateLimiter
from bridge.payments.stripe.client import StripeApi, StripeUnavailable

log = logging.getLogger("bridge.scheduler")

SCHEDULER_ACTOR = audit.Actor("scheduler", None, "scheduler")


@dataclass
class JobContext:
    """What the jobs need from the app: the database, the secret box (the
    stored Stripe key), the Stripe API address, the mail transport."""

    database: Database
    box: SecretBox | None = None
    stripe_api_base: str | None = None
    stripe_rate_limit: float | None = None
    mail_transport: object | None = None
    # Tests and the benchmark put a gateway of their own here.
    gateway_factory: Callable[[Session], PaymentGateway] | None = None
    batch: int = 50
    # The most renewal invoices one run issues for one subscription; one
    # further behind is held and logged (None: catch up without limit).
    catch_up: int | None = 1
    # Card charges kept waiting on the payment provider at once.
    charges_in_flight: int = 1
    # The job_runs row of the run going on (progress of long runs).
    run_id: int | None = None
    _gateway: PaymentGateway | None = None
    _gateway_token: str | None = None

    def __post_init__(self):
        # The jobs' domain events send their emails, whoever built the context.
        subscribers.register()
        metrics.register()

    def session(self) -> Session:
        session = self.database.sessionmaker()
        audit.set_actor(session, SCHEDULER_ACTOR)
        return session

    def gateway(self, session: Session) -> PaymentGateway:
        """The Stripe gateway of the stored key, else the offline one. Kept
        while the key stays the same, so that its rate limiter paces every
        charge of the process."""
        if self.gateway_factory is not None:
            return self.gateway_factory(session)
        token = get_settings(session).stripe_secret_key_encrypted
        if self.box is None or not token:
            return OfflineGateway()
        if self._gateway_token != token:
            self._gateway = payment_gateway(
                session, self.box, self.stripe_api_base, rate_limit=self.stripe_rate_limit
            )
            self._gateway_token = token
            limiter = getattr(self._gateway, "limiter", None)
            if limiter is not None and not self.database.is_sqlite:
                # Every scheduler on this database shares the account's rate.
                self._gateway.limiter = SharedRateLimiter(
                    self.database.engine, "stripe", limiter.rate, limiter.burst
                )
        return self._gateway


def renew(ctx: JobContext, now: datetime) -> dict:
    """Pauses whose date came resumed (a new period), due subscriptions
    into their next period (or their end), then the saved-card charge of
    each fresh renewal invoice."""
    session = ctx.session()
    try:
        resumed, resume_errors = pauses.resume_due(session, now, batch=ctx.batch)
        report = renewals.renew_due(
            session,
            now,
            batch=ctx.batch,
            catch_up=ctx.catch_up,
            on_batch=lambda counts: _batch_done(ctx, "renew", counts),
        )
        charged = collect(ctx, session, now)
        counts = report.counts()
        counts["resumed"] = resumed
        counts["errors"] += resume_errors
        return {**counts, **{f"charge_{k}": v for k, v in charged.counts().items()}}
    finally:
        session.close()


def collect(ctx: JobContext, session: Session, now: datetime) -> collection.CollectReport:
    """The charges due, ``ctx.charges_in_flight`` at once."""
    return collection.collect_due(
        session,
        ctx.gateway(session),
        now,
        in_flight=ctx.charges_in_flight,
        new_session=ctx.session,
    )


def dunning(ctx: JobContext, now: datetime) -> dict:
    """Retries whose day has come, and past-due subscriptions cancelled."""
    session = ctx.session()
    try:
        charged = collect(ctx, session, now)
        cancelled = renewals.cancel_long_past_due(session, now)
        return {**charged.counts(), "cancelled_past_due": cancelled}
    finally:
        session.close()


def expire(ctx: JobContext, now: datetime) -> dict:
    """Subscriptions set to cancel at period end, or out of billing cycles,
    end when their period does (the renew job does the same for those it
    meets first; this one never creates an invoice)."""
    session = ctx.session()
    try:
        return {"ended": renewals.end_due(session, now, batch=ctx.batch)}
    finally:
        session.close()


def remind(ctx: JobContext, now: datetime) -> dict:
    session = ctx.session()
    try:
        return {
            "renewal": reminders.remind_renewals(session, now),
            "overdue": reminders.remind_overdue(session, now),
        }
    finally:
        session.close()


def deliver_mail(ctx: JobContext, now: datetime) -> dict:
    from bridge.mail import delivery

    if ctx.mail_transport is None:
        return {"skipped": "no mail transport"}
    report = delivery.deliver_due(ctx.database, ctx.mail_transport, now=now)
    return dict(report.__dict__)


def reconcile(ctx: JobContext, now: datetime) -> dict:
    """Card payments left pending (a crash or a lost answer after the request
    left) are looked up at Stripe and settled."""
    session = ctx.session()
    try:
        return {"settled": ctx.gateway(session).reconcile_pending(session, now=now)}
    finally:
        session.close()


def reconcile_stripe(ctx: JobContext, now: datetime) -> dict:
    """Daily, when Stripe is connected: the reconciliation report with
    Stripe over the last 30 days, emailed to the agency when it is not
    empty, at most once per local day (the outbox's dedupe key; a day whose
    email went out is not read from Stripe again). Fixes nothing: the safe
    fixes are ``bridge reconcile-stripe --apply``'s."""
    session = ctx.session()
    try:
        gateway = ctx.gateway(session)
        if not isinstance(gateway, StripeApi):
            return {"skipped": "stripe not configured"}
        day = reconciliation.local_day(session, now)
        if notify.reconciliation_sent(session, day):
            return {"skipped": "emailed today"}
        try:
            report = stripe_reconcile.reconcile(session, gateway)
        except StripeUnavailable:
            # Not the bridge's failure: tomorrow's run (or a restart) reports.
            log.warning("reconcile_stripe: Stripe could not be reached; no report today")
            return {"skipped": "stripe unavailable"}
        emailed = notify.agency_reconciliation(session, report, day=day)
        session.commit()
        return {"differences": len(report.differences), "emailed": int(emailed)}
    finally:
        session.close()


def _batch_done(ctx: JobContext, job: str, counts: dict) -> None:
    """A batch of a long job committed: one JSON line, and the run's row
    brought up to date, so a process killed mid-run leaves a trace of what
    it did."""
    # Not a "job" line: those are the runs' own, one per run.
    log.info(json.dumps({"batch_of": job, **counts}, default=str, sort_keys=True))
    job_runs.progress(ctx.database, ctx.run_id, counts)


JOBS: dict[str, Callable[[JobContext, datetime], dict]] = {
    "renew": renew,
    "dunning": dunning,
    "expire": expire,
    "reminders": remind,
    "deliver_mail": deliver_mail,
    "reconcile": reconcile,
    "reconcile_stripe": reconcile_stripe,
}


def run_job(ctx: JobContext, name: str, now: datetime | None = None) -> dict:
    """Run one job, log one JSON line about it and record the run in
    ``job_runs``. Never raises."""
    started = time.perf_counter()
    now = now or clock.now()
    record: dict = {"job": name}
    ctx.run_id = job_runs.start(ctx.database, name, now)
    level = logging.INFO
    try:
        record["counts"] = JOBS[name](ctx, now)
        record["ok"] = True
    except Exception as exc:
        record["ok"] = False
        if is_database_unavailable(exc):
            # The database went away: its first line says it all, and the
            # job stopped there (one line, no traceback, whatever the batch).
            level = logging.WARNING
            record["error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
        else:
            record["error"] = f"{type(exc).__name__}: {exc}"
            log.exception("job %s failed", name)
    record["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    log.log(level, json.dumps(record, default=str, sort_keys=True))
    job_runs.finish(ctx.database, ctx.run_id, record, clock.now())
    ctx.run_id = None
    return record


def run_all(ctx: JobContext, now: datetime | None = None) -> list[dict]:
    """Every job once, in the order a day needs them (tests, ``--once``)."""
    now = now or clock.now()
    return [run_job(ctx, name, now) for name in JOBS]
