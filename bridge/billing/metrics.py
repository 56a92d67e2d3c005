"""Revenue figures (SPEC 10): MRR, net billing, the overview, 12 months of
history, the renewal forecast and the 12-month billing preview.

Definitions, the same everywhere (overview, client list, API, exports):

- An *active subscription* is one in state active or past_due.
- *MRR* is the sum over active subscriptions that are not paused (no pause
  set, see ``bridge.billing.pauses``: from the moment staff pause one until
  it resumes) of amount x quantity (rounded half-up once, as the renewal
  line bills it: ``money.line_amount``), less what coupons take off while
  they hold (``discounted_mrr``: a forever coupon always, an N-cycle one
  until its N-th invoice, each as the next renewal line would be reduced),
  normalised
  to one month: monthly / count, yearly / (12 x count), weekly x 52 / 12 /
  count, daily x 365 / 12 / count. The sum is exact (``Fraction``) and
  rounded half-up to the minor unit once, at the end.
- *MRR at a past moment* (the history) is the same sum as it stood then:
  subscriptions started and not yet ended, not paused then, less the
  discounts that stood then for their next renewal (``history``). Its
  *movements* month to month: *new* (a subscription's first MRR),
  *reactivation* (MRR again after 0: resumed from a pause, or a
  subscription reactivated from a cancelled one), *churn* (MRR to 0:
  ended or paused), *expansion* / *contraction* (up or down otherwise: a
  discount starting or ending). They sum to the MRR change exactly.
- The *forecast* and the *billing preview* count each renewal on its own
  terms (a plan or quantity change scheduled for it included) at its
  discounted amount: the discount standing for it (``coupons.standing``),
  for as many renewals as it has cycles left. So does the client list and
  its CSV export (``Client.mrr``).
- *Net billing* is the sum of finalized invoices (open, paid, uncollectible)
  before tax minus the credit notes before tax. The client list shows the
  same figure tax included (invoice totals minus credit note amounts).

The database does the summing: every figure is one or two aggregate queries
grouped by interval (a handful of rows), never a loop over subscriptions in
Python; only the exact normalisation of those few groups happens here.

Each client carries its figures (``Client.mrr``, ``net_billing``,
``net_billing_before_tax``) so the client list sorts by them with an index.
``register()`` subscribes to the domain events that change them (a
subscription activated, cancelled or expired; an invoice finalized or
voided; a credit note issued): the client is noted, and its figures are
recomputed (``refresh_client``) in the same transaction, just before it
commits, clients in id order (so concurrent transactions never deadlock on
the clients' rows). Recomputing, rather than adding and subtracting, makes a
refresh always right, whatever happened in between. ``refresh_all`` recomputes every client
(after a bulk load; the migration that added the columns did the same).
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction

from sqlalchemy import (
    DateTime,
    Float,
    Integer,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy import event as sa_event
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.functions import FunctionElement

from bridge.billing import coupons, renewals, subscriptions
from bridge.billing.business import get_settings
from bridge.billing.discounts import line_discounts
from bridge.billing.periods import (
    add_months,
    local_date,
    period_boundary,
    starts_by_local_month,
)
from bridge.billing.schedule import business_zone
from bridge.billing.taxes import invoice_totals
from bridge.core import clock, events
from bridge.core.errors import Invalid
from bridge.core.money import QUANTITY_SCALE, line_amount, round_half_up
from bridge.models import (
    AuditEntry,
    CatalogStatus,
    Client,
    CouponDuration,
    CreditNote,
    Discount,
    IntervalUnit,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Plan,
    PlanKind,
    Product,
)
from bridge.models.subscriptions import Subscription, SubscriptionStatus

ACTIVE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
FINALIZED = (InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.UNCOLLECTIBLE)

# One interval unit as a number of months.
MONTHS_PER_UNIT = {
    IntervalUnit.MONTH: Fraction(1),
    IntervalUnit.YEAR: Fraction(12),
    IntervalUnit.WEEK: Fraction(12, 52),
    IntervalUnit.DAY: Fraction(12, 365),
}

FORECAST_DAYS = (30, 60, 90)
HISTORY_MONTHS = 12
PREVIEW_MONTHS = 12


# MRR -------------------------------------------------------------------------


def monthly(amount: int, unit: IntervalUnit, count: int) -> Fraction:
    """``amount`` billed every ``count`` ``unit``s, as an exact amount a month."""
    return Fraction(amount) / (MONTHS_PER_UNIT[IntervalUnit(unit)] * count)


def to_minor(value: Fraction) -> int:
    """An exact amount rounded half-up to the minor unit (the one rounding)."""
    return round_half_up(value.numerator, value.denominator)


def exact_mrr(groups: Iterable[tuple]) -> Fraction:
    """The exact MRR of ``(unit, count, sum of amount x quantity)`` groups."""
    return sum((monthly(int(amount), unit, count) for unit, count, amount in groups), Fraction(0))


def subscription_amount() -> object:
    """SQL for ``Subscription.amount``: unit x quantity rounded half-up once,
    exactly as ``money.line_amount`` (amounts are never negative, so adding
    half and dividing by integers is the rounding on both databases)."""
    scale = QUANTITY_SCALE
    return (Subscription.unit_amount * Subscription.quantity_e3 + scale // 2) // scale


def _billed() -> object:
    return func.coalesce(func.sum(subscription_amount()), 0)


def _mrr_groups(*filters):
    """Active subscriptions summed by plan (``(unit, count, amount, how
    many)`` per plan): the sums are taken on the subscriptions alone, the
    plans' terms joined to the few sums after."""
    sums = (
        select(
            Subscription.plan_id,
            _billed().label("amount"),
            func.count().label("subscriptions"),
        )
        .where(Subscription.status.in_(ACTIVE), Subscription.paused_at.is_(None), *filters)
        .group_by(Subscription.plan_id)
        .subquery()
    )
    return select(
        Plan.interval_unit, Plan.interval_count, sums.c.amount, sums.c.subscriptions
    ).join(sums, sums.c.plan_id == Plan.id)


def _scope(column_client, column_site, client_id: int | None, site_id: int | None) -> list:
    filters = []
    if client_id is not None:
        filters.append(column_client == client_id)
    if site_id is not None:
        filters.append(column_site == site_id)
    return filters


def mrr(session: Session, *, client_id: int | None = None, site_id: int | None = None) -> int:
    """MRR of the business, of one client or of one site (minor units)."""
    filters = _scope(Subscription.client_id, Subscription.site_id, client_id, site_id)
    rows = session.execute(_mrr_groups(*filters)).all()
    gross = exact_mrr((unit, count, amount) for unit, count, amount, _n in rows)
    off = discounted_mrr(session, client_id=client_id, site_id=site_id)
    return to_minor(gross - sum(off.values(), Fraction(0)))


def discounted_mrr(
    session: Session,
    *,
    client_id: int | None = None,
    site_id: int | None = None,
    client_ids: list[int] | None = None,
) -> dict[int, Fraction]:
    """What coupons take off MRR, per client (exact, a month). A discount
    counts while it holds (not ended, cycles left: forever always, N cycles
    until its N-th invoice) on the subscriptions it reduces at renewal
    (``coupons.standing``: a subscription's own, else its client's), each
    as its next renewal line would be reduced (``discounts``: percent off
    rounded half-up once; an amount off up to the line's amount). The loop
    is over the discounts in force (few), not over the subscriptions."""
    off: dict[int, Fraction] = defaultdict(Fraction)
    filters = (
        Subscription.status.in_(ACTIVE),
        Subscription.paused_at.is_(None),
        *_scope(Subscription.client_id, Subscription.site_id, client_id, site_id),
    )
    if client_ids is not None:
        filters = (*filters, Subscription.client_id.in_(client_ids))
    for sub, reduction, _left in standing_discounts(session, *filters):
        off[sub.client_id] += monthly(reduction, sub.plan.interval_unit, sub.plan.interval_count)
    return off


