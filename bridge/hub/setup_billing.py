"""Setup's billing sections (SPEC 1, 2, 8): the billing account (Stripe
keys verified with Stripe, or offline payments only), payment preferences,
company & branding, and invoice customization with its sample PDF.

The views call what ``bridge/api/settings.py`` calls: ``bridge.billing.business``
for the settings and the logo, ``bridge.payments.stripe.keys`` for Stripe (the
only door to it), ``bridge.pdf`` for the sample. Secrets are never shown back:
only a key's prefix and last four characters.
"""

from __future__ import annotations

from flask import Response, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.datastructures import FileStorage

from bridge.auth import policy
from bridge.billing import business, numbering
from bridge.core import clock
from bridge.core.errors import Conflict, Invalid
from bridge.db import get_session
from bridge.hub.bill import LANGUAGE_NAMES
from bridge.hub.forms import (
    CompanyForm,
    CurrencyForm,
    DisconnectForm,
    InvoiceSettingsForm,
    LogoForm,
    PaymentPreferencesForm,
    StripeKeysForm,
)
from bridge.hub.setup import render_section, section
from bridge.hub.views import allowed, bp
from bridge.payments.stripe import keys as stripe_keys
from bridge.payments.stripe.client import StripeRefused, StripeUnavailable, api_base_from
from bridge.pdf import render_sample_pdf
from bridge.portal import security


def _(message: str) -> str:
    """Marks a word for the catalogue; it is translated when rendered."""
    return message


section(10, "hub.setup_billing_account", _("Billing account"))
section(20, "hub.setup_payments", _("Payment preferences"))
section(30, "hub.setup_company", _("Company & branding"))
section(40, "hub.setup_invoices", _("Invoice customization"))

PROFILE = (
    "company_name",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "state",
    "country",
    "email",
    "phone",
    "website",
    "tax_id",
)
SHOWN_ON_INVOICES = (
    "invoice_show_logo",
    "invoice_show_brand_color",
    "invoice_show_company_name",
    "invoice_show_client_info",
    "invoice_show_custom_fields",
)


def _may_write() -> bool:
    return policy.may(current_user.principal, "settings.write")


def _form_errors(form) -> dict[str, list[str]]:
    return {name: list(messages) for name, messages in form.errors.items()}


def _save(changes: dict) -> dict[str, list[str]]:
    """Change the settings as the API's PATCH does (audited as this staff
    user); nothing is changed when the domain refuses a field."""
    session = get_session()
    try:
        business.update_settings(session, changes)
    except Invalid as error:
        session.rollback()
        return dict(error.fields or {"form": [error.message]})
    session.commit()
    return {}


# Billing account ---------------------------------------------------------------


def _box():
    return current_app.extensions["bridge.secret_box"]


def _billing_account(status: int = 200, **context):
    session = get_session()
    unreadable = False
    try:
        stored = stripe_keys.stripe_settings(session, _box())
    except ValueError:  # the encryption key changed since the keys were saved
        unreadable = True
        stored = None
    settings = business.get_settings(session)
    return render_section(
        "hub/setup_billing_account.html",
        "hub.setup_billing_account",
        status,
        connected=bool(settings.stripe_secret_key_encrypted),
        stored=stored,
        unreadable=unreadable,
        settings=settings,
        keys_form=context.pop("keys_form", None) or StripeKeysForm(formdata=None),
        disconnect_form=context.pop("disconnect_form", None) or DisconnectForm(formdata=None),
        errors=context.pop("errors", {}),
        may_write=_may_write(),
        **context,
    )


@bp.get("/setup/billing-account")
@allowed("settings.read")
def setup_billing_account():
    """SPEC 1: the Stripe account the bridge takes cards with, test or live,
    or offline payments only."""
    return _billing_account()


@bp.post("/setup/billing-account/stripe")
@allowed("settings.write")
def setup_connect_stripe():
    """Verify the keys with Stripe, then store them; a refusal changes nothing."""
    form = StripeKeysForm()
    if not form.validate_on_submit():
        return _billing_account(422, keys_form=form, errors=_form_errors(form))
    session = get_session()
    try:
        stripe_keys.save_stripe_settings(
            session,
            _box(),
            form.secret_key.data or "",
            form.publishable_key.data or "",
            form.webhook_secret.data or "",
            api_base_from(current_app.config),
        )
    except Invalid as error:
        session.rollback()
        return _billing_account(422, keys_form=form, errors=dict(error.fields))
    except StripeRefused as error:
        session.rollback()
        return _billing_account(422, keys_form=form, errors={"secret_key": [error.message]})
    except StripeUnavailable:
        session.rollback()
        return _billing_account(503, keys_form=form, notice="unavailable")
    flash(_("Stripe is connected: clients can pay by card."))
    return redirect(url_for("hub.setup_billing_account"))


