"""SPEC 3: the client forms (add, edit) and the client page with its tabs:
overview, products & services, invoices, sites, people and activity.

Each view calls the same domain functions as ``bridge/api/clients.py``,
``bridge/api/site*.py`` and ``bridge/api/subscriptions.py``; a domain error
comes back as a message on the form or a notice on the page, never a 500.
"""

from __future__ import annotations

from datetime import date

from flask import abort, current_app, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField

from bridge.auth import policy
from bridge.billing import (
    audit,
    balances,
    coupons,
    custom_fields,
    invitations,
    invoices,
    pauses,
    plan_changes,
    renewals,
    roles,
    subscriptions,
)
from bridge.billing import clients as client_book
from bridge.billing import sites as site_book
from bridge.billing.business import get_settings
from bridge.core import clock, money
from bridge.core.errors import Conflict, Invalid, NotFound
from bridge.db import get_session
from bridge.hub import once
from bridge.hub.forms import ApplyCouponForm
from bridge.hub.views import allowed, bp, country_choices, l10n, readable_log, render
from bridge.models import CustomFieldEntity, InvoiceLine

TABS = ("overview", "products", "invoices", "sites", "people", "activity")
TEXT_FIELDS = (
    "name",
    "email",
    "company",
    "address_line1",
    "address_line2",
    "city",
    "postal_code",
    "state",
    "country",
    "siren",
    "tax_id",
)


class ClientForm(FlaskForm):
    """The client's details; custom fields are read from the request by key
    (``custom-<key>``), as the business defines them."""

    name = StringField()
    email = EmailField()
    company = StringField()
    address_line1 = StringField()
    address_line2 = StringField()
    city = StringField()
    postal_code = StringField()
    state = StringField()
    country = SelectField(validate_choice=False)
    siren = StringField()
    tax_id = StringField()
    role_id = SelectField(validate_choice=False)


class ActionForm(FlaskForm):
    """A button that writes: only its CSRF token."""


def _client_or_404(session, client_id: int):
    try:
        return client_book.get_client(session, client_id)
    except NotFound:
        abort(404)


def _form_page(form: ClientForm, client=None, errors=None, notice=None, values=None, status=200):
    session = get_session()
    form.country.choices = country_choices()
    form.role_id.choices = [(str(role.id), role.name) for role in roles.list_roles(session)]
    fields = custom_fields.list_fields(session, CustomFieldEntity.CLIENT)
    return render(
        "hub/client_form.html",
        status=status,
        form=form,
        client=client,
        errors=errors or {},
        custom=fields,
        custom_values=values if values is not None else (client.custom_fields if client else {}),
        notice=notice,
        active="hub.clients",
    )


def _submitted(form: ClientForm) -> dict:
    """The form's values as the domain takes them."""
    data = {key: (getattr(form, key).data or "").strip() for key in TEXT_FIELDS}
    role = form.role_id.data
    data["role_id"] = int(role) if role and str(role).isdigit() else None
    data["custom_fields"] = {
        field.key: request.form.get(f"custom-{field.key}", "").strip()
        for field in custom_fields.list_fields(get_session(), CustomFieldEntity.CLIENT)
    }
    return data


def _field_errors(error: Invalid) -> dict:
    """The domain's ``fields`` flattened: ``custom_fields`` nests by key."""
    errors: dict[str, list[str]] = {}
    for key, messages in (error.fields or {}).items():
        if key == "custom_fields" and isinstance(messages, dict):
            for custom_key, custom_messages in messages.items():
                errors[f"custom-{custom_key}"] = list(custom_messages)
        else:
            errors[key] = list(messages)
    return errors


@bp.route("/clients/new", methods=["GET", "POST"])
@allowed("clients.write")
def client_new():
    form = ClientForm()
    if request.method == "GET":
        return _form_page(form)
    data = _submitted(form)
    session = get_session()
    invite = request.form.get("invite") == "y"
    try:
        client = client_book.create_client(session, **data)
        if invite:
            invitations.invite(session, client, days=int(current_app.config["INVITATION_DAYS"]))
    except Invalid as error:
        session.rollback()
        return _form_page(
            form, errors=_field_errors(error), values=data["custom_fields"], status=422
        )
    except Conflict as error:
        session.rollback()
        return _form_page(
            form, errors={"email": [str(error)]}, values=data["custom_fields"], status=409
        )
    session.commit()
    if invite:
        return redirect(url_for("hub.client_page", client_id=client.id, invited=1))
    return redirect(url_for("hub.client_page", client_id=client.id))