def standing_discounts(
    session: Session, *filters, next_terms: bool = False
) -> list[tuple[Subscription, int, int | None]]:
    """The subscriptions (of ``filters``) whose next renewal a discount
    reduces, each with that reduction of one renewal line (minor units) and
    the discount's cycles left (None: forever): the discount
    ``coupons.standing`` gives their renewals, read without locking it.
    MRR, the forecast and the billing preview all count discounts so.
    ``next_terms``: the line priced on the next renewal's terms (a change
    scheduled for it included, as the billing preview prices it), not on
    the subscription's current ones (MRR's)."""
    found = []
    held = session.scalars(
        select(Discount).where(
            Discount.ended_at.is_(None),
            or_(Discount.client_id.is_not(None), Discount.subscription_id.is_not(None)),
        )
    )
    for discount in held:
        left = coupons.cycles_left(session, discount)
        if left is not None and left <= 0:
            continue
        query = select(Subscription).where(*filters)
        if discount.subscription_id is not None:
            query = query.where(Subscription.id == discount.subscription_id)
        else:
            own = select(Discount.subscription_id).where(
                Discount.ended_at.is_(None), Discount.subscription_id.is_not(None)
            )
            query = query.where(
                Subscription.client_id == discount.client_id, Subscription.id.not_in(own)
            )
        for sub in session.scalars(query.options(joinedload(Subscription.plan))):
            if next_terms:
                renewal = subscriptions.next_renewal(session, sub)
                terms = (renewal.plan.product_id, renewal.unit_amount, renewal.quantity_e3)
            else:
                terms = (sub.plan.product_id, sub.unit_amount, sub.quantity_e3)
            reduction = _reduction(discount.coupon, *terms)
            if reduction:
                found.append((sub, reduction, left))
    return found


def _reduction(coupon, product_id: int, unit_amount: int, quantity_e3: int) -> int:
    """What ``coupon`` takes off one renewal line of ``product_id`` at
    ``unit_amount`` x ``quantity_e3`` (0 when the coupon is for other
    products)."""
    if coupon.product_ids is not None and product_id not in coupon.product_ids:
        return 0
    amount = line_amount(unit_amount, quantity_e3)
    return line_discounts(
        [amount], [True], percent_e2=coupon.percent_off_e2, amount_off=coupon.amount_off
    )[0]


# Net billing -------------------------------------------------------------------


@dataclass(frozen=True)
class NetBilling:
    before_tax: int
    tax_included: int


def net_billing(
    session: Session, *, client_id: int | None = None, site_id: int | None = None
) -> NetBilling:
    """Finalized invoices minus credit notes, before tax and tax included,
    summed from the invoices themselves."""
    invoiced = session.execute(
        select(
            func.coalesce(func.sum(Invoice.subtotal), 0), func.coalesce(func.sum(Invoice.total), 0)
        ).where(
            Invoice.status.in_(FINALIZED),
            *_scope(Invoice.client_id, Invoice.site_id, client_id, site_id),
        )
    ).one()
    credits = select(
        func.coalesce(func.sum(CreditNote.subtotal), 0),
        func.coalesce(func.sum(CreditNote.amount), 0),
    )
    if site_id is not None:
        credits = credits.join(Invoice, Invoice.id == CreditNote.invoice_id).where(
            Invoice.site_id == site_id
        )
    if client_id is not None:
        credits = credits.where(CreditNote.client_id == client_id)
    credited = session.execute(credits).one()
    return NetBilling(
        before_tax=int(invoiced[0]) - int(credited[0]),
        tax_included=int(invoiced[1]) - int(credited[1]),
    )


# The client's own figures (the client list's columns) ---------------------------


def refresh_client(session: Session, client_id: int) -> None:
    """Recompute the figures stored on one client (hold its row lock first
    where others may change it at once: ``refresh_pending`` does)."""
    billing = net_billing(session, client_id=client_id)
    session.execute(
        update(Client)
        .where(Client.id == client_id)
        .values(
            mrr=mrr(session, client_id=client_id),
            net_billing=billing.tax_included,
            net_billing_before_tax=billing.before_tax,
        )
        .execution_options(synchronize_session="fetch")
    )


def refresh_clients(session: Session, client_ids: list[int]) -> None:
    """``refresh_client`` for each of ``client_ids``, in a few statements
    for them all (sums grouped by client, one multi-row update): a batch of
    renewals refreshes its clients at once, not one by one."""
    ids = sorted(set(client_ids))
    invoiced = dict.fromkeys(ids, (0, 0))
    for client_id, subtotal, total in session.execute(
        select(Invoice.client_id, func.sum(Invoice.subtotal), func.sum(Invoice.total))
        .where(Invoice.status.in_(FINALIZED), Invoice.client_id.in_(ids))
        .group_by(Invoice.client_id)
    ):
        invoiced[client_id] = (int(subtotal), int(total))
    credited = dict.fromkeys(ids, (0, 0))
    for client_id, subtotal, amount in session.execute(
        select(CreditNote.client_id, func.sum(CreditNote.subtotal), func.sum(CreditNote.amount))
        .where(CreditNote.client_id.in_(ids))
        .group_by(CreditNote.client_id)
    ):
        credited[client_id] = (int(subtotal), int(amount))
    per_client: dict[int, Fraction] = defaultdict(Fraction)
    for client_id, unit, count, amount in _client_groups(session, Subscription.client_id.in_(ids)):
        per_client[client_id] += monthly(int(amount), unit, count)
    for client_id, off in discounted_mrr(session, client_ids=ids).items():
        per_client[client_id] -= off
    values = [
        {
            "cid": client_id,
            "mrr": to_minor(per_client[client_id]),
            "billing": invoiced[client_id][1] - credited[client_id][1],
            "before_tax": invoiced[client_id][0] - credited[client_id][0],
        }
        for client_id in ids
    ]
    table = Client.__table__
    session.connection().execute(
        update(table)
        .where(table.c.id == bindparam("cid"))
        .values(
            mrr=bindparam("mrr"),
            net_billing=bindparam("billing"),
            net_billing_before_tax=bindparam("before_tax"),
        ),
        values,
    )
    # The clients loaded in the session read their new figures.
    for client_id in ids:
        client = session.identity_map.get(identity_key(Client, client_id))
        if client is not None:
            session.expire(client, ["mrr", "net_billing", "net_billing_before_tax"])


def refresh_all(session: Session) -> int:
    """Recompute the figures of every client in a few set-based statements
    (sums grouped by client, then one update per client with an MRR).
    Returns how many clients have an MRR."""
    session.execute(
        update(Client)
        .values(mrr=0, net_billing=0, net_billing_before_tax=0)
        .execution_options(synchronize_session=False)
    )
    invoiced = (
        select(
            Invoice.client_id,
            func.sum(Invoice.total).label("total"),
            func.sum(Invoice.subtotal).label("subtotal"),
        )
        .where(Invoice.status.in_(FINALIZED))
        .group_by(Invoice.client_id)
        .subquery()
    )
    session.execute(
        update(Client)
        .where(Client.id == invoiced.c.client_id)
        .values(net_billing=invoiced.c.total, net_billing_before_tax=invoiced.c.subtotal)
        .execution_options(synchronize_session=False)
    )
    credited = (
        select(
            CreditNote.client_id,
            func.sum(CreditNote.amount).label("amount"),
            func.sum(CreditNote.subtotal).label("subtotal"),
        )
        .group_by(CreditNote.client_id)
        .subquery()
    )
    session.execute(
        update(Client)
        .where(Client.id == credited.c.client_id)
        .values(
            net_billing=Client.net_billing - credited.c.amount,
            net_billing_before_tax=Client.net_billing_before_tax - credited.c.subtotal,
        )
        .execution_options(synchronize_session=False)
    )
    values = [{"cid": cid, "value": value} for cid, value in client_mrrs(session).items()]
    if values:
        table = Client.__table__
        session.connection().execute(
            update(table).where(table.c.id == bindparam("cid")).values(mrr=bindparam("value")),
            values,
        )
    session.expire_all()
    return len(values)


