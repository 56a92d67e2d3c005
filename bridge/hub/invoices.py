"""SPEC 7 and 8 in the Hub: the invoice list, one invoice with the actions its
state allows, and the subscriptions list.

Each write takes the invoice's row lock first (``get_invoice(lock=True)``),
as the API does. A form that moves money (an offline payment, a refund)
carries a key made when the form was shown; the key is stored with the work,
in the same transaction and under the invoice's lock, so the same form sent
twice records once (the second time says it was already done).
"""

from __future__ import annotations

import re
import uuid

from flask import Response, current_app, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from bridge.auth import policy
from bridge.billing import audit, coupons, invoices, periods, reminders, subscriptions
from bridge.billing.gateway import PaymentGateway
from bridge.billing.schedule import business_zone
from bridge.core import clock, money
from bridge.core.errors import Conflict, DomainError, Invalid, NotFound, Unavailable
from bridge.db import get_session
from bridge.hub import once
from bridge.hub.forms import ActionForm, OfflinePaymentForm, RefundForm, RemindForm
from bridge.hub.views import _, allowed, bp, l10n, readable_log, render
from bridge.models import InvoiceStatus, PaymentMethod
from bridge.payments.gateways import payment_gateway
from bridge.payments.stripe.client import api_base_from
from bridge.pdf import invoice_pdf
from bridge.pdf.facturx import invoice_facturx_pdf

PER_PAGE = 25
OFFLINE_METHODS = [
    m for m in PaymentMethod if m not in (PaymentMethod.CARD, PaymentMethod.ACCOUNT_CREDIT)
]
METHOD_WORDS = {
    "card": _("Card"),
    "bank_transfer": _("Bank transfer"),
    "cash": _("Cash"),
    "cheque": _("Cheque"),
    "other": _("Other"),
    "account_credit": _("Account credit"),
}
SUBSCRIPTION_TABS = {"current": subscriptions.CURRENT, "inactive": subscriptions.INACTIVE}


def _page_number() -> int:
    number = request.args.get("page", "1")
    return int(number) if number.isdigit() and 0 < int(number) < 100000 else 1


def _client_filter() -> int | None:
    value = request.args.get("client_id", "")
    return int(value) if value.isdigit() and 0 < int(value) < 2**31 else None


# Lists ----------------------------------------------------------------------------


@bp.get("/invoices")
@allowed("invoices.read")
def invoice_list():
    """Invoices, newest first; filter by status and client."""
    status_arg = request.args.get("status") or ""
    status = InvoiceStatus(status_arg) if status_arg in set(InvoiceStatus) else None
    client_id = _client_filter()
    session = get_session()
    page = invoices.list_invoices(
        session, client_id=client_id, status=status, page=_page_number(), per_page=PER_PAGE
    )
    return render(
        "hub/invoices.html",
        page=page,
        status_filter=status.value if status else "",
        client_id=client_id,
        statuses=[s.value for s in InvoiceStatus],
        filtered=bool(status or client_id),
        active="hub.invoice_list",
    )


@bp.get("/subscriptions")
@allowed("subscriptions.read")
def subscription_list():
    """Subscriptions of every client: the current ones, or the inactive ones."""
    tab = request.args.get("tab") if request.args.get("tab") in SUBSCRIPTION_TABS else "current"
    session = get_session()
    page = subscriptions.list_subscriptions(
        session,
        client_id=_client_filter(),
        statuses=SUBSCRIPTION_TABS[tab],
        page=_page_number(),
        per_page=PER_PAGE,
    )
    return render("hub/subscriptions.html", page=page, tab=tab, active="hub.subscription_list")


# One invoice ----------------------------------------------------------------------


def _payment_form(invoice) -> OfflinePaymentForm:
    form = OfflinePaymentForm()
    form.method.choices = [(m.value, m.value) for m in OFFLINE_METHODS]
    return form


