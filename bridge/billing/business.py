"""The business: currency (chosen once), statement descriptor, company
profile and branding."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sqlalchemy import literal_column, select
from sqlalchemy.orm import Session

from bridge.billing import legal, numbering
from bridge.billing.custom_fields import validate_values
from bridge.billing.validation import (
    HEX_COLOR,
    check_country,
    check_email,
    check_hex_color,
    check_image,
    check_url,
    sha256_hex,
)
from bridge.core import clock, money
from bridge.core.errors import Conflict, Invalid
from bridge.core.l10n import LANGUAGES, Localiser, catalogue_language
from bridge.models import SETTINGS_ID, BusinessSettings, CustomFieldEntity, StoredFile

PROFILE_FIELDS = (
    "company_name",
    "address_line1",
    "address_line2",
    "city",
    "postal_code",
    "state",
    "country",
    "email",
    "phone",
    "website",
    "tax_id",
    "brand_color",
    "invoice_footer",
    "invoice_language",
    "invoice_show_logo",
    "invoice_show_brand_color",
    "invoice_show_company_name",
    "invoice_show_client_info",
    "invoice_show_custom_fields",
    "invoice_net_terms_days",
    "invoice_number_format",
    "credit_note_number_format",
    "offline_payment_instructions",
    "portal_client_can_cancel",
    "seo_configure_delegated",
    *legal.SETTINGS_FIELDS,
)

# Stripe's rules for statement descriptors.
DESCRIPTOR_FORBIDDEN = set("<>\\'\"*")
# Every language with a catalogue (bridge.core.l10n).
INVOICE_LANGUAGES = LANGUAGES
# The largest logo accepted, whatever the image limit of the configuration.
LOGO_MAX = 512 * 1024
DEFAULT_BRAND_COLOR = "#2563eb"


def get_settings(session: Session) -> BusinessSettings:
    """The single settings row (created by the first migration).

    The session keeps a strong reference to it, so that the identity map
    holds it and asking again costs no query (it is read many times per
    invoice); a rollback expires it and the next read reloads it."""
    settings = session.info.get("bridge.settings")
    if settings is not None and settings in session:
        return settings
    settings = session.get(BusinessSettings, SETTINGS_ID)
    session.info["bridge.settings"] = settings
    if settings is None:  # only if someone deleted the row by hand
        settings = BusinessSettings(id=SETTINGS_ID, custom_fields={})
        session.add(settings)
        session.flush()
    return settings


# The settings as the site API reads them ------------------------------------------

SETTINGS_VERSION = "bridge.settings_version"
"""``session.info`` key: the settings row's version as the request's first
statement read it (``note_settings_version``)."""
_READING = "bridge.reading_settings"

# PostgreSQL's xmin is the transaction that wrote the row's current version:
# any committed change of the row gives it another, on every connection, so
# comparing it tells a worker whether the settings it keeps are still the
# row's, without reading the row. (One transaction writing the row twice
# leaves both versions the same xmin, but the first one is never visible
# outside it.) Read as text: psycopg has no loader for the xid type.
SETTINGS_VERSION_QUERY = (
    select(literal_column("business_settings.xmin::text"))
    .select_from(BusinessSettings)
    .where(BusinessSettings.id == SETTINGS_ID)
    .scalar_subquery()
)


@dataclass(frozen=True)
class ReaderSettings:
    """The settings that the site API's answers read (language, time zone,
    the agency's name and logo, overdue rules...): a plain frozen value,
    attached to no session, so one can be kept by a process and shared by
    its requests and threads. The attribute names are the settings row's,
    so the functions that read either (``overdue.policies``) take both."""

    currency: str | None
    invoice_language: str
    timezone: str
    company_name: str
    brand_color: str
    invoice_show_logo: bool
    logo_sha256: str | None
    seo_configure_delegated: bool
    stripe_connected: bool
    overdue_grace: Mapping


READER_COLUMNS = (
    BusinessSettings.currency,
    BusinessSettings.invoice_language,
    BusinessSettings.timezone,
    BusinessSettings.company_name,
    BusinessSettings.brand_color,
    BusinessSettings.invoice_show_logo,
    StoredFile.sha256,
    BusinessSettings.seo_configure_delegated,
    BusinessSettings.stripe_secret_key_encrypted,
    BusinessSettings.overdue_grace,
)
# The columns above only (not the 65 of the row, nor the logo's image), and
# the row's version with them on PostgreSQL.
_READER_QUERY = (
    select(*READER_COLUMNS)
    .outerjoin(StoredFile, StoredFile.id == BusinessSettings.logo_id)
    .where(BusinessSettings.id == SETTINGS_ID)
)
_READER_QUERY_VERSIONED = _READER_QUERY.add_columns(SETTINGS_VERSION_QUERY)

# (version, settings) of this process: what the last signed request read.
_kept: tuple[str, ReaderSettings] | None = None


def settings_versioned(session: Session) -> bool:
    """The settings row has a version to read (PostgreSQL, not SQLite):
    ``SETTINGS_VERSION_QUERY``, selected alongside a statement the request
    sends anyway (the signed request's site)."""
    return session.get_bind().dialect.name == "postgresql"


def note_settings_version(session: Session, version: str | None) -> None:
    """The settings row's version as this session's request read it: its
    ``reading_settings`` may then be the ones the process keeps."""
    session.info[SETTINGS_VERSION] = version


def reading_settings(session: Session) -> ReaderSettings:
    """The settings the site API's answers read.

    When the request noted the row's version (``note_settings_version``, on
    PostgreSQL) and the process keeps the settings of that version, they
    cost no statement; else they are read (their columns only) and, with a
    version, kept for the process's next requests. A change made by any
    process (the Hub, the API) gives the row a new version, so the next
    signed request reads it again. Without a version (SQLite) they are read
    once per transaction, as ``get_settings`` reads the row.

    Only signed requests note a version, and they never change the
    settings: the process never keeps what an uncommitted change wrote."""
    global _kept
    transaction = session.get_transaction()
    read = session.info.get(_READING)
    if read is not None and transaction is not None and read[0] is transaction:
        return read[1]
    version = session.info.get(SETTINGS_VERSION)
    kept = _kept
    if version is not None and kept is not None and kept[0] == version:
        settings = kept[1]
    else:
        query = _READER_QUERY_VERSIONED if version is not None else _READER_QUERY
        row = session.execute(query).first()
        if row is None:  # only if someone deleted the row by hand
            settings = reader_settings_of(get_settings(session))
        else:
            settings = _reader_settings(*row[: len(READER_COLUMNS)])
            if version is not None:
                _kept = (row[-1], settings)
    session.info[_READING] = (session.get_transaction(), settings)
    return settings


def reader_settings_of(settings: BusinessSettings) -> ReaderSettings:
    """What the site API reads of a settings row."""
    return _reader_settings(
        settings.currency,
        settings.invoice_language,
        settings.timezone,
        settings.company_name,
        settings.brand_color,
        settings.invoice_show_logo,
        settings.logo.sha256 if settings.logo else None,
        settings.seo_configure_delegated,
        settings.stripe_secret_key_encrypted,
        settings.overdue_grace,
    )


def _reader_settings(
    currency,
    invoice_language,
    timezone,
    company_name,
    brand_color,
    invoice_show_logo,
    logo_sha256,
    seo_configure_delegated,
    stripe_secret_key_encrypted,
    overdue_grace,
) -> ReaderSettings:
    return ReaderSettings(
        currency=currency,
        invoice_language=invoice_language,
        timezone=timezone,
        company_name=company_name,
        brand_color=brand_color,
        invoice_show_logo=invoice_show_logo,
        logo_sha256=logo_sha256,
        seo_configure_delegated=seo_configure_delegated,
        stripe_connected=bool(stripe_secret_key_encrypted),
        # Shared by requests: read-only all the way down.
        overdue_grace=MappingProxyType(
            {
                category: MappingProxyType(dict(entry or {}))
                for category, entry in (overdue_grace or {}).items()
            }
        ),
    )


def localiser(session: Session, language: str | None = None) -> Localiser:
    """Writes for people in ``language`` (an invoice's, say), else the
    business's invoice language, with dates in the business time zone."""
    settings = get_settings(session)
    return Localiser(language or settings.invoice_language, settings.timezone)


def reader_localiser(session: Session, locale: str | None) -> Localiser:
    """Writes for a reader in ``locale`` (a WordPress user's, "de_DE") when
    the bridge has a catalogue for its language, else in the business's
    invoice language; dates in the business time zone either way."""
    settings = reading_settings(session)
    if catalogue_language(locale):
        return Localiser(locale, settings.timezone)
    return Localiser(settings.invoice_language, settings.timezone)


def require_currency(session: Session) -> str:
    """The business currency; refuses while it has not been chosen."""
    currency = get_settings(session).currency
    if currency is None:
        raise Conflict(
            "Choose the business currency first (PUT /api/v1/settings/currency).",
            code="currency_not_set",
        )
    return currency


def set_currency(session: Session, currency: str, *, confirm: bool) -> BusinessSettings:
    """Choose the currency, once. A second choice is refused even if identical,
    because prices and invoices already depend on the first one."""
    if not confirm:
        raise Invalid(
            "The currency cannot be changed once set: confirm the choice.",
            fields={"confirm": ["Must be true: the currency is permanent."]},
        )
    if not money.is_currency(currency):
        raise Invalid(
            f"{currency!r} is not an ISO 4217 currency code.",
            code="unknown_currency",
            fields={"currency": ["Unknown currency."]},
        )
    # Lock the row so two simultaneous first choices cannot both win.
    settings = session.scalars(
        select(BusinessSettings).where(BusinessSettings.id == SETTINGS_ID).with_for_update()
    ).one()
    if settings.currency is not None:
        raise Conflict(
            f"The currency is already set to {settings.currency} and cannot be changed.",
            code="currency_already_set",
        )
    settings.currency = currency
    settings.currency_set_at = clock.now()
    settings.updated_at = clock.now()
    return settings


def check_statement_descriptor(value: str) -> str:
    """Stripe's rules: 5-22 characters, Latin letters, at least one letter,
    none of < > \\ ' " *."""
    problems = []
    if not 5 <= len(value) <= 22:
        problems.append("Must be 5 to 22 characters long.")
    if not re.search(r"[A-Za-z]", value):
        problems.append("Must contain at least one letter.")
    bad = sorted(set(value) & DESCRIPTOR_FORBIDDEN)
    if bad:
        problems.append(f"Must not contain {' '.join(bad)}.")
    if any(ord(c) > 127 or not c.isprintable() for c in value):
        problems.append("Only Latin (ASCII) characters are allowed.")
    if problems:
        raise Invalid(
            "The statement descriptor does not follow the card networks' rules.",
            fields={"statement_descriptor": problems},
        )
    return value


def update_settings(session: Session, changes: dict) -> BusinessSettings:
    """Change the profile, branding and invoice settings given in ``changes``."""
    settings = get_settings(session)
    unknown = set(changes) - set(PROFILE_FIELDS) - {"statement_descriptor", "custom_fields"}
    if unknown:
        raise Invalid("Unknown settings.", fields={k: ["Unknown field."] for k in unknown})
    if "email" in changes and changes["email"]:
        changes["email"] = check_email(changes["email"])
    if "country" in changes:
        changes["country"] = check_country(changes["country"])
    if "website" in changes and changes["website"]:
        changes["website"] = check_url(changes["website"], "website")
    if "brand_color" in changes:
        changes["brand_color"] = check_hex_color(changes["brand_color"])
    if "statement_descriptor" in changes:
        # Empty means "none": Stripe then uses the account's own descriptor.
        changes["statement_descriptor"] = changes["statement_descriptor"] or None
        if changes["statement_descriptor"] is not None:
            check_statement_descriptor(changes["statement_descriptor"])
    if "invoice_language" in changes and changes["invoice_language"] not in INVOICE_LANGUAGES:
        raise Invalid(
            f"Invoices can be in one of: {', '.join(INVOICE_LANGUAGES)}.",
            fields={"invoice_language": ["Unsupported language."]},
        )
    for key, kind in (
        ("invoice_number_format", "invoice"),
        ("credit_note_number_format", "credit_note"),
    ):
        if key in changes:
            numbering.check_format(changes[key], key)
            numbering.check_unused(session, kind, changes[key], key)
    if "custom_fields" in changes:
        changes["custom_fields"] = validate_values(
            session, CustomFieldEntity.BUSINESS, changes["custom_fields"]
        )
    legal.check_settings(settings, changes)
    for key, value in changes.items():
        setattr(settings, key, value)
    settings.updated_at = clock.now()
    return settings


def logo_limit(max_image_bytes: int) -> int:
    """The size a logo may have: the configured image limit, at most
    ``LOGO_MAX`` (every layer that takes a logo asks here)."""
    return min(LOGO_MAX, max_image_bytes)


def invoice_brand_color(settings: BusinessSettings) -> str:
    """The colour invoices and the hosted page are drawn in: the brand
    colour while invoices show it, else the default."""
    color = settings.brand_color or ""
    if not settings.invoice_show_brand_color or not HEX_COLOR.match(color):
        return DEFAULT_BRAND_COLOR
    return color


def text_color_on(color: str) -> str:
    """Black or white, whichever reads better on ``color`` (#rrggbb), by
    WCAG relative luminance."""

    def channel(hex_pair: str) -> float:
        value = int(hex_pair, 16) / 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(color[i : i + 2]) for i in (1, 3, 5))
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    # Contrast with white (1.05 / (L + 0.05)) beats contrast with black
    # ((L + 0.05) / 0.05) exactly when L is below about 0.179.
    return "#ffffff" if luminance < 0.179 else "#111827"