@bp.post("/setup/billing-account/disconnect")
@allowed("settings.write")
def setup_disconnect_stripe():
    """Offline payments only: forget the keys once the staff user confirms."""
    form = DisconnectForm()
    if not form.validate_on_submit() or not form.confirm.data:
        errors = {"confirm": [_("Tick the box to confirm.")]}
        return _billing_account(422, disconnect_form=form, errors=errors)
    session = get_session()
    stripe_keys.disconnect_stripe(session)
    flash(_("Stripe is disconnected: the bridge takes offline payments only."))
    return redirect(url_for("hub.setup_billing_account"))


# Payment preferences -------------------------------------------------------------


def _payments(form=None, currency_form=None, errors=None, status: int = 200):
    settings = business.get_settings(get_session())
    if form is None:
        form = PaymentPreferencesForm(formdata=None, obj=settings)
        form.statement_descriptor.data = settings.statement_descriptor or ""
    return render_section(
        "hub/setup_payments.html",
        "hub.setup_payments",
        status,
        form=form,
        currency_form=currency_form or CurrencyForm(formdata=None),
        settings=settings,
        errors=errors or {},
        may_write=_may_write(),
        currencies=_COMMON_CURRENCIES,
    )


# Offered first in the currency list; any ISO 4217 code may be typed.
_COMMON_CURRENCIES = ("EUR", "USD", "GBP", "CHF", "CAD", "AUD", "JPY", "SEK", "NOK", "DKK")


@bp.route("/setup/payments", methods=["GET", "POST"])
@allowed("settings.read")
def setup_payments():
    """SPEC 1: statement descriptor, offline payment instructions, net terms."""
    if request.method == "GET":
        return _payments()
    if not _may_write():
        abort(403)
    form = PaymentPreferencesForm()
    errors = _form_errors(form) if not form.validate() else {}
    if not errors:
        errors = _save(
            {
                "statement_descriptor": (form.statement_descriptor.data or "").strip(),
                "offline_payment_instructions": (
                    form.offline_payment_instructions.data or ""
                ).strip(),
                "invoice_net_terms_days": form.invoice_net_terms_days.data,
            }
        )
    if errors:
        return _payments(form=form, errors=errors, status=422)
    flash(_("Payment preferences saved."))
    return redirect(url_for("hub.setup_payments"))


@bp.post("/setup/payments/currency")
@allowed("settings.write")
def setup_currency():
    """Choose the currency, once, with the confirmation that it is final."""
    form = CurrencyForm()
    errors = _form_errors(form) if not form.validate_on_submit() else {}
    if not form.confirm.data:
        errors["confirm"] = [_("Tick the box to confirm.")]
    if not errors:
        session = get_session()
        try:
            business.set_currency(session, (form.currency.data or "").strip().upper(), confirm=True)
        except Invalid:
            session.rollback()
            errors = {"currency": [_("Not an ISO 4217 currency code (EUR, USD, GBP...).")]}
        except Conflict:
            session.rollback()
            errors = {"currency": [_("The currency is already set and cannot be changed.")]}
        else:
            session.commit()
            flash(_("The currency is set."))
            return redirect(url_for("hub.setup_payments"))
    return _payments(currency_form=form, errors=errors, status=422)


# Company & branding ----------------------------------------------------------------


def _company(form=None, logo_form=None, errors=None, status: int = 200):
    session = get_session()
    settings = business.get_settings(session)
    if form is None:
        form = CompanyForm(formdata=None, obj=settings)
        form.brand_color_picker.data = settings.brand_color
    color = business.invoice_brand_color(settings)
    return render_section(
        "hub/setup_company.html",
        "hub.setup_company",
        status,
        form=form,
        logo_form=logo_form or LogoForm(formdata=None),
        settings=settings,
        errors=errors or {},
        may_write=_may_write(),
        preview_color=color,
        preview_text_color=business.text_color_on(color),
        logo_limit=business.logo_limit(current_app.config["MAX_IMAGE_BYTES"]),
        csp_nonce=security.csp_nonce(),
    )


def _brand_color(form: CompanyForm, current: str) -> str:
    """The hex text field wins when it was changed; else the colour picker
    (the page's script keeps both in step, but works without it too)."""
    text = (form.brand_color.data or "").strip()
    picker = (form.brand_color_picker.data or "").strip()
    if text.lower() != current.lower() or not picker:
        return text
    return picker


