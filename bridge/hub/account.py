"""My account: a staff user's own name, email and password.

Read-only staff may change their own account too (``views.ALWAYS_ALLOWED_WRITES``).
A new password ends every other session of the user (sessions carry the
password's fingerprint, ``bridge.hub.auth``) and keeps this one.
"""

from __future__ import annotations

from flask import redirect, request, url_for
from flask_login import current_user, login_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField

from bridge.auth import accounts
from bridge.auth.passwords import MIN_LENGTH
from bridge.core.errors import Conflict, Invalid
from bridge.db import get_session
from bridge.hub import auth
from bridge.hub.views import bp, render


class ProfileForm(FlaskForm):
    name = StringField()
    email = EmailField()


class PasswordForm(FlaskForm):
    current_password = PasswordField()
    password = PasswordField()
    confirm = PasswordField()


def _user(session):
    user = accounts.active_staff(session, current_user.user_id)
    assert user is not None  # the session's loader checked it
    return user


def _page(profile=None, password=None, errors=None, saved=None, status=200):
    user = _user(get_session())
    return render(
        "hub/account.html",
        status=status,
        profile_form=profile or ProfileForm(data={"name": user.name, "email": user.email}),
        password_form=password or PasswordForm(),
        errors=errors or {},
        saved=saved or request.args.get("saved"),
        min_length=MIN_LENGTH,
        active="hub.account",
    )


@bp.route("/account", methods=["GET", "POST"])
def account():
    """The user's name and email (unique across every login)."""
    if request.method == "GET":
        return _page()
    form = ProfileForm()
    if not form.validate_on_submit():
        return _page(profile=form, errors={"csrf": ["expired"]}, status=400)
    session = get_session()
    try:
        accounts.update_profile(
            session, _user(session), name=form.name.data or "", email=form.email.data or ""
        )
    except Invalid as error:
        session.rollback()
        return _page(profile=form, errors=dict(error.fields or {}), status=422)
    except Conflict:
        session.rollback()
        return _page(profile=form, errors={"email": ["taken"]}, status=409)
    session.commit()
    return redirect(url_for("hub.account", saved="profile"))


@bp.post("/account/password")
def account_password():
    """A new password, given the current one; other sessions end, this one
    goes on with the new fingerprint."""
    form = PasswordForm()
    if not form.validate_on_submit():
        return _page(password=form, errors={"csrf": ["expired"]}, status=400)
    new = form.password.data or ""
    if new != (form.confirm.data or ""):
        return _page(password=form, errors={"confirm": ["differ"]}, status=422)
    session = get_session()
    user = _user(session)
    try:
        accounts.change_password(user, form.current_password.data or "", new)
    except Invalid as error:
        session.rollback()
        return _page(password=form, errors=dict(error.fields or {}), status=422)
    session.commit()
    login_user(auth.staff_login(user))
    return redirect(url_for("hub.account", saved="password"))
