"""Invoices: bill a client, edit the draft, finalize, collect, void, write
off, refund through credit notes.

A draft is free to change. Finalizing gives it its number and due date and
freezes it: from then on only payments, credit notes and status changes
touch it, and its lines are never rewritten.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from bridge.billing import audit, balances, coupons, legal, numbering, reminders, subscriptions
from bridge.billing.business import get_settings, require_currency
from bridge.billing.periods import add_local_days, local_date
from bridge.billing.schedule import zone
from bridge.billing.states import invoice_to
from bridge.billing.taxes import LineTotals, Rate, invoice_totals, line_totals
from bridge.core import clock, events
from bridge.core.errors import Conflict, Invalid, NotFound
from bridge.core.l10n import Localiser
from bridge.core.money import (
    MAX_AMOUNT,
    QUANTITY_SCALE,
    InvalidQuantity,
    names_percentage,
    quantity_e3,
    round_half_up,
)
from bridge.core.paging import Page
from bridge.models import (
    CatalogStatus,
    Client,
    Coupon,
    Discount,
    Plan,
    PlanKind,
    Product,
    Site,
    TaxRate,
)
from bridge.models.invoices import (
    BillingReason,
    CreditNote,
    Invoice,
    InvoiceLine,
    InvoiceLineTax,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PaymentState,
    PaymentStatus,
)

MAX_QUANTITY = 10_000
MAX_LINES = 300
OFFLINE_METHODS = (
    PaymentMethod.BANK_TRANSFER,
    PaymentMethod.CASH,
    PaymentMethod.CHEQUE,
    PaymentMethod.OTHER,
)


@dataclass(frozen=True)
class Item:
    """What to bill: a plan of the catalog and a quantity, or a one-off line
    (``plan_id`` None: ``description`` and ``unit_amount`` given). The
    quantity may have up to three decimals (1.5 hours). ``tax_rate_ids``:
    the line's own rates; None takes the invoice's. ``save_as_plan``: a
    one-off line is also saved as a one-time plan (of ``product_id``, or of
    the "One-off services" product, made on first use), so it can be billed
    again from the catalog."""

    plan_id: int | None = None
    quantity: int | Decimal | str = 1
    description: str = ""
    unit_amount: int | None = None
    tax_rate_ids: tuple[int, ...] | None = None
    save_as_plan: bool = False
    product_id: int | None = None


ONE_OFF_PRODUCT = "One-off services"
"""The product one-off lines saved as plans go under when none is chosen."""


@dataclass(frozen=True)
class _Line:
    """An item checked and priced, ready to become an invoice line."""

    plan: Plan | None
    kind: PlanKind
    description: str
    unit_amount: int
    quantity_e3: int
    rates: list[TaxRate] | None  # None: the invoice's


# Reading ---------------------------------------------------------------------


def get_invoice(
    session: Session, invoice_id: int, client_id: int | None = None, *, lock: bool = False
) -> Invoice:
    """The invoice, or NotFound. ``lock``: for a change, take its row lock
    (``SELECT ... FOR UPDATE``) and re-read it, so the status and amounts
    checked next are those no other transaction can change until this one
    ends. Every write of an invoice starts this way (or through
    ``lock_invoice``): two requests on one invoice then run one after the
    other, and the second sees what the first did (a 409, or a 404 for an
    invoice deleted meanwhile), never a lost update."""
    invoice = lock_invoice(session, invoice_id) if lock else session.get(Invoice, invoice_id)
    if invoice is None or (client_id is not None and invoice.client_id != client_id):
        raise NotFound("No such invoice.")
    return invoice


def lock_invoice(session: Session, invoice_id: int) -> Invoice | None:
    """The invoice row locked until the transaction ends, re-read from the
    database (None if there is none). Lock order everywhere: the invoice
    first, then its payments, then the number series."""
    return session.get(Invoice, invoice_id, with_for_update=True, populate_existing=True)


def get_by_hosted_token(session: Session, token: str) -> Invoice:
    invoice = None
    if 20 <= len(token) <= 64:
        invoice = session.scalar(select(Invoice).where(Invoice.hosted_token == token))
    if invoice is None or invoice.status == InvoiceStatus.DRAFT:
        raise NotFound("No such invoice.")
    return invoice


def list_invoices(
    session: Session,
    *,
    client_id: int | None = None,
    status: InvoiceStatus | None = None,
    statuses: tuple[InvoiceStatus, ...] | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """A page of invoices, newest first: all, one client's, of one
    ``status`` or of any of ``statuses``."""
    filters = []
    if client_id is not None:
        filters.append(Invoice.client_id == client_id)
    if status is not None:
        filters.append(Invoice.status == status)
    if statuses is not None:
        filters.append(Invoice.status.in_(statuses))
    order = (Invoice.created_at.desc(), Invoice.id.desc())
    # The page's ids first, read from an index alone (a late page skips index
    # entries, not table rows), then those rows: one statement.
    ids = (
        select(Invoice.id)
        .where(*filters)
        .order_by(*order)
        .limit(per_page)
        .offset((page - 1) * per_page)
        .subquery()
    )
    items = list(
        session.scalars(
            select(Invoice)
            .join(ids, ids.c.id == Invoice.id)
            .options(selectinload(Invoice.client))
            .order_by(*order)
        )
    )
    total = session.scalar(select(func.count()).select_from(Invoice).where(*filters))
    return Page(items=items, total=total or 0, page=page, per_page=per_page)


@dataclass(frozen=True)
class TaxSum:
    """One tax rate (as copied on the lines) and what it adds up to."""

    name: str
    percentage_e4: int
    inclusive: bool
    amount: int
    exemption: str = ""  # bridge.billing.legal.EXEMPTIONS, or ""


def tax_label(tax: TaxSum, l10n: Localiser) -> str:
    """A tax row's label on an invoice: the rate's name with its percentage
    (not repeated when the name says it, "VAT 20%"), and "included" for a
    tax inside the prices."""
    said = (
        [] if names_percentage(tax.name, tax.percentage_e4) else [l10n.percent(tax.percentage_e4)]
    )
    if tax.inclusive:
        # TRANSLATORS: after a tax rate, the tax is included in the prices.
        said.append(l10n.gettext("included"))
    return f"{tax.name} ({', '.join(said)})" if said else tax.name


def tax_summary(session: Session, invoice: Invoice) -> list[TaxSum]:
    """One row per tax rate, adding up the per-line taxes as billed: each was
    rounded on its line, so the rows add up to the invoice's tax."""
    rows = session.execute(
        select(
            InvoiceLineTax.name,
            InvoiceLineTax.percentage_e4,
            InvoiceLineTax.inclusive,
            func.sum(InvoiceLineTax.amount),
            InvoiceLineTax.exemption,
        )
        .join(InvoiceLine, InvoiceLine.id == InvoiceLineTax.line_id)
        .where(InvoiceLine.invoice_id == invoice.id)
        .group_by(
            InvoiceLineTax.name,
            InvoiceLineTax.percentage_e4,
            InvoiceLineTax.inclusive,
            InvoiceLineTax.exemption,
        )
        .order_by(func.min(InvoiceLineTax.id))
    )
    # PostgreSQL sums bigints as numeric: back to int for the money functions.
    return [
        TaxSum(name, pct, inclusive, int(amount), exemption)
        for name, pct, inclusive, amount, exemption in rows
    ]


