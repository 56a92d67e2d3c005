"""The hosted invoice page, ``/i/<token>``, and the JSON endpoints its
script calls to pay by card.

The card never reaches us: Stripe.js collects it and confirms a SetupIntent
with Stripe; we only see Stripe's ids. The flow (``static/hosted-invoice.js``):

1. ``POST /i/<token>/setup-intent`` -> ``{client_secret}``;
   the page calls ``stripe.confirmCardSetup`` with it.
2. ``POST /i/<token>/pay {setup_intent_id}``: the card becomes the client's
   default and the invoice is charged off-session with it ->
   ``{status, message?, client_secret?, payment_intent_id?}``.
3. When the bank wants 3-D Secure (``requires_action``) the page calls
   ``stripe.confirmCardPayment(client_secret)``, then
   ``POST /i/<token>/confirm {payment_intent_id}`` settles it.

A renewal whose charge needs authentication leaves the invoice in
*action required*: ``POST /i/<token>/authenticate`` hands the page that
payment's client secret for step 3.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
)
from marshmallow import Schema, validate
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import HTTPException

from bridge.api import errors
from bridge.api.fields import Text
from bridge.billing import coupons, invoices, legal
from bridge.billing.business import (
    get_settings,
    invoice_brand_color,
    localiser,
    text_color_on,
)
from bridge.core.errors import Conflict, NotFound
from bridge.core.l10n import Localiser
from bridge.core.money import card_limit, stripe_charge_amount, stripe_step
from bridge.db import get_session
from bridge.models import (
    BusinessSettings,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    PaymentState,
)
from bridge.models.invoices import PaymentStatus
from bridge.payments import stripe as stripe_gateway
from bridge.pdf.facturx import default_pdf, facturx_is_default
from bridge.portal import limits, security

log = logging.getLogger(__name__)

bp = Blueprint(
    "portal",
    __name__,
    static_folder="static",
    static_url_path="/portal/static",
)

# secrets.token_urlsafe(32) gives 43 characters; the domain accepts 20 to 64.
TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")

JSON_ENDPOINTS = {
    "portal.setup_intent",
    "portal.pay",
    "portal.confirm",
    "portal.authenticate",
}


# Request bodies: the API's fields and parser, so a bad body is refused in the
# API's words (422 validation_error with the fields, unknown keys included).


class EmptyBody(Schema):
    """``{}`` (or no body at all)."""


def _stripe_id(prefix: str) -> Text:
    return Text(
        max_length=len(prefix) + 120,
        required=True,
        validate=[validate.Regexp(rf"{prefix}[A-Za-z0-9_]{{1,120}}\Z", error="Not a valid id.")],
    )


class PayBody(Schema):
    setup_intent_id = _stripe_id("seti_")


class ConfirmBody(Schema):
    payment_intent_id = _stripe_id("pi_")


# Collaborators ------------------------------------------------------------------


def _gateway(session):
    """The Stripe gateway, or None when card payments are not configured
    (the page then shows the offline instructions)."""
    try:
        return stripe_gateway.gateway_for(
            session,
            current_app.extensions["bridge.secret_box"],
            stripe_gateway.api_base_from(current_app.config),
        )
    except ValueError:
        # The stored key cannot be decrypted (the encryption key changed):
        # the page still shows the invoice and the offline instructions.
        log.exception("the Stripe key cannot be read: card payments are unavailable")
        return None


# Reading the invoice ---------------------------------------------------------


def _invoice(token: str) -> Invoice:
    """The finalized invoice of ``token``; NotFound for anything else, the
    same answer for a draft, a garbled token and an unknown one."""
    if not TOKEN.fullmatch(token):
        raise NotFound("No such invoice.")
    return invoices.get_by_hosted_token(get_session(), token)


def _load_lines(session, invoice: Invoice) -> None:
    """Lines and their taxes in two queries, not one per line (an invoice
    may have hundreds of lines)."""
    session.scalars(
        select(Invoice)
        .where(Invoice.id == invoice.id)
        .options(selectinload(Invoice.lines).selectinload(InvoiceLine.taxes))
    ).one()


def _payable(invoice: Invoice) -> bool:
    return invoice.status == InvoiceStatus.OPEN and invoice.amount_due > 0


def _card_payments(session, settings: BusinessSettings):
    """The gateway when this page can take cards, else None."""
    if not settings.stripe_publishable_key or not security.stripe_js_origin():
        return None
    return _gateway(session)


def card_gateway(session):
    """The Stripe gateway when the portal's pages can take cards (keys
    stored, Stripe.js configured), else None."""
    return _card_payments(session, get_settings(session))


def _card_limit_note(invoice: Invoice, l10n: Localiser) -> str | None:
    """Why the amount due cannot be paid by card (Stripe's minimum or
    maximum charge), in the invoice's language; None when it can."""
    limit = card_limit(invoice.amount_due, invoice.currency)
    if limit is None:
        return None
    values = {"currency": invoice.currency, "amount": l10n.money(limit.limit, invoice.currency)}
    if limit.reason == "below_minimum":
        text = l10n.gettext(
            "This amount cannot be paid by card: the smallest card payment in %(currency)s "
            "is %(amount)s."
        )
    else:
        text = l10n.gettext(
            "This amount cannot be paid by card: the largest card payment in %(currency)s "
            "is %(amount)s."
        )
    return text % values