@bp.route("/clients/<int:client_id>/edit", methods=["GET", "POST"])
@allowed("clients.write")
def client_edit(client_id: int):
    session = get_session()
    client = _client_or_404(session, client_id)
    if request.method == "GET":
        form = ClientForm(obj=client)
        form.role_id.data = str(client.role_id)
        return _form_page(form, client=client)
    form = ClientForm()
    data = _submitted(form)
    if data["role_id"] is None:
        data.pop("role_id")
    try:
        client_book.update_client(session, client, data)
        session.flush()
    except Invalid as error:
        session.rollback()
        client = _client_or_404(session, client_id)
        return _form_page(
            form,
            client=client,
            errors=_field_errors(error),
            values=data["custom_fields"],
            status=422,
        )
    except Conflict as error:
        session.rollback()
        client = _client_or_404(session, client_id)
        return _form_page(
            form,
            client=client,
            errors={"email": [str(error)]},
            values=data["custom_fields"],
            status=409,
        )
    session.commit()
    return redirect(url_for("hub.client_page", client_id=client.id))


# The client page -------------------------------------------------------------------


def _invoice_link(invoice_id: int) -> str:
    try:
        return url_for("hub.invoice", invoice_id=invoice_id)
    except Exception:  # the invoice screen is another helper's: a plain path
        return f"/invoices/{invoice_id}"


def _tab_data(session, client, tab: str) -> dict:
    if tab == "products":
        current = subscriptions.list_subscriptions(
            session, client_id=client.id, statuses=subscriptions.CURRENT, per_page=100
        )
        inactive = subscriptions.list_subscriptions(
            session, client_id=client.id, statuses=subscriptions.INACTIVE, per_page=100
        )
        return {
            "current": current.items,
            "inactive": inactive.items,
            "one_time": invoices.one_time_items(session, client.id),
            "renewable": subscriptions.RENEWABLE,
            "new_key": once.new_key,
        }
    if tab == "invoices":
        return {
            "invoices": invoices.list_invoices(session, client_id=client.id, per_page=100),
            "credit_entries": balances.entries(session, client.id),
        }
    if tab == "sites":
        return {
            "scans": {
                site.id: site_book.seo_scan_view(site_book.latest_seo_scan(session, site))
                for site in client.sites
            }
        }
    if tab == "people":
        people = site_book.list_client_users(session, client)
        return {
            "people": people,
            "site_roles": {person.id: roles.site_roles(session, person) for person in people},
            "roles": roles.list_roles(session),
        }
    if tab == "activity":
        if not policy.may(current_user.principal, "audit.read"):
            return {"entries": None}
        entries = audit.entries_page(session, client_id=client.id, per_page=100)
        return {"entries": entries, "sentences": readable_log(entries.items)}
    return {}


def _page(client_id: int, tab: str, status: int = 200, **extra):
    session = get_session()
    client = _client_or_404(session, client_id)
    return render(
        "hub/client_page.html",
        status=status,
        client=client,
        tab=tab,
        tabs=TABS,
        unpaid=invoices.unpaid_count(session, client.id),
        credit=balances.balance(session, client.id).amounts,
        currency=get_settings(session).currency,
        action_form=ActionForm(),
        invoice_link=_invoice_link,
        may=lambda action: policy.may(current_user.principal, action),
        custom=custom_fields.list_fields(session, CustomFieldEntity.CLIENT),
        active="hub.clients",
        invite_key=once.new_key(),
        credit_key=once.new_key(),
        invited_at=invitations.last_sent_at(session, client),
        accepted_at=invitations.accepted_at(session, client),
        invited=request.args.get("invited") == "1",
        saved_person=request.args.get("saved", type=int),
        invitation_days=int(current_app.config["INVITATION_DAYS"]),
        # The coupon of the client or of a subscription, and its form.
        discount_of=lambda **owner: coupons.current(session, **owner),
        cycles_left=lambda discount: coupons.cycles_left(session, discount),
        coupon_off=lambda coupon: coupons.off_text(coupon, l10n()),
        coupon_form=ApplyCouponForm(),
        **_tab_data(session, client, tab),
        **extra,
    )


@bp.get("/clients/<int:client_id>")
@allowed("clients.read")
def client_page(client_id: int):
    tab = request.args.get("tab", "overview")
    if tab not in TABS:
        tab = "overview"
    return _page(client_id, tab)


