"""Revenue figures (the overview, history, forecast, billing preview) and the
CSV exports. The definitions are ``bridge.billing.metrics``'s (SPEC 10)."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from bridge.api.auth import authorize, require_token
from bridge.api.fields import QueryInteger
from bridge.billing import clients, exports, metrics
from bridge.core.errors import NotFound
from bridge.db import get_db, get_session

blp = Blueprint(
    "metrics",
    __name__,
    url_prefix="/api/v1",
    description="Revenue figures, forecast, billing preview and CSV exports",
)
blp.before_request(require_token)

MONEY = "minor units of the business currency"


class RevenueSchema(Schema):
    mrr = fields.Integer(metadata={"description": f"Monthly recurring revenue ({MONEY})"})
    active_subscriptions = fields.Integer(metadata={"description": "Active or past due"})
    net_billing = fields.Integer(
        metadata={"description": f"Finalized invoices minus credit notes, before tax ({MONEY})"}
    )


class ClientCountsSchema(Schema):
    total = fields.Integer()
    average_billing = fields.Integer(
        metadata={"description": "Net billing / total clients, rounded half-up"}
    )
    with_active_subscriptions = fields.Integer()


class ProductCountsSchema(Schema):
    total = fields.Integer()
    active_one_time_plans = fields.Integer()
    active_recurring_plans = fields.Integer()


class OverviewStripeSchema(Schema):
    connected = fields.Boolean()
    account_id = fields.String(allow_none=True)
    account_name = fields.String(allow_none=True)
    livemode = fields.Boolean(allow_none=True)


class OverviewSchema(Schema):
    currency = fields.String(allow_none=True)
    revenue = fields.Nested(RevenueSchema)
    clients = fields.Nested(ClientCountsSchema)
    products = fields.Nested(ProductCountsSchema)
    stripe = fields.Nested(OverviewStripeSchema)


class MovementsSchema(Schema):
    new = fields.Integer(metadata={"description": "MRR of subscriptions that started"})
    expansion = fields.Integer(metadata={"description": "MRR up (a discount ending)"})
    contraction = fields.Integer(metadata={"description": "MRR down, negative (a discount)"})
    churn = fields.Integer(metadata={"description": "MRR lost, negative (ended or paused)"})
    reactivation = fields.Integer(
        metadata={"description": "MRR back after 0 (resumed, or a reactivated subscription)"}
    )


class MonthSchema(Schema):
    month = fields.String(
        metadata={"description": "YYYY-MM, business time zone"},
    )
    mrr = fields.Integer(metadata={"description": "MRR at the month's end (now, this month)"})
    billing = fields.Integer(metadata={"description": "Net billing of the month, before tax"})
    movements = fields.Nested(
        MovementsSchema,
        metadata={"description": f"MRR change since the month before, by cause ({MONEY})"},
    )


class HistorySchema(Schema):
    data = fields.List(fields.Nested(MonthSchema))


class HorizonSchema(Schema):
    days = fields.Integer()
    renewals = fields.Integer()
    amount = fields.Integer(
        metadata={"description": f"Amount x quantity less discounts, tax excluded ({MONEY})"}
    )


class ForecastSchema(Schema):
    data = fields.List(fields.Nested(HorizonSchema))


class ScopeArgs(Schema):
    client_id = QueryInteger(minimum=1)
    site_id = QueryInteger(minimum=1)


class PreviewArgs(Schema):
    months = QueryInteger(minimum=1, maximum=36, load_default=metrics.PREVIEW_MONTHS)


class PreviewTaxSchema(Schema):
    name = fields.String()
    percentage_e4 = fields.Integer()
    inclusive = fields.Boolean()
    amount = fields.Integer()


class PreviewInvoiceSchema(Schema):
    subscription_id = fields.Integer()
    client_id = fields.Integer()
    site_id = fields.Integer(allow_none=True)
    description = fields.String()
    issue_date = fields.Date()
    period_start = fields.DateTime()
    period_end = fields.DateTime()
    subtotal = fields.Integer()
    tax = fields.Integer()
    total = fields.Integer()
    taxes = fields.List(fields.Nested(PreviewTaxSchema))


class PreviewMonthSchema(Schema):
    month = fields.Function(lambda m: m.month.strftime("%Y-%m"))
    count = fields.Integer(metadata={"description": "How many invoices"})
    subtotal = fields.Integer()
    tax = fields.Integer()
    total = fields.Integer()
    invoices = fields.List(
        fields.Nested(PreviewInvoiceSchema),
        metadata={"description": "The invoices (empty in the whole business's preview)"},
    )


class BillingPreviewSchema(Schema):
    data = fields.List(fields.Nested(PreviewMonthSchema))


class FiguresSchema(Schema):
    mrr = fields.Integer(metadata={"description": f"Tax excluded ({MONEY})"})
    net_billing = fields.Integer(metadata={"description": f"Tax included ({MONEY})"})
    net_billing_before_tax = fields.Integer()
    forecast = fields.List(fields.Nested(HorizonSchema))


class ExportArgs(Schema):
    start = fields.Date(
        data_key="from", metadata={"description": "First local date (YYYY-MM-DD), included"}
    )
    end = fields.Date(data_key="to", metadata={"description": "Last local date, included"})


def _months(rows) -> dict:
    return {
        "data": [
            {
                "month": m.month.strftime("%Y-%m"),
                "mrr": m.mrr,
                "billing": m.billing,
                "movements": m.movements,
            }
            for m in rows
        ]
    }


def _scope(args: dict) -> dict:
    session = get_session()
    scope = {"client_id": args.get("client_id"), "site_id": args.get("site_id")}
    if scope["client_id"] is not None:
        clients.get_client(session, scope["client_id"])
    if scope["site_id"] is not None:
        clients.get_site(session, scope["site_id"], client_id=scope["client_id"])
    return scope


@blp.route("/metrics/overview")
class Overview(MethodView):
    @blp.response(200, OverviewSchema)
    def get(self):
        """The overview's figures (SPEC 10), all tax excluded."""
        authorize("metrics.read")
        return metrics.overview(get_session())


