"""Setup > Team: the agency's staff users. Add someone (they get an email
with a link to choose their password), give full access or read-only
access, deactivate (never oneself, never the last user with full access)
and reactivate, send a new password link.

Reading needs ``settings.read``; every change ``settings.write``. The rules
are ``bridge.auth.accounts``'s.
"""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, RadioField, StringField

from bridge.auth import accounts, policy
from bridge.core.errors import Conflict, Invalid
from bridge.db import get_session
from bridge.hub import auth
from bridge.hub.forms import SwitchForm
from bridge.hub.setup import render_section, section
from bridge.hub.views import _, allowed, bp

ACCESS = ("full", "read_only")
# The domain's refusals the page explains (in templates/hub/team.html).
REFUSALS = ("own_account", "last_full_access", "inactive")

section(90, "hub.team", _("Team"))


class StaffForm(FlaskForm):
    """Someone new on the team: they choose their password from the email."""

    name = StringField()
    email = EmailField()
    access = RadioField(choices=list(ACCESS), default="full", validate_choice=False)


class AccessForm(FlaskForm):
    access = RadioField(choices=list(ACCESS), validate_choice=False)


def _page(form: StaffForm | None = None, errors=None, refused=None, status: int = 200):
    session = get_session()
    return render_section(
        "hub/team.html",
        "hub.team",
        status=status,
        people=accounts.list_staff(session),
        form=form or StaffForm(),
        switch_form=SwitchForm(),
        errors=errors or {},
        refused=refused,
        me=current_user.user_id,
        may_write=policy.may(current_user.principal, "settings.write"),
    )


def _add_errors(form: StaffForm) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if len((form.name.data or "").strip()) > accounts.MAX_NAME:
        errors["name"] = ["too_long"]
    if not (form.email.data or "").strip():
        errors["email"] = ["required"]
    if form.access.data not in ACCESS:
        errors["access"] = ["access"]
    return errors


@bp.route("/setup/team", methods=["GET", "POST"])
@allowed("settings.read")
def team():
    """The staff users, and a form to add one."""
    if request.method == "GET":
        return _page()
    if not policy.may(current_user.principal, "settings.write"):
        abort(403)
    form = StaffForm()
    form.validate_on_submit()  # the token was checked by the guard
    errors = _add_errors(form)
    session = get_session()
    if not errors:
        try:
            user = accounts.create_staff_user(
                session,
                email=form.email.data or "",
                password=None,
                name=form.name.data or "",
                read_only=form.access.data == "read_only",
            )
            auth.send_password_link(session, user)
        except Invalid as error:
            session.rollback()
            errors = {key: ["email" if key == "email" else "too_long"] for key in error.fields}
        except Conflict:  # the email has a login already
            session.rollback()
            errors = {"email": ["taken"]}
        else:
            session.commit()
            flash(_("They were added and got an email to choose their password."))
            return redirect(url_for("hub.team") + f"#staff-{user.id}", 303)
    return _page(form, errors, status=422)


def _change(user_id: int, change, done: str):
    """One change to a staff user; a refusal is the page again, saying why."""
    session = get_session()
    user = accounts.get_staff(session, user_id)
    try:
        change(session, user)
        session.flush()
    except Conflict as error:
        session.rollback()
        code = error.code if error.code in REFUSALS else "own_account"
        return _page(refused=(code, accounts.get_staff(session, user_id)), status=409)
    session.commit()
    flash(done)
    return redirect(url_for("hub.team") + f"#staff-{user_id}", 303)


@bp.post("/setup/team/<int:user_id>/access")
@allowed("settings.write")
def team_access(user_id: int):
    form = AccessForm()
    form.validate_on_submit()
    if form.access.data not in ACCESS:
        return redirect(url_for("hub.team"), 303)
    read_only = form.access.data == "read_only"
    return _change(
        user_id,
        lambda s, u: accounts.set_read_only(s, u, read_only, acting_user_id=current_user.user_id),
        _("Their access was changed."),
    )


@bp.post("/setup/team/<int:user_id>/deactivate")
@allowed("settings.write")
def team_deactivate(user_id: int):
    return _change(
        user_id,
        lambda s, u: accounts.deactivate_staff(s, u, acting_user_id=current_user.user_id),
        _("They were deactivated: they can no longer log in."),
    )


@bp.post("/setup/team/<int:user_id>/reactivate")
@allowed("settings.write")
def team_reactivate(user_id: int):
    return _change(
        user_id,
        lambda s, u: accounts.reactivate_staff(s, u),
        _("They were reactivated."),
    )


@bp.post("/setup/team/<int:user_id>/password-link")
@allowed("settings.write")
def team_password_link(user_id: int):
    """A new link to choose a password (a lost or expired first email)."""

    def send(session, user):
        if not user.is_active:
            raise Conflict("Deactivated.", code="inactive")
        auth.send_password_link(session, user)

    return _change(user_id, send, _("A new link to choose a password was sent."))