def _card_rounding_note(invoice: Invoice, l10n: Localiser) -> str | None:
    """For a three-decimal currency: what the card is charged, when Stripe's
    unit makes it more than the amount due; None otherwise."""
    charged = stripe_charge_amount(invoice.amount_due, invoice.currency)
    if charged == invoice.amount_due:
        return None
    return l10n.gettext("Card payments are charged in steps of %(step)s: %(amount)s.") % {
        "step": l10n.money(stripe_step(invoice.currency), invoice.currency),
        "amount": l10n.money(charged, invoice.currency),
    }


def _last_payment(session, invoice: Invoice, status: PaymentStatus) -> Payment | None:
    return session.scalar(
        select(Payment)
        .where(Payment.invoice_id == invoice.id, Payment.status == status)
        .order_by(Payment.id.desc())
        .limit(1)
    )


# The page -------------------------------------------------------------------


@dataclass(frozen=True)
class TaxRow:
    label: str
    amount: str


def _tax_rows(invoice: Invoice, l10n: Localiser, taxes: list[invoices.TaxSum]) -> list[TaxRow]:
    """One row per tax rate, as the domain adds them up."""
    return [
        TaxRow(invoices.tax_label(tax, l10n), l10n.money(tax.amount, invoice.currency))
        for tax in taxes
    ]


@bp.get("/i/<token>")
def hosted_invoice(token: str):
    """The invoice as the client sees it, with a way to pay while it is due."""
    try:
        invoice = _invoice(token)
    except NotFound:
        return _not_found_page()
    session = get_session()
    _load_lines(session, invoice)
    settings = get_settings(session)
    l10n = localiser(session, invoice.language)
    payable = _payable(invoice)
    processing = payable and invoice.payment_state == PaymentState.PROCESSING
    gateway = _card_payments(session, settings) if payable and not processing else None
    card_unavailable = _card_limit_note(invoice, l10n) if gateway is not None else None
    if card_unavailable:
        gateway = None  # Stripe would refuse it: only the offline instructions
    action_required = gateway is not None and invoice.payment_state == PaymentState.ACTION_REQUIRED
    last_failure = None
    if gateway is not None and invoice.payment_state == PaymentState.FAILED:
        failed = _last_payment(session, invoice, PaymentStatus.FAILED)
        last_failure = failed.failure_message if failed else None
    brand_color = invoice_brand_color(settings)
    taxes = invoices.tax_summary(session, invoice)
    page = render_template(
        "portal/invoice.html",
        **l10n.template_context(),
        invoice=invoice,
        client=invoice.client,
        settings=settings,
        brand_color=brand_color,
        brand_text_color=text_color_on(brand_color),
        show_logo=bool(settings.invoice_show_logo and settings.logo_id),
        tax_rows=_tax_rows(invoice, l10n, taxes),
        seller_name=legal.seller_name(settings),
        mentions=legal.mentions(
            settings, invoice.client, {tax.exemption for tax in taxes}, l10n, invoice.currency
        ),
        subtotal=invoices.printed_subtotal(invoice, taxes),
        discount_label=coupons.discount_label(invoice, l10n),
        payable=payable,
        processing=processing,
        card_payments=gateway is not None,
        card_unavailable=card_unavailable,
        card_amount=stripe_charge_amount(invoice.amount_due, invoice.currency),
        card_rounding=_card_rounding_note(invoice, l10n) if gateway is not None else None,
        action_required=action_required,
        last_failure=last_failure,
        stripe_js_url=current_app.config["STRIPE_JS_URL"],
        pdf_available=True,
        facturx=facturx_is_default(session, invoice),
        csp_nonce=security.csp_nonce(),
        token=token,
    )
    response = Response(page, mimetype="text/html")
    return security.protect(response, with_stripe=gateway is not None)