def client_mrrs(session: Session) -> dict[int, int]:
    """Every client's MRR computed from the subscriptions (clients with an
    active subscription only)."""
    per_client: dict[int, Fraction] = defaultdict(Fraction)
    for client_id, unit, count, amount in _client_groups(session):
        per_client[client_id] += monthly(int(amount), unit, count)
    for client_id, off in discounted_mrr(session).items():
        per_client[client_id] -= off
    return {client_id: to_minor(value) for client_id, value in per_client.items()}


def _client_groups(session: Session, *filters):
    return session.execute(
        select(
            Subscription.client_id,
            Plan.interval_unit,
            Plan.interval_count,
            _billed(),
        )
        .join(Plan, Plan.id == Subscription.plan_id)
        .where(Subscription.status.in_(ACTIVE), Subscription.paused_at.is_(None), *filters)
        .group_by(Subscription.client_id, Plan.interval_unit, Plan.interval_count)
    ).all()


_PENDING = "bridge.metrics.pending_clients"


def refresh_pending(session: Session) -> None:
    """Recompute the figures of the clients whose subscriptions, invoices or
    credit notes changed in this transaction, in the order of their ids.
    Runs by itself just before the transaction commits."""
    pending = sorted(session.info.pop(_PENDING, ()))
    if not pending:
        return
    # Lock the clients' rows first (in id order), then sum: a transaction
    # that changed the same client and committed meanwhile is then seen by
    # the sums, never overwritten by figures computed before it committed.
    # FOR NO KEY UPDATE (key_share), what the UPDATE takes anyway: rows
    # pointing at the client (audit entries, invoices) hold KEY SHARE locks,
    # which a plain FOR UPDATE would wait for.
    session.execute(
        select(Client.id)
        .where(Client.id.in_(pending))
        .order_by(Client.id)
        .with_for_update(key_share=True)
    ).all()
    refresh_clients(session, pending)


@sa_event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    # The clients' rows are written last and in id order: two transactions
    # touching the same clients (two schedulers renewing) lock them in the
    # same order, at the very end, so they queue rather than deadlock.
    if session.info.get(_PENDING) and session.get_nested_transaction() is None:
        refresh_pending(session)


def _pending(session: Session, client_id: int) -> None:
    session.info.setdefault(_PENDING, set()).add(client_id)


def _client_of_subscription(session: Session, event) -> None:
    subscription = session.get(Subscription, event.subscription_id)
    if subscription is not None:
        _pending(session, subscription.client_id)


def _client_of_invoice(session: Session, event) -> None:
    invoice = session.get(Invoice, event.invoice_id)
    if invoice is not None:
        _pending(session, invoice.client_id)


def _client_of_discount(session: Session, event) -> None:
    _pending(session, event.client_id)


SUBSCRIBERS = {
    events.DiscountApplied: _client_of_discount,
    events.SubscriptionActivated: _client_of_subscription,
    events.SubscriptionCancelled: _client_of_subscription,
    events.SubscriptionExpired: _client_of_subscription,
    events.SubscriptionPaused: _client_of_subscription,
    events.SubscriptionResumed: _client_of_subscription,
    events.SubscriptionPlanChanged: _client_of_subscription,
    events.SubscriptionPlanSwitched: _client_of_subscription,
    events.InvoiceFinalized: _client_of_invoice,
    events.InvoiceVoided: _client_of_invoice,
    events.CreditNoteIssued: _client_of_invoice,
}


def register() -> None:
    """Keep the clients' figures in step with the domain (idempotent)."""
    for event_type, subscriber in SUBSCRIBERS.items():
        events.subscribe(event_type, subscriber)


# The overview ---------------------------------------------------------------------


def overview(session: Session) -> dict:
    """The Hub's overview figures (SPEC 10), all tax excluded."""
    settings = get_settings(session)
    groups = session.execute(_mrr_groups()).all()
    active = sum(n for *_rest, n in groups)
    clients_total, billed = session.execute(
        select(func.count(), func.coalesce(func.sum(Client.net_billing_before_tax), 0)).select_from(
            Client
        )
    ).one()
    billed = int(billed)
    with_active = session.scalar(
        select(func.count(func.distinct(Subscription.client_id))).where(
            Subscription.status.in_(ACTIVE)
        )
    )
    plans = dict(
        session.execute(
            select(Plan.kind, func.count())
            .join(Product, Product.id == Plan.product_id)
            .where(Plan.status == CatalogStatus.ACTIVE, Product.status == CatalogStatus.ACTIVE)
            .group_by(Plan.kind)
        ).all()
    )
    return {
        "currency": settings.currency,
        "revenue": {
            "mrr": to_minor(
                exact_mrr((u, c, a) for u, c, a, _n in groups)
                - sum(discounted_mrr(session).values(), Fraction(0))
            ),
            "active_subscriptions": active,
            "net_billing": billed,
        },
        "clients": {
            "total": clients_total,
            "average_billing": round_half_up(billed, clients_total) if clients_total else 0,
            "with_active_subscriptions": with_active or 0,
        },
        "products": {
            "total": session.scalar(select(func.count()).select_from(Product)) or 0,
            "active_one_time_plans": plans.get(PlanKind.ONE_TIME, 0),
            "active_recurring_plans": plans.get(PlanKind.RECURRING, 0),
        },
        "stripe": {
            "connected": bool(settings.stripe_secret_key_encrypted),
            "account_id": settings.stripe_account_id,
            "account_name": settings.stripe_account_name,
            "livemode": settings.stripe_livemode,
        },
    }


# History ---------------------------------------------------------------------------


MOVEMENTS = ("new", "expansion", "contraction", "churn", "reactivation")


@dataclass(frozen=True)
class Movements:
    """How MRR moved over a month, by cause (minor units; contraction and
    churn negative). They sum to the month's MRR change exactly."""

    new: int = 0
    expansion: int = 0
    contraction: int = 0
    churn: int = 0
    reactivation: int = 0


@dataclass(frozen=True)
class Month:
    month: date  # its first day, in the business time zone
    mrr: int
    billing: int  # net billing of the month, before tax
    movements: Movements = field(default_factory=Movements)  # since the month before


