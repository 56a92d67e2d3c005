"""Who is using the Hub: staff sessions (Flask-Login), the permission
principal each request acts as, and the limits on logging in.

A session names its user *and* a fingerprint of their password hash, so
changing a password ends every other session of that user.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request, url_for
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin

from bridge.auth import accounts, policy
from bridge.billing.validation import email_key
from bridge.db import get_session
from bridge.links import public_url
from bridge.mail import notify
from bridge.models import User
from bridge.portal.limits import limiter

login_manager = LoginManager()
login_manager.login_view = "hub.login"
# No flashed "Please log in" message: the login page says what it is.
login_manager.login_message = None


@dataclass(frozen=True)
class StaffLogin(UserMixin):
    """The logged-in staff user as the Hub needs them on every request."""

    user_id: int
    name: str
    email: str
    fingerprint: str
    read_only: bool = False

    def get_id(self) -> str:
        return f"{self.user_id}:{self.fingerprint}"

    @property
    def display_name(self) -> str:
        return self.name or self.email

    @property
    def principal(self) -> policy.Staff:
        return policy.Staff(self.user_id, read_only=self.read_only)


def read_only(user: User) -> bool:
    """Whether this staff user may see the Hub but change nothing (set in
    Setup's Team section or with ``bridge create-admin --read-only``); the
    policy then refuses every write."""
    return bool(user.read_only)


def staff_login(user: User) -> StaffLogin:
    return StaffLogin(
        user.id,
        user.name or "",
        user.email,
        accounts.password_fingerprint(user),
        read_only=read_only(user),
    )


def send_password_link(session, user: User) -> None:
    """Queue the email with a link to choose a (new) password: the reset
    link, valid an hour and once. A staff user added from Team gets it too."""
    token = accounts.password_reset_token(user, current_app.config["SECRET_KEY"])
    path = url_for("hub.new_password", token=token)
    notify.staff_password_reset(session, user, link=public_url(session) + path)


@login_manager.user_loader
def load_user(session_id: str) -> StaffLogin | None:
    """The session's user while they are active staff with the same password."""
    user_id, _, print_ = session_id.partition(":")
    if not user_id.isdigit():
        return None
    user = accounts.active_staff(get_session(), int(user_id))
    if user is None or accounts.password_fingerprint(user) != print_:
        return None
    return staff_login(user)


# Login limits ------------------------------------------------------------------


def _account_key() -> str:
    return "hub-login-account:" + email_key(request.form.get("email", ""))[:254]


def _per_account() -> str:
    return current_app.config["HUB_LOGIN_LIMIT_PER_ACCOUNT"]


def _per_address() -> str:
    return current_app.config["HUB_LOGIN_LIMIT_PER_ADDRESS"]


def login_limits(view):
    """Password attempts counted per account (the email tried) and per
    client address; only the POSTs count, so showing the page is free."""
    view = limiter.limit(_per_account, key_func=_account_key, methods=["POST"])(view)
    return limiter.limit(_per_address, key_func=get_remote_address, methods=["POST"])(view)
