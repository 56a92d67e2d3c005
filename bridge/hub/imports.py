"""Setup's *Import from Stripe* (SPEC 1, issue 15): a dry run lists what
the connected Stripe account holds and what the import would do with it
(create, update, skip with the reason, conflicts, Stripe's subscriptions);
staff then pick the customers (all or some), say whether Stripe is asked to
cancel its subscriptions at period end, and apply.

Both runs are the API's import jobs (``bridge.billing.stripe_import``,
started as ``POST /api/v1/imports/stripe`` starts them): the job's page
polls its progress (htmx) and shows its report. Without Stripe connected
the screen says how to connect it; a refusal is a message on the form and
queues nothing.
"""

from __future__ import annotations

import re
from datetime import datetime

from flask import abort, redirect, url_for
from flask_login import current_user
from sqlalchemy import select

from bridge.api.imports import CUSTOMER_ID, start_job
from bridge.auth import policy
from bridge.billing import stripe_import
from bridge.billing.business import get_settings
from bridge.billing.stripe_import import SubscriptionMode
from bridge.core.errors import Conflict, NotFound
from bridge.db import get_session
from bridge.hub.forms import StripeImportApplyForm, SwitchForm
from bridge.hub.setup import render_section, section
from bridge.hub.views import allowed, bp
from bridge.models import ImportJob, ImportJobStatus


def _(message: str) -> str:
    """Marks a word for the catalogue; it is translated when rendered."""
    return message


section(15, "hub.stripe_import_start", _("Import from Stripe"), "imports.read")

RECENT = 10
MAX_PICKED = 1000  # as the API's ``customers``
_CUSTOMER_ID = re.compile(CUSTOMER_ID)

# A failed job's code, as a sentence for people (the job's own message else).
FAILURES = {
    "stripe_unavailable": _(
        "Stripe could not be reached. What was imported before stays; try again in a moment."
    ),
    "stripe_rate_limited": _(
        "Stripe is limiting the requests of this account (rate limited). Wait a minute, "
        "then try again: what was imported before stays."
    ),
    "stripe_key_refused": _(
        "Stripe refused the secret key: check it in Setup, Billing account, then try again."
    ),
    "stripe_not_configured": _("Connect Stripe first: the import reads from the Stripe account."),
    "currency_not_set": _("Choose the business currency first: plans are priced in it."),
}


# Why an object is skipped or left alone (``Entry.reason``), for people.
REASONS = {
    "other_currency": _("Its currency is not the business currency."),
    "tiered": _("Tiered prices have no plan equivalent."),
    "metered": _("Metered (usage-based) prices have no plan equivalent."),
    "custom_unit_amount": _("Customer-chosen amounts have no plan equivalent."),
    "transform_quantity": _("Packaged quantities have no plan equivalent."),
    "no_unit_amount": _("It has no whole unit amount."),
    "invalid_terms": _("Its period is beyond what a plan allows."),
    "no_email": _("A client needs an email and this customer has none."),
    "invalid_email": _("Its email is not a valid address."),
    "deleted": _("Deleted at Stripe."),
    "not_found": _("No such customer at Stripe."),
    "several_items": _("It bills several prices: take it over by hand."),
    "ends_at_stripe": _("It already ends at Stripe at the end of its period."),
    "unknown_client": _("Its customer is not imported."),
    "price_not_imported": _("Its price is not an imported recurring plan."),
    "inactive_status": _("Only active, trialing and past-due subscriptions are taken over."),
    "amount_changed": _(
        "Its amount changed at Stripe: a new plan replaces the old one, which is archived."
    ),
    "email_taken": _(
        "Its email belongs to another client, linked to another Stripe customer: nothing is "
        "changed. Merge or rename one of them, then import again."
    ),
}


# What an update changes (``Entry.changes``, the bridge's field names), for
# people; a name missing here is shown as it is.
FIELDS = {
    "name": _("name"),
    "email": _("email"),
    "company": _("company"),
    "address_line1": _("address"),
    "address_line2": _("address (second line)"),
    "city": _("city"),
    "postal_code": _("postal code"),
    "state": _("state or region"),
    "country": _("country"),
    "tax_id": _("tax ID"),
    "card": _("saved card"),
    "stripe_customer_id": _("link to the Stripe customer"),
    "archived": _("archived"),
}


def _may_write() -> bool:
    return policy.may(current_user.principal, "imports.write")


def _job_or_404(session, job_id: int) -> ImportJob:
    try:
        return stripe_import.get_job(session, job_id)
    except NotFound:
        abort(404)


def _queue(session, *, dry_run: bool, customers, mode: SubscriptionMode) -> ImportJob:
    """Queue an import as this staff user and start it (after the commit)."""
    job = stripe_import.queue_job(
        session,
        dry_run=dry_run,
        customers=customers,
        subscriptions=mode,
        requested_by=current_user.email or "",
        staff_id=current_user.user_id,
    )
    session.commit()
    start_job(job.id)
    return job


@bp.get("/setup/import-stripe")
@allowed("imports.read")
def stripe_import_start(status: int = 200, notice: str | None = None):
    """The start: connect Stripe first (empty state), or run a dry run; the
    latest imports below."""
    session = get_session()
    settings = get_settings(session)
    jobs = list(
        session.scalars(
            select(ImportJob)
            .where(ImportJob.source == "stripe")
            .order_by(ImportJob.id.desc())
            .limit(RECENT)
        )
    )
    return render_section(
        "hub/stripe_import.html",
        "hub.stripe_import_start",
        status,
        connected=bool(settings.stripe_secret_key_encrypted),
        currency=settings.currency,
        jobs=jobs,
        form=SwitchForm(formdata=None),
        notice=notice,
        may_write=_may_write(),
    )