def _not_found_page():
    # No invoice, so no invoice language: the business's.
    page = render_template(
        "portal/not_found.html",
        **localiser(get_session()).template_context(),
        csp_nonce=security.csp_nonce(),
    )
    return security.protect(Response(page, status=404, mimetype="text/html"))


@bp.get("/i/<token>/logo")
def logo(token: str):
    """The agency's logo, for the page's ``<img>``."""
    try:
        _invoice(token)
    except NotFound:
        abort(404)
    settings = get_settings(get_session())
    stored = settings.logo if settings.invoice_show_logo else None
    if stored is None:
        abort(404)
    return security.image_response(stored.data, stored.content_type)


@bp.get("/i/<token>/pdf")
def pdf(token: str):
    """The invoice as a PDF, for its client (the token is the credential)."""
    try:
        invoice = _invoice(token)
    except NotFound:
        abort(404)
    # The default format: Factur-X for a business when the setting says so.
    data = default_pdf(get_session(), invoice)
    filename = re.sub(r"[^A-Za-z0-9._-]+", "-", invoice.number or "invoice") + ".pdf"
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return security.protect(response)


# Paying -----------------------------------------------------------------------


def _require_payable(invoice: Invoice) -> None:
    if not _payable(invoice):
        raise Conflict(
            f"This invoice is {invoice.status.value}: there is nothing to pay.",
            code="invoice_not_payable",
        )
    if invoice.payment_state == PaymentState.PROCESSING:
        raise Conflict("A payment of this invoice is being processed.", code="payment_in_progress")


def _require_card_amount(session, invoice: Invoice) -> None:
    """Refuse, before anything is created at Stripe, an amount Stripe
    cannot take by card."""
    note = _card_limit_note(invoice, localiser(session, invoice.language))
    if note:
        raise Conflict(note, code=stripe_gateway.CARD_LIMIT_CODE)


def _require_gateway(session):
    module = stripe_gateway
    gateway = _card_payments(session, get_settings(session))
    if gateway is None:
        raise Conflict(
            "Card payments are not available: see the page's payment instructions.",
            code="card_payments_unavailable",
        )
    return module, gateway


def _result(result, l10n: Localiser):
    """The JSON answer for a ChargeResult: always 200, the outcome is in
    ``status`` (a declined card is an answer, not an error of the request)."""
    status = result.status
    body = {"status": status}
    if status == "requires_action":
        secret = result.client_secret or ""
        body["client_secret"] = secret
        body["payment_intent_id"] = result.payment_intent_id or secret.split("_secret_")[0]
        if result.payment_method_id:
            body["payment_method_id"] = result.payment_method_id
    elif status == "failed":
        body["message"] = result.message or l10n.gettext("The payment failed.")
        if result.decline_code:
            body["decline_code"] = result.decline_code
    elif status == "processing":
        body["message"] = l10n.gettext(
            "Your payment is being processed. This page shows the result once it is confirmed."
        )
    elif status == "succeeded":
        body["message"] = l10n.gettext("Payment received. Thank you!")
    return jsonify(body)