def set_logo(session: Session, data: bytes, max_bytes: int) -> BusinessSettings:
    """Replace the logo; the previous one is deleted (logos are not shared)."""
    settings = get_settings(session)
    new_logo = store_file(session, data, max_bytes, field="logo")
    _drop_logo(session, settings)
    settings.logo = new_logo
    settings.updated_at = clock.now()
    return settings


def remove_logo(session: Session) -> BusinessSettings:
    settings = get_settings(session)
    _drop_logo(session, settings)
    settings.updated_at = clock.now()
    return settings


def _drop_logo(session: Session, settings: BusinessSettings) -> None:
    old = settings.logo
    if old is not None:
        settings.logo = None
        session.flush()
        session.delete(old)


def store_file(session: Session, data: bytes, max_bytes: int, field: str = "image") -> StoredFile:
    content_type = check_image(data, max_bytes, field)
    stored = StoredFile(
        content_type=content_type,
        size=len(data),
        sha256=sha256_hex(data),
        data=data,
        created_at=clock.now(),
    )
    session.add(stored)
    return stored


# Getting started -------------------------------------------------------------------

GETTING_STARTED_STEPS = ("currency", "company", "payments", "product")


@dataclass(frozen=True)
class GettingStarted:
    """Where the business stands in the Hub's first-run flow: which of its
    steps are done (``done``, by step name) and whether the Hub should send
    its staff there (``needed``)."""

    done: dict[str, bool]
    needed: bool

    @property
    def next_step(self) -> str | None:
        """The first unfinished step (None once every step is done)."""
        return next((step for step in GETTING_STARTED_STEPS if not self.done[step]), None)

    def reachable(self, step: str) -> bool:
        """A step may be opened once every step before it is done."""
        index = GETTING_STARTED_STEPS.index(step)
        return all(self.done[s] for s in GETTING_STARTED_STEPS[:index])