def _invoice_page(invoice, status: int = 200, payment_form=None, refund_form=None, error=None):
    session = get_session()
    if payment_form is None:
        payment_form = _payment_form(invoice)
        payment_form.key.data = str(uuid.uuid4())
        if invoice.amount_due > 0:
            payment_form.amount.data = str(money.to_decimal(invoice.amount_due, invoice.currency))
        payment_form.received_on.data = periods.local_date(clock.now(), business_zone(session))
    if refund_form is None:
        refund_form = RefundForm()
        refund_form.key.data = str(uuid.uuid4())
        refund_form.refund_to_card.data = invoices.paid_by_card(invoice)
        refundable = invoices.refundable(invoice)
        if refundable > 0:
            refund_form.amount.data = str(money.to_decimal(refundable, invoice.currency))
    taxes = invoices.tax_summary(session, invoice)
    due = invoice.amount_due
    limit = money.card_limit(due, invoice.currency) if due > 0 else None
    return render(
        "hub/invoice.html",
        status=status,
        invoice=invoice,
        actions=invoices.available_actions(invoice)
        if policy.may(current_user.principal, "invoices.write")
        else ["download"],
        taxes=taxes,
        printed_subtotal=invoices.printed_subtotal(invoice, taxes),
        discount_label=coupons.discount_label(invoice, l10n()),
        card_limit=limit,
        history=readable_log(audit.invoice_history(session, invoice)),
        hosted_url=None
        if invoice.status == InvoiceStatus.DRAFT
        else f"{request.host_url}i/{invoice.hosted_token}",
        paid_by_card=invoices.paid_by_card(invoice),
        payment_form=payment_form,
        refund_form=refund_form,
        action_form=ActionForm(),
        remind_form=_remind_form(),
        last_reminder=reminders.last_reminder(session, invoice.id),
        method_words=METHOD_WORDS,
        offline_methods=[m.value for m in OFFLINE_METHODS],
        error=error,
        active="hub.invoice_list",
    )


def _remind_form() -> RemindForm:
    form = RemindForm()
    form.key.data = once.new_key()
    return form


@bp.get("/invoices/<int:invoice_id>")
@allowed("invoices.read")
def invoice(invoice_id: int):
    """One invoice: lines, totals, payments, credit notes, history, actions."""
    return _invoice_page(_get(invoice_id))


def _get(invoice_id: int, lock: bool = False):
    try:
        return invoices.get_invoice(get_session(), invoice_id, lock=lock)
    except NotFound:
        from flask import abort

        abort(404)


@bp.get("/invoices/<int:invoice_id>/pdf")
@allowed("invoices.read")
def invoice_pdf_download(invoice_id: int):
    """The PDF, as the API streams it (drafts marked DRAFT)."""
    session = get_session()
    invoice = _get(invoice_id)
    return _download(
        invoice_pdf(session, invoice, None), f"{invoice.number or f'draft-{invoice.id}'}.pdf"
    )


