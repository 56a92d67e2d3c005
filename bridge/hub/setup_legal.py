"""Setup: what the law asks invoices to print (``bridge.billing.legal``):
the business's legal form, share capital and registration numbers, the
payment-terms wording, Factur-X as the PDF of business clients, and the
account codes of the sales journal export.

The view changes the settings as ``PATCH /api/v1/settings`` does; the
audit log names the staff user.
"""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TextAreaField

from bridge.auth import policy
from bridge.billing import business, legal
from bridge.core import money
from bridge.core.errors import Invalid
from bridge.db import get_session
from bridge.hub.bill import _number
from bridge.hub.setup import render_section, section
from bridge.hub.views import act_as_staff, allowed, bp


def _(message: str) -> str:
    """Marks a word for the catalogue; it is translated when rendered."""
    return message


section(35, "hub.setup_legal", _("Legal mentions"))

TEXT_FIELDS = (
    "legal_form",
    "siren",
    "siret",
    "rcs_city",
    "late_payment_penalty_text",
    "early_payment_discount_text",
    "accounting_journal_code",
    "accounting_client_account",
    "accounting_sales_account",
    "accounting_vat_account",
)
FLAGS = ("individual_entrepreneur", "facturx_default")
ACCOUNT_CODES = TEXT_FIELDS[-4:]


class LegalForm(FlaskForm):
    legal_form = StringField()
    share_capital = StringField()
    siren = StringField()
    siret = StringField()
    rcs_city = StringField()
    individual_entrepreneur = BooleanField()
    late_payment_penalty_text = TextAreaField()
    early_payment_discount_text = TextAreaField()
    facturx_default = BooleanField()
    accounting_journal_code = StringField()
    accounting_client_account = StringField()
    accounting_sales_account = StringField()
    accounting_vat_account = StringField()


def _page(form: LegalForm, errors: dict | None = None, status: int = 200):
    settings = business.get_settings(get_session())
    return render_section(
        "hub/setup_legal.html",
        "hub.setup_legal",
        status,
        form=form,
        errors=errors or {},
        currency=settings.currency or "EUR",
        french=legal.french(settings),
        max_net_terms=legal.max_net_terms_days(settings.country),
        may_write=policy.may(current_user.principal, "settings.write"),
    )


@bp.route("/setup/legal", methods=["GET", "POST"])
@allowed("settings.read")
def setup_legal():
    """The legal details printed on invoices, and the accounting codes."""
    session = get_session()
    settings = business.get_settings(session)
    currency = settings.currency or "EUR"
    if request.method == "GET":
        form = LegalForm(formdata=None, obj=settings)
        form.share_capital.data = (
            str(money.to_decimal(settings.share_capital, currency))
            if settings.share_capital is not None
            else ""
        )
        return _page(form)
    if not policy.may(current_user.principal, "settings.write"):
        abort(403)
    form = LegalForm()
    if not form.validate():
        abort(400)
    changes: dict = {name: (form[name].data or "").strip() for name in TEXT_FIELDS}
    changes.update({name: bool(form[name].data) for name in FLAGS})
    errors: dict[str, list[str]] = {}
    for name in ACCOUNT_CODES:
        if not changes[name] or len(changes[name]) > 20:
            errors[name] = [_("From 1 to 20 characters.")]
    capital = _number(form.share_capital.data)
    try:
        changes["share_capital"] = money.parse_amount(capital, currency) if capital else None
    except money.InvalidAmount:
        errors["share_capital"] = [_("An amount such as 10000 or 1500.50.")]
    if errors:
        return _page(form, errors, 422)
    act_as_staff(session)
    try:
        business.update_settings(session, changes)
    except Invalid as error:
        session.rollback()
        return _page(form, error.fields or {}, 422)
    session.commit()
    flash(_("Legal mentions saved."))
    return redirect(url_for("hub.setup_legal"), 303)
