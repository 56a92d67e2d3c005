"""Setup: custom fields (SPEC 3), the schedule (SPEC 9) and API tokens.

Each view calls the domain function the REST API calls
(``bridge.billing.custom_fields``, ``bridge.billing.schedule``,
``bridge.auth.accounts``); a bad form changes nothing and says why next to
the field. A new API token's secret is shown once, on the page that answers
the form, and never again (only its hash is stored).
"""

from __future__ import annotations

from zoneinfo import available_timezones

from flask import abort, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, SelectField, StringField, TextAreaField

from bridge.auth import accounts, policy
from bridge.billing import audit
from bridge.billing import custom_fields as field_book
from bridge.billing import schedule as timing
from bridge.billing.business import get_settings
from bridge.core.errors import Conflict, Invalid, NotFound
from bridge.db import get_session
from bridge.hub import once
from bridge.hub.setup import render_section, section
from bridge.hub.views import allowed, bp
from bridge.models import CustomFieldEntity, CustomFieldType


def _(message: str) -> str:
    """Marks a word for the catalogue; it is translated when rendered."""
    return message


section(50, "hub.custom_fields", _("Custom fields"), "custom_fields.read")
section(70, "hub.schedule", _("Schedule"), "settings.read")
section(80, "hub.api_tokens", _("API tokens"), "tokens.read")

# The domain's messages these forms show next to a field, for the catalogue
# (the templates translate every field message).
DOMAIN_WORDS = (
    _("At least one non-empty option."),
    _("Duplicate option."),
    _("Too many options."),
    _("Must be empty."),
    _("Invalid key."),
    _("An IANA time zone name, such as Europe/Paris."),
    _("Days must be increasing, without repeats."),
    _("At most 10 entries."),
    _("Each entry is between 1 and 365 days."),
    _("A whole number of days between 0 and 365."),
)
MAX_POSITION = 10_000
TOKEN_NAME_MAX = 100


def staff_actor(session) -> None:
    """The audit log names the staff user as the one who acted."""
    audit.set_actor(session, audit.Actor("staff", current_user.user_id, current_user.email or ""))


def may_write(resource: str) -> bool:
    return policy.may(current_user.principal, f"{resource}.write")


class ConfirmForm(FlaskForm):
    """A button that deletes or revokes: only the token."""


def confirm_page(*, endpoint: str, title: str, question: str, action: str, button: str, back):
    """The one page that asks before something is deleted or revoked."""
    return render_section(
        "hub/setup_confirm.html",
        endpoint,
        form=ConfirmForm(),
        title=title,
        question=question,
        action=action,
        button=button,
        back=back,
    )


def _whole(text: str | None) -> int | None:
    """A whole number typed in a field, or None when it is not one."""
    text = (text or "").strip()
    if text.isascii() and text.isdigit() and len(text) < 7:
        return int(text)
    return None


# Custom fields ---------------------------------------------------------------------


class CustomFieldForm(FlaskForm):
    entity = SelectField(choices=[e.value for e in CustomFieldEntity], validate_choice=False)
    label = StringField()
    field_type = SelectField(choices=[t.value for t in CustomFieldType], validate_choice=False)
    options = TextAreaField()
    required = BooleanField()
    show_on_invoice = BooleanField()
    position = StringField(default="0")


def _options(form: CustomFieldForm) -> list[str]:
    return [line.strip() for line in (form.options.data or "").splitlines() if line.strip()]


def _field_terms(form: CustomFieldForm, errors: dict) -> dict:
    """What the form says of a field, as the domain takes it."""
    terms = {
        "label": form.label.data or "",
        "required": bool(form.required.data),
        "show_on_invoice": bool(form.show_on_invoice.data),
    }
    if len(terms["label"]) > 100:
        errors["label"] = [_("At most 100 characters.")]
    position = _whole(form.position.data or "0")
    if position is None or position > MAX_POSITION:
        errors["position"] = [_("A whole number from 0 to 10,000.")]
    else:
        terms["position"] = position
    options = _options(form)
    if any(len(option) > 100 for option in options):
        errors["options"] = [_("Each option has at most 100 characters.")]
    terms["options"] = options
    return terms


def _field_page(form, field=None, errors=None, status=200):
    return render_section(
        "hub/setup_custom_field.html",
        "hub.custom_fields",
        status,
        form=form,
        field=field,
        errors=errors or {},
    )


@bp.get("/setup/custom-fields")
@allowed("custom_fields.read")
def custom_fields():
    """Client and business fields, in their order."""
    fields = field_book.list_fields(get_session())
    groups = [
        (entity.value, [f for f in fields if f.entity == entity])
        for entity in (CustomFieldEntity.CLIENT, CustomFieldEntity.BUSINESS)
    ]
    return render_section(
        "hub/setup_custom_fields.html",
        "hub.custom_fields",
        groups=groups,
        may_write=may_write("custom_fields"),
        saved=request.args.get("saved"),
    )