def _month_start(day: date, months: int = 0) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _local_midnight(day: date, tz) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def history(
    session: Session,
    *,
    months: int = HISTORY_MONTHS,
    now: datetime | None = None,
    client_id: int | None = None,
    site_id: int | None = None,
) -> list[Month]:
    """MRR at the end of each of the last ``months`` months (the current one
    at ``now``) and each month's net billing before tax, oldest first, months
    in the business time zone. MRR follows the subscriptions' own history,
    by the definitions above applied at each month's end ``t``:

    - a subscription counts from its start (its first period: ``anchor_at``,
      or its first invoiced period when a resume or a change across
      intervals moved the anchor since) until it ended (``ended_at``);
    - but not while paused at ``t``: from the moment staff paused it until
      it resumed (the audit log's ``subscription.paused`` and
      ``subscription.resumed``), as MRR now leaves a paused one out;
    - less what a discount took off at ``t``, as ``discounted_mrr`` does
      now: a discount that existed at ``t`` (applied, not yet ended), with
      cycles left at ``t`` (its non-void invoices issued by ``t`` fewer
      than its cycles; forever always), reduces the subscriptions it stood
      for at ``t`` (its subscription, or its client's that had no discount
      of their own then) by what it takes off their next renewal line. A
      coupon of 3 cycles given after the first invoice: MRR 80.00 of 100.00
      until its third renewal, then 100.00.

    The price and plan are the subscription's present ones (a plan change
    is not dated).

    Each month carries its *movements* (``Movements``, ``_mrr_series``): the
    change of MRR since the previous month's end, by cause: new,
    expansion, contraction, churn, reactivation. A pause is a churn when it
    takes the subscription's MRR to 0 and its resume a reactivation; a
    discount starting a contraction, ending an expansion. They are exact
    amounts rounded so that they sum to the change of the rounded MRRs."""
    now = now or clock.now()
    tz = business_zone(session)
    today = local_date(now, tz)
    firsts = [_month_start(today, k - months + 1) for k in range(months)]
    ends = [min(_local_midnight(_month_start(first, 1), tz), now) for first in firsts]

    sub_scope = _scope(Subscription.client_id, Subscription.site_id, client_id, site_id)
    # One more month end before the first: the first month's movements.
    before = min(_local_midnight(firsts[0], tz), now)
    exact, moved = _mrr_series(session, [before, *ends], sub_scope)

    billing = [0] * months
    index = {(first.year, first.month): k for k, first in enumerate(firsts)}
    last_day = _month_start(today, 1) - timedelta(days=1)
    invoice_rows = session.execute(
        select(Invoice.issue_date, func.sum(Invoice.subtotal))
        .where(
            Invoice.status.in_(FINALIZED),
            Invoice.issue_date >= firsts[0],
            Invoice.issue_date <= last_day,
            *_scope(Invoice.client_id, Invoice.site_id, client_id, site_id),
        )
        .group_by(Invoice.issue_date)
    ).all()
    credits = (
        select(CreditNote.issue_date, -func.sum(CreditNote.subtotal))
        .where(CreditNote.issue_date >= firsts[0], CreditNote.issue_date <= last_day)
        .group_by(CreditNote.issue_date)
    )
    if client_id is not None:
        credits = credits.where(CreditNote.client_id == client_id)
    if site_id is not None:
        credits = credits.join(Invoice, Invoice.id == CreditNote.invoice_id).where(
            Invoice.site_id == site_id
        )
    for day, amount in [*invoice_rows, *session.execute(credits).all()]:
        billing[index[(day.year, day.month)]] += int(amount)
    rounded = [to_minor(value) for value in exact]
    return [
        Month(
            firsts[k],
            rounded[k + 1],
            billing[k],
            _rounded_movements(moved[k + 1], rounded[k + 1] - rounded[k]),
        )
        for k in range(months)
    ]