@bp.post("/setup/import-stripe")
@allowed("imports.write")
def stripe_import_dry_run():
    """A dry run of everything Stripe holds: subscriptions are reported as
    the import would take them over, so the report says what happens."""
    session = get_session()
    try:
        job = _queue(session, dry_run=True, customers=None, mode=SubscriptionMode.IMPORT)
    except Conflict as error:
        session.rollback()
        return stripe_import_start(409, FAILURES.get(error.code, error.message))
    return redirect(url_for("hub.stripe_import_job", job_id=job.id))


def _report_view(job: ImportJob) -> dict:
    """The job's report grouped for the page: entries per kind, and each
    subscription's price named as the report names the plan."""
    report = job.report or {}
    # Copies: the page adds its own keys, the job's report stays as stored.
    entries = [dict(entry) for entry in report.get("entries") or []]
    by_kind: dict[str, list[dict]] = {"client": [], "product": [], "plan": [], "subscription": []}
    for entry in entries:
        by_kind.setdefault(entry["kind"], []).append(entry)
    price_names = {e["stripe_id"]: e["label"] for e in by_kind["plan"]}
    customer_names = {e["stripe_id"]: e["label"] for e in by_kind["client"]}
    for entry in by_kind["subscription"]:
        facts = entry.get("facts") or {}
        entry["client_label"] = customer_names.get(facts.get("customer"), entry["label"])
        end = facts.get("current_period_end")
        entry["renews"] = datetime.fromisoformat(end) if end else None
    problems = [e for e in entries if e["action"] in ("conflict", "skip")]
    return {
        "report": report,
        "counts": report.get("counts") or {},
        "by_kind": by_kind,
        "price_names": price_names,
        "problems": problems,
        "changed": sum(e["action"] in ("create", "update", "replace") for e in entries),
        "importable": [e for e in by_kind["client"] if e["action"] not in ("conflict", "skip")],
    }


@bp.get("/setup/import-stripe/<int:job_id>")
@allowed("imports.read")
def stripe_import_job(job_id: int, status: int = 200, **context):
    """An import: its progress while it runs (the page polls itself), then
    its report; a dry run's report ends with the form that applies it."""
    session = get_session()
    job = _job_or_404(session, job_id)
    finished = job.status in (ImportJobStatus.SUCCEEDED, ImportJobStatus.FAILED)
    form = context.pop("form", None) or StripeImportApplyForm(formdata=None)
    return render_section(
        "hub/stripe_import_job.html",
        "hub.stripe_import_start",
        status,
        job=job,
        finished=finished,
        failure=FAILURES.get(job.error_code or "", job.error),
        reasons=REASONS,
        fields=FIELDS,
        form=form,
        retry_form=SwitchForm(formdata=None),
        errors=context.pop("errors", {}),
        may_write=_may_write(),
        **_report_view(job),
        **context,
    )


@bp.post("/setup/import-stripe/<int:job_id>/apply")
@allowed("imports.write")
def stripe_import_apply(job_id: int):
    """Apply a finished dry run: all its customers or those ticked, and
    Stripe's subscriptions left there, taken over, or taken over and ended
    at Stripe at period end. A bad choice is said on the form; nothing is
    queued."""
    session = get_session()
    dry = _job_or_404(session, job_id)
    if not dry.dry_run or dry.status != ImportJobStatus.SUCCEEDED:
        abort(404)
    form = StripeImportApplyForm()
    known = {e["stripe_id"] for e in _report_view(dry)["importable"]}
    errors: dict[str, list[str]] = {}
    if not form.validate():
        errors = (
            {"csrf": ["expired"]} if form.csrf_token.errors else {"subscriptions": ["Required."]}
        )
    customers = None
    if not errors and form.which.data == "some":
        customers = [c for c in form.customers.data if _CUSTOMER_ID.match(c) and c in known]
        if not customers:
            errors["customers"] = [_("Tick at least one customer, or import them all.")]
        elif len(customers) > MAX_PICKED:
            errors["customers"] = [_("Tick at most 1,000 customers, or import them all.")]
    if errors:
        return stripe_import_job(job_id, 422, form=form, errors=errors)
    try:
        job = _queue(
            session,
            dry_run=False,
            customers=customers,
            mode=SubscriptionMode(form.subscriptions.data),
        )
    except Conflict as error:
        session.rollback()
        return stripe_import_job(
            job_id, 409, form=form, errors={"form": [FAILURES.get(error.code, error.message)]}
        )
    return redirect(url_for("hub.stripe_import_job", job_id=job.id))


@bp.post("/setup/import-stripe/<int:job_id>/again")
@allowed("imports.write")
def stripe_import_again(job_id: int):
    """Run a failed import again, as it was asked (what it already wrote
    stays: the import takes up where it stopped)."""
    session = get_session()
    failed = _job_or_404(session, job_id)
    if failed.status != ImportJobStatus.FAILED:
        abort(404)
    options = dict(failed.options or {})
    try:
        job = _queue(
            session,
            dry_run=failed.dry_run,
            customers=options.get("customers"),
            mode=SubscriptionMode(options.get("subscriptions") or SubscriptionMode.LIST),
        )
    except Conflict as error:
        session.rollback()
        return stripe_import_job(
            job_id, 409, errors={"form": [FAILURES.get(error.code, error.message)]}
        )
    return redirect(url_for("hub.stripe_import_job", job_id=job.id))
