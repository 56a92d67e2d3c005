"""Logging in to the portal, out of it, and choosing a new password by email.

The same login system as the Hub (``bridge.auth.logins``): the same
``accounts.authenticate``, the same counters per account and per address
(``bridge.hub.auth.login_limits``: one count with the Hub's login page, and
``reset_limits`` with the Hub's reset page), one answer for a wrong email
and a wrong password, a fresh session on login. Staff who log in here go to
the Hub.
"""

from __future__ import annotations

from flask import current_app, redirect, request, url_for
from flask_login import logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField

from bridge.auth import accounts, logins
from bridge.auth.passwords import MIN_LENGTH, weakness
from bridge.core.errors import NotFound
from bridge.db import get_session
from bridge.hub.auth import login_limits, reset_limits
from bridge.links import public_url
from bridge.mail import notify
from bridge.models import Client, UserKind
from bridge.portal.area import bp, is_client, render, safe_next


class LoginForm(FlaskForm):
    email = EmailField()
    password = PasswordField()
    next = HiddenField()


class PasswordResetRequestForm(FlaskForm):
    email = EmailField()


class NewPasswordForm(FlaskForm):
    password = PasswordField()
    confirm = PasswordField()


@bp.route("/login", methods=["GET", "POST"])
@login_limits
def login():
    """The login form; a wrong email and a wrong password get one answer."""
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
        if is_client():
            return redirect(safe_next(form.next.data))
        return render("portal/login.html", form=form, changed=bool(request.args.get("changed")))
    if form.validate_on_submit():
        session = get_session()
        user = accounts.authenticate(session, form.email.data or "", form.password.data or "")
        if user is not None:
            who = logins.login_for(session, user)
            session.commit()
            logins.start_session(who)
            if who.is_staff:  # one login: staff land on the Hub
                return redirect(url_for("hub.overview"))
            return redirect(safe_next(form.next.data))
    return render("portal/login.html", status=200, form=form, error="bad_login")


@bp.post("/logout")
def logout():
    logins.end_session()
    return redirect(url_for("client.login"))


@bp.route("/password-reset", methods=["GET", "POST"])
@reset_limits
def password_reset():
    """Ask for a link to choose a new password. The answer is the same
    whether or not the email has a login (it tells nobody who does)."""
    form = PasswordResetRequestForm()
    if not form.validate_on_submit():
        return render("portal/password_reset.html", form=form, sent=False)
    session = get_session()
    try:
        user = accounts.find_user(session, form.email.data or "")
    except NotFound:
        user = None
    if (
        user is not None
        and user.kind == UserKind.CLIENT
        and accounts.active_user(session, user.id) is not None
    ):
        token = accounts.password_reset_token(user, current_app.config["SECRET_KEY"])
        link = public_url(session) + url_for("client.new_password", token=token)
        notify.client_password_reset(session, user, link=link)
        session.commit()
    return render("portal/password_reset.html", form=form, sent=True)


@bp.route("/password-reset/<token>", methods=["GET", "POST"])
def new_password(token: str):
    """Choose a new password with the emailed link (once, within the hour);
    every session of the person ends with the old password."""
    session = get_session()
    user = accounts.user_for_reset_token(session, current_app.config["SECRET_KEY"], token)
    if user is None or user.kind != UserKind.CLIENT:
        return render("portal/new_password.html", status=410, form=None, error="expired")
    form = NewPasswordForm()
    if not form.validate_on_submit():
        return render("portal/new_password.html", form=form)
    password = form.password.data or ""
    if password != (form.confirm.data or ""):
        return render("portal/new_password.html", status=422, form=form, error="differ")
    client = session.get(Client, user.client_id)
    problem = weakness(password, (user.name, user.email, client.name, client.company))
    if problem:
        return render(
            "portal/new_password.html", status=422, form=form, error=problem, min_length=MIN_LENGTH
        )
    accounts.set_password(user, password)
    session.commit()
    logout_user()
    return redirect(url_for("client.login", changed=1))


@bp.errorhandler(429)
def _too_many(error):
    """Too many login attempts (or reset requests): the form again, saying
    to wait."""
    if request.endpoint == "client.password_reset":
        form = PasswordResetRequestForm()
        return render("portal/password_reset.html", status=429, form=form, error="too_many")
    form = LoginForm()
    form.next.data = request.form.get("next", "")
    return render("portal/login.html", status=429, form=form, error="too_many")