@bp.route("/setup/company", methods=["GET", "POST"])
@allowed("settings.read")
def setup_company():
    """SPEC 2: the company profile and the brand colour, with a preview of
    the invoice header."""
    if request.method == "GET":
        return _company()
    if not _may_write():
        abort(403)
    form = CompanyForm()
    errors = _form_errors(form) if not form.validate() else {}
    if not errors:
        current = business.get_settings(get_session()).brand_color
        changes = {key: (getattr(form, key).data or "").strip() for key in PROFILE}
        changes["country"] = changes["country"].upper()
        changes["brand_color"] = _brand_color(form, current)
        errors = _save(changes)
    if errors:
        return _company(form=form, errors=errors, status=422)
    flash(_("Company profile saved."))
    return redirect(url_for("hub.setup_company"))


@bp.post("/setup/company/logo")
@allowed("settings.write")
def setup_logo():
    """Upload a new logo (PNG, JPEG or SVG, size-limited) or remove it."""
    form = LogoForm()
    data = form.logo.data
    upload = data.read() if isinstance(data, FileStorage) and data.filename else None
    session = get_session()
    errors: dict[str, list[str]] = {}
    if not form.validate_on_submit():
        errors = _form_errors(form)
    elif upload is not None:
        try:
            business.set_logo(
                session, upload, business.logo_limit(current_app.config["MAX_IMAGE_BYTES"])
            )
        except Invalid as error:
            session.rollback()
            errors = {"logo": list(error.fields.get("logo") or [error.message])}
    elif form.remove.data:
        business.remove_logo(session)
    else:
        errors = {"logo": [_("Choose an image to upload.")]}
    if errors:
        return _company(logo_form=form, errors=errors, status=422)
    session.commit()
    flash(_("Logo removed.") if upload is None else _("Logo uploaded."))
    return redirect(url_for("hub.setup_company"))


@bp.get("/setup/company/logo")
@allowed("settings.read")
def setup_logo_image():
    """The logo for the page's ``<img>``, served as the hosted page serves it."""
    stored = business.get_settings(get_session()).logo
    if stored is None:
        return Response(status=404)
    return security.image_response(stored.data, stored.content_type)


# Invoice customization -------------------------------------------------------------


def _invoices(form=None, errors=None, status: int = 200):
    settings = business.get_settings(get_session())
    if form is None:
        form = InvoiceSettingsForm(formdata=None, obj=settings)
    form.invoice_language.choices = [
        (code, LANGUAGE_NAMES.get(code, code)) for code in business.INVOICE_LANGUAGES
    ]
    year = clock.now().year
    examples = {}
    for key in ("invoice_number_format", "credit_note_number_format"):
        try:
            examples[key] = numbering.render(getattr(settings, key), year, 1)
        except (KeyError, ValueError, IndexError):
            examples[key] = ""
    return render_section(
        "hub/setup_invoices.html",
        "hub.setup_invoices",
        status,
        form=form,
        settings=settings,
        examples=examples,
        errors=errors or {},
        may_write=_may_write(),
        shown=SHOWN_ON_INVOICES,
    )


@bp.route("/setup/invoices", methods=["GET", "POST"])
@allowed("settings.read")
def setup_invoices():
    """SPEC 8: numbering (a format that would repeat an issued number is
    refused), footer, default language and what invoices show."""
    if request.method == "GET":
        return _invoices()
    if not _may_write():
        abort(403)
    form = InvoiceSettingsForm()
    errors = _form_errors(form) if not form.validate() else {}
    if not errors:
        settings = business.get_settings(get_session())
        changes = {
            "invoice_footer": (form.invoice_footer.data or "").strip(),
            "invoice_language": form.invoice_language.data,
            **{key: bool(getattr(form, key).data) for key in SHOWN_ON_INVOICES},
        }
        # Numbering is checked against issued numbers only when it changes.
        for key in ("invoice_number_format", "credit_note_number_format"):
            value = (getattr(form, key).data or "").strip()
            if value != getattr(settings, key):
                changes[key] = value
        errors = _save(changes)
    if errors:
        return _invoices(form=form, errors=errors, status=422)
    flash(_("Invoice settings saved."))
    return redirect(url_for("hub.setup_invoices"))


@bp.get("/setup/invoices/sample.pdf")
@allowed("settings.read")
def setup_invoice_sample():
    """*Preview sample*: an invoice with the saved settings (nothing is saved,
    no number is taken)."""
    response = Response(render_sample_pdf(get_session()), mimetype="application/pdf")
    response.headers["Content-Disposition"] = 'attachment; filename="sample-invoice.pdf"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
