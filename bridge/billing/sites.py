"""The WordPress site API's domain: one-time connect codes, the people of a
client (matched by email by the plugin), what a site's plugin shows (billing
summary, hosting plan, the access of a user), and SEO scans.

Plain Python over a Session. The HTTP layer (``bridge.api.site``) checks the
signature and asks the policy; the functions here take the site it found.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import Row, bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, load_only

from bridge import links
from bridge.auth import policy
from bridge.auth.permissions import AREAS
from bridge.auth.secrets import SecretBox
from bridge.billing import audit, overdue
from bridge.billing.business import ReaderSettings, reader_localiser, reading_settings
from bridge.billing.clients import rotate_site_secret
from bridge.billing.renewals import saved_card_charged
from bridge.billing.subscriptions import CURRENT, RENEWABLE
from bridge.billing.validation import check_email, email_key
from bridge.core import clock
from bridge.core.errors import Conflict, DomainError, NotFound
from bridge.core.l10n import Localiser, day_display
from bridge.core.money import line_amount
from bridge.models import (
    Client,
    IntervalUnit,
    Invoice,
    InvoiceStatus,
    Plan,
    Product,
    ProductCategory,
    Role,
    SeoScan,
    Site,
    SiteConnectCode,
    SiteRole,
    Subscription,
    User,
    UserKind,
)

CONNECT_CODE_TTL = timedelta(minutes=15)
# No 0/O, 1/I/L: read aloud or copied by hand without mistakes.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_PREFIX = "BBC"
CODE_GROUPS = 4
CODE_GROUP_LENGTH = 4
MAX_INVOICES = 50
KEPT_SEO_SCANS = 20
MAX_SEO_PAGES = 100
UNPAID = (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE)


class InvalidConnectCode(DomainError):
    """A connect code that is unknown, used or expired (HTTP 400)."""

    code = "invalid_connect_code"


class SiteDisabled(DomainError):
    """The site of a valid connect code was disabled meanwhile (HTTP 403)."""

    code = "site_disabled"


def iso(value: datetime | None) -> str | None:
    """``2026-11-25T10:00:00Z``: UTC, whole seconds, what PHP parses easily."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Connect codes ---------------------------------------------------------------


def _code_body(code: str) -> str | None:
    """The 16 significant characters of a code as typed or pasted (case,
    spaces and dashes do not matter), or None when it cannot be one."""
    text = "".join(code.split()).replace("-", "").upper()
    if text.startswith(CODE_PREFIX):
        text = text[len(CODE_PREFIX) :]
    if len(text) != CODE_GROUPS * CODE_GROUP_LENGTH or any(c not in CODE_ALPHABET for c in text):
        return None
    return text


def _hash_code(body: str) -> str:
    return hashlib.sha256(f"{CODE_PREFIX}-{body}".encode()).hexdigest()