def exemptions_of(invoice: Invoice) -> set[str]:
    """The VAT exemptions the invoice's lines are under ("" is none)."""
    return {tax.exemption for line in invoice.lines for tax in line.taxes} | (
        {""} if any(not line.taxes for line in invoice.lines) else set()
    )


def printed_subtotal(invoice: Invoice, taxes: list[TaxSum]) -> int:
    """The Subtotal printed under the lines (PDF, hosted page): the sum of
    their Amount column (``InvoiceLine.amount``, quantity x unit price), so
    the taxes included in the prices are in it and only those added on top
    come between it and the total. Without inclusive taxes it is the net
    ``subtotal``. A coupon's discount is printed under it as its own row
    (``invoice.discount``): Subtotal - Discount + taxes added = Total."""
    discount = invoice.discount or 0  # None on an unsaved (sample) invoice
    return invoice.subtotal + discount + sum(tax.amount for tax in taxes if tax.inclusive)


def available_actions(invoice: Invoice) -> list[str]:
    """What staff may do with the invoice in its present state (the buttons
    of the invoice list); each is also enforced by the action itself."""
    if invoice.status == InvoiceStatus.DRAFT:
        return ["edit", "delete", "finalize", "download"]
    actions = []
    if invoice.status in (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE):
        actions.append("record_payment")
    if reminders.can_remind(invoice):
        actions.append("remind")
    collectible = invoice.status in (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE)
    # Account credit is no money paid: a void gives it back to the balance.
    if collectible and invoice.amount_paid == invoice.paid_from_credit:
        actions.append("void")
    if invoice.status == InvoiceStatus.OPEN:
        actions.append("mark_uncollectible")
    if refundable(invoice) > 0:
        actions.append("refund")
    actions.append("download")
    return actions


