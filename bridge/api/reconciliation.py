"""Reconciliation with Stripe: ``GET /reconciliation`` compares the bridge
with the connected Stripe account over a period and answers each
difference with what the bridge can do about it. It reads only: the safe
fixes are ``bridge reconcile-stripe --apply``'s (and the report is the
scheduler's daily email)."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields

from bridge.api.auth import authorize, require_token
from bridge.api.parsing import Blueprint
from bridge.billing.reconciliation import DifferenceKind, Remedy
from bridge.core.errors import Conflict
from bridge.db import get_session
from bridge.payments.stripe.client import api_base_from
from bridge.payments.stripe.keys import gateway_for
from bridge.payments.stripe_reconcile import reconcile

blp = Blueprint(
    "reconciliation",
    __name__,
    url_prefix="/api/v1",
    description="Reconciliation with Stripe",
)
blp.before_request(require_token)


class ReconciliationArgs(Schema):
    since = fields.Date(
        metadata={
            "description": "First day of the period (YYYY-MM-DD, business time zone); "
            "default: 30 days ago. Not in the future."
        }
    )


class DifferenceSchema(Schema):
    kind = fields.Enum(DifferenceKind, by_value=True)
    remedy = fields.Enum(
        Remedy,
        by_value=True,
        metadata={"description": "What the bridge can do; manual: a person decides"},
    )
    safe = fields.Boolean(
        metadata={"description": "Done by bridge reconcile-stripe --apply (idempotent)"}
    )
    stripe_id = fields.String(
        metadata={"description": "The Stripe object (PaymentIntent, refund, dispute...)"}
    )
    detail = fields.String()
    change = fields.String(metadata={"description": "What the safe fix changes, in words"})
    client_id = fields.Integer(allow_none=True)
    invoice_id = fields.Integer(allow_none=True)
    payment_id = fields.Integer(allow_none=True)
    amount = fields.Integer(allow_none=True, metadata={"description": "Minor units"})
    currency = fields.String(allow_none=True)


class ReconciliationSchema(Schema):
    since = fields.DateTime(metadata={"description": "Start of the period compared"})
    until = fields.DateTime()
    counts = fields.Function(
        lambda report: report.counts(),
        metadata={
            "description": "How many differences of each kind",
            "type": "object",
            "additionalProperties": {"type": "integer"},
        },
    )
    differences = fields.List(fields.Nested(DifferenceSchema))
    unavailable = fields.List(
        fields.String(),
        metadata={"description": "Stripe lists this server lacks (not compared)"},
    )


@blp.route("/reconciliation")
class Reconciliation(MethodView):
    @blp.arguments(ReconciliationArgs, location="query")
    @blp.response(200, ReconciliationSchema)
    def get(self, args):
        """Differences between the bridge and Stripe since a day: PaymentIntents
        without a settled payment here and the reverse, amounts that differ,
        refunds without a credit note, disputes, default cards that differ,
        Stripe subscriptions still renewing for clients the bridge renews.
        422 ``since_in_future``; 409 ``stripe_not_configured``; 503
        ``stripe_unavailable``."""
        authorize("reconciliation.read")
        session = get_session()
        box = current_app.extensions["bridge.secret_box"]
        api = gateway_for(session, box, api_base_from(current_app.config))
        if api is None:
            raise Conflict(
                "Connect Stripe first: reconciliation reads the Stripe account.",
                code="stripe_not_configured",
            )
        return reconcile(session, api, args.get("since"))
