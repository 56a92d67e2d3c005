"""Getting started (SPEC 1, 2, 5): the first run of an empty business, in
four steps: the currency (once, confirmed), the company profile, payments
(Stripe keys verified with Stripe, or offline payments only) and the first
product with its plans (or skip).

Each step is saved when submitted, so a closed window or a dead process
loses nothing: ``/getting-started`` opens the first unfinished step. The
Overview sends staff here while ``business.getting_started`` says the flow
is needed; the views call the same domain functions as
``bridge/api/settings.py``, ``bridge/api/schedule.py`` and
``bridge/api/catalog.py``.
"""

from __future__ import annotations

from zoneinfo import available_timezones

from babel import Locale
from flask import abort, current_app, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, EmailField, SelectField, StringField, TextAreaField

from bridge.auth import policy
from bridge.billing import business, schedule
from bridge.core import money
from bridge.core.errors import Conflict, DomainError, Invalid
from bridge.db import get_session
from bridge.hub.forms import PlanForm, ProductForm
from bridge.hub.products import _plan_terms, add_product_and_plan
from bridge.hub.views import allowed, bp, country_choices, l10n, render
from bridge.models import Product
from bridge.payments.stripe import keys as stripe_keys
from bridge.payments.stripe.client import api_base_from

STEPS = business.GETTING_STARTED_STEPS
# Time zones people pick: IANA's regions (no "Etc/GMT+3" or old aliases).
REGIONS = (
    "Africa",
    "America",
    "Antarctica",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
)


def _(message: str) -> str:
    """Marks a word for the catalogue; the template translates it."""
    return message


STEP_TITLES = {
    "currency": _("Currency"),
    "company": _("Company"),
    "payments": _("Payments"),
    "product": _("First product"),
}


class CurrencyForm(FlaskForm):
    currency = SelectField(validate_choice=False)
    confirm = BooleanField()


class CompanyForm(FlaskForm):
    company_name = StringField()
    address_line1 = StringField()
    address_line2 = StringField()
    city = StringField()
    postal_code = StringField()
    state = StringField()
    country = SelectField(validate_choice=False)
    email = EmailField()
    tax_id = StringField()
    timezone = SelectField(validate_choice=False)


COMPANY_TEXT = (
    "company_name",
    "address_line1",
    "address_line2",
    "city",
    "postal_code",
    "state",
    "country",
    "email",
    "tax_id",
)
# The longest each field may be (the settings table's columns).
COMPANY_LIMITS = {
    "company_name": 200,
    "address_line1": 200,
    "address_line2": 200,
    "city": 100,
    "postal_code": 20,
    "state": 100,
    "email": 254,
    "tax_id": 50,
}


class StripeForm(FlaskForm):
    secret_key = StringField()
    publishable_key = StringField()
    webhook_secret = StringField()


class OfflineForm(FlaskForm):
    offline_instructions = TextAreaField()


class FinishForm(FlaskForm):
    """Finish (or skip) the last step: only the token."""


def time_zones() -> list[str]:
    return ["UTC", *sorted(z for z in available_timezones() if z.split("/")[0] in REGIONS)]


def _currency_choices() -> list[tuple[str, str]]:
    names = Locale.parse(l10n().locale).currencies
    return [("", "—")] + [
        (code, f"{code} · {names.get(code, code)}") for code in sorted(money.CURRENCIES)
    ]


def _page(step: str, template: str, status: int = 200, **context):
    """A step of the flow, with the progress of every step."""
    progress = business.getting_started(get_session())
    return render(
        template,
        status,
        step=step,
        steps=STEPS,
        step_titles=STEP_TITLES,
        progress=progress,
        active="hub.overview",
        **context,
    )


def _reachable_or_redirect(step: str):
    """A step whose earlier steps are not all done opens the first that is not."""
    progress = business.getting_started(get_session())
    if not progress.reachable(step):
        return redirect(url_for("hub.getting_started"))
    return None


