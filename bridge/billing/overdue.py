"""Overdue invoices on a site, the grace period after their due date, and
what happens after it (the business setting ``overdue_grace``).

Per product category (hosting, maintenance, SEO) the business chooses a
grace period in days after an invoice's due date and what follows it:

- ``nothing``: the site's billing people see the overdue notice, that is all;
- ``banner``: once the grace is over, every logged-in user of the site's
  wp-admin sees a banner;
- ``restricted``: once the grace is over, the banner and the plugin's
  Hosting and SEO actions are off (the bridge refuses them with 409
  ``site_restricted``). Never the site's front end, never its data, never
  the administrator's access to wp-admin.

An invoice counts when it is open, something is still due and its due date
has passed. Its categories are those of the products on its lines (a line
without a product, or of the category ``other``, follows no grace rule: the
invoice is overdue, nothing more). ``standing`` is a pure function of those
invoices, the policy and the time; ``site_standing`` reads them for a site.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import links
from bridge.billing.business import (
    ReaderSettings,
    get_settings,
    reader_localiser,
    reading_settings,
)
from bridge.core import clock
from bridge.core.errors import Conflict, Invalid
from bridge.core.l10n import Localiser, day_display
from bridge.models import (
    BusinessSettings,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Plan,
    Product,
    ProductCategory,
    Site,
)

CATEGORIES = (ProductCategory.HOSTING, ProductCategory.MAINTENANCE, ProductCategory.SEO)
ACTIONS = ("nothing", "banner", "restricted")
DEFAULT_GRACE_DAYS = 14
DEFAULT_ACTION = "nothing"
MAX_GRACE_DAYS = 365
# The site API's areas whose actions are off while a site is restricted.
RESTRICTED_AREAS = ("hosting", "seo")

# The site's state, from best to worst.
OK, OVERDUE, GRACE, RESTRICTED = "ok", "overdue", "grace", "restricted"
RANK = {OK: 0, OVERDUE: 1, GRACE: 2, RESTRICTED: 3}


class SiteRestricted(Conflict):
    """A Hosting or SEO action of a site whose grace period is over and whose
    business restricts such sites (HTTP 409)."""

    code = "site_restricted"


@dataclass(frozen=True)
class GracePolicy:
    grace_days: int = DEFAULT_GRACE_DAYS
    after_grace: str = DEFAULT_ACTION


def policies(settings: BusinessSettings | ReaderSettings) -> dict[str, GracePolicy]:
    """The policy of each category (the defaults where none is stored)."""
    stored = settings.overdue_grace or {}
    answer = {}
    for category in CATEGORIES:
        entry = stored.get(category.value) or {}
        answer[category.value] = GracePolicy(
            grace_days=int(entry.get("grace_days", DEFAULT_GRACE_DAYS)),
            after_grace=str(entry.get("after_grace", DEFAULT_ACTION)),
        )
    return answer


def policies_view(settings: BusinessSettings) -> dict:
    return {
        category: {"grace_days": policy.grace_days, "after_grace": policy.after_grace}
        for category, policy in policies(settings).items()
    }


def update_policies(session: Session, changes: dict) -> BusinessSettings:
    """Change the policy of any category: ``{"hosting": {"grace_days": 7,
    "after_grace": "restricted"}}`` (only the keys given). All or nothing:
    ``Invalid`` names every bad field (``hosting.grace_days``)."""
    problems: dict[str, list[str]] = {}
    settings = get_settings(session)
    current = policies_view(settings)
    names = {c.value for c in CATEGORIES}
    for category, entry in changes.items():
        if category not in names:
            problems[category] = ["Unknown category: hosting, maintenance or seo."]
            continue
        if not isinstance(entry, dict):
            problems[category] = ["An object with grace_days and after_grace."]
            continue
        for key, value in entry.items():
            where = f"{category}.{key}"
            if key == "grace_days":
                whole = isinstance(value, int) and not isinstance(value, bool)
                if not whole or not 0 <= value <= MAX_GRACE_DAYS:
                    problems[where] = [f"A whole number of days between 0 and {MAX_GRACE_DAYS}."]
                else:
                    current[category]["grace_days"] = value
            elif key == "after_grace":
                if value not in ACTIONS:
                    problems[where] = ["One of: nothing, banner, restricted."]
                else:
                    current[category]["after_grace"] = value
            else:
                problems[where] = ["Unknown field."]
    if problems:
        raise Invalid("Some overdue settings are not valid.", fields=problems)
    if changes:
        settings.overdue_grace = current
        settings.updated_at = clock.now()
    return settings


# The date math ---------------------------------------------------------------------


def grace_end(due_at: datetime, days: int, timezone: str = "UTC") -> datetime:
    """When a grace of ``days`` after ``due_at`` ends: the same wall-clock
    time ``days`` calendar days later in the business time zone (so a
    change to or from summer time neither shortens nor lengthens it by an
    hour), in UTC. A wall-clock time that does not exist that day (the hour
    skipped in spring) is read with the offset from before the change."""
    if days == 0:
        return due_at
    zone = ZoneInfo(timezone)
    local = due_at.astimezone(zone)
    later = local.replace(tzinfo=None) + timedelta(days=days)
    return later.replace(tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class OverdueInvoice:
    """What the state of a site needs of one invoice."""

    id: int
    due_at: datetime
    categories: frozenset[str]


@dataclass(frozen=True)
class InvoiceStanding:
    invoice_id: int
    state: str  # overdue, grace or restricted
    category: str | None  # the category whose rule decides, None: no rule
    after_grace: str
    grace_until: datetime | None  # None when nothing follows the grace


@dataclass(frozen=True)
class Standing:
    state: str = OK
    grace_until: datetime | None = None
    restricted_since: datetime | None = None
    banner: bool = False
    invoices: tuple[InvoiceStanding, ...] = field(default=())

    @property
    def restricted(self) -> bool:
        return self.state == RESTRICTED


def _invoice_standing(
    invoice: OverdueInvoice, rules: dict[str, GracePolicy], now: datetime, timezone: str
) -> InvoiceStanding:
    """The worst state the invoice's categories give it at ``now``."""
    worst = InvoiceStanding(invoice.id, OVERDUE, None, DEFAULT_ACTION, None)
    for category in sorted(invoice.categories):
        rule = rules.get(category)
        if rule is None or rule.after_grace == "nothing":
            continue
        until = grace_end(invoice.due_at, rule.grace_days, timezone)
        if now < until:
            state = GRACE
        else:
            state = RESTRICTED if rule.after_grace == "restricted" else OVERDUE
        candidate = InvoiceStanding(invoice.id, state, category, rule.after_grace, until)
        if _worse(candidate, worst):
            worst = candidate
    return worst


