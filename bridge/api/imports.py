"""Imports: ``POST /imports/stripe`` queues an import from the connected
Stripe account (dry run or real, all customers or some) and answers the
job; ``GET /imports/<id>`` is polled for its status, progress and report.
The job runs in a thread of this process: imports are rare, staff-started,
and write in batches of their own."""

from __future__ import annotations

import threading

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from bridge.api.auth import authorize, require_token
from bridge.api.parsing import Blueprint
from bridge.billing import audit, stripe_import
from bridge.billing.stripe_import import SubscriptionMode
from bridge.core.transactions import commit_now
from bridge.db import get_db, get_session
from bridge.models import ImportJobStatus
from bridge.payments.stripe.client import api_base_from
from bridge.payments.stripe_import import run_job

blp = Blueprint("imports", __name__, url_prefix="/api/v1", description="Imports from Stripe")
blp.before_request(require_token)

CUSTOMER_ID = r"^cus_[A-Za-z0-9_]{1,96}\Z"


class StripeImportSchema(Schema):
    dry_run = fields.Boolean(
        load_default=True, metadata={"description": "Report only, change nothing (default)"}
    )
    customers = fields.List(
        fields.String(
            validate=validate.Regexp(CUSTOMER_ID, error="A Stripe customer id (cus_...).")
        ),
        allow_none=True,
        load_default=None,
        validate=validate.Length(min=1, max=1000),
        metadata={"description": "Only these Stripe customers; null or absent: all"},
    )
    subscriptions = fields.Enum(
        SubscriptionMode,
        by_value=True,
        load_default=SubscriptionMode.LIST,
        metadata={
            "description": "list: report Stripe's subscriptions; import: bridge subscriptions "
            "billed from the end of the period Stripe charged; cancel-at-stripe: import and "
            "ask Stripe to cancel them at that period end"
        },
    )


class ImportJobSchema(Schema):
    id = fields.Integer()
    source = fields.String()
    status = fields.Enum(ImportJobStatus, by_value=True)
    dry_run = fields.Boolean()
    options = fields.Dict()
    done = fields.Integer(metadata={"description": "Stripe objects read so far"})
    report = fields.Dict(
        allow_none=True,
        metadata={
            "description": "counts per kind and action, and one entry per Stripe object "
            "(create, update, replace, unchanged, skip or conflict, with a reason code)"
        },
    )
    error_code = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)


def start_job(job_id: int) -> None:
    """Run a queued job in a thread of this process (the API's and the Hub's)."""
    app = current_app._get_current_object()
    thread = threading.Thread(
        target=run_job,
        args=(get_db(), app.extensions["bridge.secret_box"], job_id),
        kwargs={"api_base": api_base_from(app.config)},
        name=f"stripe-import-{job_id}",
        daemon=True,
    )
    thread.start()


@blp.route("/imports/stripe")
class StripeImports(MethodView):
    @blp.arguments(StripeImportSchema)
    @blp.response(202, ImportJobSchema)
    def post(self, data):
        """Import from Stripe: customers, products with their prices, and
        subscriptions (listed, or taken over). Answers the job at once; poll
        ``GET /imports/{id}``. 409 ``stripe_not_configured``,
        ``currency_not_set``."""
        authorize("imports.write")
        session = get_session()
        actor = session.info.get("actor") or audit.SYSTEM
        job = stripe_import.queue_job(
            session,
            dry_run=data["dry_run"],
            customers=data["customers"],
            subscriptions=data["subscriptions"],
            requested_by=actor.label,
        )
        commit_now(session)
        start_job(job.id)
        return job


@blp.route("/imports/<id:job_id>")
class ImportJobResource(MethodView):
    @blp.response(200, ImportJobSchema)
    def get(self, job_id):
        """An import: its status (queued, running, succeeded, failed), its
        progress, and its report when done."""
        authorize("imports.read")
        return stripe_import.get_job(get_session(), job_id)