def _saved():
    """A step was saved: the flow is under way; on to the next step."""
    session = get_session()
    business.begin_getting_started(session)
    session.commit()
    return redirect(url_for("hub.getting_started"))


@bp.get("/getting-started")
@allowed("settings.write")
def getting_started():
    """The first unfinished step; the Overview once the flow is over."""
    progress = business.getting_started(get_session())
    if progress.next_step is None or not progress.needed:
        return redirect(url_for("hub.overview"))
    return redirect(url_for(f"hub.getting_started_{progress.next_step}"))


# 1. Currency ------------------------------------------------------------------------


@bp.route("/getting-started/currency", methods=["GET", "POST"])
@allowed("settings.write")
def getting_started_currency():
    """The business currency, chosen once with an explicit confirmation."""
    session = get_session()
    settings = business.get_settings(session)
    form = CurrencyForm()
    form.currency.choices = _currency_choices()
    errors: dict[str, list[str]] = {}
    if request.method == "POST" and settings.currency is None:
        if not form.validate_on_submit():
            errors = {"csrf": ["expired"]}
        else:
            try:
                business.set_currency(
                    session, form.currency.data or "", confirm=bool(form.confirm.data)
                )
            except Invalid as error:
                session.rollback()
                errors = dict(error.fields or {})
            except Conflict:  # chosen meanwhile in another window
                session.rollback()
            else:
                return _saved()
    elif request.method == "POST":
        return redirect(url_for("hub.getting_started"))
    return _page(
        "currency",
        "hub/getting_started_currency.html",
        status=422 if errors else 200,
        form=form,
        errors=errors,
        chosen=business.get_settings(session).currency,
    )


# 2. Company -------------------------------------------------------------------------


def _company_changes(form: CompanyForm) -> tuple[dict, dict, dict[str, list[str]]]:
    """The profile and the time zone from the form, or what is missing or
    too long (the domain checks the email, the country and the zone)."""
    changes = {key: (getattr(form, key).data or "").strip() for key in COMPANY_TEXT}
    errors: dict[str, list[str]] = {}
    for key in ("company_name", "email", "country"):
        if not changes[key]:
            errors[key] = ["required"]
    for key, limit in COMPANY_LIMITS.items():
        if len(changes[key]) > limit:
            errors[key] = ["too_long"]
    return changes, {"timezone": form.timezone.data or ""}, errors


@bp.route("/getting-started/company", methods=["GET", "POST"])
@allowed("settings.write")
def getting_started_company():
    """Name, address, email, country, tax id and time zone."""
    if (elsewhere := _reachable_or_redirect("company")) is not None:
        return elsewhere
    session = get_session()
    settings = business.get_settings(session)
    form = CompanyForm(obj=settings) if request.method == "GET" else CompanyForm()
    form.country.choices = country_choices()
    form.timezone.choices = time_zones()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        if not form.validate_on_submit():
            errors = {"csrf": ["expired"]}
        else:
            changes, zone, errors = _company_changes(form)
            if not errors:
                try:
                    business.update_settings(session, dict(changes))
                except Invalid as error:
                    errors = dict(error.fields or {})
                try:
                    schedule.update_schedule(session, zone)
                except Invalid as error:
                    errors |= dict(error.fields or {})
            if not errors:
                return _saved()
            session.rollback()
    return _page(
        "company",
        "hub/getting_started_company.html",
        status=422 if errors else 200,
        form=form,
        errors=errors,
    )


# 3. Payments ------------------------------------------------------------------------


def _stripe_status(session) -> stripe_keys.StripeSettings:
    return stripe_keys.stripe_settings(session, current_app.extensions["bridge.secret_box"])


