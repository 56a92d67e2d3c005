"""SPEC 6, *Bill client*: choose the client, an optional site, plans with
quantities, tax rates, a note and the language; *continue* shows the review;
then *preview* (the PDF), *save as draft* or *send*.

The review and the preview are the domain's own draft (``invoices.bill_client``
or ``invoices.update_draft``) built in the request's transaction and rolled
back once shown: the totals are the ones the saved invoice will have, and a
client looked at but not billed leaves no stray draft behind. Only *save* and
*send* commit.

*Save* and *send* carry the form's key (a uuid made when the form was first
shown), claimed with ``bridge.hub.once`` in the same transaction as the
invoice, before the work: a second submit with the key waits on the unique
index (PostgreSQL) or finds the row, and goes to the invoice the first made
instead of billing twice.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from babel.numbers import get_decimal_symbol
from flask import Response, redirect, request
from flask_login import current_user

from bridge.billing import catalog, coupons, invoices
from bridge.billing import clients as client_book
from bridge.billing.business import get_settings
from bridge.billing.invoices import Item
from bridge.core import money
from bridge.core.errors import Conflict, Invalid, NotFound
from bridge.core.l10n import LANGUAGES
from bridge.db import get_session
from bridge.hub import once
from bridge.hub.forms import BillForm
from bridge.hub.views import allowed, bp, l10n, render
from bridge.models import CatalogStatus, InvoiceStatus
from bridge.pdf import invoice_pdf

MAX_CLIENTS = 1000
SEARCH_RESULTS = 50
MAX_PRODUCTS = 500
KEEP = ("csrf_token", "action")
# Each language by its own name, as language pickers do.
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "de": "Deutsch"}


def invoice_path(invoice_id: int) -> str:
    """The invoice's page (``hub.invoice``), by its plain path."""
    return f"/invoices/{invoice_id}"


# Choices ---------------------------------------------------------------------------


def _fill_choices(form: BillForm, session, client=None) -> None:
    """The pickers' choices. Up to ``MAX_CLIENTS`` clients, the client
    picker lists them all; with more, it lists those its search words
    (``client_q``) find, ``SEARCH_RESULTS`` at most, and the chosen one."""
    chosen = client
    if chosen is None and form.client_id.data:
        try:
            chosen = client_book.get_client(session, form.client_id.data)
        except NotFound:
            chosen = None
    form.client_search = client_book.client_count(session) > MAX_CLIENTS
    form.client_matches = None
    if not form.client_search:
        listed = client_book.list_clients(session, sort="name", per_page=MAX_CLIENTS).items
    else:
        words = (form.client_q.data or "").strip()[:200]
        listed = []
        if words:
            found = client_book.list_clients(
                session, text=words, sort="name", per_page=SEARCH_RESULTS
            )
            listed, form.client_matches = found.items, found.total
    form.client_shown = len(listed)
    choices = [(c.id, c.name or c.email) for c in listed]
    if chosen is not None and chosen.id not in {c for c, _n in choices}:
        choices.insert(0, (chosen.id, chosen.name or chosen.email))
    form.client_id.choices = [(0, "—")] + choices
    form.site_id.choices = [(0, "—")] + (
        [(s.id, s.name or s.url) for s in chosen.sites] if chosen is not None else []
    )
    currency = get_settings(session).currency
    plans = []
    for product in catalog.list_products(
        session, status=CatalogStatus.ACTIVE, per_page=MAX_PRODUCTS
    ).items:
        for plan in product.plans:
            if plan.status == CatalogStatus.ACTIVE and plan.currency == currency:
                name = product.name
                if plan.name != product.name:
                    name = f"{product.name} — {plan.name}"
                plans.append((plan.id, f"{name} · {l10n().money(plan.amount, plan.currency)}"))
    rates = catalog.list_tax_rates(session, CatalogStatus.ACTIVE)
    words = l10n()
    line_taxes = [(0, words.gettext("The invoice's tax rates")), (-1, words.gettext("No tax"))]
    line_taxes += [(r.id, _rate_label(r)) for r in rates]
    for entry in form.items:
        entry.form.plan_id.choices = [(0, "—")] + plans
        entry.form.tax.choices = line_taxes
    form.tax_rate_ids.choices = [(r.id, _rate_label(r)) for r in rates]
    form.language.choices = [(code, LANGUAGE_NAMES.get(code, code)) for code in LANGUAGES]


def _rate_label(rate) -> str:
    """ "VAT 20 %", or the name alone when it says its percentage already."""
    percentage = catalog.format_percentage(rate.percentage_e4)
    return rate.name if percentage in rate.name else f"{rate.name} {percentage} %"


def _number(text: str) -> str:
    """What a person typed as a number, with the reader's decimal sign
    (1,5 in French) made a point; group separators are refused later."""
    text = (text or "").strip()
    symbol = get_decimal_symbol(l10n().locale)
    return text.replace(symbol, ".") if symbol != "." and "." not in text else text