def _worse(a: InvoiceStanding, b: InvoiceStanding) -> bool:
    """Whether ``a`` is worse than ``b``: a worse state; at equal state, the
    one with a rule; at equal rule, the one whose grace ends first."""
    if RANK[a.state] != RANK[b.state]:
        return RANK[a.state] > RANK[b.state]
    if (a.grace_until is None) != (b.grace_until is None):
        return a.grace_until is not None
    return a.grace_until is not None and a.grace_until < b.grace_until


def standing(
    invoices: list[OverdueInvoice],
    rules: dict[str, GracePolicy],
    now: datetime,
    timezone: str = "UTC",
) -> Standing:
    """The site's state at ``now`` from its open invoices with an amount due.

    - ``ok``: none is past its due date;
    - ``overdue``: some are, and none is in a grace period that leads to
      something (or the grace is over and only a banner follows);
    - ``grace`` until D: some invoice's grace ends at D (the earliest such
      end), after which a banner or the restriction comes;
    - ``restricted`` since D: some invoice's grace ended at D (the earliest)
      and its rule restricts the site.

    ``banner`` says whether every logged-in user should see the notice (a
    grace that ended with ``banner`` or ``restricted``)."""
    concerned = [_invoice_standing(i, rules, now, timezone) for i in invoices if i.due_at <= now]
    if not concerned:
        return Standing()
    state = max((s.state for s in concerned), key=RANK.__getitem__)
    ends = [s.grace_until for s in concerned if s.state == state and s.grace_until is not None]
    banner = any(
        s.grace_until is not None and s.grace_until <= now and s.after_grace != "nothing"
        for s in concerned
    )
    return Standing(
        state=state,
        grace_until=min(ends) if state == GRACE else None,
        restricted_since=min(ends) if state == RESTRICTED else None,
        banner=banner,
        invoices=tuple(sorted(concerned, key=lambda s: s.invoice_id)),
    )


# Reading a site's invoices ---------------------------------------------------------


