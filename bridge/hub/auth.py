"""Who is using the Hub: staff sessions (``bridge.auth.logins``, shared
with the portal), the permission principal each request acts as, and the
limits on logging in."""

from __future__ import annotations

from flask import current_app, request, url_for
from flask_limiter.util import get_remote_address

from bridge.auth import accounts
from bridge.auth.logins import StaffLogin, login_manager, staff_login  # noqa: F401
from bridge.billing.validation import email_key
from bridge.links import public_url
from bridge.mail import notify
from bridge.models import User
from bridge.portal.limits import limiter


def send_password_link(session, user: User) -> None:
    """Queue the email with a link to choose a (new) password: the reset
    link, valid an hour and once. A staff user added from Team gets it too."""
    token = accounts.password_reset_token(user, current_app.config["SECRET_KEY"])
    path = url_for("hub.new_password", token=token)
    notify.staff_password_reset(session, user, link=public_url(session) + path)


# Login limits ------------------------------------------------------------------


def _account_key() -> str:
    return "hub-login-account:" + email_key(request.form.get("email", ""))[:254]


def _per_account() -> str:
    return current_app.config["HUB_LOGIN_LIMIT_PER_ACCOUNT"]


def _per_address() -> str:
    return current_app.config["HUB_LOGIN_LIMIT_PER_ADDRESS"]


def _shared_limits(scope: str):
    """Attempts counted per account (the email tried) and per client
    address, in counters named ``scope``: every view so decorated, the
    Hub's and the portal's, adds to the same counts (guessing on one login
    page does not start afresh on the other). Only POSTs count, so showing
    the page is free."""

    def decorate(view):
        view = limiter.shared_limit(
            _per_account, f"{scope}-account", key_func=_account_key, methods=["POST"]
        )(view)
        return limiter.shared_limit(
            _per_address, f"{scope}-address", key_func=get_remote_address, methods=["POST"]
        )(view)

    return decorate


# The login forms (Hub and portal) share their counts; so do the password
# reset forms, apart from the logins' (asking for a link after a few wrong
# passwords is what people do).
login_limits = _shared_limits("login")
reset_limits = _shared_limits("password-reset")