def unpaid_count(session: Session, client_id: int) -> int:
    return session.scalar(
        select(func.count())
        .select_from(Invoice)
        .where(
            Invoice.client_id == client_id,
            Invoice.status.in_([InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE]),
        )
    )


# Drafts ----------------------------------------------------------------------


def _quantity(value: object) -> int:
    """The thousandths of a quantity, or Invalid naming no field (callers add it)."""
    try:
        q = quantity_e3(value)
    except InvalidQuantity as exc:
        raise Invalid(str(exc)) from None
    if not 1 <= q <= MAX_QUANTITY * QUANTITY_SCALE:
        raise Invalid(f"More than 0 and at most {MAX_QUANTITY}.")
    return q


def _lines(session: Session, items: list[Item], currency: str) -> list[_Line]:
    if not items:
        raise Invalid("Bill at least one product or plan.", fields={"items": ["Required."]})
    if len(items) > MAX_LINES:
        raise Invalid(f"At most {MAX_LINES} lines.", fields={"items": ["Too many lines."]})
    wanted = {item.plan_id for item in items if item.plan_id is not None}
    plans = {plan.id: plan for plan in session.scalars(select(Plan).where(Plan.id.in_(wanted)))}
    errors: dict[str, list[str]] = {}
    result = []
    for index, item in enumerate(items):
        field = f"items.{index}"
        plan = plans.get(item.plan_id) if item.plan_id is not None else None
        if item.plan_id is not None:
            if plan is None:
                errors[f"{field}.plan_id"] = ["No such plan."]
            elif (
                plan.status == CatalogStatus.ARCHIVED
                or plan.product.status == CatalogStatus.ARCHIVED
            ):
                errors[f"{field}.plan_id"] = ["This plan is archived and cannot be billed."]
            elif plan.currency != currency:
                errors[f"{field}.plan_id"] = [f"Priced in {plan.currency}, not {currency}."]
        else:
            if not item.description.strip():
                errors[f"{field}.description"] = ["Required for a line not in the catalog."]
            elif len(item.description.strip()) > 500:
                errors[f"{field}.description"] = ["At most 500 characters."]
            if item.unit_amount is None:
                errors[f"{field}.unit_amount"] = ["Required for a line not in the catalog."]
            elif not 0 <= item.unit_amount <= MAX_AMOUNT:
                errors[f"{field}.unit_amount"] = [f"Between 0 and {MAX_AMOUNT} (minor units)."]
        try:
            quantity = _quantity(item.quantity)
        except Invalid as exc:
            errors[f"{field}.quantity"] = [exc.message]
            quantity = 0
        rates = None
        if item.tax_rate_ids is not None:
            try:
                rates = _tax_rates(session, list(item.tax_rate_ids))
            except Invalid as exc:
                errors[f"{field}.tax_rate_ids"] = [exc.message]
        if errors:
            continue
        if plan is not None:
            result.append(
                _Line(plan, plan.kind, describe_plan(plan)[:500], plan.amount, quantity, rates)
            )
        else:
            description = item.description.strip()
            result.append(
                _Line(None, PlanKind.ONE_TIME, description, item.unit_amount, quantity, rates)
            )
    if errors:
        raise Invalid("Some items cannot be billed.", fields=errors)
    # Plans are saved only once every item is known good.
    return [
        _Line(
            _save_as_plan(session, item, line.description, f"items.{index}"),
            *(line.kind, line.description, line.unit_amount, line.quantity_e3, line.rates),
        )
        if line.plan is None and item.save_as_plan
        else line
        for index, (item, line) in enumerate(zip(items, result, strict=True))
    ]


def _save_as_plan(session: Session, item: Item, description: str, field: str) -> Plan:
    """A one-off line saved as a one-time plan: of the product chosen, or of
    the "One-off services" product (made when first needed), so one-off
    work stays apart from the agency's own catalog."""
    from bridge.billing import catalog  # catalog imports this module's neighbours

    if item.product_id is not None:
        product = session.get(Product, item.product_id)
        if product is None or product.status == CatalogStatus.ARCHIVED:
            raise Invalid(
                "No such product.", fields={f"{field}.product_id": ["No such active product."]}
            )
    else:
        product = session.scalar(
            select(Product)
            .where(Product.name == ONE_OFF_PRODUCT, Product.status == CatalogStatus.ACTIVE)
            .order_by(Product.id)
            .limit(1)
        ) or catalog.create_product(session, name=ONE_OFF_PRODUCT)
    return catalog.create_plan(
        session,
        product,
        name=description[:200],
        kind=PlanKind.ONE_TIME,
        amount=item.unit_amount,
    )