def _download(data: bytes, filename: str) -> Response:
    """A private PDF download named ``filename``."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", filename)
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/invoices/<int:invoice_id>/facturx.pdf")
@allowed("invoices.read")
def invoice_facturx_download(invoice_id: int):
    """The Factur-X (EN 16931) PDF of an issued invoice, as the API gives it;
    what EN 16931 cannot carry shows the refusal on the invoice page."""
    session = get_session()
    invoice = _get(invoice_id)
    try:
        data = invoice_facturx_pdf(session, invoice)
    except Conflict as exc:
        return _invoice_page(invoice, status=409, error=exc.message)
    return _download(data, f"{invoice.number}-facturx.pdf")


ACTIONS = {
    "finalize": (invoices.finalize, _("The invoice was sent.")),
    "void": (invoices.void, _("The invoice was voided.")),
    "mark_uncollectible": (invoices.mark_uncollectible, _("The invoice was marked uncollectible.")),
}


@bp.post("/invoices/<int:invoice_id>/<any(finalize, void, mark_uncollectible):action>")
@allowed("invoices.write")
def invoice_action(invoice_id: int, action: str):
    """Send a draft, void an unpaid invoice, or write one off."""
    if not ActionForm().validate_on_submit():
        return redirect(url_for("hub.invoice", invoice_id=invoice_id))
    session = get_session()
    invoice = _get(invoice_id, lock=True)
    do, done = ACTIONS[action]
    try:
        do(session, invoice)
    except DomainError as exc:
        session.rollback()
        # Bad input (a French business invoice without the seller's legal
        # details) is a 422, as in the API; a state that forbids it a 409.
        status = 422 if isinstance(exc, Invalid) else 409
        return _invoice_page(_get(invoice_id), status=status, error=str(exc))
    session.commit()
    flash(done)
    return redirect(url_for("hub.invoice", invoice_id=invoice_id), 303)


@bp.post("/invoices/<int:invoice_id>/delete")
@allowed("invoices.write")
def invoice_delete(invoice_id: int):
    """Delete a draft (an issued invoice is voided instead)."""
    if not ActionForm().validate_on_submit():
        return redirect(url_for("hub.invoice", invoice_id=invoice_id))
    session = get_session()
    invoice = _get(invoice_id, lock=True)
    try:
        invoices.delete_draft(session, invoice)
    except DomainError as exc:
        session.rollback()
        # Bad input (a French business invoice without the seller's legal
        # details) is a 422, as in the API; a state that forbids it a 409.
        status = 422 if isinstance(exc, Invalid) else 409
        return _invoice_page(_get(invoice_id), status=status, error=str(exc))
    session.commit()
    flash(_("The draft was deleted."))
    return redirect(url_for("hub.invoice_list"), 303)


def _first_time(session, key: str, invoice_id: int) -> bool:
    """Keep the form's key with the work (call it under the invoice's lock):
    False when the key was already used, so the form is not acted on twice."""
    key = (key or "").strip()
    if not key or len(key) > once.MAX_KEY:
        key = once.new_key()  # a form without its key is acted on, unguarded
    if once.claim(session, current_user.user_id, key) is not None:
        return False
    once.done(session, current_user.user_id, key, url_for("hub.invoice", invoice_id=invoice_id))
    return True


@bp.post("/invoices/<int:invoice_id>/remind")
@allowed("invoices.write")
def invoice_remind(invoice_id: int):
    """Remind the client now (an email through the outbox); the form's key
    makes a double click send one reminder."""
    form = RemindForm()
    if not form.validate_on_submit():
        return redirect(url_for("hub.invoice", invoice_id=invoice_id))
    session = get_session()
    invoice = _get(invoice_id, lock=True)
    try:
        if not _first_time(session, form.key.data, invoice.id):
            session.rollback()
            flash(_("This reminder was already sent."))
            return redirect(url_for("hub.invoice", invoice_id=invoice_id), 303)
        reminders.remind(session, invoice)
        session.commit()
    except IntegrityError:
        session.rollback()
        flash(_("This reminder was already sent."))
        return redirect(url_for("hub.invoice", invoice_id=invoice_id), 303)
    except DomainError as exc:
        session.rollback()
        # Bad input (a French business invoice without the seller's legal
        # details) is a 422, as in the API; a state that forbids it a 409.
        status = 422 if isinstance(exc, Invalid) else 409
        return _invoice_page(_get(invoice_id), status=status, error=str(exc))
    flash(_("The reminder is on its way to the client."))
    return redirect(url_for("hub.invoice", invoice_id=invoice_id), 303)


def _amount(form, invoice) -> int | None:
    try:
        return money.parse_amount((form.amount.data or "").strip(), invoice.currency)
    except money.InvalidAmount as exc:
        form.amount.errors = [str(exc)]
        return None


@bp.post("/invoices/<int:invoice_id>/payments")
@allowed("invoices.write")
def invoice_payment(invoice_id: int):
    """Record a payment received offline; the form's key makes it happen once."""
    session = get_session()
    invoice = _get(invoice_id)
    form = _payment_form(invoice)
    valid = form.validate_on_submit()
    amount = _amount(form, invoice)
    if not valid or amount is None or amount <= 0:
        if amount is not None and amount <= 0:
            form.amount.errors = [_("Must be more than zero.")]
        return _invoice_page(invoice, status=422, payment_form=form)
    invoice = _get(invoice_id, lock=True)
    received_at = None
    if form.received_on.data is not None:
        received_at = periods.instant_on(form.received_on.data, clock.now(), business_zone(session))
    try:
        if not _first_time(session, form.key.data, invoice.id):
            session.rollback()
            flash(_("This payment was already recorded."))
            return redirect(url_for("hub.invoice", invoice_id=invoice_id), 303)
        invoices.record_offline_payment(
            session,
            invoice,
            amount=amount,
            method=PaymentMethod(form.method.data),
            received_at=received_at,
            reference=(form.reference.data or "").strip(),
        )
        session.commit()
    except IntegrityError:
        session.rollback()
        flash(_("This payment was already recorded."))
        return redirect(url_for("hub.invoice", invoice_id=invoice_id), 303)
    except DomainError as exc:
        session.rollback()
        invoice = _get(invoice_id)
        for field, messages in (getattr(exc, "fields", None) or {}).items():
            target = {"received_at": form.received_on}.get(field, getattr(form, field, None))
            if target is not None:
                target.errors = list(messages)
        return _invoice_page(invoice, status=409, payment_form=form, error=str(exc))
    flash(_("The payment was recorded."))
    return redirect(url_for("hub.invoice", invoice_id=invoice_id), 303)