def _overdue_invoices(session: Session, site: Site, now: datetime) -> list[Invoice]:
    rows = session.scalars(
        select(Invoice)
        .where(
            Invoice.site_id == site.id,
            Invoice.status == InvoiceStatus.OPEN,
            Invoice.due_at.is_not(None),
            Invoice.due_at <= now,
        )
        .order_by(Invoice.due_at, Invoice.id)
    )
    return [invoice for invoice in rows if invoice.amount_due > 0]


def overdue_among(invoices: list[Invoice], now: datetime) -> list[Invoice]:
    """The overdue ones of ``invoices`` (a site's open invoices, already
    read), in the order ``_overdue_invoices`` reads them."""
    found = [
        invoice
        for invoice in invoices
        if invoice.status == InvoiceStatus.OPEN
        and invoice.due_at is not None
        and invoice.due_at <= now
        and invoice.amount_due > 0
    ]
    return sorted(found, key=lambda invoice: (invoice.due_at, invoice.id))


def _categories(session: Session, invoice_ids: list[int]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {i: set() for i in invoice_ids}
    if not invoice_ids:
        return found
    rows = session.execute(
        select(InvoiceLine.invoice_id, Product.category)
        .join(Plan, Plan.id == InvoiceLine.plan_id)
        .join(Product, Product.id == Plan.product_id)
        .where(InvoiceLine.invoice_id.in_(invoice_ids))
        .distinct()
    )
    for invoice_id, category in rows:
        found[invoice_id].add(ProductCategory(category).value)
    return found


def site_standing(
    session: Session, site: Site, open_invoices: list[Invoice] | None = None
) -> tuple[Standing, list[Invoice]]:
    """The site's standing now, and its overdue invoices; read from
    ``open_invoices`` (every open invoice of the site) when the caller
    already has them, else from the database."""
    now = clock.now()
    settings = reading_settings(session)
    if open_invoices is None:
        invoices = _overdue_invoices(session, site, now)
    else:
        invoices = overdue_among(open_invoices, now)
    categories = _categories(session, [i.id for i in invoices])
    facts = [OverdueInvoice(i.id, i.due_at, frozenset(categories[i.id])) for i in invoices]
    return standing(facts, policies(settings), now, settings.timezone), invoices


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def standing_view(
    session: Session,
    site: Site,
    l10n: Localiser | None = None,
    open_invoices: list[Invoice] | None = None,
) -> dict:
    """The site API's ``standing`` object (docs/site-api.md), written by
    ``l10n`` (the business's language by default); ``open_invoices`` as
    for ``site_standing``."""
    result, invoices = site_standing(session, site, open_invoices)
    l10n = l10n or reader_localiser(session, None)
    by_id = {i.id: i for i in invoices}
    total = sum(i.amount_due for i in invoices)
    currency = invoices[0].currency if invoices else None
    rows = []
    for entry in result.invoices:
        invoice = by_id[entry.invoice_id]
        rows.append(
            {
                "id": invoice.id,
                "number": invoice.number,
                "due_at": iso(invoice.due_at),
                "due_at_display": day_display(l10n, invoice.due_at),
                "amount_due": invoice.amount_due,
                "currency": invoice.currency,
                "amount_due_display": l10n.money(invoice.amount_due, invoice.currency),
                "state": entry.state,
                "category": entry.category,
                "after_grace": entry.after_grace,
                "grace_until": iso(entry.grace_until),
                "grace_until_display": day_display(l10n, entry.grace_until),
                "pay_url": links.invoice_page_url(session, invoice),
            }
        )
    return {
        "state": result.state,
        "grace_until": iso(result.grace_until),
        "grace_until_display": day_display(l10n, result.grace_until),
        "restricted_since": iso(result.restricted_since),
        "restricted_since_display": day_display(l10n, result.restricted_since),
        "banner": result.banner,
        "restricted_areas": list(RESTRICTED_AREAS) if result.restricted else [],
        "amount_due": total,
        "amount_due_display": l10n.money(total, currency) if currency else None,
        "invoices": rows,
    }


def require_unrestricted(session: Session, site: Site) -> None:
    """Refuses (409 ``site_restricted``) a Hosting or SEO action of a
    restricted site."""
    result, _ = site_standing(session, site)
    if result.restricted:
        raise SiteRestricted(
            "This site's Hosting and SEO actions are off until its overdue invoices are paid.",
            code="site_restricted",
        )