def create_connect_code(session: Session, site: Site) -> tuple[SiteConnectCode, str]:
    """A one-time code for ``site``'s plugin, valid ``CONNECT_CODE_TTL``.
    Returns the row and the code, shown this once: only its hash is kept."""
    if site.disabled:
        raise Conflict(
            "This site is disabled: enable it before connecting its plugin.",
            code="site_disabled",
        )
    body = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUPS * CODE_GROUP_LENGTH))
    groups = [body[i : i + CODE_GROUP_LENGTH] for i in range(0, len(body), CODE_GROUP_LENGTH)]
    now = clock.now()
    row = SiteConnectCode(
        site=site,
        code_hash=_hash_code(body),
        expires_at=now + CONNECT_CODE_TTL,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row, "-".join([CODE_PREFIX, *groups])


def exchange_connect_code(session: Session, box: SecretBox, code: str) -> tuple[Site, str]:
    """Use a connect code: the site it was made for and a fresh secret for
    it (the previous secret stops working). A code works once, even when
    two requests bring it at the same instant: the one UPDATE that marks it
    used is the only way through, and only one of them changes the row."""
    body = _code_body(code) if isinstance(code, str) else None
    refused = InvalidConnectCode(
        "This connect code is unknown, already used or expired: ask for a new one."
    )
    if body is None:
        raise refused
    code_hash = _hash_code(body)
    now = clock.now()
    result = session.execute(
        update(SiteConnectCode)
        .where(
            SiteConnectCode.code_hash == code_hash,
            SiteConnectCode.used_at.is_(None),
            SiteConnectCode.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise refused
    row = session.scalar(select(SiteConnectCode).where(SiteConnectCode.code_hash == code_hash))
    site = row.site
    if site.disabled:
        raise SiteDisabled("This site is disabled in the bridge.")
    # Any other code still out for this site is of no use any more.
    session.execute(
        update(SiteConnectCode)
        .where(SiteConnectCode.site_id == site.id, SiteConnectCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    audit.set_actor(session, plugin_actor(site))
    audit.name_action(session, site, "site.connected")
    return site, rotate_site_secret(session, box, site)


def plugin_actor(site: Site) -> audit.Actor:
    """Who acted, in the audit log, when a site's plugin changed something."""
    return audit.Actor(
        "site_plugin", site.id, f"WordPress plugin of {site.name} ({site.public_id})"
    )


# The people of a client --------------------------------------------------------


def list_client_users(session: Session, client: Client) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .where(User.kind == UserKind.CLIENT, User.client_id == client.id)
            .order_by(User.id)
        )
    )


def add_client_user(session: Session, client: Client, *, email: str, name: str = "") -> User:
    """A person of ``client``: the plugin shows them what the client's role
    allows when they log in to WordPress with this email. Emails are unique
    across all logins (staff and clients)."""
    email = check_email(email)
    key = email_key(email)
    taken = Conflict(f"A user with the email {email} already exists.", code="duplicate_email")
    if session.scalar(select(User.id).where(User.email_key == key)) is not None:
        raise taken
    user = User(
        kind=UserKind.CLIENT,
        email=email,
        email_key=key,
        name=name.strip(),
        is_active=True,
        client_id=client.id,
        created_at=clock.now(),
    )
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:  # a concurrent request took the email first
        raise taken from exc
    return user


def get_client_user(session: Session, client: Client, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or user.kind != UserKind.CLIENT or user.client_id != client.id:
        raise NotFound("No such user of this client.")
    return user


def remove_client_user(session: Session, user: User) -> None:
    session.delete(user)


# The active client user with an email key of a client (``email_key``, ``client_id``).
_CLIENT_USER = (
    User.email_key == bindparam("email_key"),
    User.kind == UserKind.CLIENT,
    User.client_id == bindparam("client_id"),
    User.is_active.is_(True),
)


def find_client_user(session: Session, client_id: int, email: str) -> User | None:
    """The active user of this client with this email (any case), or None:
    never a user of another client, never staff."""
    key = _user_email_key(email)
    if key is None:
        return None
    return session.scalar(
        select(User).where(*_CLIENT_USER), {"email_key": key, "client_id": client_id}
    )


def _user_email_key(email: str) -> str | None:
    """The key a user's email is looked up by, or None when no user can have it."""
    key = email_key(email)
    return key if key and len(key) <= 254 else None


# The active user of a client with an email (``find_client_user``'s), with
# their own role on a site when they have one: the columns ``access``
# answers with, in one statement.
_PERSON_ON_SITE = (
    select(User.id, User.email, Role.id.label("role_id"), Role.name, Role.permissions)
    .outerjoin(
        SiteRole,
        (SiteRole.user_id == User.id) & (SiteRole.site_id == bindparam("site_id")),
    )
    .outerjoin(Role, Role.id == SiteRole.role_id)
    .where(*_CLIENT_USER)
)


def access(session: Session, site: Site, email: str) -> dict:
    """What the WordPress user with ``email`` may see and do on ``site``:
    the actions of each area that the policy grants their role on this site
    (their own there, else the client's). Somebody who is not a user of the
    site's client gets nothing."""
    key = _user_email_key(email)
    person = None
    if key is not None:
        person = session.execute(
            _PERSON_ON_SITE, {"site_id": site.id, "email_key": key, "client_id": site.client_id}
        ).first()
    if person is None:
        return {
            "email": email,
            "client_user": False,
            "role": None,
            "areas": {key: [] for key in AREAS},
        }
    role = site.client.role
    role_id, role_name, permissions = role.id, role.name, role.permissions
    if person.role_id is not None:  # their own role on this site (roles.role_on_site)
        role_id, role_name, permissions = person.role_id, person.name, person.permissions
    principal = policy.ClientUser(
        user_id=person.id,
        client_id=site.client_id,
        permissions=site.client.role.permissions,
        site_permissions={site.id: permissions},
    )
    areas = {
        key: [action for action in area.actions if policy.may(principal, f"{key}.{action}", site)]
        for key, area in AREAS.items()
    }
    return {
        "email": person.email,
        "client_user": True,
        "role": {"id": role_id, "name": role_name},
        "areas": areas,
    }


def client_sites(session: Session, client_id: int) -> list[Site]:
    """The client's sites, by name, the disabled ones last (what the
    portal's Sites page lists)."""
    return list(
        session.scalars(
            select(Site)
            .where(Site.client_id == client_id)
            .order_by(Site.disabled, Site.name, Site.id)
        )
    )


def wp_admin_url(site: Site) -> str:
    """The site's WordPress dashboard."""
    return site.url.rstrip("/") + "/wp-admin/"


# What the plugin shows ---------------------------------------------------------


def _interval(subscription, l10n: Localiser) -> str | None:
    """How often the subscription's plan bills, for people ("1 month", "3 mois")."""
    if subscription.interval_unit is None:
        return None
    count = subscription.interval_count or 1
    forms = {
        IntervalUnit.DAY: l10n.ngettext("%(num)d day", "%(num)d days", count),
        IntervalUnit.WEEK: l10n.ngettext("%(num)d week", "%(num)d weeks", count),
        IntervalUnit.MONTH: l10n.ngettext("%(num)d month", "%(num)d months", count),
        IntervalUnit.YEAR: l10n.ngettext("%(num)d year", "%(num)d years", count),
    }
    return forms[subscription.interval_unit] % {"num": count}


# A site's subscriptions with their plans and products, as plain rows (one
# statement; the plugin's answers need a few columns of each, not the ORM's
# objects): id, status, unit_amount, quantity_e3, currency,
# current_period_end, cancel_at_period_end, plan, interval_unit,
# interval_count, product, category.
_SITE_SUBSCRIPTIONS = (
    select(
        Subscription.id,
        Subscription.status,
        Subscription.unit_amount,
        Subscription.quantity_e3,
        Subscription.currency,
        Subscription.current_period_end,
        Subscription.cancel_at_period_end,
        Plan.name.label("plan"),
        Plan.interval_unit,
        Plan.interval_count,
        Product.name.label("product"),
        Product.category,
    )
    .join(Plan, Plan.id == Subscription.plan_id)
    .join(Product, Product.id == Plan.product_id)
    .where(Subscription.site_id == bindparam("site_id"))
    .order_by(Subscription.id.desc())
)


def site_subscriptions(session: Session, site: Site) -> list[Row]:
    """The site's subscriptions (rows of ``_SITE_SUBSCRIPTIONS``), current
    ones (pending, active, past due) first, newest first."""
    rows = session.execute(_SITE_SUBSCRIPTIONS, {"site_id": site.id}).all()
    return sorted(rows, key=lambda s: s.status not in CURRENT)


def hosting_subscription(subscriptions: list[Row]) -> Row | None:
    """The site's current subscription to a hosting product (the newest)."""
    for subscription in subscriptions:
        if subscription.status in CURRENT and subscription.category == ProductCategory.HOSTING:
            return subscription
    return None


def hosting_plan_view(subscription: Row | None, l10n: Localiser) -> dict | None:
    if subscription is None:
        return None
    amount = line_amount(subscription.unit_amount, subscription.quantity_e3)
    return {
        "subscription_id": subscription.id,
        "product": subscription.product,
        "plan": subscription.plan,
        "status": subscription.status.value,
        "amount": amount,
        "currency": subscription.currency,
        "amount_display": l10n.money(amount, subscription.currency),
        "interval": _interval(subscription, l10n),
        "current_period_end": iso(subscription.current_period_end),
        "current_period_end_display": day_display(l10n, subscription.current_period_end),
        "cancel_at_period_end": subscription.cancel_at_period_end,
    }


def subscription_view(subscription: Row, l10n: Localiser) -> dict:
    amount = line_amount(subscription.unit_amount, subscription.quantity_e3)
    renews = subscription.status in RENEWABLE and not subscription.cancel_at_period_end
    return {
        "id": subscription.id,
        "product": subscription.product,
        "plan": subscription.plan,
        "category": subscription.category.value,
        "status": subscription.status.value,
        "amount": amount,
        "currency": subscription.currency,
        "amount_display": l10n.money(amount, subscription.currency),
        "interval": _interval(subscription, l10n),
        "next_renewal_at": iso(subscription.current_period_end) if renews else None,
        "next_renewal_at_display": (
            day_display(l10n, subscription.current_period_end) if renews else None
        ),
        "current_period_end": iso(subscription.current_period_end),
        "current_period_end_display": day_display(l10n, subscription.current_period_end),
        "cancel_at_period_end": subscription.cancel_at_period_end,
    }


def invoice_view(session: Session, invoice: Invoice, l10n: Localiser) -> dict:
    due = invoice.amount_due
    payable = invoice.status == InvoiceStatus.OPEN and due > 0
    return {
        "id": invoice.id,
        "number": invoice.number,
        "status": invoice.status.value,
        "issued_at": iso(invoice.issued_at),
        "issue_date": invoice.issue_date.isoformat() if invoice.issue_date else None,
        "issue_date_display": day_display(l10n, invoice.issue_date),
        "due_at": iso(invoice.due_at),
        "due_at_display": day_display(l10n, invoice.due_at),
        "total": invoice.total,
        "amount_due": due,
        "currency": invoice.currency,
        "total_display": l10n.money(invoice.total, invoice.currency),
        "amount_due_display": l10n.money(due, invoice.currency),
        # The states the hosted page takes (bridge.portal.views._payable).
        "pay_url": links.invoice_page_url(session, invoice) if payable else None,
        "pdf_url": links.invoice_pdf_url(session, invoice),
    }


# What the summary shows of an invoice (``invoice_view``, the standing):
# an invoice row is some 45 columns.
SUMMARY_INVOICE_COLUMNS = (
    Invoice.number,
    Invoice.status,
    Invoice.currency,
    Invoice.total,
    Invoice.amount_paid,
    Invoice.hosted_token,
    Invoice.issued_at,
    Invoice.issue_date,
    Invoice.due_at,
)


def _summary_invoices_statement():
    """The statement of ``summary_invoices``, for the site ``:site_id``."""
    rank = (
        func.row_number().over(order_by=(Invoice.issued_at.desc(), Invoice.id.desc())).label("rank")
    )
    ranked = (
        select(Invoice.id, rank)
        .where(Invoice.site_id == bindparam("site_id"), Invoice.status != InvoiceStatus.DRAFT)
        .subquery()
    )
    return (
        select(Invoice, ranked.c.rank)
        .options(load_only(*SUMMARY_INVOICE_COLUMNS))
        .join(ranked, ranked.c.id == Invoice.id)
        .where(or_(ranked.c.rank <= MAX_INVOICES, Invoice.status.in_(UNPAID)))
        .order_by(ranked.c.rank)
    )


# Built once per process: building it (and its cache key) on every call
# took about a tenth of a summary's CPU.
_SUMMARY_INVOICES = _summary_invoices_statement()


def summary_invoices(session: Session, site: Site) -> tuple[list[Invoice], list[Invoice]]:
    """The site's issued invoices (no drafts) newest first, at most 50, and
    all its unpaid ones (open or uncollectible, however old), in one
    statement: the issued invoices ranked newest first, kept when listed or
    unpaid."""
    rows = session.execute(_SUMMARY_INVOICES, {"site_id": site.id}).all()
    listed = [invoice for invoice, position in rows if position <= MAX_INVOICES]
    unpaid = [invoice for invoice, _ in rows if invoice.status in UNPAID]
    return listed, unpaid


def hosting_plan(session: Session, site: Site, l10n: Localiser | None = None) -> dict | None:
    return hosting_plan_view(
        hosting_subscription(site_subscriptions(session, site)),
        l10n or reader_localiser(session, None),
    )


def agency_view(session: Session, settings: ReaderSettings) -> dict:
    """The agency's name, brand colour and logo, for the plugin's menu and
    page headers. The logo's address changes with the logo (``v``: its
    hash, read without the image), so a cached page never shows an old
    one; ``null`` when there is none or the business hides it
    (``invoice_show_logo``)."""
    logo_sha256 = settings.logo_sha256 if settings.invoice_show_logo else None
    return {
        "name": settings.company_name,
        "brand_color": settings.brand_color,
        "logo_url": (
            f"{links.portal_logo_url(session)}?v={logo_sha256[:16]}" if logo_sha256 else None
        ),
    }


def summary(session: Session, site: Site, l10n: Localiser | None = None) -> dict:
    """Everything the plugin's Site billing page shows, about ``site`` only,
    written by ``l10n`` (the business's language by default)."""
    settings = reading_settings(session)
    l10n = l10n or reader_localiser(session, None)
    subscriptions = site_subscriptions(session, site)
    listed, unpaid = summary_invoices(session, site)
    open_invoices = [invoice for invoice in unpaid if invoice.status == InvoiceStatus.OPEN]
    due = sum(invoice.amount_due for invoice in open_invoices)
    currency = open_invoices[0].currency if open_invoices else settings.currency
    return {
        "site": {"id": site.public_id, "name": site.name, "url": site.url},
        "client": {"name": site.client.name, "email": site.client.email},
        "agency": agency_view(session, settings),
        # Apply configuration changes WordPress settings that are the site
        # administrator's (Settings > Reading and > Permalinks): a role's SEO
        # configure is enough only when the agency says so.
        "seo_configure_delegated": settings.seo_configure_delegated,
        "hosting_plan": hosting_plan_view(hosting_subscription(subscriptions), l10n),
        "subscriptions": [subscription_view(s, l10n) for s in subscriptions],
        "invoices": [invoice_view(session, i, l10n) for i in listed],
        "unpaid_count": len(unpaid),
        "amount_due": due,
        "amount_due_display": l10n.money(due, currency) if currency else None,
        "auto_pay": saved_card_charged(site.client, settings.stripe_connected),
        "standing": overdue.standing_view(session, site, l10n, open_invoices),
        "generated_at": iso(clock.now()),
    }


# SEO scans -----------------------------------------------------------------------


def store_seo_scan(session: Session, site: Site, data: dict) -> SeoScan:
    """Keep a scan the plugin sent (already validated) and drop the site's
    scans beyond the latest ``KEPT_SEO_SCANS``."""
    audit.set_actor(session, plugin_actor(site))
    scan = SeoScan(site_id=site.id, received_at=clock.now(), data=data)
    session.add(scan)
    session.flush()
    keep = (
        select(SeoScan.id)
        .where(SeoScan.site_id == site.id)
        .order_by(SeoScan.id.desc())
        .limit(KEPT_SEO_SCANS)
    )
    # A derived table, as MySQL-style engines want and SQLite/PostgreSQL accept.
    kept = select(keep.subquery().c.id)
    session.execute(
        delete(SeoScan)
        .where(SeoScan.site_id == site.id, SeoScan.id.not_in(kept))
        .execution_options(synchronize_session=False)
    )
    return scan


def latest_seo_scan(session: Session, site: Site) -> SeoScan | None:
    return session.scalar(
        select(SeoScan).where(SeoScan.site_id == site.id).order_by(SeoScan.id.desc()).limit(1)
    )


def seo_scan_view(scan: SeoScan | None) -> dict | None:
    if scan is None:
        return None
    return {**scan.data, "id": scan.id, "received_at": iso(scan.received_at)}