@bp.post("/invoices/<int:invoice_id>/refund")
@allowed("invoices.write")
def invoice_refund(invoice_id: int):
    """Refund part or all of what was paid: to the card through the payment
    gateway (as the API does), or recorded as made another way."""
    session = get_session()
    invoice = _get(invoice_id)
    form = RefundForm()
    valid = form.validate_on_submit()
    amount = _amount(form, invoice)
    if not valid or amount is None or amount <= 0:
        if amount is not None and amount <= 0:
            form.amount.errors = [_("Must be more than zero.")]
        return _invoice_page(invoice, status=422, refund_form=form)
    invoice = _get(invoice_id, lock=True)
    reason = (form.reason.data or "").strip()
    try:
        invoices.require_creditable(invoice, amount)
        if not _first_time(session, form.key.data, invoice.id):
            session.rollback()
            flash(_("This refund was already made."))
            return redirect(url_for("hub.invoice", invoice_id=invoice_id), 303)
        if form.refund_to_card.data:
            gateway: PaymentGateway = payment_gateway(
                session,
                current_app.extensions["bridge.secret_box"],
                api_base_from(current_app.config),
            )
            gateway.refund(session, invoice, amount, reason)
        else:
            invoices.issue_credit_note(session, invoice, amount=amount, reason=reason)
        session.commit()
    except IntegrityError:
        session.rollback()
        flash(_("This refund was already made."))
        return redirect(url_for("hub.invoice", invoice_id=invoice_id), 303)
    except (DomainError, Unavailable) as exc:
        session.rollback()
        _forget_key(session, form.key.data)
        for field, messages in (getattr(exc, "fields", None) or {}).items():
            target = getattr(form, field, None)
            if target is not None:
                target.errors = list(messages)
        return _invoice_page(_get(invoice_id), status=409, refund_form=form, error=str(exc))
    flash(_("The refund was made."))
    return redirect(url_for("hub.invoice", invoice_id=invoice_id), 303)


def _forget_key(session, key: str) -> None:
    """A refund that failed after committing its key (the gateway commits
    before asking Stripe) gives the key back, so the form can be sent again."""
    once.forget(session, current_user.user_id, (key or "").strip())
    session.commit()
