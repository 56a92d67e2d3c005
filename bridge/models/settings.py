"""The business: one row of settings, and stored uploads (logo, images)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge.models.base import Base
from bridge.models.types import UTCDateTime

SETTINGS_ID = 1


class StoredFile(Base):
    """An uploaded image (logo, product or plan image), kept in the database so
    backups of the database are backups of everything."""

    __tablename__ = "stored_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BusinessSettings(Base):
    """The agency's settings. There is exactly one row (id 1), created by the
    first migration."""

    __tablename__ = "business_settings"

    id: Mapped[int] = mapped_column(primary_key=True)

    # Chosen once: every price and invoice is in this currency.
    currency: Mapped[str | None] = mapped_column(String(3))
    currency_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    statement_descriptor: Mapped[str | None] = mapped_column(String(22))

    company_name: Mapped[str] = mapped_column(String(200), default="")
    address_line1: Mapped[str] = mapped_column(String(200), default="")
    address_line2: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    postal_code: Mapped[str] = mapped_column(String(20), default="")
    state: Mapped[str] = mapped_column(String(100), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    website: Mapped[str] = mapped_column(String(300), default="")
    # The VAT number (intra-community number in the EU).
    tax_id: Mapped[str] = mapped_column(String(50), default="")

    # What the law asks the seller to print (bridge.billing.legal holds the
    # rules per country): legal form ("SAS"), share capital (minor units of
    # the business currency; None: not printed), the registration numbers
    # (France: SIREN, SIRET, the RCS city), and "EI" after the name of an
    # individual entrepreneur.
    legal_form: Mapped[str] = mapped_column(String(100), default="", server_default="")
    share_capital: Mapped[int | None] = mapped_column(BigInteger)
    siren: Mapped[str] = mapped_column(String(9), default="", server_default="")
    siret: Mapped[str] = mapped_column(String(14), default="", server_default="")
    rcs_city: Mapped[str] = mapped_column(String(100), default="", server_default="")
    individual_entrepreneur: Mapped[bool] = mapped_column(Boolean, default=False)
    # Payment terms printed on invoices; empty: the country's default wording.
    late_payment_penalty_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    early_payment_discount_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Business clients get the Factur-X PDF (EN 16931) as their invoice PDF.
    facturx_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # The sales journal export (bridge.billing.accounting): journal code and
    # the accounts of clients, sales and VAT collected.
    accounting_journal_code: Mapped[str] = mapped_column(String(20), default="VE")
    accounting_client_account: Mapped[str] = mapped_column(String(20), default="411000")
    accounting_sales_account: Mapped[str] = mapped_column(String(20), default="706000")
    accounting_vat_account: Mapped[str] = mapped_column(String(20), default="445710")

    brand_color: Mapped[str] = mapped_column(String(7), default="#2563eb")
    logo_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id"))
    logo: Mapped[StoredFile | None] = relationship()

    custom_fields: Mapped[dict] = mapped_column(JSON, default=dict)

    # Invoice presentation; used by the invoicing features.
    invoice_number_format: Mapped[str] = mapped_column(String(60), default="INV-{year}-{seq:05}")
    credit_note_number_format: Mapped[str] = mapped_column(String(60), default="CN-{year}-{seq:05}")
    invoice_footer: Mapped[str] = mapped_column(Text, default="")
    invoice_language: Mapped[str] = mapped_column(String(5), default="en")
    invoice_show_logo: Mapped[bool] = mapped_column(Boolean, default=True)
    invoice_show_brand_color: Mapped[bool] = mapped_column(Boolean, default=True)
    invoice_show_company_name: Mapped[bool] = mapped_column(Boolean, default=True)
    invoice_show_client_info: Mapped[bool] = mapped_column(Boolean, default=True)
    invoice_show_custom_fields: Mapped[bool] = mapped_column(Boolean, default=True)
    invoice_net_terms_days: Mapped[int] = mapped_column(Integer, default=14)

    # How clients pay without a card (shown on the hosted invoice page).
    offline_payment_instructions: Mapped[str] = mapped_column(Text, default="")
    # The agency chose to take offline payments only (no Stripe keys).
    offline_payments_only: Mapped[bool] = mapped_column(Boolean, default=False)

    # The client portal: a client's people may cancel their subscriptions
    # themselves (at the end of the paid period). Off: they ask the agency.
    portal_client_can_cancel: Mapped[bool] = mapped_column(Boolean, default=False)

    # The WordPress plugin: a client role that grants SEO configure may
    # change the site's search-engine visibility and permalinks (*Apply
    # configuration*) without being an administrator of the site.
    seo_configure_delegated: Mapped[bool] = mapped_column(Boolean, default=False)

    # The Hub's first-run flow (bridge.billing.business.getting_started):
    # when its first step was saved, and when it was finished.
    getting_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    getting_started_done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Stripe. The secret key and webhook secret are stored encrypted
    # (bridge.auth.secrets); the account facts come from verifying the key.
    stripe_secret_key_encrypted: Mapped[str | None] = mapped_column(String(500))
    stripe_publishable_key: Mapped[str | None] = mapped_column(String(200))
    stripe_webhook_secret_encrypted: Mapped[str | None] = mapped_column(String(500))
    stripe_account_id: Mapped[str | None] = mapped_column(String(100))
    stripe_account_name: Mapped[str | None] = mapped_column(String(200))
    stripe_account_email: Mapped[str | None] = mapped_column(String(254))
    stripe_livemode: Mapped[bool | None] = mapped_column(Boolean)
    stripe_connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Renewals, dunning and reminders (the scheduler). Periods and the days
    # invoices are dated on follow the business's time zone (IANA name).
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # A failed renewal charge is retried this many days after the first failure.
    dunning_retry_days: Mapped[list] = mapped_column(JSON, default=lambda: [1, 3, 5, 7])
    # After the last retry fails the subscription is past due; it is
    # cancelled this many days later (0: at once; None: never).
    past_due_cancel_after_days: Mapped[int | None] = mapped_column(Integer, default=14)
    # Upcoming-renewal email this many days before a renewal (0: none).
    renewal_reminder_days: Mapped[int] = mapped_column(Integer, default=7)
    # Overdue reminders this many days after the due date.
    overdue_reminder_days: Mapped[list] = mapped_column(JSON, default=lambda: [3, 7, 14])
    # Overdue invoices on a site (bridge.billing.overdue), per product
    # category: {"hosting": {"grace_days": 14, "after_grace": "nothing"}, ...};
    # a category left out has the defaults.
    overdue_grace: Mapped[dict] = mapped_column(JSON, default=dict)

    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Email: client emails carry the logo and brand colour while branding is
    # on, and the footer note; the sender's display name (empty: company name).
    email_branding: Mapped[bool] = mapped_column(Boolean, default=True)
    email_footer: Mapped[str] = mapped_column(Text, default="")
    email_from_name: Mapped[str] = mapped_column(String(200), default="")