def _tax_rates(session: Session, tax_rate_ids: list[int]) -> list[TaxRate]:
    if len(set(tax_rate_ids)) != len(tax_rate_ids):
        raise Invalid("A tax rate is listed twice.", fields={"tax_rate_ids": ["Duplicates."]})
    rates = {r.id: r for r in session.scalars(select(TaxRate).where(TaxRate.id.in_(tax_rate_ids)))}
    missing = [i for i in tax_rate_ids if i not in rates]
    if missing:
        raise Invalid("No such tax rate.", fields={"tax_rate_ids": [f"Unknown: {missing}"]})
    archived = [r.name for r in rates.values() if r.status == CatalogStatus.ARCHIVED]
    if archived:
        raise Invalid(
            f"Archived tax rates cannot be used: {', '.join(archived)}.",
            fields={"tax_rate_ids": ["Archived."]},
        )
    return [rates[i] for i in tax_rate_ids]


def _site(session: Session, client: Client, site_id: int | None) -> Site | None:
    if site_id is None:
        return None
    site = session.get(Site, site_id)
    if site is None or site.client_id != client.id:
        raise Invalid("That site is not one of the client's.", fields={"site_id": ["Unknown."]})
    return site


def describe_plan(plan: Plan) -> str:
    """A plan as lines and lists name it: its product, then the plan if named apart."""
    return (
        plan.product.name
        if plan.name == plan.product.name
        else f"{plan.product.name} — {plan.name}"
    )


def rate_snapshots(rates: list[TaxRate]) -> list[Rate]:
    return [Rate(r.id, r.name, r.percentage_e4, r.inclusive, r.exemption) for r in rates]


def make_line(
    position: int,
    plan: Plan | None,
    quantity_e3: int,
    unit_amount: int,
    rates: list[Rate],
    *,
    description: str | None = None,
    own_rates: bool = False,
    **extra,
) -> tuple[InvoiceLine, LineTotals]:
    """One priced line with its taxes (``extra``: subscription and period).
    ``plan`` None is a one-off line, described by ``description``;
    ``own_rates``: the line chose its rates (kept when the invoice's change)."""
    totals = line_totals(quantity_e3, unit_amount, rates)
    line = InvoiceLine(
        position=position,
        plan_id=plan.id if plan is not None else None,
        kind=plan.kind if plan is not None else PlanKind.ONE_TIME,
        description=(description if description is not None else describe_plan(plan))[:500],
        quantity_e3=quantity_e3,
        unit_amount=unit_amount,
        net=totals.net,
        tax=sum(totals.taxes.values()),
        total=totals.total,
        tax_rate_ids=[rate.key for rate in rates] if own_rates else None,
        taxes=[
            InvoiceLineTax(
                tax_rate_id=rate.key,
                name=rate.name,
                percentage_e4=rate.percentage_e4,
                inclusive=rate.inclusive,
                exemption=rate.exemption,
                amount=totals.taxes[rate.key],
            )
            for rate in rates
        ],
        **extra,
    )
    return line, totals


def set_totals(invoice: Invoice, computed: list[LineTotals]) -> None:
    """The invoice's totals from its lines' (every amount is non-negative,
    so no line, subtotal or tax exceeds the total). A total above
    ``MAX_AMOUNT`` is refused before anything is stored: Stripe cannot
    charge it, and enough lines, quantities and stacked taxes would
    overflow the database's 64-bit integers."""
    totals = invoice_totals(computed)
    if totals.total > MAX_AMOUNT:
        raise Invalid(
            f"The invoice total would be above the largest amount accepted "
            f"({MAX_AMOUNT} in minor units): bill fewer items or split the invoice.",
            code="amount_too_large",
            fields={"items": ["The total is too large."]},
        )
    invoice.subtotal, invoice.tax, invoice.total = totals.subtotal, totals.tax, totals.total


def _set_lines(invoice: Invoice, lines: list[_Line], rates: list[TaxRate]) -> None:
    """(Re)build the lines of a draft and its totals: each line with its own
    rates, or the invoice's (``rates``) when it gave none."""
    default = rate_snapshots(rates)
    built = [
        make_line(
            position,
            line.plan,
            line.quantity_e3,
            line.unit_amount,
            default if line.rates is None else rate_snapshots(line.rates),
            description=line.description,
            own_rates=line.rates is not None,
        )
        for position, line in enumerate(lines)
    ]
    # Totals first: a refused total leaves the draft's lines as they were.
    set_totals(invoice, [totals for _, totals in built])
    invoice.lines.clear()
    invoice.lines.extend(line for line, _ in built)
    invoice.tax_rate_ids = [r.id for r in rates]


