"""Invoices: bill a client, edit drafts, finalize, collect, void, write off,
credit; one-time items billed again."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

from flask import Response, current_app, request
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from bridge.api.auth import authorize, require_token
from bridge.api.common import PageArgs, list_schema, page_schema, paging
from bridge.api.coupons import ApplyCouponSchema, CouponSchema, chosen_coupon
from bridge.api.fields import Boolean, Integer, Quantity, QueryInteger, Text
from bridge.api.parsing import Blueprint
from bridge.billing import clients, invoices, reminders
from bridge.billing.gateway import PaymentGateway
from bridge.billing.invoices import Item
from bridge.core import money
from bridge.core.errors import Invalid, NotFound
from bridge.core.l10n import LANGUAGES
from bridge.db import get_session
from bridge.models import (
    BillingReason,
    InvoiceLine,
    InvoiceStatus,
    PaymentMethod,
    PaymentState,
    PaymentStatus,
)
from bridge.payments.gateways import payment_gateway
from bridge.payments.stripe.client import api_base_from
from bridge.pdf import cii, invoice_pdf, render_credit_note_pdf
from bridge.pdf.facturx import credit_note_facturx_pdf, invoice_facturx_pdf

# Payments before this are typos (and year-1 dates cannot even be moved to UTC).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)

blp = Blueprint("invoices", __name__, url_prefix="/api/v1", description="Invoices")
blp.before_request(require_token)


def display(amount_attr: str):
    return fields.Function(
        lambda obj: money.format_amount(getattr(obj, amount_attr), obj.currency, "en")
    )


class LineTaxSchema(Schema):
    tax_rate_id = fields.Integer(allow_none=True)
    name = fields.String()
    percentage_e4 = fields.Integer(metadata={"description": "Ten-thousandths of a percent"})
    inclusive = fields.Boolean()
    amount = fields.Integer()


class LineSchema(Schema):
    id = fields.Integer()
    position = fields.Integer()
    plan_id = fields.Integer(allow_none=True)
    kind = fields.String()
    description = fields.String()
    quantity = Quantity(maximum=invoices.MAX_QUANTITY, dump_only=True)
    quantity_e3 = fields.Integer(
        metadata={"description": "The quantity in thousandths, exact (1.5 -> 1500)"}
    )
    unit_amount = fields.Integer()
    amount = fields.Integer(metadata={"description": "Quantity x unit amount, rounded once"})
    discount = fields.Integer(
        metadata={"description": "Taken off the amount by a coupon, before taxes"}
    )
    net = fields.Integer()
    tax = fields.Integer()
    total = fields.Integer()
    subscription_id = fields.Integer(allow_none=True)
    period_start = fields.DateTime(allow_none=True)
    period_end = fields.DateTime(allow_none=True)
    tax_rate_ids = fields.List(
        fields.Integer(),
        allow_none=True,
        metadata={"description": "The line's own tax rates; null: the invoice's apply"},
    )
    taxes = fields.List(fields.Nested(LineTaxSchema))


class PaymentSchema(Schema):
    id = fields.Integer()
    amount = fields.Integer()
    currency = fields.String()
    method = fields.Enum(PaymentMethod, by_value=True)
    gateway = fields.String()
    status = fields.Enum(PaymentStatus, by_value=True)
    reference = fields.String()
    failure_code = fields.String(allow_none=True)
    failure_message = fields.String(allow_none=True)
    received_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class CreditNoteSchema(Schema):
    id = fields.Integer()
    number = fields.String()
    invoice_id = fields.Integer()
    client_id = fields.Integer()
    currency = fields.String()
    amount = fields.Integer()
    subtotal = fields.Integer()
    tax = fields.Integer()
    reason = fields.String()
    issue_date = fields.Date(
        metadata={"description": "The legal issue date: the business's local calendar date"}
    )
    created_at = fields.DateTime()


class ClientRefSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    email = fields.String()


class CardPaymentSchema(Schema):
    reason = fields.String(
        validate=validate.OneOf(["below_minimum", "above_maximum"]),
        metadata={
            "description": "below_minimum: less than Stripe's smallest card payment in "
            "the currency; above_maximum: more than its largest"
        },
    )
    limit = fields.Integer(
        metadata={"description": "Stripe's minimum or maximum, in the currency's minor units"}
    )
    message = fields.String(metadata={"description": "For people"})


def card_payment(invoice) -> dict | None:
    """Why the amount due cannot be paid by card at Stripe, or None when it
    can (or nothing is due)."""
    if invoice.amount_due <= 0:
        return None
    limit = money.card_limit(invoice.amount_due, invoice.currency)
    if limit is None:
        return None
    return {
        "reason": limit.reason,
        "limit": limit.limit,
        "message": f"This amount cannot be paid by card: {limit.message(invoice.currency)} "
        "Record an offline payment instead.",
    }


class CardPaymentField(fields.Nested):
    """``CardPaymentSchema`` of what ``card_payment`` says of the invoice."""

    def get_value(self, obj, attr, accessor=None, default=None):
        return card_payment(obj)


class InvoiceSummarySchema(Schema):
    id = fields.Integer()
    number = fields.String(allow_none=True)
    client = fields.Nested(ClientRefSchema)
    site_id = fields.Integer(allow_none=True)
    status = fields.Enum(InvoiceStatus, by_value=True)
    billing_reason = fields.Enum(BillingReason, by_value=True)
    currency = fields.String()
    total = fields.Integer()
    discount = fields.Integer(metadata={"description": "Coupon discount, before tax"})
    amount_due = fields.Integer()
    total_display = display("total")
    amount_due_display = display("amount_due")
    payment_state = fields.Enum(PaymentState, by_value=True)
    card_payment = CardPaymentField(
        CardPaymentSchema,
        allow_none=True,
        dump_only=True,
        metadata={
            "description": "Null when a card can pay the amount due (or nothing is due); "
            "else why Stripe would refuse the card payment: the amount is below Stripe's "
            "minimum charge or above its maximum in the currency, so the hosted page offers "
            "no card form, renewals are not charged, and only an offline payment settles it"
        },
    )
    issued_at = fields.DateTime(allow_none=True)
    issue_date = fields.Date(
        allow_none=True,
        metadata={
            "description": "The legal issue date: the business's local calendar date at "
            "issued_at, printed on every copy; its year is the number's. Null on a draft."
        },
    )
    due_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    actions = fields.Function(
        invoices.available_actions,
        metadata={
            "description": "What staff may do now: edit, delete, finalize, record_payment, "
            "remind, void, mark_uncollectible, refund, download"
        },
    )


class InvoiceSchema(InvoiceSummarySchema):
    language = fields.String()
    note = fields.String()
    tax_rate_ids = fields.List(fields.Integer())
    discount = fields.Integer(
        metadata={"description": "The sum of the lines' discounts (before tax)"}
    )
    discount_id = fields.Integer(
        allow_none=True, metadata={"description": "The coupon's discount that reduced the lines"}
    )
    coupon = fields.Nested(
        CouponSchema,
        allow_none=True,
        dump_only=True,
        metadata={"description": "The coupon applied (its name and what it takes off), or null"},
    )
    subtotal = fields.Integer()
    tax = fields.Integer()
    amount_paid = fields.Integer()
    amount_refunded = fields.Integer()
    disputed = fields.Boolean()
    subscription_id = fields.Integer(allow_none=True)
    period_start = fields.DateTime(allow_none=True)
    period_end = fields.DateTime(allow_none=True)
    paid_at = fields.DateTime(allow_none=True)
    voided_at = fields.DateTime(allow_none=True)
    uncollectible_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime(allow_none=True)
    hosted_url = fields.Function(
        lambda invoice: (
            None
            if invoice.status == InvoiceStatus.DRAFT
            else f"{request.host_url}i/{invoice.hosted_token}"
        ),
        metadata={"description": "The client's pay page (no login; keep it private)"},
    )
    lines = fields.List(fields.Nested(LineSchema))
    payments = fields.List(fields.Nested(PaymentSchema))
    credit_notes = fields.List(fields.Nested(CreditNoteSchema))


class ItemSchema(Schema):
    """A plan of the catalog ({plan_id, quantity}) or a one-off line
    ({description, unit_amount, quantity}); either may give its own
    tax_rate_ids (otherwise the invoice's apply)."""

    plan_id = Integer(
        minimum=1, metadata={"description": "A plan; or give description and unit_amount"}
    )
    quantity = Quantity(maximum=invoices.MAX_QUANTITY, load_default=Decimal(1))
    description = Text(max_length=500, metadata={"description": "A one-off line's description"})
    unit_amount = Integer(
        minimum=0,
        maximum=money.MAX_AMOUNT,
        metadata={"description": "A one-off line's unit price, in minor units"},
    )
    tax_rate_ids = fields.List(
        Integer(minimum=1),
        validate=validate.Length(max=10),
        metadata={"description": "This line's tax rates (default: the invoice's tax_rate_ids)"},
    )
    save_as_plan = Boolean(
        metadata={
            "description": "Also save the one-off line as a one-time plan (of product_id, or "
            'of the "One-off services" product)'
        }
    )
    product_id = Integer(minimum=1, metadata={"description": "With save_as_plan"})

    @validates_schema
    def _plan_or_one_off(self, data, **kwargs):
        one_off = ("description", "unit_amount", "save_as_plan", "product_id")
        if "plan_id" in data:
            given = [name for name in one_off if name in data]
            if given:
                raise ValidationError(
                    "Not with plan_id: a line is a plan or a one-off line.", given[0]
                )
            return
        errors = {
            name: ["Required without plan_id (a one-off line)."]
            for name in ("description", "unit_amount")
            if name not in data
        }
        if "description" in data and not data["description"].strip():
            errors["description"] = ["Required without plan_id (a one-off line)."]
        if "product_id" in data and not data.get("save_as_plan"):
            errors["product_id"] = ["Only with save_as_plan."]
        if errors:
            raise ValidationError(errors)


class InvoiceCreateSchema(Schema):
    client_id = Integer(minimum=1, required=True)
    site_id = Integer(minimum=1, allow_none=True)
    items = fields.List(
        fields.Nested(ItemSchema), required=True, validate=validate.Length(min=1, max=300)
    )
    tax_rate_ids = fields.List(Integer(minimum=1), validate=validate.Length(max=10))
    note = Text(max_length=2000, multiline=True)
    language = fields.String(validate=validate.OneOf(LANGUAGES))
    coupon_id = Integer(
        minimum=1, metadata={"description": "A coupon for this invoice alone (one redemption)"}
    )
    coupon_code = Text(max_length=60, metadata={"description": "Or the coupon's code, any case"})

    @validates_schema
    def _one_coupon(self, data, **_kwargs):
        if "coupon_id" in data and "coupon_code" in data:
            raise ValidationError("Give coupon_id or coupon_code, not both.", "coupon_id")


class InvoicePatchSchema(Schema):
    site_id = Integer(minimum=1, allow_none=True)
    items = fields.List(fields.Nested(ItemSchema), validate=validate.Length(min=1, max=300))
    tax_rate_ids = fields.List(Integer(minimum=1), validate=validate.Length(max=10))
    note = Text(max_length=2000, multiline=True)
    language = fields.String(validate=validate.OneOf(LANGUAGES))


class InvoiceQuerySchema(PageArgs):
    client_id = QueryInteger(minimum=1)
    status = fields.Enum(InvoiceStatus, by_value=True)


class OfflinePaymentSchema(Schema):
    amount = Integer(minimum=1, maximum=money.MAX_AMOUNT, required=True)
    method = fields.Enum(
        PaymentMethod,
        by_value=True,
        required=True,
        metadata={"description": "bank_transfer, cash, cheque or other (cards go through Stripe)"},
    )
    received_at = fields.AwareDateTime(
        default_timezone=None,
        validate=validate.Range(min=EARLIEST, error="Must be after 2000-01-01."),
        metadata={"description": "Default now; not before the invoice's issue date"},
    )
    reference = Text(max_length=200)


class CreditNoteCreateSchema(Schema):
    amount = Integer(
        minimum=1,
        maximum=money.MAX_AMOUNT,
        required=True,
        metadata={
            "description": "Tax included, at most what was paid and not yet refunded "
            "(more is a 409 exceeds_refundable)"
        },
    )
    reason = Text(max_length=500)
    refund_to_card = Boolean(
        metadata={
            "description": "Send the money back to the card at Stripe (default: when the "
            "invoice was paid by card). False records a refund made another way."
        }
    )


InvoicePageSchema = page_schema(InvoiceSummarySchema, "InvoicePage")


def _items(data: dict) -> list[Item] | None:
    if "items" not in data:
        return None
    return [
        Item(
            plan_id=item.get("plan_id"),
            quantity=item["quantity"],
            description=item.get("description", ""),
            unit_amount=item.get("unit_amount"),
            tax_rate_ids=tuple(item["tax_rate_ids"]) if "tax_rate_ids" in item else None,
            save_as_plan=item.get("save_as_plan", False),
            product_id=item.get("product_id"),
        )
        for item in data["items"]
    ]


@blp.route("/invoices")
class Invoices(MethodView):
    @blp.arguments(InvoiceQuerySchema, location="query")
    @blp.response(200, InvoicePageSchema)
    def get(self, args):
        """Invoices, newest first; filter by client and status."""
        authorize("invoices.read")
        return invoices.list_invoices(
            get_session(),
            client_id=args.get("client_id"),
            status=args.get("status"),
            **paging(args),
        )

    @blp.arguments(InvoiceCreateSchema)
    @blp.response(201, InvoiceSchema)
    def post(self, data):
        """Bill a client: a draft invoice from plans, quantities and tax rates."""
        authorize("invoices.write")
        session = get_session()
        try:
            client = clients.get_client(session, data["client_id"])
        except NotFound as exc:
            raise Invalid("No such client.", fields={"client_id": ["Unknown."]}) from exc
        invoice = invoices.bill_client(
            session,
            client,
            _items(data),
            tax_rate_ids=data.get("tax_rate_ids", []),
            site_id=data.get("site_id"),
            note=data.get("note", ""),
            language=data.get("language"),
            coupon=chosen_coupon(session, data),
        )
        session.commit()
        return invoice


@blp.route("/invoices/<id:invoice_id>")
class InvoiceResource(MethodView):
    @blp.response(200, InvoiceSchema)
    def get(self, invoice_id):
        """One invoice with its lines, payments and credit notes."""
        authorize("invoices.read")
        return invoices.get_invoice(get_session(), invoice_id)

    @blp.arguments(InvoicePatchSchema)
    @blp.response(200, InvoiceSchema)
    def patch(self, data, invoice_id):
        """Edit a draft (an issued invoice answers 409)."""
        authorize("invoices.write")
        session = get_session()
        invoice = invoices.get_invoice(session, invoice_id, lock=True)
        changes = {k: data[k] for k in ("tax_rate_ids", "note", "language") if k in data}
        if "site_id" in data:
            changes["site_id"] = data["site_id"]
        invoices.update_draft(session, invoice, items=_items(data), **changes)
        session.commit()
        return invoice

    @blp.response(204)
    def delete(self, invoice_id):
        """Delete a draft (an issued invoice answers 409: void it instead)."""
        authorize("invoices.write")
        session = get_session()
        invoices.delete_draft(session, invoices.get_invoice(session, invoice_id, lock=True))
        session.commit()


def _invoice_action(invoice_id: int, action) -> object:
    authorize("invoices.write")
    session = get_session()
    invoice = invoices.get_invoice(session, invoice_id, lock=True)
    action(session, invoice)
    session.commit()
    return invoice


class PdfQuerySchema(Schema):
    language = fields.String(
        validate=validate.OneOf(LANGUAGES),
        metadata={"description": "Default: the invoice's own language"},
    )


@blp.route("/invoices/<id:invoice_id>/pdf")
class InvoicePdf(MethodView):
    @blp.arguments(PdfQuerySchema, location="query")
    @blp.response(200, content_type="application/pdf", description="The invoice as a PDF")
    def get(self, args, invoice_id):
        """Download the invoice as a PDF (drafts too, marked DRAFT)."""
        authorize("invoices.read")
        session = get_session()
        invoice = invoices.get_invoice(session, invoice_id)
        return pdf_response(
            invoice_pdf(session, invoice, args.get("language")),
            f"{invoice.number or f'draft-{invoice.id}'}.pdf",
        )


@blp.route("/invoices/<id:invoice_id>/facturx.pdf")
class InvoiceFacturX(MethodView):
    @blp.arguments(PdfQuerySchema, location="query")
    @blp.response(
        200,
        content_type="application/pdf",
        description="The invoice as a Factur-X PDF/A-3 (profile EN 16931) with its CII XML "
        "attached as factur-x.xml",
    )
    def get(self, args, invoice_id):
        """Download an issued invoice as Factur-X (EN 16931).

        409 ``invoice_not_issued`` for a draft; 409 ``einvoice_unsupported`` when
        EN 16931 cannot carry the invoice (a line with two taxes, an amount with
        more than two decimals, a party without a country)."""
        authorize("invoices.read")
        session = get_session()
        invoice = invoices.get_invoice(session, invoice_id)
        return pdf_response(
            invoice_facturx_pdf(session, invoice, args.get("language")),
            f"{invoice.number}-facturx.pdf",
        )


@blp.route("/invoices/<id:invoice_id>/cii.xml")
class InvoiceCii(MethodView):
    @blp.response(
        200,
        content_type="application/xml",
        description="The invoice's Cross Industry Invoice XML (EN 16931, type code 380)",
    )
    def get(self, invoice_id):
        """The CII XML of an issued invoice, from its stored amounts (409 as facturx.pdf)."""
        authorize("invoices.read")
        session = get_session()
        invoice = invoices.get_invoice(session, invoice_id)
        return xml_response(cii.invoice_xml(session, invoice), f"{invoice.number}.xml")


@blp.route("/credit-notes/<id:credit_note_id>/cii.xml")
class CreditNoteCii(MethodView):
    @blp.response(
        200,
        content_type="application/xml",
        description="The credit note's Cross Industry Invoice XML (EN 16931, type code 381, "
        "naming the corrected invoice's number and issue date)",
    )
    def get(self, credit_note_id):
        """The CII XML of a credit note. A partial credit of an invoice with several
        VAT rates is a 409 ``einvoice_unsupported`` (its split per rate is not kept)."""
        authorize("invoices.read")
        session = get_session()
        note = invoices.get_credit_note(session, credit_note_id)
        return xml_response(cii.credit_note_xml(session, note), f"{note.number}.xml")


@blp.route("/credit-notes/<id:credit_note_id>/pdf")
class CreditNotePdf(MethodView):
    @blp.arguments(PdfQuerySchema, location="query")
    @blp.response(200, content_type="application/pdf", description="The credit note as a PDF")
    def get(self, args, credit_note_id):
        """Download a credit note as a PDF: the corrected invoice's number and date,
        the credited net, VAT and total."""
        authorize("invoices.read")
        session = get_session()
        note = invoices.get_credit_note(session, credit_note_id)
        return pdf_response(
            render_credit_note_pdf(session, note, args.get("language")), f"{note.number}.pdf"
        )


@blp.route("/credit-notes/<id:credit_note_id>/facturx.pdf")
class CreditNoteFacturX(MethodView):
    @blp.arguments(PdfQuerySchema, location="query")
    @blp.response(
        200,
        content_type="application/pdf",
        description="The credit note as a Factur-X PDF/A-3 (EN 16931, type code 381)",
    )
    def get(self, args, credit_note_id):
        """Download a credit note as Factur-X (409 as its cii.xml)."""
        authorize("invoices.read")
        session = get_session()
        note = invoices.get_credit_note(session, credit_note_id)
        return pdf_response(
            credit_note_facturx_pdf(session, note, args.get("language")),
            f"{note.number}-facturx.pdf",
        )


def xml_response(data: bytes, filename: str) -> Response:
    return pdf_response(data, filename, "application/xml")


def pdf_response(data: bytes, filename: str, mimetype: str = "application/pdf") -> Response:
    """A private download of ``data`` named ``filename``."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", filename)
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{safe}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blp.route("/invoices/<id:invoice_id>/finalize")
class InvoiceFinalize(MethodView):
    @blp.response(200, InvoiceSchema)
    def post(self, invoice_id):
        """Send: number the draft and make it payment due (open).

        A number format saved before formats were checked against issued
        numbers may give a number already issued: 409
        ``number_format_collides`` (change the format in the settings)."""
        return _invoice_action(invoice_id, invoices.finalize)


@blp.route("/invoices/<id:invoice_id>/coupon")
class InvoiceCoupon(MethodView):
    @blp.arguments(ApplyCouponSchema)
    @blp.response(200, InvoiceSchema)
    def post(self, data, invoice_id):
        """Apply a coupon to this draft alone (one redemption; replaces the
        draft's discount). 409 ``invoice_not_draft``, ``coupon_expired``,
        ``coupon_exhausted``, ``coupon_archived``."""
        authorize("invoices.write")
        session = get_session()
        invoice = invoices.get_invoice(session, invoice_id, lock=True)
        invoices.apply_coupon(session, invoice, chosen_coupon(session, data))
        session.commit()
        return invoice


@blp.route("/invoices/<id:invoice_id>/void")
class InvoiceVoid(MethodView):
    @blp.response(200, InvoiceSchema)
    def post(self, invoice_id):
        """Void an unpaid issued invoice; its pending subscriptions are cancelled."""
        return _invoice_action(invoice_id, invoices.void)


@blp.route("/invoices/<id:invoice_id>/mark-uncollectible")
class InvoiceUncollectible(MethodView):
    @blp.response(200, InvoiceSchema)
    def post(self, invoice_id):
        """Write an open invoice off as uncollectible (it can still be paid later)."""
        return _invoice_action(invoice_id, invoices.mark_uncollectible)


@blp.route("/invoices/<id:invoice_id>/remind")
class InvoiceRemind(MethodView):
    @blp.response(200, InvoiceSchema)
    def post(self, invoice_id):
        """Remind the client of an invoice with payment due: an email now
        (the overdue reminder when past due, else the invoice again), and a
        line in its history. 409 ``invoice_not_remindable`` otherwise."""
        return _invoice_action(invoice_id, reminders.remind)


@blp.route("/invoices/<id:invoice_id>/payments")
class InvoicePayments(MethodView):
    @blp.arguments(OfflinePaymentSchema)
    @blp.response(201, PaymentSchema)
    def post(self, data, invoice_id):
        """Record a payment received offline (bank transfer, cash, cheque, other)."""
        authorize("invoices.write")
        session = get_session()
        invoice = invoices.get_invoice(session, invoice_id, lock=True)
        payment = invoices.record_offline_payment(
            session,
            invoice,
            amount=data["amount"],
            method=data["method"],
            received_at=data.get("received_at"),
            reference=data.get("reference", ""),
        )
        session.commit()
        return payment


@blp.route("/invoices/<id:invoice_id>/credit-notes")
class InvoiceCreditNotes(MethodView):
    @blp.arguments(CreditNoteCreateSchema)
    @blp.response(201, CreditNoteSchema)
    def post(self, data, invoice_id):
        """Refund part or all of what was paid: a numbered credit note."""
        authorize("invoices.write")
        session = get_session()
        invoice = invoices.get_invoice(session, invoice_id, lock=True)
        # Checked here under the lock, so a concurrent credit note makes this
        # one a 409 before anything is asked of Stripe.
        invoices.require_creditable(invoice, data["amount"])
        if data.get("refund_to_card", invoices.paid_by_card(invoice)):
            gateway: PaymentGateway = payment_gateway(
                session,
                current_app.extensions["bridge.secret_box"],
                api_base_from(current_app.config),
            )
            return gateway.refund(session, invoice, data["amount"], data.get("reason", ""))
        note = invoices.issue_credit_note(
            session, invoice, amount=data["amount"], reason=data.get("reason", "")
        )
        session.commit()
        return note


@blp.route("/invoices/<id:invoice_id>/lines/<id:line_id>/bill-again")
class BillAgain(MethodView):
    @blp.response(201, InvoiceSchema)
    def post(self, invoice_id, line_id):
        """A new draft for a one-time item billed before."""
        authorize("invoices.write")
        session = get_session()
        invoice = invoices.get_invoice(session, invoice_id)
        line = session.get(InvoiceLine, line_id)
        if line is None or line.invoice_id != invoice.id:
            raise NotFound("No such line on this invoice.")
        again = invoices.bill_again(session, line)
        session.commit()
        return again


class OneTimeItemSchema(Schema):
    invoice_id = fields.Integer()
    invoice_number = fields.Function(lambda line: line.invoice.number)
    line_id = fields.Integer(attribute="id")
    plan_id = fields.Integer(allow_none=True)
    description = fields.String()
    quantity = Quantity(maximum=invoices.MAX_QUANTITY, dump_only=True)
    total = fields.Integer()
    billed_at = fields.Function(lambda line: line.invoice.issued_at.isoformat())


@blp.route("/clients/<id:client_id>/one-time-items")
class OneTimeItems(MethodView):
    @blp.response(200, list_schema(OneTimeItemSchema, "OneTimeItemList"))
    def get(self, client_id):
        """The client's one-time items from issued invoices (to bill again)."""
        authorize("invoices.read")
        session = get_session()
        clients.get_client(session, client_id)
        return {"data": invoices.one_time_items(session, client_id)}