def _items(form: BillForm, currency: str) -> list[Item]:
    """The form's lines as the domain's items; a quantity or a price that
    cannot be read is an error next to its field."""
    items, errors = [], {}
    for index, entry in enumerate(form.items):
        row = entry.form
        try:
            thousandths = money.quantity_e3(_number(row.quantity.data))
            if not 0 < thousandths <= invoices.MAX_QUANTITY * money.QUANTITY_SCALE:
                raise money.InvalidQuantity(_QUANTITY)
            quantity = money.quantity_decimal(thousandths)
        except money.InvalidQuantity:
            errors[f"items.{index}.quantity"] = [_QUANTITY]
            quantity = Decimal(1)
        tax = row.tax.data or 0
        rates = None if tax == 0 else () if tax < 0 else (tax,)
        if row.one_off.data != "1":
            items.append(Item(row.plan_id.data, quantity, tax_rate_ids=rates))
            continue
        try:
            unit = money.parse_amount(_number(row.unit_amount.data), currency)
        except money.InvalidAmount as exc:
            errors[f"items.{index}.unit_amount"] = [exc.message]
            unit = 0
        items.append(
            Item(
                quantity=quantity,
                description=(row.description.data or "").strip(),
                unit_amount=unit,
                tax_rate_ids=rates,
                save_as_plan=bool(row.save_as_plan.data),
            )
        )
    if errors:
        raise Invalid("Some items cannot be billed.", fields=errors)
    return items


_QUANTITY = "More than 0 and at most 10,000, with up to 3 decimals."
_ROW_FIELDS = ("plan_id", "quantity", "description", "unit_amount", "tax")


def _show_domain_errors(form: BillForm, error: Invalid) -> list[str]:
    """The domain's field errors next to their fields; the rest as a notice."""
    notices = []
    for name, messages in error.fields.items():
        parts = name.split(".")
        if parts[0] == "items" and len(parts) == 3 and parts[1].isdigit():
            index = int(parts[1])
            if index < len(form.items) and parts[2] in _ROW_FIELDS:
                form.items[index].form[parts[2]].errors = list(messages)
                continue
        if parts[0] == "items" and len(parts) == 3 and parts[2] == "tax_rate_ids":
            form.items[int(parts[1])].form.tax.errors = list(messages)
            continue
        if name in form._fields:
            form[name].errors = list(messages)
            continue
        notices.extend(messages)
    if error.code == "legal_mentions_missing":
        # Settings' fields, not the form's: the message names them all.
        return [error.message]
    return notices or [error.message]


# The flow --------------------------------------------------------------------------


def _show_form(form, draft=None, status=200, notices=()):
    return render(
        "hub/bill.html",
        status=status,
        form=form,
        draft=draft,
        notices=list(notices),
        active="hub.bill",
    )


def _build(session, form: BillForm, draft):
    """The draft, as the domain makes it (not committed)."""
    if draft is None:
        client = client_book.get_client(session, form.client_id.data)
        return invoices.bill_client(
            session,
            client,
            _items(form, get_settings(session).currency),
            tax_rate_ids=list(form.tax_rate_ids.data or []),
            site_id=form.site_id.data or None,
            note=form.note.data or "",
            language=form.language.data,
            coupon=_coupon(session, form),
        )
    invoice = invoices.get_invoice(session, draft.id, lock=True)
    return invoices.update_draft(
        session,
        invoice,
        items=_items(form, invoice.currency),
        tax_rate_ids=list(form.tax_rate_ids.data or []),
        site_id=form.site_id.data or None,
        note=form.note.data or "",
        language=form.language.data,
    )


def _coupon(session, form: BillForm):
    """The coupon of the code typed, if any: an unknown, expired or used-up
    code is an error next to the field (422), not a 409 page."""
    code = (form.coupon_code.data or "").strip()
    if not code:
        return None
    try:
        coupon = coupons.by_code(session, code)
        coupons.check_redeemable(session, coupon)
    except (NotFound, Conflict) as exc:
        raise Invalid(
            "This coupon code cannot be used.", fields={"coupon_code": [exc.message]}
        ) from exc
    return coupon