def _current_lines(session: Session, invoice: Invoice) -> list[_Line]:
    """A draft's lines as they are, to re-price them with other invoice rates."""
    return [
        _Line(
            session.get(Plan, line.plan_id) if line.plan_id is not None else None,
            line.kind,
            line.description,
            line.unit_amount,
            line.quantity_e3,
            None
            if line.tax_rate_ids is None
            else [r for i in line.tax_rate_ids if (r := session.get(TaxRate, i)) is not None],
        )
        for line in invoice.lines
    ]


def bill_client(
    session: Session,
    client: Client,
    items: list[Item],
    *,
    tax_rate_ids: list[int] | None = None,
    site_id: int | None = None,
    note: str = "",
    language: str | None = None,
    reason: BillingReason = BillingReason.MANUAL,
    coupon: Coupon | None = None,
) -> Invoice:
    """A draft invoice for ``client``. Nothing is sent or numbered yet.
    ``coupon``: its discount reduces this invoice alone (one redemption;
    409 when expired or used up); without one, the client's standing
    discount applies, if any (``coupons.standing``)."""
    currency = require_currency(session)
    settings = get_settings(session)
    invoice = Invoice(
        client=client,
        site=_site(session, client, site_id),
        status=InvoiceStatus.DRAFT,
        billing_reason=reason,
        currency=currency,
        language=language or settings.invoice_language,
        note=note,
        hosted_token=secrets.token_urlsafe(32),
        created_at=clock.now(),
    )
    rates = _tax_rates(session, tax_rate_ids or [])
    _set_lines(invoice, _lines(session, items, currency), rates)
    discount = (
        coupons.for_one_invoice(session, coupon)
        if coupon is not None
        else coupons.standing(session, client_id=client.id)
    )
    if discount is not None:
        coupons.apply_discount(session, invoice, discount)
    session.add(invoice)
    session.flush()
    return invoice


def _require_draft(invoice: Invoice) -> None:
    if invoice.status != InvoiceStatus.DRAFT:
        raise Conflict(
            "Only a draft can be edited or deleted: an issued invoice is never changed "
            "(void it, or issue a credit note).",
            code="invoice_not_draft",
        )


def update_draft(
    session: Session,
    invoice: Invoice,
    *,
    items: list[Item] | None = None,
    tax_rate_ids: list[int] | None = None,
    site_id: int | None | object = ...,
    note: str | None = None,
    language: str | None = None,
) -> Invoice:
    _require_draft(invoice)
    if site_id is not ...:
        invoice.site = _site(session, invoice.client, site_id)
    if note is not None:
        invoice.note = note
    if language is not None:
        invoice.language = language
    if items is not None or tax_rate_ids is not None:
        lines = (
            _lines(session, items, invoice.currency)
            if items is not None
            else _current_lines(session, invoice)
        )
        rates = _tax_rates(
            session, tax_rate_ids if tax_rate_ids is not None else list(invoice.tax_rate_ids)
        )
        _set_lines(invoice, lines, rates)
        if invoice.discount_id is not None:
            coupons.apply_discount(session, invoice, session.get(Discount, invoice.discount_id))
    invoice.updated_at = clock.now()
    return invoice


def apply_coupon(session: Session, invoice: Invoice, coupon: Coupon) -> Invoice:
    """The coupon's discount on this draft alone (one redemption), in place
    of any discount it had; lines and totals repriced."""
    _require_draft(invoice)
    coupons.apply_discount(session, invoice, coupons.for_one_invoice(session, coupon))
    invoice.updated_at = clock.now()
    return invoice


def delete_draft(session: Session, invoice: Invoice) -> None:
    _require_draft(invoice)
    session.delete(invoice)


# Finalizing --------------------------------------------------------------------