@bp.post("/clients/<int:client_id>/invite")
@allowed("clients.write")
def client_invite(client_id: int):
    """Invite the client (again): a new link by email, earlier links dead.
    Once per form: a double click sends one email."""
    session = get_session()
    client = _client_or_404(session, client_id)
    key = (request.form.get("key") or "").strip()
    if not key or len(key) > once.MAX_KEY:
        abort(400)
    seen = once.claim(session, current_user.user_id, key)
    if seen is not None:
        return redirect(seen or url_for("hub.client_page", client_id=client_id))
    try:
        invitations.invite(session, client, days=int(current_app.config["INVITATION_DAYS"]))
    except (Invalid, Conflict) as error:
        session.rollback()
        return _page(client_id, "overview", status=409, notice=str(error))
    location = url_for("hub.client_page", client_id=client_id, invited=1)
    once.done(session, current_user.user_id, key, location)
    session.commit()
    return redirect(location)


@bp.post("/clients/<int:client_id>/balance")
@allowed("invoices.write")
def client_balance_grant(client_id: int):
    """Grant the client account credit by hand (the API also takes it back).
    Once per form: a double click grants once."""
    session = get_session()
    client = _client_or_404(session, client_id)
    key = (request.form.get("key") or "").strip()
    if not key or len(key) > once.MAX_KEY:
        abort(400)
    currency = get_settings(session).currency
    values = {
        "amount": (request.form.get("amount") or "").strip(),
        "reason": request.form.get("reason") or "",
    }
    try:
        try:
            amount = money.parse_amount(values["amount"], currency or "EUR")
        except money.InvalidAmount as exc:
            raise Invalid(str(exc), fields={"amount": [str(exc)]}) from None
        if amount <= 0:
            raise Invalid("Must be more than zero.", fields={"amount": ["Must be more than zero."]})
        seen = once.claim(session, current_user.user_id, key)
        if seen is not None:
            return redirect(seen or url_for("hub.client_page", client_id=client_id, tab="invoices"))
        balances.grant(
            session, client, amount=amount, reason=values["reason"], user_id=current_user.user_id
        )
    except (Invalid, Conflict) as error:
        session.rollback()
        return _page(
            client_id,
            "invoices",
            status=422 if isinstance(error, Invalid) else 409,
            credit_errors=error.fields or {"amount": [error.message]},
            credit_values=values,
        )
    location = url_for("hub.client_page", client_id=client_id, tab="invoices") + "#account-credit"
    once.done(session, current_user.user_id, key, location)
    session.commit()
    return redirect(location)


def _subscription_of(session, client_id: int, subscription_id: int):
    try:
        subscription = subscriptions.get_subscription(session, subscription_id)
    except NotFound:
        abort(404)
    if subscription.client_id != client_id:
        abort(404)
    return subscription


@bp.post("/clients/<int:client_id>/subscriptions/<int:subscription_id>/<action>")
@allowed("subscriptions.write")
def client_subscription(client_id: int, subscription_id: int, action: str):
    """Cancel now, cancel at the period end, resume (undo the scheduled
    cancel), pause (until the form's optional date), resume-pause (end the
    pause now) or reactivate (a new invoice; the subscription starts when
    paid)."""
    actions = (
        "cancel",
        "cancel-at-period-end",
        "resume",
        "reactivate",
        "pause",
        "resume-pause",
        "cancel-change",
    )
    if action not in actions:
        abort(404)
    session = get_session()
    subscription = _subscription_of(session, client_id, subscription_id)
    try:
        if action == "resume":
            subscriptions.undo_cancel(session, subscription)
        elif action == "pause":
            pauses.pause(session, subscription, _pause_until())
        elif action == "resume-pause":
            invoice = pauses.resume(session, subscription)
            if invoice is not None:
                renewals.after_renewal(session, invoice, clock.now())
        elif action == "cancel-change":
            plan_changes.cancel_scheduled(session, subscription)
        elif action == "reactivate":
            return _once(session, client_id, lambda: renewals.reactivate(session, subscription))
        else:
            subscriptions.cancel(
                session, subscription, at_period_end=action == "cancel-at-period-end"
            )
    except (Invalid, Conflict) as error:
        session.rollback()
        status = 422 if isinstance(error, Invalid) else 409
        return _page(client_id, "products", status=status, notice=str(error))
    session.commit()
    return redirect(url_for("hub.client_page", client_id=client_id, tab="products"))


