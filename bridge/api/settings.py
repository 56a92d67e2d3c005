"""Business settings: currency (once), descriptor, profile, branding, logo."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from bridge.api.auth import authorize, require_token
from bridge.api.fields import Base64Bytes, Boolean, Integer, Text
from bridge.api.parsing import Blueprint
from bridge.billing import business
from bridge.db import get_session
from bridge.payments.stripe import keys as stripe_keys
from bridge.payments.stripe.charges import descriptor_suffix
from bridge.payments.stripe.client import api_base_from, is_live_key

blp = Blueprint(
    "settings", __name__, url_prefix="/api/v1", description="The business and its branding"
)
blp.before_request(require_token)

LOGO_MAX = business.LOGO_MAX
SEO_CONFIGURE_DELEGATED = (
    "The WordPress plugin's Apply configuration (search-engine visibility, permalinks) is "
    "open to a client role that grants SEO configure; default false: it also needs an "
    "administrator of the site (manage_options)"
)
PORTAL_CANCEL = (
    "Clients' people may cancel their subscriptions themselves in the client portal "
    "(/portal), at the end of the paid period, and resume them before it ends "
    "(default false: they ask the agency)"
)

# What the law asks invoices to print (bridge.billing.legal).
LEGAL_DOCS = {
    "legal_form": "Legal form printed on invoices (SAS, SARL...); none for an individual "
    "entrepreneur",
    "share_capital": "Share capital in minor units of the business currency (null: none)",
    "siren": "French registration number, 9 digits (checked; blanks are dropped)",
    "siret": "French establishment number, 14 digits starting with the SIREN",
    "rcs_city": "City of the trade and companies register (RCS) the business is in",
    "individual_entrepreneur": "Individual entrepreneur: invoices print EI after the name",
    "late_payment_penalty_text": "Late-payment penalty wording (empty: the legal minimum, "
    "three times the legal interest rate)",
    "early_payment_discount_text": "Early-payment discount wording (empty: none given)",
    "facturx_default": "Business clients get the Factur-X PDF (EN 16931) as their invoice PDF",
    "invoice_net_terms_days": "Days from the issue date to the due date (France: at most 60)",
}


class LogoInfoSchema(Schema):
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()


class SettingsSchema(Schema):
    currency = fields.String(allow_none=True)
    currency_set_at = fields.DateTime(allow_none=True)
    statement_descriptor = fields.String(allow_none=True)
    statement_descriptor_preview = fields.Function(
        lambda settings: descriptor_suffix(settings.statement_descriptor),
        allow_none=True,
        metadata={
            "type": "string",
            "description": "Read only: what card statements print after the Stripe account's "
            "prefix and '* ' (the descriptor in upper case, cut to 10 characters so that "
            "every prefix fits)",
        },
    )
    company_name = fields.String()
    address_line1 = fields.String()
    address_line2 = fields.String()
    city = fields.String()
    postal_code = fields.String()
    state = fields.String()
    country = fields.String()
    email = fields.String()
    phone = fields.String()
    website = fields.String()
    tax_id = fields.String()
    brand_color = fields.String()
    logo = fields.Nested(LogoInfoSchema, allow_none=True)
    custom_fields = fields.Dict()
    invoice_number_format = fields.String()
    credit_note_number_format = fields.String()
    invoice_footer = fields.String()
    invoice_language = fields.String()
    invoice_show_logo = fields.Boolean()
    invoice_show_brand_color = fields.Boolean()
    invoice_show_company_name = fields.Boolean()
    invoice_show_client_info = fields.Boolean()
    invoice_show_custom_fields = fields.Boolean()
    invoice_net_terms_days = fields.Integer()
    offline_payment_instructions = fields.String()
    portal_client_can_cancel = fields.Boolean(metadata={"description": PORTAL_CANCEL})
    seo_configure_delegated = fields.Boolean(metadata={"description": SEO_CONFIGURE_DELEGATED})
    legal_form = fields.String(metadata={"description": LEGAL_DOCS["legal_form"]})
    share_capital = fields.Integer(
        allow_none=True, metadata={"description": LEGAL_DOCS["share_capital"]}
    )
    siren = fields.String(metadata={"description": LEGAL_DOCS["siren"]})
    siret = fields.String(metadata={"description": LEGAL_DOCS["siret"]})
    rcs_city = fields.String(metadata={"description": LEGAL_DOCS["rcs_city"]})
    individual_entrepreneur = fields.Boolean(
        metadata={"description": LEGAL_DOCS["individual_entrepreneur"]}
    )
    late_payment_penalty_text = fields.String(
        metadata={"description": LEGAL_DOCS["late_payment_penalty_text"]}
    )
    early_payment_discount_text = fields.String(
        metadata={"description": LEGAL_DOCS["early_payment_discount_text"]}
    )
    facturx_default = fields.Boolean(metadata={"description": LEGAL_DOCS["facturx_default"]})
    accounting_journal_code = fields.String()
    accounting_client_account = fields.String()
    accounting_sales_account = fields.String()
    accounting_vat_account = fields.String()
    updated_at = fields.DateTime(allow_none=True)


class SettingsPatchSchema(Schema):
    statement_descriptor = Text(max_length=22, allow_none=True)
    company_name = Text(max_length=200)
    address_line1 = Text(max_length=200)
    address_line2 = Text(max_length=200)
    city = Text(max_length=100)
    postal_code = Text(max_length=20)
    state = Text(max_length=100)
    country = Text(max_length=2)
    email = Text(max_length=254)
    phone = Text(max_length=40)
    website = Text(max_length=300)
    tax_id = Text(max_length=50)
    brand_color = Text(max_length=7)
    custom_fields = fields.Dict(keys=Text(max_length=64))
    invoice_footer = Text(max_length=2000, multiline=True)
    invoice_language = fields.String(validate=validate.OneOf(business.INVOICE_LANGUAGES))
    invoice_show_logo = Boolean()
    invoice_show_brand_color = Boolean()
    invoice_show_company_name = Boolean()
    invoice_show_client_info = Boolean()
    invoice_show_custom_fields = Boolean()
    invoice_net_terms_days = Integer(
        minimum=0, maximum=365, metadata={"description": LEGAL_DOCS["invoice_net_terms_days"]}
    )
    invoice_number_format = Text(
        max_length=60,
        metadata={"description": "With {seq} (e.g. {seq:05}) and optionally {year}"},
    )
    credit_note_number_format = Text(max_length=60)
    offline_payment_instructions = Text(max_length=2000, multiline=True)
    portal_client_can_cancel = Boolean(metadata={"description": PORTAL_CANCEL})
    seo_configure_delegated = Boolean(metadata={"description": SEO_CONFIGURE_DELEGATED})
    legal_form = Text(max_length=100, metadata={"description": LEGAL_DOCS["legal_form"]})
    share_capital = Integer(
        minimum=0,
        maximum=10**15,
        allow_none=True,
        metadata={"description": LEGAL_DOCS["share_capital"]},
    )
    siren = Text(max_length=20, metadata={"description": LEGAL_DOCS["siren"]})
    siret = Text(max_length=30, metadata={"description": LEGAL_DOCS["siret"]})
    rcs_city = Text(max_length=100, metadata={"description": LEGAL_DOCS["rcs_city"]})
    individual_entrepreneur = Boolean(
        metadata={"description": LEGAL_DOCS["individual_entrepreneur"]}
    )
    late_payment_penalty_text = Text(
        max_length=500, metadata={"description": LEGAL_DOCS["late_payment_penalty_text"]}
    )
    early_payment_discount_text = Text(
        max_length=500, metadata={"description": LEGAL_DOCS["early_payment_discount_text"]}
    )
    facturx_default = Boolean(metadata={"description": LEGAL_DOCS["facturx_default"]})
    accounting_journal_code = Text(max_length=20, validate=[validate.Length(min=1)])
    accounting_client_account = Text(max_length=20, validate=[validate.Length(min=1)])
    accounting_sales_account = Text(max_length=20, validate=[validate.Length(min=1)])
    accounting_vat_account = Text(max_length=20, validate=[validate.Length(min=1)])


class CurrencySchema(Schema):
    currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{3}$"))
    confirm = Boolean(
        required=True,
        metadata={"description": "Must be true: the currency can never change afterwards."},
    )


class LogoSchema(Schema):
    data = Base64Bytes(max_bytes=LOGO_MAX, required=True)


class LogoDataSchema(LogoInfoSchema):
    data = Base64Bytes(max_bytes=LOGO_MAX)


@blp.route("/settings")
class Settings(MethodView):
    @blp.response(200, SettingsSchema)
    def get(self):
        """The business settings."""
        authorize("settings.read")
        return business.get_settings(get_session())

    @blp.arguments(SettingsPatchSchema)
    @blp.response(200, SettingsSchema)
    def patch(self, changes):
        """Change profile, branding and invoice settings (only the fields given)."""
        authorize("settings.write")
        session = get_session()
        settings = business.update_settings(session, changes)
        session.commit()
        return settings


@blp.route("/settings/currency")
class Currency(MethodView):
    @blp.arguments(CurrencySchema)
    @blp.response(200, SettingsSchema)
    def put(self, args):
        """Choose the business currency, once; a second choice is a 409."""
        authorize("settings.write")
        session = get_session()
        settings = business.set_currency(session, args["currency"], confirm=args["confirm"])
        session.commit()
        return settings


@blp.route("/settings/logo")
class Logo(MethodView):
    @blp.response(200, LogoDataSchema)
    def get(self):
        """The logo, base64-encoded (404 when there is none)."""
        authorize("settings.read")
        settings = business.get_settings(get_session())
        if settings.logo is None:
            from bridge.core.errors import NotFound

            raise NotFound("No logo has been uploaded.")
        return settings.logo

    @blp.arguments(LogoSchema)
    @blp.response(200, SettingsSchema)
    def put(self, args):
        """Upload the logo (PNG, JPEG or SVG; size-limited), base64 in JSON."""
        authorize("settings.write")
        session = get_session()
        settings = business.set_logo(
            session, args["data"], business.logo_limit(current_app.config["MAX_IMAGE_BYTES"])
        )
        session.commit()
        return settings

    @blp.response(200, SettingsSchema)
    def delete(self):
        """Remove the logo."""
        authorize("settings.write")
        session = get_session()
        settings = business.remove_logo(session)
        session.commit()
        return settings


# Invoice preview ---------------------------------------------------------------


class SampleQuerySchema(Schema):
    language = fields.String(
        validate=validate.OneOf(business.INVOICE_LANGUAGES),
        metadata={"description": "Default: the invoice language of the settings"},
    )


@blp.route("/settings/invoice-sample.pdf")
class InvoiceSample(MethodView):
    @blp.arguments(SampleQuerySchema, location="query")
    @blp.response(200, content_type="application/pdf", description="A sample invoice")
    def get(self, args):
        """Preview sample: an invoice with the current settings (nothing is saved)."""
        from bridge.api.invoices import pdf_response
        from bridge.pdf import render_sample_pdf

        authorize("settings.read")
        return pdf_response(
            render_sample_pdf(get_session(), args.get("language")), "sample-invoice.pdf"
        )


# Stripe ----------------------------------------------------------------------


class StripeAccountSchema(Schema):
    id = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)


class StripeStatusSchema(Schema):
    configured = fields.Boolean(metadata={"description": "Card payments are possible"})
    mode = fields.String(
        allow_none=True, metadata={"description": "test or live (null when not configured)"}
    )
    publishable_key = fields.String(allow_none=True)
    secret_key_hint = fields.String(
        allow_none=True, metadata={"description": "The key's prefix and last 4 characters"}
    )
    webhook_secret_set = fields.Boolean()
    account = fields.Nested(StripeAccountSchema)
    connected_at = fields.DateTime(allow_none=True)


class StripeKeysSchema(Schema):
    secret_key = Text(max_length=255, required=True, metadata={"description": "sk_... or rk_..."})
    publishable_key = Text(max_length=255, required=True, metadata={"description": "pk_..."})
    webhook_secret = Text(max_length=200, required=True, metadata={"description": "whsec_..."})


def _stripe_status(session) -> dict:
    stored = stripe_keys.stripe_settings(session, current_app.extensions["bridge.secret_box"])
    return {
        "configured": stored.configured,
        "mode": None
        if not stored.configured
        else ("live" if is_live_key(stored.secret_key) else "test"),
        "publishable_key": stored.publishable_key,
        "secret_key_hint": stored.secret_key_hint,
        "webhook_secret_set": stored.webhook_secret is not None,
        "account": {
            "id": stored.account_id,
            "name": stored.account_name,
            "email": stored.account_email,
        },
        "connected_at": stored.connected_at,
    }


@blp.route("/settings/stripe")
class StripeSettingsResource(MethodView):
    @blp.response(200, StripeStatusSchema)
    def get(self):
        """The connected Stripe account, test or live mode (keys are never shown)."""
        authorize("settings.read")
        return _stripe_status(get_session())

    @blp.arguments(StripeKeysSchema)
    @blp.response(200, StripeStatusSchema)
    def put(self, keys):
        """Connect Stripe: the keys are verified with Stripe, then stored encrypted."""
        authorize("settings.write")
        session = get_session()
        stripe_keys.save_stripe_settings(
            session,
            current_app.extensions["bridge.secret_box"],
            keys["secret_key"],
            keys["publishable_key"],
            keys["webhook_secret"],
            api_base_from(current_app.config),
        )
        return _stripe_status(session)

    @blp.response(200, StripeStatusSchema)
    def delete(self):
        """Disconnect Stripe: back to offline payments only."""
        authorize("settings.write")
        session = get_session()
        stripe_keys.disconnect_stripe(session)
        return _stripe_status(session)
