"""Setup: what the scheduler did (``bridge.billing.job_runs``): each job,
how often it runs, and its last runs with what they did or the error that
stopped them, so an agency can see renewal day go by, and a scheduler that
stopped, without reading logs. Read only; the same as ``GET /api/v1/jobs``.
"""

from __future__ import annotations

from flask import current_app

from bridge.billing import job_runs
from bridge.db import get_session
from bridge.hub.setup import render_section, section
from bridge.hub.views import allowed, bp
from scheduler.runner import DEFAULT_INTERVALS, intervals


def _(message: str) -> str:
    """Marks a word for the catalogue; it is translated when rendered."""
    return message


section(72, "hub.setup_scheduler", _("Scheduler"), "jobs.read")

RUNS_SHOWN = 10

JOB_LABELS = {
    "renew": (
        _("Renewals"),
        _("Renews the subscriptions that are due and charges their saved cards."),
    ),
    "dunning": (_("Card retries"), _("Retries declined renewal payments on the dunning schedule.")),
    "expire": (_("Endings"), _("Ends the subscriptions set to end with their period.")),
    "reminders": (_("Reminders"), _("Sends the upcoming-renewal and overdue emails.")),
    "deliver_mail": (_("Email delivery"), _("Sends the emails waiting in the outbox.")),
    "reconcile": (
        _("Pending payments"),
        _("Settles card payments whose answer from Stripe was lost."),
    ),
    "reconcile_stripe": (
        _("Reconciliation with Stripe"),
        _("Compares the bridge with the Stripe account once a day and emails the differences."),
    ),
}
STATE_LABELS = {
    "succeeded": _("Succeeded"),
    "failed": _("Failed"),
    "unfinished": _("Unfinished"),
}
_CHARGES = {
    "charged": _("charged"),
    "failed": _("declined"),
    "action_required": _("need the client"),
    "pending": _("pending at Stripe"),
    "gave_up": _("gave up"),
    "errors": _("charge errors"),
}
# What each job's counts mean, in words; counts not named here (how a run
# went about it: batches, leases waiting...) are left out of the summary.
COUNT_LABELS = {
    "renew": {
        "renewed": _("renewed"),
        "ended": _("ended"),
        "held": _("held back"),
        "resumed": _("resumed"),
        "errors": _("errors"),
        **{f"charge_{key}": label for key, label in _CHARGES.items()},
    },
    "dunning": {
        **_CHARGES,
        "errors": _("errors"),
        "cancelled_past_due": _("cancelled"),
    },
    "expire": {"ended": _("ended")},
    "reminders": {"renewal": _("renewal reminders"), "overdue": _("overdue reminders")},
    "deliver_mail": {"sent": _("sent"), "deferred": _("postponed"), "failed": _("failed")},
    "reconcile": {"settled": _("settled")},
    "reconcile_stripe": {"differences": _("differences"), "emailed": _("emailed")},
}
SKIPPED = {
    "stripe not configured": _("Skipped: Stripe is not connected"),
    "stripe unavailable": _("Skipped: Stripe could not be reached"),
    "emailed today": _("Skipped: already emailed today"),
    "no mail transport": _("Skipped: no mail transport"),
}


def counts_summary(job: str, counts: dict | None) -> list[str]:
    """What a run did, in words: its non-zero counts worth showing (a
    skipped run: why)."""
    counts = counts or {}
    if isinstance(counts.get("skipped"), str):
        reason = counts["skipped"]
        return [SKIPPED.get(reason, reason)]
    labels = COUNT_LABELS.get(job, {})
    return [
        (labels[key], value)
        for key, value in counts.items()
        if key in labels and isinstance(value, int) and value
    ]


@bp.route("/setup/scheduler")
@allowed("jobs.read")
def setup_scheduler():
    """Each job with its interval and its last runs, newest first."""
    recent = job_runs.recent(get_session(), per_job=RUNS_SHOWN)
    try:
        every = intervals(current_app.config)
    except ValueError:
        every = dict(DEFAULT_INTERVALS)
    jobs = [
        {
            "name": name,
            "label": JOB_LABELS.get(name, (name, ""))[0],
            "description": JOB_LABELS.get(name, ("", ""))[1],
            "every": every.get(name),
            "runs": recent.get(name, []),
        }
        for name in [*every, *sorted(set(recent) - set(every))]
    ]
    return render_section(
        "hub/setup_scheduler.html",
        "hub.setup_scheduler",
        jobs=jobs,
        ever_ran=any(job["runs"] for job in jobs),
        states=STATE_LABELS,
        summary=counts_summary,
    )