@blp.route("/metrics/history")
class History(MethodView):
    @blp.arguments(ScopeArgs, location="query")
    @blp.response(200, HistorySchema)
    def get(self, args):
        """MRR at each month's end and each month's net billing before tax,
        the last 12 months (business time zone), oldest first; of the
        business, or of one client or site. MRR is net of the discounts
        that stood then and leaves paused subscriptions out; ``movements``
        split each month's MRR change by cause (new, expansion,
        contraction, churn, reactivation) and sum to it."""
        authorize("metrics.read")
        return _months(metrics.history(get_session(), **_scope(args)))


@blp.route("/metrics/forecast")
class Forecast(MethodView):
    @blp.arguments(ScopeArgs, location="query")
    @blp.response(200, ForecastSchema)
    def get(self, args):
        """Renewals expected in the next 30, 60 and 90 days and their
        amounts, net of the discounts they would take; subscriptions
        cancelling at period end or at their last billing cycle are not
        counted."""
        authorize("metrics.read")
        return {"data": metrics.forecast(get_session(), **_scope(args))}


@blp.route("/metrics/billing-preview")
class BusinessPreview(MethodView):
    @blp.arguments(PreviewArgs, location="query")
    @blp.response(200, BillingPreviewSchema)
    def get(self, args):
        """What the scheduler would invoice month by month (default 12
        months) under today's subscriptions and tax rates: each month's
        count and totals (the invoices are listed per client or site).
        Nothing is written."""
        authorize("metrics.read")
        months = metrics.billing_preview(get_session(), months=args["months"], detail=False)
        return {"data": months}