def finalize(
    session: Session,
    invoice: Invoice,
    now: datetime | None = None,
    *,
    issued_at: datetime | None = None,
    send: bool = True,
) -> Invoice:
    """Number the invoice, make it open ("payment due") and immutable, and
    start a pending subscription for each recurring line (active once paid).
    An invoice of zero is paid at once. ``issued_at`` (default now) dates it:
    a renewal is dated the first moment of its period. Its ``issue_date`` is
    the business's local calendar date at ``issued_at``, the number takes
    that date's year, and it is due the net terms in local calendar days
    later. ``send``: email it to the client (a renewal charged to a saved
    card is not: a receipt follows)."""
    now = now or clock.now()
    issued_at = issued_at or now
    _require_draft(invoice)
    settings = get_settings(session)
    # A renewal repeats an invoice that passed this check when its
    # subscription began: refusing it in the scheduler would stop the
    # subscription over a settings field, so only new invoices are held.
    if invoice.billing_reason != BillingReason.SUBSCRIPTION_CYCLE:
        legal.require_issuable(settings, invoice.client, exemptions_of(invoice))
    audit.name_action(session, invoice, "invoice.finalized")
    invoice_to(invoice, InvoiceStatus.OPEN)
    invoice.issue_date = issue_date_at(settings, issued_at)
    invoice.number = numbering.next_number(
        session, "invoice", settings.invoice_number_format, invoice.issue_date
    )
    _issued(settings, invoice, issued_at, now)
    if invoice.subscription_id is None:
        for line in invoice.lines:
            if line.kind == PlanKind.RECURRING:
                subscription = subscriptions.start_pending(session, invoice, line)
                line.subscription_id = subscription.id
    session.flush()
    # The client's account credit pays what it can first, so what is sent
    # (or charged) is only the rest. An invoice of zero or less has nothing
    # to pay: it is paid now, not sent; a negative total is credited to the
    # client's balance.
    if invoice.total > 0:
        from_credit = balances.payment_from_balance(
            session, invoice, balances.usable(session, invoice)
        )
        if from_credit is not None:
            apply_payment(session, invoice, from_credit)
    record_finalized(session, invoice, send)
    if invoice.total <= 0:
        mark_paid(session, invoice, now)
        if invoice.total < 0:
            balances.credit_invoice(session, invoice)
    return invoice


def issue_date_at(settings, issued_at: datetime) -> date:
    """The issue date of a document issued at ``issued_at``: one for every
    surface and for the number's year, the business's calendar date, not
    UTC's (00:30 in Paris on 1 January is still 31 December in UTC)."""
    return local_date(issued_at, zone(settings.timezone))


def _issued(settings, invoice: Invoice, issued_at: datetime, now: datetime) -> None:
    invoice.issued_at = issued_at
    # Net terms are calendar days in the business zone: adding 24-hour
    # multiples would land a day off across a DST change at 00:30 local.
    invoice.due_at = add_local_days(
        issued_at, settings.invoice_net_terms_days, zone(settings.timezone)
    )
    invoice.updated_at = now


def finalize_renewals(
    session: Session, renewals: list[tuple[Invoice, datetime, bool]], now: datetime
) -> None:
    """``finalize`` for stored renewal drafts (``(invoice, issued_at,
    send)``), in sets: one block of numbers for them all, in their order,
    and the changes flushed together. Only for drafts ``finalize`` would
    simply open: a total above zero and no account credit to use (the
    caller checked). Flushes; records the events ``finalize`` records."""
    settings = get_settings(session)
    for invoice, _issued_at, _send in renewals:
        _require_draft(invoice)
    dates = [issue_date_at(settings, issued_at) for _invoice, issued_at, _send in renewals]
    numbers = numbering.next_numbers(session, "invoice", settings.invoice_number_format, dates)
    for (invoice, issued_at, _send), issue_date, number in zip(
        renewals, dates, numbers, strict=True
    ):
        audit.name_action(session, invoice, "invoice.finalized")
        invoice_to(invoice, InvoiceStatus.OPEN)
        invoice.issue_date = issue_date
        invoice.number = number
        _issued(settings, invoice, issued_at, now)


def record_finalized(session: Session, invoice: Invoice, send: bool) -> None:
    """The event of a finalized invoice (flushed): sent unless there is
    nothing to pay."""
    events.record(
        session, events.InvoiceFinalized(invoice.id, send=send and invoice.amount_due > 0)
    )


# Collecting --------------------------------------------------------------------


def mark_paid(session: Session, invoice: Invoice, now: datetime | None = None) -> None:
    """The invoice is settled: activate or advance its subscriptions."""
    now = now or clock.now()
    audit.name_action(session, invoice, "invoice.paid")
    invoice_to(invoice, InvoiceStatus.PAID)
    invoice.paid_at = now
    invoice.payment_state = PaymentState.NONE
    invoice.updated_at = now
    events.record(session, events.InvoicePaid(invoice.id))
    subscriptions.invoice_paid(session, invoice, now)