def getting_started(session: Session) -> GettingStarted:
    """The business is *set up* once it has a currency and a company name.
    The flow is needed while it is not, or while the flow, once begun, has
    not been finished; a business set up another way (the API, the demo) is
    not sent through it. Payments are done with Stripe keys stored or
    offline payments chosen; the product step is done when the flow is
    finished (a product made, or skipped)."""
    settings = get_settings(session)
    finished = settings.getting_started_done_at is not None
    done = {
        "currency": settings.currency is not None,
        "company": bool(settings.company_name),
        "payments": settings.stripe_secret_key_encrypted is not None
        or settings.offline_payments_only,
        "product": finished,
    }
    set_up = done["currency"] and done["company"]
    needed = not finished and (not set_up or settings.getting_started_at is not None)
    return GettingStarted(done=done, needed=needed)


def begin_getting_started(session: Session) -> None:
    """A step of the flow was saved: until it is finished, the Hub comes
    back to it (even once the business is set up)."""
    settings = get_settings(session)
    if settings.getting_started_at is None and settings.getting_started_done_at is None:
        settings.getting_started_at = clock.now()


def choose_offline_payments(session: Session, instructions: str) -> BusinessSettings:
    """No Stripe: clients pay by bank transfer, cash or cheque, which staff
    record by hand; ``instructions`` tell clients how (the hosted page
    shows them)."""
    settings = update_settings(session, {"offline_payment_instructions": instructions.strip()})
    settings.offline_payments_only = True
    return settings


def finish_getting_started(session: Session) -> BusinessSettings:
    """The flow is over: the Hub stops sending staff to it."""
    settings = get_settings(session)
    if settings.getting_started_done_at is None:
        settings.getting_started_done_at = clock.now()
        settings.updated_at = clock.now()
    return settings