@blp.route("/clients/<id:client_id>/metrics")
class ClientFigures(MethodView):
    @blp.response(200, FiguresSchema)
    def get(self, client_id):
        """The client's MRR, net billing and renewal forecast."""
        authorize("metrics.read")
        session = get_session()
        client = clients.get_client(session, client_id)
        return {
            "mrr": client.mrr,
            "net_billing": client.net_billing,
            "net_billing_before_tax": client.net_billing_before_tax,
            "forecast": metrics.forecast(session, client_id=client_id),
        }


@blp.route("/clients/<id:client_id>/sites/<id:site_id>/metrics")
class SiteFigures(MethodView):
    @blp.response(200, FiguresSchema)
    def get(self, client_id, site_id):
        """The site's MRR, net billing and renewal forecast."""
        authorize("metrics.read")
        session = get_session()
        clients.get_site(session, site_id, client_id=client_id)
        billing = metrics.net_billing(session, site_id=site_id)
        return {
            "mrr": metrics.mrr(session, site_id=site_id),
            "net_billing": billing.tax_included,
            "net_billing_before_tax": billing.before_tax,
            "forecast": metrics.forecast(session, site_id=site_id),
        }


@blp.route("/clients/<id:client_id>/billing-preview")
class ClientPreview(MethodView):
    @blp.arguments(PreviewArgs, location="query")
    @blp.response(200, BillingPreviewSchema)
    def get(self, args, client_id):
        """What the client will be invoiced month by month (default the next
        12 months): the renewals the scheduler would issue, with the same
        periods and taxes. Nothing is written."""
        authorize("metrics.read")
        session = get_session()
        clients.get_client(session, client_id)
        return {
            "data": metrics.billing_preview(session, client_id=client_id, months=args["months"])
        }


@blp.route("/clients/<id:client_id>/sites/<id:site_id>/billing-preview")
class SitePreview(MethodView):
    @blp.arguments(PreviewArgs, location="query")
    @blp.response(200, BillingPreviewSchema)
    def get(self, args, client_id, site_id):
        """The billing preview of one site of the client."""
        authorize("metrics.read")
        session = get_session()
        clients.get_site(session, site_id, client_id=client_id)
        return {"data": metrics.billing_preview(session, site_id=site_id, months=args["months"])}


@blp.route("/exports/<kind>.csv")
class Exports(MethodView):
    @blp.arguments(ExportArgs, location="query")
    @blp.response(
        200,
        content_type="text/csv",
        description="UTF-8 CSV with a header row, streamed; amounts are decimal strings",
    )
    @blp.doc(
        responses={
            "200": {
                "description": "UTF-8 CSV with a header row, streamed",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        },
        parameters=[
            {
                "name": "kind",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "enum": list(exports.KINDS)},
            }
        ],
    )
    def get(self, args, kind):
        """A CSV export: ``invoices``, ``credit_notes`` (by issue date),
        ``payments`` (by date received), ``clients`` (with MRR and net
        billing, whole list) or ``sales_journal`` (France's journal of sales:
        one row per invoice and VAT rate, then per credit note and rate,
        negative, with the account codes of the settings; README lists its
        columns), for the local dates ``from`` to ``to``."""
        authorize("metrics.read")
        if kind not in exports.KINDS:
            raise NotFound("No such export.")
        # The rows are read while the response is sent, after the request
        # has ended: by a session of the export's own, closed at the end.
        # The request's own transaction ends first (on SQLite it holds the lock).
        get_session().commit()
        session = get_db().sessionmaker()
        try:
            export = exports.export(session, kind, start=args.get("start"), end=args.get("end"))
            session.commit()
        except Exception:
            session.close()
            raise

        def body():
            try:
                for chunk in exports.csv_text(export.header, export.rows):
                    yield chunk.encode("utf-8")
            finally:
                session.close()

        response = Response(body(), mimetype="text/csv")
        response.headers["Content-Disposition"] = f'attachment; filename="{kind}.csv"'
        response.headers["X-Total-Count"] = str(export.total)
        return response