@bp.post("/i/<token>/setup-intent")
@limits.payment_limits
def setup_intent(token: str):
    """Start saving a card for the invoice's client: a SetupIntent whose
    client secret Stripe.js confirms with the card."""
    security.json_body(EmptyBody())
    invoice = _invoice(token)
    _require_payable(invoice)
    session = get_session()
    _require_card_amount(session, invoice)
    module, gateway = _require_gateway(session)
    intent = module.start_card_setup(session, gateway, invoice.client)
    session.commit()
    return security.protect(jsonify({"client_secret": intent["client_secret"]}))


@bp.post("/i/<token>/pay")
@limits.payment_limits
def pay(token: str):
    """Save the card Stripe.js just confirmed and charge the invoice with it."""
    body = security.json_body(PayBody())
    invoice = _invoice(token)
    _require_payable(invoice)
    session = get_session()
    _require_card_amount(session, invoice)
    module, gateway = _require_gateway(session)
    module.complete_card_setup(session, gateway, invoice.client, body["setup_intent_id"])
    session.commit()
    # The client is on the page: an on-session charge, so a bank that wants
    # 3-D Secure asks for it here rather than declining.
    result = module.charge_invoice(session, gateway, invoice, on_session=True)
    session.commit()
    return security.protect(_result(result, localiser(session, invoice.language)))


def _own_payment(session, invoice: Invoice, payment_intent_id: str) -> Payment:
    """The payment of ``invoice`` made with that PaymentIntent: a token
    only ever reaches its own invoice's payments."""
    payment = session.scalar(
        select(Payment).where(
            Payment.invoice_id == invoice.id,
            Payment.stripe_payment_intent_id == payment_intent_id,
        )
    )
    if payment is None:
        raise NotFound("No such payment for this invoice.")
    return payment


@bp.post("/i/<token>/confirm")
def confirm(token: str):
    """After 3-D Secure in the browser: ask Stripe how the payment ended."""
    body = security.json_body(ConfirmBody())
    invoice = _invoice(token)
    session = get_session()
    _own_payment(session, invoice, body["payment_intent_id"])
    module, gateway = _require_gateway(session)
    result = module.settle_payment_intent(
        session, gateway, body["payment_intent_id"], invoice=invoice
    )
    session.commit()
    return security.protect(_result(result, localiser(session, invoice.language)))


@bp.post("/i/<token>/authenticate")
def authenticate(token: str):
    """For an invoice in *action required*: the client secret of the
    payment waiting for the client's 3-D Secure confirmation."""
    security.json_body(EmptyBody())
    invoice = _invoice(token)
    _require_payable(invoice)
    session = get_session()
    module, gateway = _require_gateway(session)
    waiting = _last_payment(session, invoice, PaymentStatus.REQUIRES_ACTION)
    if invoice.payment_state != PaymentState.ACTION_REQUIRED or waiting is None:
        raise Conflict("No payment of this invoice waits for authentication.", code="no_action")
    result = module.payment_action(session, gateway, waiting)
    session.commit()
    return security.protect(_result(result, localiser(session, invoice.language)))


# Errors -------------------------------------------------------------------------


@bp.errorhandler(Exception)
def handle_error(error: Exception):
    """The POST endpoints answer with the API's error builder; the page's
    own errors stay HTML."""
    if request.endpoint not in JSON_ENDPOINTS:
        if isinstance(error, HTTPException):
            return security.protect(error.get_response())
        return errors.handle_unexpected(error)  # an outage: the app's 503 page
    return json_answer(error)


def json_answer(error: Exception):
    """The JSON error answer of an endpoint that reaches Stripe for a
    page's script (here and in the portal's card page)."""
    if isinstance(error, stripe_gateway.StripeRefused):
        # Stripe's refusal is not the client's input: 502 rather than the
        # domain's 422 (StripeUnavailable is already a 503).
        response = errors.error_response(502, error.code, error.message, error.fields)
    elif _is_stripe_error(error):
        log.warning("Stripe refused a hosted page request: %s", error)
        response = errors.error_response(
            502,
            "payment_provider_error",
            "The payment service could not complete the request. Please try again.",
        )
    else:
        response = errors.json_error(error)
    return security.protect(response)


def _is_stripe_error(error: Exception) -> bool:
    return any(cls.__module__.startswith("stripe") for cls in type(error).__mro__)