def _rounded_movements(exact: dict[str, Fraction], change: int) -> Movements:
    """The exact movements in minor units summing to ``change`` (the change
    of the rounded MRRs): each rounded down, the units left over given one
    each to the largest remainders (ties: the order of ``MOVEMENTS``), the
    largest-remainder rule of ``discounts.spread``."""
    values = [exact.get(name, Fraction(0)) for name in MOVEMENTS]
    floors = [value.numerator // value.denominator for value in values]
    left = change - sum(floors)  # 0 <= left <= len(MOVEMENTS): see the docstring
    order = sorted(range(len(values)), key=lambda i: (floors[i] - values[i], i))
    for i in order[: max(left, 0)]:
        floors[i] += 1
    return Movements(*floors)


def _mrr_series(
    session: Session, ends: list[datetime], sub_scope: list
) -> tuple[list[Fraction], list[dict[str, Fraction]]]:
    """The exact MRR at each of ``ends`` and its movements from the end
    before (none at the first), by ``history``'s rules. Subscriptions
    neither paused, re-anchored nor discounted (nearly all) are one
    aggregate grouped by the months they start and end in: each counts its
    amount as *new* (*reactivation*: a subscription reactivated from a
    cancelled one) at its start and as *churn* at its end. The others are
    followed one by one, their MRR at each end compared with the end
    before: up from 0 is new, or reactivation when it had started before
    (back from a pause, or a discount of 100 % ending); down to 0 churn
    (ended, paused, or a 100 % discount); otherwise expansion or contraction
    (a discount starting is a contraction, ending an expansion)."""
    n = len(ends)

    def bucket(column):
        # The first end the moment is at or before; ``n`` if none.
        return case(*((column <= end, k) for k, end in enumerate(ends)), else_=n)

    # Subscriptions ever paused or re-anchored are followed one by one
    # (``_lives``), and so are the discounted ones; the rest, nearly all, by
    # the aggregate.
    lives = _lives(session, ends[-1], sub_scope)
    off = _discounts_at(session, ends, lives, sub_scope)
    for sub_id, (sub, _values) in off.items():
        lives.setdefault(sub_id, _Life(sub, sub.anchor_at))
    started, ended = (
        bucket(Subscription.anchor_at),
        case((Subscription.ended_at.is_(None), n), else_=bucket(Subscription.ended_at)),
    )
    again = Subscription.reactivated_from_id.is_not(None)
    rows = session.execute(
        select(Plan.interval_unit, Plan.interval_count, started, ended, again, _billed())
        .join(Plan, Plan.id == Subscription.plan_id)
        .where(
            Subscription.status != SubscriptionStatus.PENDING,
            Subscription.anchor_at.is_not(None),
            Subscription.anchor_at <= ends[-1],
            Subscription.id.not_in(list(lives)) if lives else true(),
            *sub_scope,
        )
        .group_by(Plan.interval_unit, Plan.interval_count, started, ended, again)
    ).all()
    exact = [Fraction(0)] * n
    moved: list[dict[str, Fraction]] = [defaultdict(Fraction) for _ in range(n)]
    for unit, count, first, last, reactivated, amount in rows:
        first, last = int(first), min(int(last), n)
        if first >= last:
            continue  # started and ended between two ends: never counted
        value = monthly(int(amount), unit, count)
        for k in range(first, last):
            exact[k] += value
        if first > 0:
            moved[first]["reactivation" if reactivated else "new"] += value
        if last < n:
            moved[last]["churn"] -= value
    for sub_id, life in lives.items():
        sub = life.subscription
        gross = monthly(
            line_amount(sub.unit_amount, sub.quantity_e3),
            sub.plan.interval_unit,
            sub.plan.interval_count,
        )
        reductions = off[sub_id][1] if sub_id in off else [Fraction(0)] * n
        values = [
            gross - reductions[k] if life.counts_at(end) else Fraction(0)
            for k, end in enumerate(ends)
        ]
        for k, value in enumerate(values):
            exact[k] += value
            if k == 0 or value == values[k - 1]:
                continue
            previous = values[k - 1]
            if previous == 0:
                back = sub.reactivated_from_id is not None or (
                    life.start is not None and life.start <= ends[k - 1]
                )
                moved[k]["reactivation" if back else "new"] += value
            elif value == 0:
                moved[k]["churn"] -= previous
            else:
                moved[k]["expansion" if value > previous else "contraction"] += value - previous
    return exact, moved


@dataclass
class _Life:
    """One subscription's life for the history: when it started and the
    times it was paused (``[from, to)``, ``to`` None: still paused)."""

    subscription: Subscription
    start: datetime
    pauses: list[tuple[datetime, datetime | None]] = field(default_factory=list)

    def counts_at(self, moment: datetime) -> bool:
        """Whether it counts in MRR at ``moment`` (before any discount)."""
        sub = self.subscription
        if sub.status == SubscriptionStatus.PENDING or sub.anchor_at is None:
            return False
        if not self.start <= moment or (sub.ended_at is not None and sub.ended_at <= moment):
            return False
        return not any(a <= moment and (b is None or moment < b) for a, b in self.pauses)


REANCHORED = ("subscription.paused", "subscription.resumed", "subscription.plan_changed")


def _lives(session: Session, until: datetime, sub_scope: list) -> dict[int, _Life]:
    """The subscriptions (of ``sub_scope``) ever paused or moved to a new
    anchor (``REANCHORED`` in the audit log; few), each with its start and
    its pauses."""
    ids = select(AuditEntry.object_id).where(
        AuditEntry.object_type == "subscription",
        AuditEntry.action.in_(REANCHORED),
        AuditEntry.created_at <= until,
    )
    query = (
        select(Subscription)
        .where(
            or_(Subscription.id.in_(ids), Subscription.paused_at.is_not(None)),
            Subscription.status != SubscriptionStatus.PENDING,
            *sub_scope,
        )
        .options(joinedload(Subscription.plan))
    )
    lives = {sub.id: _Life(sub, sub.anchor_at) for sub in session.scalars(query)}
    if not lives:
        return lives
    firsts = session.execute(
        select(InvoiceLine.subscription_id, func.min(InvoiceLine.period_start))
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(InvoiceLine.subscription_id.in_(list(lives)), Invoice.status.in_(FINALIZED))
        .group_by(InvoiceLine.subscription_id)
    ).all()
    for sub_id, first in firsts:
        life = lives[sub_id]
        if first is not None and (life.start is None or first < life.start):
            life.start = first
    entries = session.execute(
        select(AuditEntry.object_id, AuditEntry.action, AuditEntry.created_at)
        .where(
            AuditEntry.object_type == "subscription",
            AuditEntry.object_id.in_(list(lives)),
            AuditEntry.action.in_(REANCHORED[:2]),
        )
        .order_by(AuditEntry.created_at, AuditEntry.id)
    ).all()
    opened: dict[int, datetime] = {}
    for sub_id, action, at in entries:
        if action == "subscription.paused":
            opened.setdefault(sub_id, at)  # pausing again only moves the date
        elif sub_id in opened:
            lives[sub_id].pauses.append((opened.pop(sub_id), at))
    for sub_id, life in lives.items():
        paused_at = life.subscription.paused_at
        if paused_at is not None:
            life.pauses.append((min(opened.get(sub_id, paused_at), paused_at), None))
    return lives


def _discounts_at(
    session: Session, ends: list[datetime], lives: dict[int, _Life], sub_scope: list
) -> dict[int, tuple[Subscription, list[Fraction]]]:
    """What discounts took off each subscription's MRR at each of ``ends``
    (exact, a month), as ``discounted_mrr`` at each of those moments
    (``history``'s rules); only the subscriptions a discount reduced. The
    loop is over the discounts (few) and their subscriptions."""
    off: dict[int, tuple[Subscription, list[Fraction]]] = {}
    held = list(
        session.scalars(
            select(Discount).where(
                Discount.created_at <= ends[-1],
                or_(Discount.client_id.is_not(None), Discount.subscription_id.is_not(None)),
            )
        )
    )
    if not held:
        return off
    issued: dict[int, list[datetime]] = defaultdict(list)
    counted = [d.id for d in held if d.coupon.duration != CouponDuration.FOREVER]
    for discount_id, at in session.execute(
        select(Invoice.discount_id, Invoice.issued_at).where(
            Invoice.discount_id.in_(counted),  # the invoices that used up cycles
            Invoice.status != InvoiceStatus.VOID,
            Invoice.issued_at.is_not(None),
        )
    ):
        issued[discount_id].append(at)

    def alive(discount: Discount, moment: datetime) -> bool:
        return discount.created_at <= moment and (
            discount.ended_at is None or moment < discount.ended_at
        )

    def used_up(discount: Discount, moment: datetime) -> bool:
        coupon = discount.coupon
        if coupon.duration == CouponDuration.FOREVER:
            return False
        cycles = 1 if coupon.duration == CouponDuration.ONCE else coupon.duration_cycles
        return sum(1 for at in issued[discount.id] if at <= moment) >= cycles

    own: dict[int, list[Discount]] = defaultdict(list)
    theirs: dict[int, list[Discount]] = defaultdict(list)
    for discount in held:
        if discount.subscription_id is not None:
            own[discount.subscription_id].append(discount)
        else:
            theirs[discount.client_id].append(discount)
    subs = session.scalars(
        select(Subscription)
        .where(
            or_(Subscription.id.in_(list(own)), Subscription.client_id.in_(list(theirs))),
            *sub_scope,
        )
        .options(joinedload(Subscription.plan))
    )
    for sub in subs:
        life = lives.get(sub.id) or _Life(sub, sub.anchor_at)
        for k, end in enumerate(ends):
            # As ``coupons.standing`` then: the subscription's own latest
            # discount, else its client's, if it had cycles left.
            standing = [d for d in own[sub.id] if alive(d, end)] or [
                d for d in theirs[sub.client_id] if alive(d, end)
            ]
            if not standing or not life.counts_at(end):
                continue
            discount = max(standing, key=lambda d: d.id)
            reduction = _reduction(
                discount.coupon, sub.plan.product_id, sub.unit_amount, sub.quantity_e3
            )
            if reduction and not used_up(discount, end):
                _sub, values = off.setdefault(sub.id, (sub, [Fraction(0)] * len(ends)))
                values[k] += monthly(reduction, sub.plan.interval_unit, sub.plan.interval_count)
    return off


# Forecast --------------------------------------------------------------------------


@dataclass(frozen=True)
class Horizon:
    days: int
    renewals: int
    amount: int  # amount x quantity of the renewals less discounts, tax excluded


def forecast(
    session: Session,
    *,
    now: datetime | None = None,
    days: tuple[int, ...] = FORECAST_DAYS,
    client_id: int | None = None,
    site_id: int | None = None,
) -> list[Horizon]:
    """Renewals expected within each horizon (30, 60, 90 days from ``now``)
    and their amounts, net of discounts (a renewal a discount would reduce
    counts its discounted amount: a forever coupon's every renewal, an
    N-cycle one's next ones up to its cycles left, as MRR and the renewals
    themselves). A subscription cancelling at period end, or whose
    billing cycles are used up, renews no more. Renewal dates are the
    periods' own (``periods.period_boundary``, as the scheduler's). A
    change scheduled for the next renewal counts from it on the new plan,
    quantity and price (``_renewal_terms``): those few subscriptions are
    counted one by one, apart from the aggregates.

    Plans counted in months or years are one SQL aggregate
    (``_month_renewals``): how many of their period starts fall on or before
    a horizon is arithmetic on the anchor's wall-clock date, computed by the
    database. Only the rows it cannot decide exactly (a period start within
    a few hours of a horizon, where a DST change could tip it) and plans
    counted in days or weeks are read and counted here."""
    now = now or clock.now()
    tz = business_zone(session)
    limits = [now + timedelta(days=d) for d in days]
    last = max(limits)
    walls = [limit.astimezone(tz).replace(tzinfo=None) for limit in limits]
    scope = [
        Subscription.status.in_(subscriptions.RENEWABLE),
        Subscription.cancel_at_period_end.is_(False),
        Subscription.paused_at.is_(None),  # paused: no renewal until resumed
        Subscription.current_period_end <= last,
        *_scope(Subscription.client_id, Subscription.site_id, client_id, site_id),
    ]
    # A change scheduled for the next renewal prices it (and the ones after)
    # on the new terms: those few subscriptions are counted apart, below.
    unchanged = [*scope, Subscription.pending_change_requested_at.is_(None)]
    counts = [0] * len(days)
    amounts = [0] * len(days)
    # Where the zone's offset does not change, a plan counted in days or
    # weeks renews every ``step`` exactly: plain arithmetic on UTC times.
    since = now - timedelta(days=1)
    steady = _steady_offset(tz, since, last)
    by_months = Plan.interval_unit.in_((IntervalUnit.MONTH, IntervalUnit.YEAR))
    months_here, days_here = true(), true()  # the rows counted here, one by one
    if not any(_near_month_edge(wall) for wall in walls):
        near = _month_renewals(session, unchanged, by_months, limits, walls, tz, counts, amounts)
        months_here = Subscription.id.in_(near)
    if steady:
        near = _day_renewals(session, unchanged, ~by_months, limits, since, counts, amounts)
        days_here = or_(Subscription.current_period_end < since, Subscription.id.in_(near))
    rows = session.execute(
        select(
            Subscription.anchor_at,
            Subscription.period_index,
            Subscription.current_period_end,
            Subscription.cycles_invoiced,
            Plan.billing_cycles,
            Plan.interval_unit,
            Plan.interval_count,
            subscription_amount(),
        )
        .join(Plan, Plan.id == Subscription.plan_id)
        .where(*unchanged, or_(and_(by_months, months_here), and_(~by_months, days_here)))
    ).all()
    horizons = _Horizons(limits, walls, tz, steady, since)
    for *terms, amount in rows:
        for h, n in enumerate(horizons.renewals(*terms)):
            counts[h] += n
            amounts[h] += n * amount
    # The subscriptions with a change scheduled, one by one, on the next
    # renewal's terms (as the billing preview and the renew job).
    changing = session.scalars(
        select(Subscription)
        .where(*scope, Subscription.pending_change_requested_at.is_not(None))
        .options(joinedload(Subscription.plan), joinedload(Subscription.pending_plan))
    )
    for sub in changing:
        terms, amount = _renewal_terms(session, sub)
        for h, n in enumerate(horizons.renewals(*terms)):
            counts[h] += n
            amounts[h] += n * amount
    # Less what discounts take off the renewals they reduce (as many as
    # their cycles left): the few discounted subscriptions, one by one.
    for sub, reduction, left in standing_discounts(session, *scope, next_terms=True):
        terms, _amount = _renewal_terms(session, sub)
        for h, n in enumerate(horizons.renewals(*terms)):
            amounts[h] -= (n if left is None else min(n, left)) * reduction
    return [Horizon(d, counts[h], amounts[h]) for h, d in enumerate(days)]


def _renewal_terms(session: Session, sub: Subscription) -> tuple[tuple, int]:
    """One subscription's renewals as ``_Horizons.renewals`` counts them
    (anchor, current period index, first renewal, cycles invoiced, billing
    cycles, interval) and the amount of each: on the next renewal's terms
    (``subscriptions.next_renewal``), so a change scheduled for it counts
    the new plan, quantity and price from there on and, across intervals,
    the new plan's periods from the old period's end, its cycles afresh."""
    if not subscriptions.has_pending_change(sub):
        plan = sub.plan
        terms = (sub.anchor_at, sub.period_index, sub.current_period_end, sub.cycles_invoiced)
        amount = line_amount(sub.unit_amount, sub.quantity_e3)
    else:
        renewal = subscriptions.next_renewal(session, sub)
        plan = renewal.plan
        invoiced = 0 if renewal.new_period else sub.cycles_invoiced
        terms = (renewal.anchor_at, renewal.index - 1, renewal.start, invoiced)
        amount = line_amount(renewal.unit_amount, renewal.quantity_e3)
    return (*terms, plan.billing_cycles, plan.interval_unit, plan.interval_count), amount


@dataclass(frozen=True)
class _Horizons:
    """The forecast's horizons, to count one subscription's renewals by."""

    limits: list[datetime]
    walls: list[datetime]
    tz: object
    steady: bool
    since: datetime

    def renewals(self, anchor, index, renews_at, invoiced, cycles, unit, count) -> list[int]:
        """How many renewals fall on or before each horizon, at most the
        billing cycles left."""
        limits, last = self.limits, max(self.limits)
        left = None if cycles is None else cycles - invoiced
        if left is not None and left <= 0:
            return [0] * len(limits)
        unit = IntervalUnit(unit)
        by_days = unit in (IntervalUnit.DAY, IntervalUnit.WEEK)
        if self.steady and by_days and renews_at >= self.since:
            step = timedelta(days=count * (7 if unit == IntervalUnit.WEEK else 1))
            found = [
                (limit - renews_at) // step + 1 if renews_at <= limit else 0 for limit in limits
            ]
        elif by_days:
            found = [
                _renewals_by_days(anchor, unit, count, index + 1, renews_at, limit, wall, self.tz)
                for limit, wall in zip(limits, self.walls, strict=True)
            ]
        else:
            dates = [renews_at]
            while dates[-1] <= last and (left is None or len(dates) < left):
                dates.append(period_boundary(anchor, unit, count, index + 1 + len(dates), self.tz))
            found = [sum(1 for d in dates if d <= limit) for limit in limits]
        return [n if left is None else min(n, left) for n in found]


# A period start this close (in wall-clock seconds) to a horizon is counted
# with ``period_boundary`` itself: a DST change moves a wall-clock time by at
# most two hours.
NEAR_SECONDS = 3 * 3600


def _near_month_edge(wall: datetime) -> bool:
    """Whether ``wall`` is within ``NEAR_SECONDS`` of the start or end of its
    month: then a period start of the next or previous month could be near
    it, and the forecast counts every month plan one by one (a few hours a
    month)."""
    first = wall.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = add_months(first, 1)
    edge = timedelta(seconds=NEAR_SECONDS)
    return wall - first < edge or following - wall < edge


class _wall_clock(FunctionElement):
    """``moment`` (a UTC timestamp) moved by ``seconds``, without a zone: the
    wall-clock time of a zone whose offset is ``seconds`` then."""

    type = DateTime()
    inherit_cache = True


@compiles(_wall_clock, "postgresql")
def _wall_clock_postgresql(element, compiler, **kw):
    moment, seconds = list(element.clauses)
    return (
        f"(({compiler.process(moment, **kw)}) AT TIME ZONE 'UTC') "
        f"+ make_interval(secs => {compiler.process(seconds, **kw)})"
    )


@compiles(_wall_clock, "sqlite")
def _wall_clock_sqlite(element, compiler, **kw):
    moment, seconds = list(element.clauses)
    return (
        f"datetime({compiler.process(moment, **kw)}, "
        f"({compiler.process(seconds, **kw)}) || ' seconds')"
    )


class _part(FunctionElement):
    """One integer field (``year``, ``month``, ``day``, ``hour``, ``minute``,
    ``second``) of a timestamp without zone. PostgreSQL's ``date_part`` is a
    float, several times quicker than ``EXTRACT``'s numeric."""

    type = Integer()
    inherit_cache = True

    def __init__(self, field: str, moment):
        self.field = field
        super().__init__(moment)


_STRFTIME = {"year": "%Y", "month": "%m", "day": "%d", "hour": "%H", "minute": "%M", "second": "%S"}


@compiles(_part, "postgresql")
def _part_postgresql(element, compiler, **kw):
    moment = compiler.process(list(element.clauses)[0], **kw)
    return f"CAST(date_part('{element.field}', {moment}) AS INTEGER)"


@compiles(_part, "sqlite")
def _part_sqlite(element, compiler, **kw):
    moment = compiler.process(list(element.clauses)[0], **kw)
    return f"CAST(strftime('{_STRFTIME[element.field]}', {moment}) AS INTEGER)"


# Billing cycles left of a plan without a limit, for LEAST().
UNLIMITED = 2**31 - 1


class _greatest(FunctionElement):
    type = Integer()
    inherit_cache = True


class _least(FunctionElement):
    type = Integer()
    inherit_cache = True


@compiles(_greatest, "postgresql")
def _greatest_postgresql(element, compiler, **kw):
    return f"GREATEST({compiler.process(element.clause_expr.element, **kw)})"


@compiles(_least, "postgresql")
def _least_postgresql(element, compiler, **kw):
    return f"LEAST({compiler.process(element.clause_expr.element, **kw)})"


@compiles(_greatest, "sqlite")
def _greatest_sqlite(element, compiler, **kw):
    return f"max({compiler.process(element.clause_expr.element, **kw)})"


@compiles(_least, "sqlite")
def _least_sqlite(element, compiler, **kw):
    return f"min({compiler.process(element.clause_expr.element, **kw)})"


class _seconds_between(FunctionElement):
    """``later - earlier`` (two UTC timestamps) in seconds, a float."""

    type = Float()
    inherit_cache = True


@compiles(_seconds_between, "postgresql")
def _seconds_between_postgresql(element, compiler, **kw):
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"date_part('epoch', ({later}) - ({earlier}))"


@compiles(_seconds_between, "sqlite")
def _seconds_between_sqlite(element, compiler, **kw):
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


class _floor(FunctionElement):
    """The integer part of a number that is not negative."""

    type = Integer()
    inherit_cache = True


@compiles(_floor, "postgresql")
def _floor_postgresql(element, compiler, **kw):
    return f"CAST(floor({compiler.process(element.clause_expr.element, **kw)}) AS INTEGER)"


@compiles(_floor, "sqlite")
def _floor_sqlite(element, compiler, **kw):
    return f"CAST({compiler.process(element.clause_expr.element, **kw)} AS INTEGER)"


# A renewal this close (seconds) to a horizon, by the database's reckoning, is
# counted with Python's exact datetimes (SQLite's julianday is a float).
NEAR_STEP_SECONDS = 2


def _day_renewals(session, scope, by_days, limits, since, counts, amounts) -> list[int]:
    """Add the renewals of plans counted in days or weeks, in a zone whose
    offset does not change over the horizons, to ``counts`` and ``amounts``
    in one aggregate: every ``step`` from the stored next renewal
    (``current_period_end``), at most the billing cycles left. Renewals due
    since before ``since`` are the caller's; so are the subscriptions whose
    count a few seconds would change, whose ids are returned."""
    left = Plan.billing_cycles - Subscription.cycles_invoiced
    step = case((Plan.interval_unit == IntervalUnit.WEEK, 7 * 86400), else_=86400)
    first = min(limits)
    moment = Subscription.current_period_end.type
    rows = (
        select(
            Subscription.id,
            Subscription.current_period_end.label("renews_at"),
            (step * Plan.interval_count).label("step"),
            case((Plan.billing_cycles.is_(None), UNLIMITED), else_=left).label("left"),
            subscription_amount().label("amount"),
            # Seconds from the renewal to the first horizon; to the others
            # it is that plus a constant.
            _seconds_between(literal(first, moment), Subscription.current_period_end).label(
                "elapsed"
            ),
        )
        .join(Plan, Plan.id == Subscription.plan_id)
        .where(
            *scope,
            by_days,
            Subscription.current_period_end >= since,
            or_(Plan.billing_cycles.is_(None), left > 0),
        )
        .cte("day_plans")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    c = rows.c
    columns, nears = [], []
    for limit in limits:
        due = c.renews_at <= limit
        elapsed = c.elapsed + (limit - first).total_seconds()
        found = case((due, _least(_floor(elapsed / c.step) + 1, c.left)), else_=0)
        columns += [func.sum(found), func.sum(found * c.amount)]
        # A multiple of the step within a few seconds of the horizon.
        nears.append(
            and_(
                due,
                _floor((elapsed + NEAR_STEP_SECONDS) / c.step)
                != _floor(_greatest(elapsed - NEAR_STEP_SECONDS, 0) / c.step),
            )
        )
    return _sum_apart(session, rows, or_(*nears), columns, counts, amounts)


def _sum_apart(session, rows, near, columns, counts, amounts) -> list[int]:
    """Add the sums ``columns`` (count, amount per horizon) of ``rows`` but
    the ``near`` ones to ``counts`` and ``amounts``; returns the ids of the
    near ones."""
    group = case((near, rows.c.id), else_=None)
    near_ids = []
    for near_id, *sums in session.execute(select(group, *columns).group_by(group)).all():
        if near_id is not None:
            near_ids.append(near_id)
            continue
        for h in range(len(counts)):
            counts[h] += int(sums[2 * h] or 0)
            amounts[h] += int(sums[2 * h + 1] or 0)
    return near_ids


def _offsets(tz, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """The UTC offsets (seconds) of ``tz`` from ``start`` to ``end``: the
    offset at ``start`` and each change after it, as ``(from, offset)``."""

    def offset(moment: datetime) -> int:
        return int(moment.astimezone(tz).utcoffset().total_seconds())

    changes = [(start, offset(start))]
    moment = start
    while moment < end:
        following = min(moment + timedelta(days=7), end)
        if offset(following) != changes[-1][1]:
            low, high = moment, following  # the change is in (low, high]
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if offset(middle) == changes[-1][1]:
                    low = middle
                else:
                    high = middle
            changes.append((high, offset(high)))
        moment = following
    return changes


def _month_renewals(session, scope, by_months, limits, walls, tz, counts, amounts) -> list[int]:
    """Add the renewals of plans counted in months or years to ``counts``
    and ``amounts``, in one aggregate; returns the ids of the subscriptions
    it left out (a period start near a horizon) for the caller to count.

    Period ``n`` starts on the anchor's wall-clock date ``n x months``
    months later, its day clamped to the month's length. A horizon ``L``
    falls in the month ``M`` months after the anchor's: the starts on or
    before it are those with ``n x months <= M``, less one when the start
    in ``L``'s own month is later in it than ``L``. The first renewal is the
    stored ``current_period_end`` (as the scheduler's), the next ones the
    periods after it, at most the billing cycles left."""
    first_anchor = session.scalar(
        select(func.min(Subscription.anchor_at))
        .join(Plan, Plan.id == Subscription.plan_id)
        .where(*scope, by_months)
    )
    if first_anchor is None:
        return []
    changes = _offsets(tz, first_anchor, max(limits))
    offset = literal(changes[0][1])
    if len(changes) > 1:
        offset = case(
            *[(Subscription.anchor_at >= start, sec) for start, sec in reversed(changes[1:])],
            else_=changes[0][1],
        )
    wall = _wall_clock(Subscription.anchor_at, offset)
    parts = ("year", "month", "day", "hour", "minute", "second")
    left = Plan.billing_cycles - Subscription.cycles_invoiced
    rows = (
        select(
            Subscription.id,
            *[_part(part, wall).label(part) for part in parts],
            Subscription.period_index.label("index"),
            Subscription.current_period_end.label("renews_at"),
            (
                case((Plan.interval_unit == IntervalUnit.YEAR, 12), else_=1) * Plan.interval_count
            ).label("months"),
            case((Plan.billing_cycles.is_(None), UNLIMITED), else_=left).label("left"),
            subscription_amount().label("amount"),
        )
        .join(Plan, Plan.id == Subscription.plan_id)
        .where(*scope, by_months, or_(Plan.billing_cycles.is_(None), left > 0))
        .cte("month_plans")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    c = rows.c
    # Rounded on PostgreSQL, truncated on SQLite: a second either way never
    # decides a count (a start that close to a horizon is near it).
    seconds = c.hour * 3600 + c.minute * 60 + c.second
    columns, nears = [], []
    for limit, horizon in zip(limits, walls, strict=True):
        length = calendar.monthrange(horizon.year, horizon.month)[1]
        horizon_seconds = horizon.hour * 3600 + horizon.minute * 60 + horizon.second
        start_day = case((c.day > length, length), else_=c.day)  # the start in L's month
        later = (start_day - horizon.day) * 86400 + seconds - horizon_seconds
        elapsed = (horizon.year - c.year) * 12 + (horizon.month - c.month)
        elapsed = elapsed - case((later > 0, 1), else_=0)
        # Periods index + 2, index + 3... up to the last one starting by L
        # (none when the quotient is 0 or less, truncated or floored).
        after = elapsed // c.months - c.index - 1
        found = case((c.renews_at <= limit, 1), else_=0) + _greatest(after, 0)
        found = _least(found, c.left)
        columns += [func.sum(found), func.sum(found * c.amount)]
        nears.append(and_(later > -NEAR_SECONDS, later < NEAR_SECONDS))
    return _sum_apart(session, rows, or_(*nears), columns, counts, amounts)


def _steady_offset(tz, start: datetime, end: datetime) -> bool:
    """Whether ``tz`` keeps one UTC offset from ``start`` to ``end`` (checked
    every 12 hours: time zones change their offset months apart)."""
    offset = start.astimezone(tz).utcoffset()
    moment = start
    while moment < end:
        moment = min(moment + timedelta(hours=12), end)
        if moment.astimezone(tz).utcoffset() != offset:
            return False
    return True


def _renewals_by_days(anchor, unit, count, first, first_at, limit, wall_limit, tz) -> int:
    """How many of the periods ``first``, ``first + 1``... start at or before
    ``limit``, for a plan counted in days or weeks. Their starts are the
    anchor's wall-clock time a whole number of days apart (``period_boundary``),
    so the count is arithmetic on wall-clock times; only a start within a few
    hours of the limit, where a DST change could tip it, is checked with
    ``period_boundary`` itself."""
    if first_at > limit:
        return 0
    step = timedelta(days=count * (7 if unit == IntervalUnit.WEEK else 1))
    wall_first = first_at.astimezone(tz).replace(tzinfo=None)
    j = (wall_limit - wall_first) // step  # the last start on or before the limit
    near = wall_limit - (wall_first + j * step) < timedelta(hours=3) or (
        wall_first + (j + 1) * step - wall_limit < timedelta(hours=3)
    )
    if near:
        while j > 0 and period_boundary(anchor, unit, count, first + j, tz) > limit:
            j -= 1
        while period_boundary(anchor, unit, count, first + j + 1, tz) <= limit:
            j += 1
    return j + 1


# Billing preview ---------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewTax:
    name: str
    percentage_e4: int
    inclusive: bool
    amount: int


@dataclass(frozen=True)
class PreviewInvoice:
    subscription_id: int
    client_id: int
    site_id: int | None
    description: str
    issue_date: date
    period_start: datetime
    period_end: datetime
    subtotal: int
    tax: int
    total: int
    taxes: list[PreviewTax]


@dataclass
class PreviewMonth:
    month: date
    invoices: list[PreviewInvoice] = field(default_factory=list)
    count: int = 0  # how many invoices (also when they are not listed)
    subtotal: int = 0
    tax: int = 0
    total: int = 0


def billing_preview(
    session: Session,
    *,
    client_id: int | None = None,
    site_id: int | None = None,
    months: int = PREVIEW_MONTHS,
    now: datetime | None = None,
    detail: bool = True,
) -> list[PreviewMonth]:
    """The renewal invoices the scheduler would issue from ``now`` over the
    next ``months`` months under today's subscriptions and tax rates, month by
    month (months of their issue dates, business time zone). Nothing is
    written: each is priced by ``renewals.renewal_line`` over the period
    ``subscriptions.period_bounds`` gives, exactly as the scheduler does,
    and reduced by the discount the renewal would take
    (``standing_discounts``: a forever coupon every renewal, an N-cycle one
    the next ones up to its cycles left; ``coupons.reduce_line``, taxes on
    the discounted amount, as ``coupons.apply_discount``).
    Renewals on the same terms (plan, quantity, price, rates, discount) all
    cost the same: each set of terms is priced once. ``detail=False`` gives the
    months' counts and totals without listing the invoices (the whole
    business)."""
    if not 1 <= months <= 36:
        raise Invalid("Preview 1 to 36 months.", fields={"months": ["From 1 to 36."]})
    now = now or clock.now()
    tz = business_zone(session)
    horizon = add_months(now, months)
    today = local_date(now, tz)
    by_month: dict[tuple[int, int], PreviewMonth] = {}
    for k in range(months + 1):
        first = _month_start(today, k)
        by_month[(first.year, first.month)] = PreviewMonth(first)
    query = (
        select(Subscription)
        .where(
            Subscription.status.in_(subscriptions.RENEWABLE),
            Subscription.cancel_at_period_end.is_(False),
            Subscription.paused_at.is_(None),  # paused: no renewal until resumed
            Subscription.current_period_end <= horizon,
            *_scope(Subscription.client_id, Subscription.site_id, client_id, site_id),
        )
        .options(joinedload(Subscription.plan))
        .order_by(Subscription.id)
    )
    # What discounts take off the next renewals, and for how many of them.
    discounted = {
        sub.id: (reduction, left)
        for sub, reduction, left in standing_discounts(session, query.whereclause, next_terms=True)
    }
    # Renewals on the same terms (plan, quantity, price, rates, discount)
    # cost the same.
    priced: dict[tuple, tuple] = {}

    def price(subscription, renewal, start, end, reduction):
        terms = (
            renewal.plan.id,
            renewal.quantity_e3,
            renewal.unit_amount,
            tuple(subscription.tax_rate_ids),
            reduction,
        )
        if terms not in priced:
            _rates, line, totals = renewals.renewal_line(session, subscription, start, end, renewal)
            if reduction:
                totals = coupons.reduce_line(line, reduction)  # as the renewal's discount
            priced[terms] = (
                line.description,
                invoice_totals([totals]),
                [PreviewTax(t.name, t.percentage_e4, t.inclusive, t.amount) for t in line.taxes],
            )
        return priced[terms]

    for subscription in session.scalars(query).unique():
        # The next renewal's terms: a change scheduled for it switches the
        # plan (and, across intervals, re-anchors the periods) there.
        renewal = subscriptions.next_renewal(session, subscription)
        plan, anchor = renewal.plan, renewal.anchor_at
        cycles = plan.billing_cycles
        invoiced = 0 if renewal.new_period else subscription.cycles_invoiced
        index = renewal.index
        start, end = renewal.start, renewal.end
        reduction, discount_left = discounted.get(subscription.id, (0, 0))
        description, summed, taxes = price(subscription, renewal, start, end, 0)
        if not detail and start > now and not reduction:
            _count_by_month(anchor, plan, index, invoiced, summed, horizon, tz, by_month)
            continue
        while (cycles is None or invoiced < cycles) and start <= horizon:
            if reduction and (discount_left is None or discount_left > 0):
                description, summed, taxes = price(subscription, renewal, start, end, reduction)
                discount_left = None if discount_left is None else discount_left - 1
            else:
                description, summed, taxes = price(subscription, renewal, start, end, 0)
            # The scheduler dates a renewal on the first moment of its period.
            issued = local_date(start, tz)
            month = by_month.setdefault(
                (issued.year, issued.month), PreviewMonth(_month_start(issued))
            )
            if detail:
                month.invoices.append(
                    PreviewInvoice(
                        subscription_id=subscription.id,
                        client_id=subscription.client_id,
                        site_id=subscription.site_id,
                        description=description,
                        issue_date=issued,
                        period_start=start,
                        period_end=end,
                        subtotal=summed.subtotal,
                        tax=summed.tax,
                        total=summed.total,
                        taxes=taxes,
                    )
                )
            month.count += 1
            month.subtotal += summed.subtotal
            month.tax += summed.tax
            month.total += summed.total
            index += 1
            invoiced += 1
            # The next period: the same boundaries ``period_bounds`` gives.
            start, end = (
                end,
                period_boundary(anchor, plan.interval_unit, plan.interval_count, index + 1, tz),
            )
    result = sorted(by_month.values(), key=lambda m: m.month)
    for month in result:
        month.invoices.sort(key=lambda i: (i.period_start, i.subscription_id))
    return result


def _count_by_month(anchor, plan, index, invoiced, summed, horizon, tz, by_month) -> None:
    """The renewals of one subscription (periods of ``plan`` from
    ``anchor``), month by month, counted rather than listed
    (``periods.starts_by_local_month``): a daily plan renews 365 times a
    year, a monthly one once a month."""
    unit, count = plan.interval_unit, plan.interval_count
    # The last period starting at or before the horizon: estimated on the
    # wall clock, settled with ``period_boundary`` (a DST change or a short
    # month may tip it).
    wall = anchor.astimezone(tz).replace(tzinfo=None)
    end = horizon.astimezone(tz).replace(tzinfo=None)
    if unit in (IntervalUnit.DAY, IntervalUnit.WEEK):
        last = (end - wall) // timedelta(days=count * (7 if unit == IntervalUnit.WEEK else 1))
    else:
        months = (end.year * 12 + end.month) - (wall.year * 12 + wall.month)
        last = months // (count * (12 if unit == IntervalUnit.YEAR else 1))
    while period_boundary(anchor, unit, count, last + 1, tz) <= horizon:
        last += 1
    while last >= index and period_boundary(anchor, unit, count, last, tz) > horizon:
        last -= 1
    if plan.billing_cycles is not None:
        last = min(last, index + plan.billing_cycles - invoiced - 1)
    for (year, number), n in starts_by_local_month(anchor, unit, count, index, last, tz).items():
        month = by_month[(year, number)]
        month.count += n
        month.subtotal += n * summed.subtotal
        month.tax += n * summed.tax
        month.total += n * summed.total