def apply_payment(session: Session, invoice: Invoice, payment: Payment) -> None:
    """Count a succeeded payment towards the invoice (idempotent per payment:
    callers move a payment to ``succeeded`` exactly once). Card, webhook and
    offline payments all pass here (``PaymentSucceeded``; ``settled`` for the
    one that pays the invoice off, which then is paid)."""
    if payment.id is None:
        session.flush()  # the event names the payment by its id
    invoice.amount_paid += payment.amount
    settles = invoice.amount_paid >= invoice.total and invoice.status in (
        InvoiceStatus.OPEN,
        InvoiceStatus.UNCOLLECTIBLE,
    )
    # The subscribers (the receipt) read the invoice as it is in memory; a
    # flush now would write its half-made change apart, and the audit log
    # would show an "invoice.updated" before the "invoice.paid" it is part of.
    with session.no_autoflush:
        events.record(session, events.PaymentSucceeded(payment.id, invoice.id, settled=settles))
    if settles:
        mark_paid(session, invoice, payment.received_at or clock.now())
    else:
        invoice.updated_at = clock.now()


def _require_collectible(invoice: Invoice) -> None:
    if invoice.status not in (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE):
        raise Conflict(
            f"A {invoice.status.value} invoice takes no payment.", code="invoice_not_payable"
        )


def record_offline_payment(
    session: Session,
    invoice: Invoice,
    *,
    amount: int,
    method: PaymentMethod,
    received_at: datetime | None = None,
    reference: str = "",
) -> Payment:
    """A payment staff received by bank transfer, cash, cheque..."""
    _require_collectible(invoice)
    if method not in OFFLINE_METHODS:
        raise Invalid("Card payments go through Stripe.", fields={"method": ["Not offline."]})
    if not 1 <= amount <= invoice.amount_due:
        raise Invalid(
            f"The amount must be between 1 and the amount due ({invoice.amount_due}).",
            fields={"amount": ["Out of range."]},
        )
    now = clock.now()
    if received_at is not None and received_at > now + timedelta(minutes=5):
        raise Invalid(
            "A payment cannot be received in the future.",
            fields={"received_at": ["In the future."]},
        )
    # A payment dated before its invoice existed is a typo, and a costly one:
    # paying a first invoice starts its subscriptions on the payment's date,
    # so "2016" would have the renew job bill ten years of periods.
    if received_at is not None and invoice.issue_date is not None:
        received_on = local_date(received_at, zone(get_settings(session).timezone))
        if received_on < invoice.issue_date:
            raise Invalid(
                f"A payment cannot be received before the invoice's issue date "
                f"({invoice.issue_date.isoformat()}).",
                fields={"received_at": ["Before the issue date."]},
            )
    payment = Payment(
        invoice=invoice,
        client_id=invoice.client_id,
        amount=amount,
        currency=invoice.currency,
        method=method,
        gateway="offline",
        status=PaymentStatus.SUCCEEDED,
        reference=reference,
        received_at=received_at or now,
        created_at=now,
    )
    session.add(payment)
    apply_payment(session, invoice, payment)
    session.flush()
    return payment


def void(session: Session, invoice: Invoice) -> Invoice:
    """Cancel an issued invoice that nobody paid; its pending subscriptions
    go too. What the client's account credit paid of it is no payment of
    money: it goes back to the balance."""
    if invoice.amount_paid - invoice.paid_from_credit > 0:
        raise Conflict(
            "Part of this invoice is paid: refund it with a credit note instead of voiding.",
            code="invoice_partly_paid",
        )
    audit.name_action(session, invoice, "invoice.voided")
    invoice_to(invoice, InvoiceStatus.VOID)
    invoice.voided_at = clock.now()
    invoice.updated_at = invoice.voided_at
    events.record(session, events.InvoiceVoided(invoice.id))
    balances.return_on_void(session, invoice)
    subscriptions.invoice_voided(session, invoice)
    return invoice


def mark_uncollectible(session: Session, invoice: Invoice) -> Invoice:
    audit.name_action(session, invoice, "invoice.marked_uncollectible")
    invoice_to(invoice, InvoiceStatus.UNCOLLECTIBLE)
    invoice.uncollectible_at = clock.now()
    invoice.updated_at = invoice.uncollectible_at
    events.record(session, events.InvoiceMarkedUncollectible(invoice.id))
    return invoice


# Credit notes (refunds) ----------------------------------------------------------


def paid_by_card(invoice: Invoice) -> bool:
    """Whether money came in through Stripe (a refund then goes back to the card)."""
    return any(
        p.gateway == "stripe" and p.status == PaymentStatus.SUCCEEDED for p in invoice.payments
    )