@bp.route("/setup/custom-fields/new", methods=["GET", "POST"])
@allowed("custom_fields.write")
def custom_field_new():
    form = CustomFieldForm()
    if request.method == "GET":
        if request.args.get("entity") in set(CustomFieldEntity):
            form.entity.data = request.args["entity"]
        return _field_page(form)
    errors: dict[str, list[str]] = {}
    if not form.validate():
        abort(400)
    terms = _field_terms(form, errors)
    if form.entity.data not in set(CustomFieldEntity):
        errors["entity"] = [_("Choose who the field describes.")]
    if form.field_type.data not in set(CustomFieldType):
        errors["field_type"] = [_("Choose a type.")]
    if errors:
        return _field_page(form, errors=errors, status=422)
    session = get_session()
    staff_actor(session)
    try:
        field_book.create_field(
            session,
            entity=CustomFieldEntity(form.entity.data),
            field_type=CustomFieldType(form.field_type.data),
            **terms,
        )
    except Invalid as error:
        session.rollback()
        return _field_page(form, errors=dict(error.fields or {}), status=422)
    except Conflict:
        session.rollback()
        errors = {"label": [_("A field with this name already exists.")]}
        return _field_page(form, errors=errors, status=409)
    session.commit()
    return redirect(url_for("hub.custom_fields", saved=1), 303)


def _field_or_404(session, field_id: int):
    try:
        return field_book.get_field(session, field_id)
    except NotFound:
        abort(404)


@bp.route("/setup/custom-fields/<int:field_id>", methods=["GET", "POST"])
@allowed("custom_fields.write")
def custom_field_edit(field_id: int):
    """Label, options, required, invoice flag and order; the type and key stay."""
    session = get_session()
    field = _field_or_404(session, field_id)
    form = CustomFieldForm()
    if request.method == "GET":
        form.process(
            data={
                "entity": field.entity.value,
                "label": field.label,
                "field_type": field.field_type.value,
                "options": "\n".join(field.options or []),
                "required": field.required,
                "show_on_invoice": field.show_on_invoice,
                "position": str(field.position),
            }
        )
        return _field_page(form, field)
    if not form.validate():
        abort(400)
    errors: dict[str, list[str]] = {}
    terms = _field_terms(form, errors)
    if field.field_type != CustomFieldType.CHOICE:
        terms.pop("options")
    if errors:
        return _field_page(form, field, errors, 422)
    staff_actor(session)
    try:
        field_book.update_field(session, field, terms)
    except Invalid as error:
        session.rollback()
        return _field_page(form, field, dict(error.fields or {}), 422)
    session.commit()
    return redirect(url_for("hub.custom_fields", saved=1), 303)


@bp.route("/setup/custom-fields/<int:field_id>/delete", methods=["GET", "POST"])
@allowed("custom_fields.write")
def custom_field_delete(field_id: int):
    """Ask, then delete the definition (values stored under it stay, unseen)."""
    session = get_session()
    field = _field_or_404(session, field_id)
    if request.method == "GET":
        return confirm_page(
            endpoint="hub.custom_fields",
            title=_("Delete a custom field"),
            question=field.label,
            action=url_for("hub.custom_field_delete", field_id=field.id),
            button=_("Delete field"),
            back=url_for("hub.custom_fields"),
        )
    if not ConfirmForm().validate():
        abort(400)
    staff_actor(session)
    field_book.delete_field(session, field)
    session.commit()
    return redirect(url_for("hub.custom_fields", saved=1), 303)


# Schedule ------------------------------------------------------------------------


class ScheduleForm(FlaskForm):
    timezone = SelectField(validate_choice=False)
    dunning_retry_days = StringField()
    past_due_cancel_after_days = StringField()
    renewal_reminder_days = StringField()
    overdue_reminder_days = StringField()


def _day_list(text: str | None) -> list[int] | None:
    """``"1, 3, 7"`` as ``[1, 3, 7]``; None when a part is not a whole number."""
    parts = [p.strip() for p in (text or "").replace(";", ",").split(",") if p.strip()]
    days = [_whole(p) for p in parts]
    return None if any(d is None for d in days) else days


def _schedule_page(form, errors=None, status=200, saved=False):
    session = get_session()
    zones = sorted(available_timezones())
    current = get_settings(session).timezone
    if current not in zones:
        zones.insert(0, current)
    form.timezone.choices = zones
    return render_section(
        "hub/setup_schedule.html",
        "hub.schedule",
        status,
        form=form,
        errors=errors or {},
        saved=saved,
        may_write=may_write("settings"),
        max_days=timing.MAX_DAYS,
        max_retries=timing.MAX_RETRIES,
    )