def _pause_until():
    """The pause form's date (empty: until resumed by hand)."""
    text = (request.form.get("until") or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid(
            "Enter the date as YYYY-MM-DD, or leave it empty.",
            fields={"until": ["Not a date."]},
        ) from None


def _once(session, client_id: int, make_invoice):
    """Make an invoice once per form (its hidden ``key``), then open it."""
    key = (request.form.get("key") or "").strip()
    if not key or len(key) > once.MAX_KEY:
        abort(400)
    seen = once.claim(session, current_user.user_id, key)
    if seen is not None:
        # Sent again: where the first went (or, while it still runs, the
        # client's products, where its result will show).
        return redirect(seen or url_for("hub.client_page", client_id=client_id, tab="products"))
    invoice = make_invoice()
    location = _invoice_link(invoice.id)
    once.done(session, current_user.user_id, key, location)
    session.commit()
    return redirect(location)


@bp.post("/clients/<int:client_id>/items/<int:line_id>/bill-again")
@allowed("invoices.write")
def client_bill_again(client_id: int, line_id: int):
    """A new draft for a one-time item billed before; opens the draft."""
    session = get_session()
    line = session.get(InvoiceLine, line_id)
    if line is None or line.invoice.client_id != client_id:
        abort(404)
    try:
        return _once(session, client_id, lambda: invoices.bill_again(session, line))
    except (Invalid, Conflict) as error:
        session.rollback()
        return _page(client_id, "products", status=409, notice=str(error))


@bp.post("/clients/<int:client_id>/people/<int:user_id>/site-roles")
@allowed("clients.write")
def client_person_site_roles(client_id: int, user_id: int):
    """The person's role on each site the form lists: a role of their own
    there, or (empty) the client's role. All the sites or none change."""
    session = get_session()
    client = _client_or_404(session, client_id)
    try:
        person = site_book.get_client_user(session, client, user_id)
    except NotFound:
        abort(404)
    try:
        for site in client.sites:
            field = f"site-{site.id}"
            if field not in request.form:  # a site added since the page was shown
                continue
            value = request.form[field].strip()
            if not value:
                roles.remove_site_role(session, person, site)
            elif value.isdigit() and len(value) < 10:
                roles.set_site_role(session, person, site, int(value))
            else:
                raise Invalid("No such role.", code="unknown_role")
    except (Invalid, Conflict) as error:
        session.rollback()
        return _page(
            client_id,
            "people",
            status=422 if isinstance(error, Invalid) else 409,
            notice=str(error),
            open_person=user_id,
        )
    session.commit()
    return redirect(
        url_for("hub.client_page", client_id=client_id, tab="people", saved=user_id)
        + f"#person-{user_id}"
    )


def _secret_box():
    return current_app.extensions["bridge.secret_box"]


@bp.post("/clients/<int:client_id>/sites")
@allowed("sites.write")
def client_site_new(client_id: int):
    """Add a site; its secret is shown on this answer only."""
    session = get_session()
    client = _client_or_404(session, client_id)
    name = (request.form.get("name") or "").strip()
    url = (request.form.get("url") or "").strip()
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        site, secret = client_book.create_site(session, _secret_box(), client, name=name, url=url)
        session.flush()
    except (Invalid, Conflict) as error:
        session.rollback()
        errors = _field_errors(error) if isinstance(error, Invalid) else {"url": [str(error)]}
        return _page(
            client_id,
            "sites",
            status=422,
            site_errors=errors,
            site_values={"name": name, "url": url},
        )
    session.commit()
    return _page(client_id, "sites", secret={"site_id": site.id, "value": secret})


def _site_of(session, client_id: int, site_id: int):
    try:
        return client_book.get_site(session, site_id, client_id=client_id)
    except NotFound:
        abort(404)


@bp.post("/clients/<int:client_id>/sites/<int:site_id>/rotate")
@allowed("sites.write")
def client_site_rotate(client_id: int, site_id: int):
    """A new secret for the site (the old one stops working), shown once."""
    session = get_session()
    site = _site_of(session, client_id, site_id)
    secret = client_book.rotate_site_secret(session, _secret_box(), site)
    session.commit()
    return _page(client_id, "sites", secret={"site_id": site.id, "value": secret})


@bp.post("/clients/<int:client_id>/sites/<int:site_id>/connect-code")
@allowed("sites.write")
def client_site_connect_code(client_id: int, site_id: int):
    """A one-time code to paste into the site's plugin, shown once."""
    session = get_session()
    site = _site_of(session, client_id, site_id)
    try:
        row, code = site_book.create_connect_code(session, site)
    except Conflict as error:
        session.rollback()
        return _page(client_id, "sites", status=409, notice=str(error))
    session.commit()
    return _page(
        client_id,
        "sites",
        connect={"site_id": site.id, "value": code, "expires_at": row.expires_at},
    )
