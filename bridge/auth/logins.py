"""One login system for the two kinds of user: agency staff (the Hub) and
the people of a client (the portal). Both log in with an email and a
password (``accounts.authenticate``), and the session cookie names the user
and a fingerprint of their password hash and session epoch: changing the
password ends every other session of that user, and logging out ends them
all (a copy of the cookie kept from before included). Each side then
refuses the other's sessions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import session as cookie
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFProtect

from bridge.auth import accounts, policy
from bridge.billing.roles import site_permissions
from bridge.db import get_session
from bridge.models import Client, User, UserKind

# Every form of the Hub and the portal carries its token; each side's guard
# checks it on every POST (``bridge.hub.views.init_app`` binds it).
csrf = CSRFProtect()

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
    is_staff = True

    def get_id(self) -> str:
        return f"{self.user_id}:{self.fingerprint}"

    @property
    def display_name(self) -> str:
        return self.name or self.email

    @property
    def principal(self) -> policy.Staff:
        return policy.Staff(self.user_id, read_only=self.read_only)


@dataclass(frozen=True)
class ClientLogin(UserMixin):
    """A logged-in person of a client, with their client's role: what the
    portal may show and do for them is the policy's answer for
    ``principal``."""

    user_id: int
    client_id: int
    name: str
    email: str
    fingerprint: str
    permissions: dict = field(hash=False, compare=False)
    # The person's roles on single sites (bridge.billing.roles.site_permissions).
    site_permissions: dict = field(default_factory=dict, hash=False, compare=False)
    is_staff = False
    read_only = False

    def get_id(self) -> str:
        return f"{self.user_id}:{self.fingerprint}"

    @property
    def display_name(self) -> str:
        return self.name or self.email

    @property
    def principal(self) -> policy.ClientUser:
        return policy.ClientUser(
            self.user_id, self.client_id, self.permissions, self.site_permissions
        )


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
        accounts.session_fingerprint(user),
        read_only=read_only(user),
    )


def client_login(session, user: User) -> ClientLogin:
    client = session.get(Client, user.client_id)
    return ClientLogin(
        user.id,
        client.id,
        user.name or "",
        user.email,
        accounts.session_fingerprint(user),
        permissions=dict(client.role.permissions or {}),
        site_permissions=site_permissions(session, user.id),
    )


def login_for(session, user: User) -> StaffLogin | ClientLogin:
    return staff_login(user) if user.kind == UserKind.STAFF else client_login(session, user)


def start_session(login: StaffLogin | ClientLogin) -> None:
    """Log in on a fresh session: whatever the cookie held before (a
    language, a half-filled form, a session planted by someone else) is
    dropped, so nothing of an earlier session survives into the new one."""
    cookie.clear()
    login_user(login)


def end_session() -> None:
    """Log out: the user's sessions end on the server (every copy of the
    cookie, other devices too: ``accounts.end_sessions``), then this cookie
    is emptied."""
    if current_user.is_authenticated:
        session = get_session()
        user = session.get(User, current_user.user_id)
        if user is not None:
            accounts.end_sessions(user)
            session.commit()
    logout_user()
    cookie.clear()


@login_manager.user_loader
def load_user(session_id: str) -> StaffLogin | ClientLogin | None:
    """The session's user while their login is usable, with the same password."""
    user_id, _, print_ = session_id.partition(":")
    if not user_id.isdigit():
        return None
    session = get_session()
    user = accounts.active_user(session, int(user_id))
    if user is None or accounts.session_fingerprint(user) != print_:
        return None
    return login_for(session, user)