def _flow(draft_id: int | None):
    session = get_session()
    draft = None
    if draft_id is not None:
        draft = invoices.get_invoice(session, draft_id)
        if draft.status != InvoiceStatus.DRAFT:
            return redirect(invoice_path(draft.id))
    form = BillForm()
    if request.method == "GET":
        form.process(data=_initial(session, draft))
        if draft is None and request.args.get("client_id", "").isdigit():
            form.client_id.data = int(request.args["client_id"])
        form.client_q.data = request.args.get("client_q", "")[:200]
        form.key.data = str(uuid.uuid4())
        _fill_choices(form, session, draft.client if draft else None)
        return _show_form(form, draft)
    if draft is not None:
        form.client_id.data = draft.client_id
    _fill_choices(form, session, draft.client if draft else None)
    action = request.form.get("action", "continue")
    if action == "find":
        return _show_form(form, draft)
    if action in ("add", "add-one-off"):
        if len(form.items) < invoices.MAX_LINES:
            form.items.append_entry({"one_off": "1"} if action == "add-one-off" else None)
            _fill_choices(form, session, draft.client if draft else None)
        return _show_form(form, draft)
    if action.startswith("remove-") and action[7:].isdigit():
        index = int(action[7:])
        if len(form.items) > 1 and index < len(form.items):
            kept = [e.form.data for i, e in enumerate(form.items) if i != index]
            form.items.entries = []
            form.items.last_index = -1
            for data in kept:
                form.items.append_entry(data)
            _fill_choices(form, session, draft.client if draft else None)
        return _show_form(form, draft)
    if action == "edit":
        return _show_form(form, draft)
    if not form.validate():
        return _show_form(form, draft, status=422)
    if action == "save" or action == "send":
        return _commit(session, form, draft, send=action == "send")
    try:
        invoice = _build(session, form, draft)
        taxes = invoices.tax_summary(session, invoice)
        page = render(
            "hub/bill_review.html",
            invoice=invoice,
            taxes=taxes,
            printed_subtotal=invoices.printed_subtotal(invoice, taxes),
            discount_label=coupons.discount_label(invoice, l10n()),
            carried=[(k, v) for k, values in request.form.lists() if k not in KEEP for v in values],
            form=form,
            draft=draft,
            active="hub.bill",
        )
    except (Invalid, NotFound) as exc:
        session.rollback()
        return _show_form(form, draft, status=422, notices=_show_domain_errors(form, _invalid(exc)))
    session.rollback()
    return page


def _invalid(exc) -> Invalid:
    if isinstance(exc, Invalid):
        return exc
    return Invalid(exc.message, fields={"client_id": [exc.message]})


def _commit(session, form: BillForm, draft, *, send: bool):
    key = (form.key.data or "").strip()
    seen = once.claim(session, current_user.user_id, key)
    if seen is not None:
        # Sent again: where the first went (or, while it still runs, a new form).
        session.rollback()
        return redirect(seen or "/bill", 303)
    try:
        invoice = _build(session, form, draft)
        if send:
            invoices.finalize(session, invoice)
    except (Invalid, NotFound) as exc:
        session.rollback()
        return _show_form(form, draft, status=422, notices=_show_domain_errors(form, _invalid(exc)))
    except Conflict as exc:
        session.rollback()
        return _show_form(form, draft, status=409, notices=[exc.message])
    once.done(session, current_user.user_id, key, invoice_path(invoice.id))
    session.commit()
    return redirect(invoice_path(invoice.id), 303)


def _initial(session, draft) -> dict:
    settings = get_settings(session)
    if draft is None:
        return {"items": [{"quantity": "1"}], "language": settings.invoice_language}
    return {
        "client_id": draft.client_id,
        "site_id": draft.site_id or 0,
        "items": [_initial_line(line, draft.currency) for line in draft.lines]
        or [{"quantity": "1"}],
        "tax_rate_ids": list(draft.tax_rate_ids),
        "note": draft.note,
        "language": draft.language,
    }


def _initial_line(line, currency: str) -> dict:
    """A draft's line as the form shows it, numbers in the reader's locale."""
    symbol = get_decimal_symbol(l10n().locale)
    rates = line.tax_rate_ids
    data = {
        "plan_id": line.plan_id or 0,
        "quantity": str(line.quantity).replace(".", symbol),
        "tax": 0 if rates is None else rates[0] if rates else -1,
    }
    if line.plan_id is None:
        unit = str(money.to_decimal(line.unit_amount, currency)).replace(".", symbol)
        data.update(one_off="1", description=line.description, unit_amount=unit)
    return data


@bp.route("/bill", methods=["GET", "POST"])
@allowed("invoices.write")
def bill():
    """A new invoice for a client (``?client_id=`` preselects one)."""
    return _flow(None)


@bp.route("/bill/<int:invoice_id>", methods=["GET", "POST"])
@allowed("invoices.write")
def bill_draft(invoice_id: int):
    """A draft reopened in the same flow (an issued invoice: its page)."""
    return _flow(invoice_id)


def _preview(draft_id: int | None) -> Response | tuple:
    session = get_session()
    draft = invoices.get_invoice(session, draft_id) if draft_id is not None else None
    form = BillForm()
    if draft is not None:
        form.client_id.data = draft.client_id
    _fill_choices(form, session, draft.client if draft else None)
    if not form.validate():
        return _show_form(form, draft, status=422)
    try:
        invoice = _build(session, form, draft)
        data = invoice_pdf(session, invoice)
    except (Invalid, NotFound) as exc:
        session.rollback()
        return _show_form(form, draft, status=422, notices=_show_domain_errors(form, _invalid(exc)))
    except Conflict as exc:
        session.rollback()
        return _show_form(form, draft, status=409, notices=[exc.message])
    session.rollback()
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = 'inline; filename="draft.pdf"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/bill/preview")
@allowed("invoices.write")
def bill_preview():
    """The PDF of the invoice the form would make (nothing is saved)."""
    return _preview(None)


@bp.post("/bill/<int:invoice_id>/preview")
@allowed("invoices.write")
def bill_draft_preview(invoice_id: int):
    """The PDF of the draft as the form would change it (nothing is saved)."""
    return _preview(invoice_id)
