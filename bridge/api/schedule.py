"""When renewals, retries and reminders happen: the business time zone, the
dunning schedule, and the reminder days (``bridge.billing.schedule``); and
what the scheduler did: its jobs' last runs (``bridge.billing.job_runs``)."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from bridge.api.auth import authorize, require_token
from bridge.api.common import list_schema
from bridge.api.fields import Integer, QueryInteger, Text
from bridge.api.parsing import Blueprint
from bridge.billing import job_runs, overdue, schedule
from bridge.billing.business import get_settings
from bridge.db import get_session
from scheduler.runner import DEFAULT_INTERVALS, intervals

blp = Blueprint(
    "schedule",
    __name__,
    url_prefix="/api/v1",
    description="Renewals, dunning and reminders: when they happen",
)
blp.before_request(require_token)

DAY_LIST = {"maxItems": schedule.MAX_RETRIES}


class ScheduleSchema(Schema):
    timezone = fields.String(
        metadata={"description": "IANA time zone: periods and invoice dates follow it"}
    )
    dunning_retry_days = fields.List(
        fields.Integer(),
        metadata={
            "description": "Retries of a failed renewal charge, in days after the "
            "first failure (increasing)"
        },
    )
    past_due_cancel_after_days = fields.Integer(
        allow_none=True,
        metadata={
            "description": "Days a subscription stays past due after the last failed "
            "retry before it is cancelled (0: at once; null: never)"
        },
    )
    renewal_reminder_days = fields.Integer(
        metadata={"description": "Upcoming-renewal email this many days before (0: none)"}
    )
    overdue_reminder_days = fields.List(
        fields.Integer(),
        metadata={"description": "Overdue reminders this many days after the due date"},
    )


class SchedulePatchSchema(Schema):
    timezone = Text(max_length=64)
    dunning_retry_days = fields.List(
        Integer(minimum=1, maximum=schedule.MAX_DAYS),
        validate=lambda v: len(v) <= schedule.MAX_RETRIES,
        metadata=DAY_LIST,
    )
    past_due_cancel_after_days = Integer(maximum=schedule.MAX_DAYS, allow_none=True)
    renewal_reminder_days = Integer(maximum=schedule.MAX_DAYS)
    overdue_reminder_days = fields.List(
        Integer(minimum=1, maximum=schedule.MAX_DAYS),
        validate=lambda v: len(v) <= schedule.MAX_RETRIES,
        metadata=DAY_LIST,
    )


@blp.route("/settings/schedule")
class ScheduleSettings(MethodView):
    @blp.response(200, ScheduleSchema)
    def get(self):
        """The time zone, the dunning schedule and the reminder days."""
        authorize("settings.read")
        return get_settings(get_session())

    @blp.arguments(SchedulePatchSchema)
    @blp.response(200, ScheduleSchema)
    def patch(self, changes):
        """Change any of them (only the fields given; all or nothing)."""
        authorize("settings.write")
        session = get_session()
        settings = schedule.update_schedule(session, changes)
        session.commit()
        return settings


# Overdue and grace -------------------------------------------------------------------

GRACE_DAYS = f"Days after an invoice's due date before what follows (0 to {overdue.MAX_GRACE_DAYS})"
AFTER_GRACE = (
    "After the grace: nothing (the site's billing people see the overdue notice), "
    "banner (every logged-in user of the site's wp-admin sees it) or restricted "
    "(the banner, and the plugin's Hosting and SEO actions off)"
)


class GracePolicySchema(Schema):
    grace_days = fields.Integer(metadata={"description": GRACE_DAYS})
    after_grace = fields.String(metadata={"description": AFTER_GRACE})


class GracePolicyPatchSchema(Schema):
    grace_days = Integer(maximum=overdue.MAX_GRACE_DAYS, metadata={"description": GRACE_DAYS})
    after_grace = fields.String(
        validate=validate.OneOf(overdue.ACTIONS), metadata={"description": AFTER_GRACE}
    )


class OverdueSchema(Schema):
    hosting = fields.Nested(GracePolicySchema)
    maintenance = fields.Nested(GracePolicySchema)
    seo = fields.Nested(GracePolicySchema)


class OverduePatchSchema(Schema):
    hosting = fields.Nested(GracePolicyPatchSchema)
    maintenance = fields.Nested(GracePolicyPatchSchema)
    seo = fields.Nested(GracePolicyPatchSchema)


@blp.route("/settings/overdue")
class OverdueSettings(MethodView):
    @blp.response(200, OverdueSchema)
    def get(self):
        """The grace period after an invoice's due date and what follows it, per
        product category (an invoice counts for the categories of its lines' products)."""
        authorize("settings.read")
        return overdue.policies_view(get_settings(get_session()))

    @blp.arguments(OverduePatchSchema)
    @blp.response(200, OverdueSchema)
    def patch(self, changes):
        """Change any category's grace days or after-grace action (only the fields given)."""
        authorize("settings.write")
        session = get_session()
        settings = overdue.update_policies(session, changes)
        session.commit()
        return overdue.policies_view(settings)


# What the scheduler did ------------------------------------------------------


class JobRunSchema(Schema):
    id = fields.Integer()
    runner = fields.String(metadata={"description": "The scheduler process: host:pid"})
    started_at = fields.DateTime()
    finished_at = fields.DateTime(
        allow_none=True,
        metadata={"description": "null: still running, or its process died mid-run"},
    )
    state = fields.String(
        metadata={
            "description": "succeeded, failed, or unfinished (running, or its process "
            "died: its counts are those of its last committed batch)"
        }
    )
    duration_ms = fields.Integer(allow_none=True)
    counts = fields.Dict(
        allow_none=True,
        metadata={"description": "What the run did (renew: renewed, ended, errors, batches...)"},
    )
    error = fields.String(allow_none=True)


class JobSchema(Schema):
    job = fields.String()
    interval_seconds = fields.Integer(
        allow_none=True,
        metadata={"description": "Seconds between runs (BRIDGE_SCHEDULER_<JOB>_SECONDS)"},
    )
    runs = fields.List(fields.Nested(JobRunSchema), metadata={"description": "Newest first"})


class JobsArgs(Schema):
    runs = QueryInteger(
        minimum=1,
        maximum=job_runs.KEPT_PER_JOB,
        load_default=10,
        metadata={"description": "Runs per job, newest first (default 10)"},
    )


@blp.route("/jobs")
class Jobs(MethodView):
    @blp.arguments(JobsArgs, location="query")
    @blp.response(200, list_schema(JobSchema, "JobList"))
    def get(self, args):
        """The scheduler's jobs with their last runs: when, how long, what
        each did or the error that stopped it."""
        authorize("jobs.read")
        recent = job_runs.recent(get_session(), per_job=args["runs"])
        try:
            every = intervals(current_app.config)
        except ValueError:  # a bad interval stops the scheduler, not this answer
            every = dict(DEFAULT_INTERVALS)
        return {
            "data": [
                {
                    "job": job,
                    "interval_seconds": every.get(job),
                    "runs": recent.get(job, []),
                }
                for job in [*every, *sorted(set(recent) - set(every))]
            ]
        }