@bp.route("/setup/schedule", methods=["GET", "POST"])
@allowed("settings.read")
def schedule():
    """The time zone, the dunning retries and the reminder days."""
    session = get_session()
    form = ScheduleForm()
    if request.method == "GET":
        settings = get_settings(session)
        form.process(
            data={
                "timezone": settings.timezone,
                "dunning_retry_days": ", ".join(map(str, settings.dunning_retry_days or [])),
                "past_due_cancel_after_days": ""
                if settings.past_due_cancel_after_days is None
                else str(settings.past_due_cancel_after_days),
                "renewal_reminder_days": str(settings.renewal_reminder_days),
                "overdue_reminder_days": ", ".join(map(str, settings.overdue_reminder_days or [])),
            }
        )
        return _schedule_page(form, saved=bool(request.args.get("saved")))
    if not policy.may(current_user.principal, "settings.write"):
        abort(403)
    if not form.validate():
        abort(400)
    errors: dict[str, list[str]] = {}
    changes: dict = {"timezone": form.timezone.data or ""}
    for key in ("dunning_retry_days", "overdue_reminder_days"):
        days = _day_list(getattr(form, key).data)
        if days is None:
            errors[key] = [_("Whole numbers of days, separated by commas.")]
        else:
            changes[key] = days
    cancel = (form.past_due_cancel_after_days.data or "").strip()
    changes["past_due_cancel_after_days"] = _whole(cancel) if cancel else None
    if cancel and changes["past_due_cancel_after_days"] is None:
        errors["past_due_cancel_after_days"] = [_("A whole number of days, or empty.")]
    changes["renewal_reminder_days"] = _whole(form.renewal_reminder_days.data)
    if changes["renewal_reminder_days"] is None:
        errors["renewal_reminder_days"] = [_("A whole number of days.")]
    if errors:
        return _schedule_page(form, errors, 422)
    staff_actor(session)
    try:
        timing.update_schedule(session, changes)
    except Invalid as error:
        session.rollback()
        return _schedule_page(form, dict(error.fields or {}), 422)
    session.commit()
    return redirect(url_for("hub.schedule", saved=1), 303)


# API tokens ----------------------------------------------------------------------


class TokenForm(FlaskForm):
    name = StringField()
    access = RadioField(choices=["read_only", "full"], default="read_only", validate_choice=False)
    key = HiddenField()


def _tokens_page(form, errors=None, status=200, created=None):
    session = get_session()
    if not form.key.data:
        form.key.data = once.new_key()
    return render_section(
        "hub/setup_api_tokens.html",
        "hub.api_tokens",
        status,
        form=form,
        errors=errors or {},
        tokens=accounts.list_tokens(session),
        may_write=may_write("tokens"),
        created=created,
        revoked=request.args.get("revoked"),
    )


@bp.get("/setup/api-tokens")
@allowed("tokens.read")
def api_tokens():
    """Every token: whose, what it may do, when made and last used."""
    created = request.args.get("created", type=int)
    record = None
    if created:
        try:
            record = accounts.get_token(get_session(), created)
        except NotFound:
            record = None
    return _tokens_page(TokenForm(formdata=None), created=record)


@bp.post("/setup/api-tokens")
@allowed("tokens.write")
def api_token_new():
    """A token for the logged-in user; its secret is on the page that answers,
    this once. The same form sent again goes to the list instead."""
    form = TokenForm()
    if not form.validate():
        abort(400)
    name = (form.name.data or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = [_("Required.")]
    elif len(name) > TOKEN_NAME_MAX:
        errors["name"] = [_("At most 100 characters.")]
    if form.access.data not in ("read_only", "full"):
        errors["access"] = [_("Choose what the token may do.")]
    key = (form.key.data or "").strip()
    if not key or len(key) > once.MAX_KEY:
        errors["name"] = errors.get("name") or [_("The form expired: please send it again.")]
        form.key.data = ""
    if errors:
        return _tokens_page(form, errors, 422)
    session = get_session()
    seen = once.claim(session, current_user.user_id, key)
    if seen is not None:
        session.rollback()
        return redirect(seen or url_for("hub.api_tokens"), 303)
    user = accounts.active_staff(session, current_user.user_id)
    if user is None:
        session.rollback()
        abort(403)
    record, secret = accounts.create_token(
        session, user, name=name, read_only=form.access.data == "read_only"
    )
    once.done(session, current_user.user_id, key, url_for("hub.api_tokens", created=record.id))
    session.commit()
    return render_section(
        "hub/setup_api_token_created.html", "hub.api_tokens", 201, record=record, secret=secret
    )


@bp.route("/setup/api-tokens/<int:token_id>/revoke", methods=["GET", "POST"])
@allowed("tokens.write")
def api_token_revoke(token_id: int):
    """Ask, then revoke: the next request with the token is refused."""
    session = get_session()
    try:
        record = accounts.get_token(session, token_id)
    except NotFound:
        abort(404)
    if request.method == "GET":
        return confirm_page(
            endpoint="hub.api_tokens",
            title=_("Revoke an API token"),
            question=f"{record.name} ({record.prefix}…)",
            action=url_for("hub.api_token_revoke", token_id=record.id),
            button=_("Revoke token"),
            back=url_for("hub.api_tokens"),
        )
    if not ConfirmForm().validate():
        abort(400)
    accounts.revoke_token(session, record)
    session.commit()
    return redirect(url_for("hub.api_tokens", revoked=record.id), 303)