def refundable(invoice: Invoice) -> int:
    return invoice.amount_paid - invoice.amount_refunded


def require_creditable(invoice: Invoice, amount: int) -> None:
    """Refuse a credit note on a draft or void invoice (``not_creditable``)
    or of more than was paid and not yet refunded: a 409
    (``exceeds_refundable``), as what is refundable is the invoice's state,
    which a concurrent credit note may just have changed. Call it on a
    locked invoice."""
    if invoice.status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID):
        raise Conflict(
            f"A {invoice.status.value} invoice cannot be credited.", code="not_creditable"
        )
    if amount < 1:
        raise Invalid("The amount must be at least 1.", fields={"amount": ["Out of range."]})
    if amount > refundable(invoice):
        raise Conflict(
            f"The amount must be at most what was paid and not refunded ({refundable(invoice)}).",
            code="exceeds_refundable",
            fields={"amount": ["More than is refundable."]},
        )


def get_credit_note(session: Session, credit_note_id: int) -> CreditNote:
    """The credit note, or NotFound."""
    note = session.get(CreditNote, credit_note_id)
    if note is None:
        raise NotFound("No such credit note.")
    return note


def require_credit_note_number(session: Session) -> None:
    """``NumberFormatCollides`` (409) now, when a credit note issued today
    could not be numbered: a refund at Stripe must not be made for a credit
    note that would then fail."""
    settings = get_settings(session)
    issue_date = local_date(clock.now(), zone(settings.timezone))
    numbering.check_next(session, "credit_note", settings.credit_note_number_format, issue_date)


def issue_credit_note(
    session: Session,
    invoice: Invoice,
    *,
    amount: int,
    reason: str = "",
    refund_payment: Payment | None = None,
    stripe_refund_id: str | None = None,
) -> CreditNote:
    """Credit ``amount`` (tax included) of what was paid on ``invoice``. The
    credit is split into net and tax in the invoice's own proportions.
    Takes a locked invoice (``get_invoice(..., lock=True)``). A credit note
    that no card refund made gives back to the client's account credit,
    first, what account credit paid of the invoice (``balances``)."""
    require_creditable(invoice, amount)
    tax = round_half_up(amount * invoice.tax, invoice.total) if invoice.total else 0
    settings = get_settings(session)
    now = clock.now()
    issue_date = local_date(now, zone(settings.timezone))
    note = CreditNote(
        number=numbering.next_number(
            session, "credit_note", settings.credit_note_number_format, issue_date
        ),
        issue_date=issue_date,
        invoice=invoice,
        client_id=invoice.client_id,
        currency=invoice.currency,
        amount=amount,
        subtotal=amount - tax,
        tax=tax,
        reason=reason,
        refund_payment_id=refund_payment.id if refund_payment else None,
        stripe_refund_id=stripe_refund_id,
        created_at=now,
    )
    invoice.amount_refunded += amount
    invoice.updated_at = now
    session.add(note)
    session.flush()
    events.record(session, events.CreditNoteIssued(note.id, invoice.id, amount))
    if refund_payment is None and stripe_refund_id is None:
        balances.return_on_credit_note(session, note)
    return note


def bill_again(session: Session, line: InvoiceLine) -> Invoice:
    """A new draft for a one-time line billed before (same plan and quantity)."""
    if line.kind != PlanKind.ONE_TIME:
        raise Conflict("Only one-time items are billed again.", code="not_one_time")
    original = line.invoice
    return bill_client(
        session,
        original.client,
        [
            Item(line.plan_id, line.quantity)
            if line.plan_id is not None
            else Item(
                description=line.description, unit_amount=line.unit_amount, quantity=line.quantity
            )
        ],
        tax_rate_ids=[t.tax_rate_id for t in line.taxes if t.tax_rate_id],
        site_id=original.site_id,
        reason=BillingReason.BILL_AGAIN,
    )


def one_time_items(session: Session, client_id: int) -> list[InvoiceLine]:
    """One-time lines of the client's issued (not void) invoices, newest first."""
    return list(
        session.scalars(
            select(InvoiceLine)
            .join(Invoice)
            .options(selectinload(InvoiceLine.invoice))
            .where(
                Invoice.client_id == client_id,
                InvoiceLine.kind == PlanKind.ONE_TIME,
                Invoice.status.notin_([InvoiceStatus.DRAFT, InvoiceStatus.VOID]),
            )
            .order_by(Invoice.issued_at.desc(), InvoiceLine.id)
        )
    )
