"""Subscriptions and the audit log."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from bridge.api.auth import authorize, require_token
from bridge.api.common import PageArgs, page_schema, paging
from bridge.api.fields import Boolean, Quantity, QueryInteger
from bridge.api.invoices import InvoiceSchema, LineSchema
from bridge.api.parsing import Blueprint
from bridge.billing import audit, pauses, plan_changes, renewals, subscriptions
from bridge.core import clock
from bridge.core.money import quantity_e3
from bridge.db import get_session
from bridge.models import SubscriptionStatus

blp = Blueprint(
    "subscriptions", __name__, url_prefix="/api/v1", description="Subscriptions and audit log"
)
blp.before_request(require_token)

TABS = {
    "current": subscriptions.CURRENT,
    "inactive": subscriptions.INACTIVE,
}


class PlanRefSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    product_id = fields.Integer()
    interval_unit = fields.String(attribute="interval_unit.value")
    interval_count = fields.Integer()
    billing_cycles = fields.Integer(allow_none=True)


class PendingChangeSchema(Schema):
    plan_id = fields.Integer()
    plan = fields.Nested(PlanRefSchema)
    quantity = Quantity(maximum=10_000, dump_only=True)
    quantity_e3 = fields.Integer()
    unit_amount = fields.Integer()
    effective_at = fields.DateTime(
        allow_none=True,
        metadata={
            "description": "When the change takes effect: the end of the current period "
            "(paused: the resume date; null: when resumed by hand)"
        },
    )


class SubscriptionSchema(Schema):
    id = fields.Integer()
    client_id = fields.Integer()
    site_id = fields.Integer(allow_none=True)
    plan = fields.Nested(PlanRefSchema)
    status = fields.Enum(SubscriptionStatus, by_value=True)
    quantity = Quantity(maximum=10_000, dump_only=True)
    quantity_e3 = fields.Integer()
    unit_amount = fields.Integer()
    currency = fields.String()
    tax_rate_ids = fields.List(fields.Integer())
    current_period_start = fields.DateTime(allow_none=True)
    current_period_end = fields.DateTime(allow_none=True)
    cycles_invoiced = fields.Integer()
    cancel_at_period_end = fields.Boolean()
    cancelled_at = fields.DateTime(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)
    reactivated_from_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    paused_at = fields.DateTime(
        allow_none=True,
        metadata={"description": "When staff paused it; null when no pause is set"},
    )
    paused_until = fields.DateTime(
        allow_none=True,
        metadata={
            "description": "When the pause ends and a new period starts (the start of that "
            "day in the business time zone); null: paused until resumed by hand"
        },
    )
    paused = fields.Function(
        lambda subscription: pauses.is_paused(subscription, clock.now()),
        metadata={
            "description": "The pause is in effect: set, and the paid period is over "
            "(a pause starts when current_period_end comes)"
        },
    )
    pending_change = fields.Function(
        lambda subscription: (
            PendingChangeSchema().dump(pending)
            if (pending := plan_changes.pending_change(subscription)) is not None
            else None
        ),
        metadata={
            "description": "The plan and/or quantity change scheduled for the next renewal "
            "(cancel it with DELETE .../change); null when none is"
        },
    )
    periods_behind = fields.Function(
        lambda subscription: renewals.periods_to_invoice(
            get_session(), subscription, clock.now(), limit=renewals.MAX_COUNTED
        ),
        metadata={
            "description": "Periods started and not invoiced yet: 0, or 1 for the moment "
            "between a period's end and its renewal; more means the renew job holds the "
            "subscription rather than invoice them all at once (cancel it, or catch up "
            "with `bridge scheduler --once --job renew --catch-up N`)"
        },
    )


class SubscriptionQuerySchema(PageArgs):
    client_id = QueryInteger(minimum=1)
    tab = fields.String(
        validate=validate.OneOf(list(TABS)),
        metadata={"description": "current (active, past due, pending) or inactive"},
    )
    status = fields.Enum(SubscriptionStatus, by_value=True)


class CancelSchema(Schema):
    at_period_end = Boolean(
        required=True,
        metadata={"description": "true: renewals stop after the current period; false: now"},
    )


class PauseSchema(Schema):
    until = fields.Date(
        allow_none=True,
        load_default=None,
        metadata={
            "description": "The local date the subscription resumes (a new period starts "
            "that day at 00:00 in the business time zone); after the end of the paid "
            "period. Omitted or null: paused until resumed by hand"
        },
    )


class ChangeQuerySchema(Schema):
    preview = fields.Boolean(
        load_default=False,
        metadata={
            "description": "true: answer the invoice lines and totals the change would "
            "make, writing nothing (the same code as applying it)"
        },
    )


class ChangeSchema(Schema):
    plan_id = fields.Integer(
        strict=True,
        validate=validate.Range(min=1),
        metadata={"description": "The new plan (recurring, same currency); omitted: the same"},
    )
    quantity = Quantity(
        maximum=10_000,
        metadata={"description": "The new quantity (up to 3 decimals); omitted: the same"},
    )
    when = fields.String(
        required=True,
        validate=validate.OneOf([plan_changes.NOW, plan_changes.RENEWAL]),
        metadata={
            "description": "now: prorated at once (credit of the unused time, charge of "
            "the new plan for the rest of the period, on one invoice). renewal: scheduled "
            "for the end of the current period, no proration: the renewal switches to the "
            "new plan and quantity before it is priced (another billing interval starts "
            "its first period at the old period's end); the answer's lines and totals are "
            "those of that renewal invoice"
        },
    )


class ChangeResultSchema(Schema):
    preview = fields.Boolean()
    when = fields.String(metadata={"description": "now or renewal, as asked"})
    effective_at = fields.DateTime(
        metadata={"description": "When the change takes effect (now, or the period end)"}
    )
    subscription = fields.Nested(SubscriptionSchema)
    invoice = fields.Nested(
        InvoiceSchema,
        allow_none=True,
        metadata={"description": "The invoice made (null in a preview)"},
    )
    plan_id = fields.Integer()
    quantity_e3 = fields.Integer()
    unit_amount = fields.Integer()
    new_period = fields.Boolean(
        metadata={"description": "Another billing interval: a new period starts at the change"}
    )
    currency = fields.String()
    period_start = fields.DateTime()
    period_end = fields.DateTime()
    lines = fields.List(fields.Nested(LineSchema))
    subtotal = fields.Integer()
    tax = fields.Integer()
    total = fields.Integer()


class AuditEntrySchema(Schema):
    id = fields.Integer()
    actor_kind = fields.String()
    actor_id = fields.Integer(allow_none=True)
    actor_label = fields.String()
    action = fields.String()
    object_type = fields.String()
    object_id = fields.Integer(allow_none=True)
    client_id = fields.Integer(allow_none=True)
    summary = fields.Dict()
    created_at = fields.DateTime()


class AuditQuerySchema(PageArgs):
    client_id = QueryInteger(minimum=1)


@blp.route("/subscriptions")
class Subscriptions(MethodView):
    @blp.arguments(SubscriptionQuerySchema, location="query")
    @blp.response(200, page_schema(SubscriptionSchema, "SubscriptionPage"))
    def get(self, args):
        """Subscriptions; filter by client, by tab (current / inactive) or status."""
        authorize("subscriptions.read")
        statuses = TABS.get(args.get("tab"))
        if args.get("status") is not None:
            statuses = (args["status"],)
        return subscriptions.list_subscriptions(
            get_session(), client_id=args.get("client_id"), statuses=statuses, **paging(args)
        )


@blp.route("/subscriptions/<id:subscription_id>")
class SubscriptionResource(MethodView):
    @blp.response(200, SubscriptionSchema)
    def get(self, subscription_id):
        """One subscription."""
        authorize("subscriptions.read")
        return subscriptions.get_subscription(get_session(), subscription_id)


@blp.route("/subscriptions/<id:subscription_id>/cancel")
class SubscriptionCancel(MethodView):
    @blp.arguments(CancelSchema)
    @blp.response(200, SubscriptionSchema)
    def post(self, data, subscription_id):
        """Cancel now, or at the end of the current period."""
        authorize("subscriptions.write")
        session = get_session()
        subscription = subscriptions.get_subscription(session, subscription_id)
        subscriptions.cancel(session, subscription, at_period_end=data["at_period_end"])
        session.commit()
        return subscription


@blp.route("/subscriptions/<id:subscription_id>/pause")
class SubscriptionPause(MethodView):
    @blp.arguments(PauseSchema)
    @blp.response(200, SubscriptionSchema)
    def post(self, data, subscription_id):
        """Pause an active or past-due subscription: the paid period runs to
        its end, then no renewal until ``until`` (or until resumed). On
        resuming a new period starts and is invoiced. Pausing again changes
        the date. 409 ``illegal_transition`` (pending, cancelled, expired),
        ``cancel_scheduled``, ``last_cycle``; 422 ``until_in_past``,
        ``until_before_period_end`` (naming ``until``)."""
        authorize("subscriptions.write")
        session = get_session()
        subscription = subscriptions.get_subscription(session, subscription_id)
        pauses.pause(session, subscription, data.get("until"))
        session.commit()
        return subscription


@blp.route("/subscriptions/<id:subscription_id>/resume")
class SubscriptionResume(MethodView):
    @blp.response(200, SubscriptionSchema)
    def post(self, subscription_id):
        """Resume a paused subscription now (a new period starts now and is
        invoiced; before the paid period ended, the pause is just removed),
        or else undo a cancellation scheduled for the period end. 409
        ``illegal_transition`` when there is neither."""
        authorize("subscriptions.write")
        session = get_session()
        subscription = subscriptions.get_subscription(session, subscription_id)
        if subscription.paused_at is not None:
            invoice = pauses.resume(session, subscription)
            if invoice is not None:
                renewals.after_renewal(session, invoice, clock.now())
        else:
            subscriptions.undo_cancel(session, subscription)
        session.commit()
        return subscription


@blp.route("/subscriptions/<id:subscription_id>/change")
class SubscriptionChange(MethodView):
    @blp.arguments(ChangeQuerySchema, location="query")
    @blp.arguments(ChangeSchema)
    @blp.response(200, ChangeResultSchema)
    def post(self, args, data, subscription_id):
        """Change the plan and/or quantity now, prorated by seconds of the
        period: one invoice credits the unused time of the old plan and
        charges the new plan for the rest of the period (a new full period
        when the billing interval differs), charged to the saved card or
        emailed like a renewal. ``?preview=true`` answers the same lines and
        totals and writes nothing. 422 naming ``plan_id``, ``quantity`` or
        ``when``; 409 ``illegal_transition`` (pending, past due, cancelled, expired),
        ``subscription_paused``, ``cancel_scheduled``, ``renewal_due``,
        ``no_change`` (already on this plan and quantity: a change sent
        twice bills once). A downgrade now whose credit exceeds its charge
        makes an invoice with a negative total, paid at once, its credit put
        on the client's account credit (``bridge.billing.balances``).
        ``when: renewal`` schedules the change for the end of the
        period instead (no proration, replacing one scheduled before; a
        change now drops it) and answers the lines and totals of that
        renewal invoice; 409 also ``last_cycle``, and past-due
        subscriptions may schedule."""
        authorize("subscriptions.write")
        session = get_session()
        subscription = subscriptions.get_subscription(session, subscription_id)
        wanted = {
            "plan_id": data.get("plan_id"),
            "quantity_e3": (
                quantity_e3(data["quantity"]) if data.get("quantity") is not None else None
            ),
        }
        invoice = None
        if data["when"] == plan_changes.RENEWAL:
            if args["preview"]:
                change = plan_changes.quote_renewal(session, subscription, **wanted)
            else:
                change = plan_changes.schedule(session, subscription, **wanted)
                session.commit()
        elif args["preview"]:
            change = plan_changes.quote(session, subscription, **wanted)
        else:
            change, invoice = plan_changes.apply(session, subscription, **wanted)
            renewals.after_renewal(session, invoice, clock.now())
            session.commit()
        return {
            "preview": args["preview"],
            "when": data["when"],
            "effective_at": change.at,
            "subscription": subscription,
            "invoice": invoice,
            "plan_id": change.plan.id,
            "quantity_e3": change.quantity_e3,
            "unit_amount": change.unit_amount,
            "new_period": change.new_period,
            "currency": subscription.currency,
            "period_start": change.period_start,
            "period_end": change.period_end,
            "lines": change.lines,
            "subtotal": change.subtotal,
            "tax": change.tax,
            "total": change.total,
        }

    @blp.response(200, SubscriptionSchema)
    def delete(self, subscription_id):
        """Cancel the change scheduled for the next renewal: the subscription
        renews on its current plan and quantity. 409 ``no_scheduled_change``."""
        authorize("subscriptions.write")
        session = get_session()
        subscription = subscriptions.get_subscription(session, subscription_id)
        plan_changes.cancel_scheduled(session, subscription)
        session.commit()
        return subscription


@blp.route("/subscriptions/<id:subscription_id>/reactivate")
class SubscriptionReactivate(MethodView):
    @blp.response(201, InvoiceSchema)
    def post(self, subscription_id):
        """Reactivate a cancelled or expired subscription: a new invoice is
        issued; a new subscription starts when it is paid."""
        authorize("subscriptions.write")
        session = get_session()
        invoice = renewals.reactivate(
            session, subscriptions.get_subscription(session, subscription_id)
        )
        session.commit()
        return invoice


@blp.route("/audit-log")
class AuditLog(MethodView):
    @blp.arguments(AuditQuerySchema, location="query")
    @blp.response(200, page_schema(AuditEntrySchema, "AuditPage"))
    def get(self, args):
        """Who changed what, newest first; per client with client_id."""
        authorize("audit.read")
        return audit.entries_page(get_session(), client_id=args.get("client_id"), **paging(args))