@bp.route("/getting-started/payments", methods=["GET", "POST"])
@allowed("settings.write")
def getting_started_payments():
    """Stripe keys, verified with Stripe before they are stored; or
    offline payments only (bank transfer, cash, cheque recorded by hand)."""
    if (elsewhere := _reachable_or_redirect("payments")) is not None:
        return elsewhere
    session = get_session()
    settings = business.get_settings(session)
    stripe_form = StripeForm()
    offline_form = OfflineForm(
        data={"offline_instructions": settings.offline_payment_instructions}
        if request.method == "GET"
        else None,
    )
    errors: dict[str, list[str]] = {}
    notice = None
    choice = request.form.get("choice")
    if request.method == "POST" and choice == "stripe":
        if not stripe_form.validate_on_submit():
            errors = {"csrf": ["expired"]}
        else:
            try:
                stripe_keys.save_stripe_settings(
                    session,
                    current_app.extensions["bridge.secret_box"],
                    stripe_form.secret_key.data or "",
                    stripe_form.publishable_key.data or "",
                    stripe_form.webhook_secret.data or "",
                    api_base_from(current_app.config),
                )
            except Invalid as error:
                session.rollback()
                errors = {k: list(v) for k, v in (error.fields or {}).items()}
                notice = error.message
            except DomainError as error:  # Stripe refused the key, or is unreachable
                session.rollback()
                errors = {"secret_key": [error.message]}
                notice = error.message
            else:
                business.get_settings(session).offline_payments_only = False
                business.begin_getting_started(session)
                session.commit()
                return redirect(url_for("hub.getting_started_payments", connected=1))
    elif request.method == "POST" and choice == "offline":
        if not offline_form.validate_on_submit():
            errors = {"csrf": ["expired"]}
        elif len(offline_form.offline_instructions.data or "") > 2000:
            errors = {"offline_instructions": ["too_long"]}
        else:
            instructions = offline_form.offline_instructions.data or ""
            business.choose_offline_payments(session, instructions)
            return _saved()
    elif request.method == "POST":
        errors = {"choice": ["required"]}
    return _page(
        "payments",
        "hub/getting_started_payments.html",
        status=422 if errors else 200,
        stripe_form=stripe_form,
        offline_form=offline_form,
        errors=errors,
        notice=notice,
        stripe=_stripe_status(session),
        offline=settings.offline_payments_only,
    )


# 4. First product -------------------------------------------------------------------


def _latest_product(session) -> Product | None:
    return session.scalars(select(Product).order_by(Product.id.desc()).limit(1)).first()


@bp.route("/getting-started/product", methods=["GET", "POST"])
@allowed("settings.write")
def getting_started_product():
    """A first product with its first plan; then more plans on it, one at a
    time; *finish* (or *skip* before any product) ends the flow."""
    if (elsewhere := _reachable_or_redirect("product")) is not None:
        return elsewhere
    if not policy.may(current_user.principal, "catalog.write"):
        abort(403)
    session = get_session()
    currency = business.get_settings(session).currency
    product = _latest_product(session)
    form = PlanForm() if product is not None else ProductForm()
    errors: dict[str, list[str]] = {}
    notice = None
    if request.method == "POST" and request.form.get("action") == "finish":
        if FinishForm().validate_on_submit():
            business.begin_getting_started(session)
            business.finish_getting_started(session)
            session.commit()
            return redirect(url_for("hub.overview"))
        errors = {"csrf": ["expired"]}
    elif request.method == "POST":
        if not form.validate_on_submit():
            errors = {"csrf": ["expired"]}
        else:
            terms, errors = _plan_terms(form, currency)
            if not errors:
                added, errors, notice = add_product_and_plan(session, form, terms, product)
                if added is not None:
                    business.begin_getting_started(session)
                    session.commit()
                    return redirect(url_for("hub.getting_started_product", added=1))
            product = _latest_product(session)
    return _page(
        "product",
        "hub/getting_started_product.html",
        status=422 if errors or notice else 200,
        form=form,
        finish_form=FinishForm(),
        errors=errors,
        notice=notice,
        currency=currency,
        product=product,
        plans=list(product.plans) if product is not None else [],
        added=bool(request.args.get("added")),
    )
