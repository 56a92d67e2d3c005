"""Coupons: create, list, archive; apply one to a client, a subscription or
one invoice; and reduce a draft invoice's lines by a discount
(arithmetic in ``bridge.billing.discounts``).

- A coupon is *redeemable* while active, not past its expiry date (the
  business's calendar date, inclusive) and under its redemption limit.
  Each application (to a client, a subscription or one invoice) is one
  redemption, counted under the coupon's row lock.
- A *discount* (a coupon applied) reduces invoices: those of its
  subscription, or, for a client's, the client's next invoices and
  renewals (a subscription's own discount wins over its client's). Once:
  one invoice; repeating: ``duration_cycles`` invoices; forever: all. The
  invoices it reduced carry its id (``Invoice.discount_id``), so the
  countdown is the count of those invoices (voided ones excepted): it
  advances exactly once per renewal invoice, whatever crashes or retries
  (a period has one renewal invoice), and never lives in memory.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge.billing import audit
from bridge.billing.business import get_settings, require_currency
from bridge.billing.discounts import HUNDRED_PERCENT_E2, line_discounts
from bridge.billing.periods import local_date
from bridge.billing.schedule import zone
from bridge.billing.taxes import LineTotals, Rate, invoice_totals, line_totals
from bridge.core import clock, events
from bridge.core.errors import Conflict, Invalid, NotFound
from bridge.core.l10n import Localiser
from bridge.core.money import MAX_AMOUNT, line_amount, round_half_up
from bridge.models import CatalogStatus, Client, Coupon, CouponDuration, Discount, Plan, Product
from bridge.models.invoices import Invoice, InvoiceLine, InvoiceStatus
from bridge.models.subscriptions import Subscription

MAX_CYCLES = 1_000
MAX_REDEMPTIONS = 1_000_000
CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,59}")


# Reading and writing coupons ------------------------------------------------------


def parse_percent(value: object) -> int:
    """A percentage as text ("12.5") to hundredths of a percent (1250):
    more than 0, at most 100, at most two decimals, exact (no float)."""
    text = str(value).strip() if not isinstance(value, bool) else ""
    if not re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,2})?", text):
        raise Invalid("A percentage such as 20 or 12.5 (at most two decimals).")
    try:
        hundredths = int(Decimal(text) * 100)
    except InvalidOperation:  # pragma: no cover - the pattern rules it out
        raise Invalid("A percentage such as 20 or 12.5.") from None
    if not 0 < hundredths <= HUNDRED_PERCENT_E2:
        raise Invalid("More than 0 and at most 100.")
    return hundredths


def format_percent(percent_e2: int) -> str:
    """1250 -> "12.5", 2000 -> "20"."""
    text = f"{Decimal(percent_e2) / 100:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def off_text(coupon: Coupon, l10n: Localiser) -> str:
    """What the coupon takes off, for people: "20% off", "€50.00 off" (in
    the reader's language)."""
    _ = l10n.gettext
    if coupon.percent_off_e2 is not None:
        # Hundredths of a percent to the Localiser's ten-thousandths.
        return _("%(off)s off") % {"off": l10n.percent(coupon.percent_off_e2 * 100)}
    return _("%(off)s off") % {"off": l10n.money(coupon.amount_off or 0, coupon.currency or "")}


def discount_label(invoice: Invoice, l10n: Localiser) -> str:
    """The row of an invoice's totals that names its coupon (PDF, hosted
    page, Hub): "Discount: SUMMER20 — 20% off"; "Discount" alone when the
    coupon is unknown (an unsaved sample)."""
    word = l10n.gettext("Discount")
    coupon = invoice.coupon
    if coupon is None:
        return word
    return l10n.label_value(word, f"{coupon.name} — {off_text(coupon, l10n)}")


def create_coupon(
    session: Session,
    *,
    name: str,
    percent_off: str | None = None,
    amount_off: int | None = None,
    product_ids: list[int] | None = None,
    duration: CouponDuration | str = CouponDuration.ONCE,
    duration_cycles: int | None = None,
    code: str | None = None,
    expires_on: date | None = None,
    max_redemptions: int | None = None,
) -> Coupon:
    """A new coupon, every field checked (Invalid names each bad field)."""
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = ["Required."]
    elif len(name) > 200:
        errors["name"] = ["At most 200 characters."]
    percent_e2 = None
    if (percent_off is None) == (amount_off is None):
        errors["percent_off"] = ["Give either percent_off or amount_off."]
    elif percent_off is not None:
        try:
            percent_e2 = parse_percent(percent_off)
        except Invalid as exc:
            errors["percent_off"] = [exc.message]
    elif isinstance(amount_off, bool) or not isinstance(amount_off, int):
        errors["amount_off"] = ["A whole number of minor units."]
    elif not 1 <= amount_off <= MAX_AMOUNT:
        errors["amount_off"] = [f"Between 1 and {MAX_AMOUNT} (minor units)."]
    try:
        duration = CouponDuration(duration)
    except ValueError:
        errors["duration"] = ["once, repeating or forever."]
    else:
        if duration == CouponDuration.REPEATING:
            if duration_cycles is None:
                errors["duration_cycles"] = ["Required for a repeating coupon."]
            elif not 1 <= duration_cycles <= MAX_CYCLES:
                errors["duration_cycles"] = [f"Between 1 and {MAX_CYCLES}."]
        elif duration_cycles is not None:
            errors["duration_cycles"] = ["Only for a repeating coupon."]
    code_key = None
    if code is not None:
        code = code.strip()
        if not CODE_PATTERN.fullmatch(code):
            errors["code"] = ["1 to 60 letters, digits, - or _."]
        else:
            code_key = code.lower()
            if session.scalar(select(Coupon.id).where(Coupon.code_key == code_key)):
                errors["code"] = ["Another coupon has this code."]
    if max_redemptions is not None and not 1 <= max_redemptions <= MAX_REDEMPTIONS:
        errors["max_redemptions"] = [f"Between 1 and {MAX_REDEMPTIONS}."]
    if expires_on is not None and expires_on < today(session):
        errors["expires_on"] = ["Already past."]
    if product_ids is not None:
        if not product_ids or len(set(product_ids)) != len(product_ids):
            errors["product_ids"] = ["At least one product, each once."]
        else:
            found = set(session.scalars(select(Product.id).where(Product.id.in_(product_ids))))
            missing = [i for i in product_ids if i not in found]
            if missing:
                errors["product_ids"] = [f"Unknown: {missing}"]
    if errors:
        raise Invalid("The coupon cannot be saved.", fields=errors)
    coupon = Coupon(
        name=name,
        code=code,
        code_key=code_key,
        percent_off_e2=percent_e2,
        amount_off=amount_off if percent_e2 is None else None,
        currency=require_currency(session) if percent_e2 is None else None,
        product_ids=list(product_ids) if product_ids is not None else None,
        duration=duration,
        duration_cycles=duration_cycles,
        expires_on=expires_on,
        max_redemptions=max_redemptions,
        times_redeemed=0,
        status=CatalogStatus.ACTIVE,
        created_at=clock.now(),
    )
    session.add(coupon)
    session.flush()
    return coupon


def list_coupons(session: Session, status: CatalogStatus | None = None) -> list[Coupon]:
    query = select(Coupon).order_by(Coupon.name, Coupon.id)
    if status is not None:
        query = query.where(Coupon.status == status)
    return list(session.scalars(query))


def get_coupon(session: Session, coupon_id: int, *, lock: bool = False) -> Coupon:
    coupon = session.get(Coupon, coupon_id, with_for_update=lock, populate_existing=lock)
    if coupon is None:
        raise NotFound("No such coupon.")
    return coupon


def by_code(session: Session, code: str) -> Coupon:
    """The coupon of this code, whatever its case, or NotFound."""
    coupon_id = session.scalar(select(Coupon.id).where(Coupon.code_key == code.strip().lower()))
    if coupon_id is None:
        raise NotFound("No such coupon code.")
    return get_coupon(session, coupon_id)


def archive_coupon(session: Session, coupon: Coupon) -> Coupon:
    """No longer redeemable; discounts already given go on."""
    if coupon.status != CatalogStatus.ARCHIVED:
        audit.name_action(session, coupon, "coupon.archived")
        coupon.status = CatalogStatus.ARCHIVED
        coupon.archived_at = clock.now()
    return coupon


def today(session: Session) -> date:
    return local_date(clock.now(), zone(get_settings(session).timezone))


# Redeeming ------------------------------------------------------------------------


def redeem(session: Session, coupon: Coupon) -> Coupon:
    """Count one redemption, under the coupon's row lock (two requests
    redeeming the last one: the second gets 409 coupon_exhausted)."""
    coupon = get_coupon(session, coupon.id, lock=True)
    check_redeemable(session, coupon)
    coupon.times_redeemed += 1
    return coupon


def check_redeemable(session: Session, coupon: Coupon) -> None:
    """Conflict with a stable code unless the coupon may be applied now."""
    if coupon.status == CatalogStatus.ARCHIVED:
        raise Conflict("This coupon is archived.", code="coupon_archived")
    if coupon.expires_on is not None and coupon.expires_on < today(session):
        raise Conflict("This coupon has expired.", code="coupon_expired")
    if coupon.max_redemptions is not None and coupon.times_redeemed >= coupon.max_redemptions:
        raise Conflict("This coupon has been used up.", code="coupon_exhausted")
    if coupon.currency is not None and coupon.currency != require_currency(session):
        raise Conflict(
            f"This coupon is in {coupon.currency}, not the business currency.",
            code="coupon_currency",
        )


def _apply(session: Session, coupon: Coupon, **owner) -> Discount:
    redeem(session, coupon)
    now = clock.now()
    for old in session.scalars(
        select(Discount).where(
            Discount.ended_at.is_(None), *(getattr(Discount, k) == v for k, v in owner.items())
        )
    ):
        old.ended_at = now  # one discount at a time: the new one replaces it
    discount = Discount(coupon=coupon, created_at=now, **owner)
    session.add(discount)
    session.flush()
    client_id = (
        owner.get("client_id") or session.get(Subscription, owner["subscription_id"]).client_id
    )
    events.record(session, events.DiscountApplied(client_id))
    return discount


def apply_to_client(session: Session, client: Client, coupon: Coupon) -> Discount:
    """The client's next invoices and renewals get the coupon's discount."""
    return _apply(session, coupon, client_id=client.id, subscription_id=None)


def apply_to_subscription(session: Session, subscription: Subscription, coupon: Coupon) -> Discount:
    """The subscription's renewals get the coupon's discount."""
    return _apply(session, coupon, subscription_id=subscription.id, client_id=None)


def current(
    session: Session, *, client_id: int | None = None, subscription_id: int | None = None
) -> Discount | None:
    """The coupon applied to the client (or to the subscription) and not
    removed or replaced, whether or not it has cycles left; None if none."""
    owner = (
        Discount.subscription_id == subscription_id
        if subscription_id is not None
        else Discount.client_id == client_id
    )
    return session.scalar(
        select(Discount).where(owner, Discount.ended_at.is_(None)).order_by(Discount.id.desc())
    )


def remove(session: Session, discount: Discount) -> None:
    """End a client's or subscription's discount: invoices made from now on
    are at full price (those it already reduced keep their discount)."""
    if discount.ended_at is not None:
        return
    audit.name_action(session, discount, "discount.removed")
    discount.ended_at = clock.now()
    client_id = discount.client_id or session.get(Subscription, discount.subscription_id).client_id
    events.record(session, events.DiscountApplied(client_id))


def remove_from_client(session: Session, client: Client) -> bool:
    """End the client's coupon, if it has one (whether one was removed)."""
    discount = current(session, client_id=client.id)
    if discount is not None:
        remove(session, discount)
    return discount is not None


def remove_from_subscription(session: Session, subscription: Subscription) -> bool:
    """End the subscription's own coupon, if it has one."""
    discount = current(session, subscription_id=subscription.id)
    if discount is not None:
        remove(session, discount)
    return discount is not None


def for_one_invoice(session: Session, coupon: Coupon) -> Discount:
    """A discount of one invoice only (a coupon given when billing)."""
    redeem(session, coupon)
    discount = Discount(coupon=coupon, created_at=clock.now())
    session.add(discount)
    session.flush()
    return discount


def cycles_used(session: Session, discount: Discount) -> int:
    """Invoices the discount reduced (voided ones do not count)."""
    return session.scalar(
        select(func.count())
        .select_from(Invoice)
        .where(Invoice.discount_id == discount.id, Invoice.status != InvoiceStatus.VOID)
    )


def cycles_left(session: Session, discount: Discount) -> int | None:
    """How many more invoices it reduces (None: forever)."""
    coupon = discount.coupon
    if coupon.duration == CouponDuration.FOREVER:
        return None
    total = 1 if coupon.duration == CouponDuration.ONCE else coupon.duration_cycles
    return max(0, total - cycles_used(session, discount))


def standing(
    session: Session, *, client_id: int, subscription_id: int | None = None
) -> Discount | None:
    """The discount an invoice of this client (renewal of this subscription)
    gets now: the subscription's own, else the client's, if it has cycles
    left."""
    candidates = []
    if subscription_id is not None:
        candidates.append(Discount.subscription_id == subscription_id)
    candidates.append(Discount.client_id == client_id)
    for where in candidates:
        # Locked until the invoice using it commits: two bills at once
        # cannot both take a "once" discount's only cycle.
        discount = session.scalar(
            select(Discount)
            .where(where, Discount.ended_at.is_(None))
            .order_by(Discount.id.desc())
            .limit(1)
            .with_for_update()
        )
        if discount is not None:
            left = cycles_left(session, discount)
            return discount if left is None or left > 0 else None
    return None


# Reducing a draft's lines ---------------------------------------------------------


def apply_discount(session: Session, invoice: Invoice, discount: Discount | None) -> None:
    """Reprice a draft's lines (as built, in memory or stored) with
    ``discount`` (None: none), their taxes on the discounted amounts, and
    the invoice's totals from its lines. Lines of other products than the
    coupon's (and lines not in the catalog, for a coupon of chosen
    products) are not reduced."""
    coupon = discount.coupon if discount is not None else None
    amounts = [line_amount(line.unit_amount, line.quantity_e3) for line in invoice.lines]
    if coupon is None:
        reductions = [0] * len(amounts)
    else:
        eligible = [_eligible(session, coupon, line.plan_id) for line in invoice.lines]
        reductions = line_discounts(
            amounts, eligible, percent_e2=coupon.percent_off_e2, amount_off=coupon.amount_off
        )
    computed = [
        reduce_line(line, reduction)
        for line, reduction in zip(invoice.lines, reductions, strict=True)
    ]
    # A discount only lowers amounts: the totals stay within the limits the
    # undiscounted lines were checked against.
    totals = invoice_totals(computed)
    invoice.subtotal, invoice.tax, invoice.total = totals.subtotal, totals.tax, totals.total
    invoice.discount = sum(reductions)
    invoice.discount_id = discount.id if discount is not None else None


def reduce_line(line: InvoiceLine, reduction: int) -> LineTotals:
    """Reprice one line (as built, in memory or stored) with ``reduction``
    off its amount, its taxes on the discounted amount; returns its totals."""
    # Keyed by position: the copies of the rates, as billed.
    rates = [
        Rate(i, t.name, t.percentage_e4, t.inclusive, t.exemption) for i, t in enumerate(line.taxes)
    ]
    totals = line_totals(line.quantity_e3, line.unit_amount, rates, reduction)
    for i, tax in enumerate(line.taxes):
        tax.amount = totals.taxes[i]
    line.discount = reduction
    line.net, line.tax, line.total = totals.net, sum(totals.taxes.values()), totals.total
    return totals


# Discounts on a plan change's invoice -------------------------------------------


def proration_reductions(
    session: Session,
    subscription: Subscription,
    plan: Plan,
    *,
    credit: int,
    charge: int,
    full_charge: int,
    at: datetime,
) -> tuple[int, int]:
    """What a change-now invoice (``plan_changes.quote``) takes off its two
    lines, as Stripe does with proration items (they take the
    subscription's discounts that apply):

    - The *credit* (``credit``: the unused time of the current period) is
      reduced as the period it credits was billed: by the share the
      discount took of the line that billed that time (the period's
      renewal line, or a previous change's charge line), rounded half-up
      once. The client gets back what it actually paid for that time; a
      period billed without a discount is credited in full.
    - The *charge* (``charge``, part of ``full_charge``: a full period of the
      new plan and quantity) is reduced as the discount standing now
      (``standing``: the subscription's own, else its client's, while it
      has cycles left; only on the coupon's products) would reduce a full
      period's line at renewal, prorated like the charge (x charge /
      full_charge), rounded half-up once. A full period charged (a change
      across intervals) gets exactly a renewal's discount.

    A change invoice does not use up a cycle of a once or N-cycle coupon
    (as Stripe's: only the period invoices count): it does not carry the
    discount's id (``Invoice.discount_id``), so the countdown is unchanged.
    Returns ``(credit reduction, charge reduction)``, each at most its
    amount and never negative."""
    credit_off = 0
    billed = session.scalars(
        select(InvoiceLine)
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(
            InvoiceLine.subscription_id == subscription.id,
            Invoice.status.not_in((InvoiceStatus.DRAFT, InvoiceStatus.VOID)),
            InvoiceLine.unit_amount > 0,
            InvoiceLine.period_start <= at,
            InvoiceLine.period_end > at,
        )
        .order_by(InvoiceLine.id.desc())
        .limit(1)
    ).first()
    if billed is not None and billed.discount and billed.amount > 0:
        credit_off = round_half_up(credit * billed.discount, billed.amount)
    charge_off = 0
    discount = standing(session, client_id=subscription.client_id, subscription_id=subscription.id)
    if discount is not None and full_charge > 0 and _eligible(session, discount.coupon, plan.id):
        coupon = discount.coupon
        full_off = line_discounts(
            [full_charge], [True], percent_e2=coupon.percent_off_e2, amount_off=coupon.amount_off
        )[0]
        charge_off = round_half_up(full_off * charge, full_charge)
    return min(credit_off, credit), min(charge_off, charge)


def _eligible(session: Session, coupon: Coupon, plan_id: int | None) -> bool:
    if coupon.product_ids is None:
        return True
    if plan_id is None:
        return False
    plan = session.get(Plan, plan_id)
    return plan is not None and plan.product_id in coupon.product_ids
