"""Staff accounts and their API tokens."""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridge.auth.passwords import MIN_LENGTH, hash_password, needs_rehash, verify_password
from bridge.billing.validation import check_email, email_key
from bridge.core import clock
from bridge.core.errors import Conflict, Invalid, NotFound
from bridge.models import ApiToken, User, UserKind

TOKEN_PREFIX = "bb_"  # noqa: S105  (a prefix, not a secret)
# Writing "last used" on every request would turn every read into a write;
# once per interval is enough to tell live tokens from forgotten ones.
LAST_USED_RESOLUTION = timedelta(minutes=5)


MAX_NAME = 200


def create_staff_user(
    session: Session,
    *,
    email: str,
    password: str | None,
    name: str = "",
    read_only: bool = False,
) -> User:
    """A staff user who logs in to the Hub. Without a password (someone added
    from the Hub's Team page) they cannot log in until they choose one with
    a password link."""
    email = check_email(email)
    name = name.strip()
    if len(name) > MAX_NAME:
        raise Invalid("The name is too long.", fields={"name": ["Too long."]})
    if password is not None and len(password) < MIN_LENGTH:
        raise Invalid(
            f"The password must have at least {MIN_LENGTH} characters.",
            fields={"password": ["Too short."]},
        )
    if session.scalar(select(User.id).where(User.email_key == email_key(email))) is not None:
        raise Conflict(f"A user with the email {email} already exists.", code="duplicate_email")
    user = User(
        kind=UserKind.STAFF,
        email=email,
        email_key=email_key(email),
        name=name,
        password_hash=hash_password(password) if password is not None else None,
        is_active=True,
        read_only=read_only,
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    return user


# The agency's team -----------------------------------------------------------------


def list_staff(session: Session) -> list[User]:
    """Every staff user: active ones first, then by name and email."""
    return list(
        session.scalars(
            select(User)
            .where(User.kind == UserKind.STAFF)
            .order_by(User.is_active.desc(), User.name, User.email_key)
        )
    )


def get_staff(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or user.kind != UserKind.STAFF:
        raise NotFound("No such staff user.")
    return user


def _others_with_full_access(session: Session, user: User) -> int:
    """Active full-access staff other than ``user``; their rows stay locked
    (PostgreSQL) until the transaction ends, so two people demoting each
    other at once cannot both succeed."""
    ids = session.scalars(
        select(User.id)
        .where(
            User.kind == UserKind.STAFF,
            User.is_active.is_(True),
            User.read_only.is_(False),
            User.id != user.id,
        )
        .with_for_update()
    ).all()
    return len(ids)


def _check_change(session: Session, user: User, acting_user_id: int, losing_write: bool) -> None:
    if user.id == acting_user_id:
        raise Conflict(
            "You cannot change your own access: ask another full-access user.",
            code="own_account",
        )
    keeps_access = not user.read_only and user.is_active
    if losing_write and keeps_access and not _others_with_full_access(session, user):
        raise Conflict(
            "This is the last user with full access: give someone else full access first.",
            code="last_full_access",
        )


def set_read_only(session: Session, user: User, read_only: bool, *, acting_user_id: int) -> User:
    """Change what a staff user may do: never one's own access, and never
    the last active user with full access."""
    _check_change(session, user, acting_user_id, losing_write=read_only)
    user.read_only = read_only
    return user


def deactivate_staff(session: Session, user: User, *, acting_user_id: int) -> User:
    """End a staff user's access (sessions and API tokens stop working at
    once); never oneself, never the last active user with full access."""
    _check_change(session, user, acting_user_id, losing_write=True)
    user.is_active = False
    return user


def reactivate_staff(session: Session, user: User) -> User:
    user.is_active = True
    return user


def find_user(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email_key == email_key(email)))
    if user is None:
        raise NotFound(f"No user with the email {email}.")
    return user


# Verified when the email matches no one, so a wrong email takes as long to
# refuse as a wrong password (the answer's time does not tell who has a login).
_NOBODY_HASH = hash_password(secrets.token_urlsafe(16))


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The user who may log in with this email and password, staff or a
    client's person (one login for both kinds; each lands on its own side),
    their login time recorded (and their hash upgraded when the hasher's
    settings changed); None for anything else, with one answer, in about
    the same time, for every reason."""
    key = email_key(email.strip()) if email else ""
    user = session.scalar(select(User).where(User.email_key == key)) if key else None
    if user is None or not user.password_hash:
        verify_password(_NOBODY_HASH, password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    if active_user(session, user.id) is None:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = clock.now()
    return user


def authenticate_staff(session: Session, email: str, password: str) -> User | None:
    """Like ``authenticate``, for staff only."""
    user = authenticate(session, email, password)
    return user if user is not None and user.kind == UserKind.STAFF else None


def active_staff(session: Session, user_id: int) -> User | None:
    """The staff user ``user_id`` while their login is usable, else None."""
    user = session.get(User, user_id)
    if user is None or user.kind != UserKind.STAFF or not user.is_active:
        return None
    return user


def active_user(session: Session, user_id: int) -> User | None:
    """The user ``user_id`` while their login is usable: active staff, or an
    active person of a client who has chosen a password (an invited person
    who has not accepted yet cannot log in)."""
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    if user.kind == UserKind.STAFF:  # added from Team, they choose it by email
        return user
    if user.kind == UserKind.CLIENT and user.client_id is not None and user.password_hash:
        return user
    return None


# Password reset links --------------------------------------------------------------

RESET_SALT = "staff-password-reset"
RESET_MAX_AGE = timedelta(hours=1)


def password_fingerprint(user: User) -> str:
    """A short digest of the password hash: a new password, a new fingerprint
    (so a session or a reset link made before a change stops working)."""
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


def session_fingerprint(user: User) -> str:
    """What a session cookie names besides the user: their password and
    their session epoch. A new password or a logout, a new fingerprint: the
    sessions made before end (``end_sessions``)."""
    material = f"{user.password_hash or ''}:{user.session_epoch or 0}"
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def end_sessions(user: User) -> None:
    """Logging out: every session of ``user`` ends, on the server too (a
    session lives in a signed cookie; a copy kept from before would
    otherwise still open the pages). Other devices are logged out as well."""
    user.session_epoch = (user.session_epoch or 0) + 1


def _reset_serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=RESET_SALT)


def password_reset_token(user: User, secret_key: str) -> str:
    """A signed token naming ``user`` and their current password: it expires
    after ``RESET_MAX_AGE`` and works once, since using it changes the
    password it names. Nothing is stored."""
    return _reset_serializer(secret_key).dumps({"u": user.id, "p": password_fingerprint(user)})


def user_for_reset_token(
    session: Session, secret_key: str, token: str, *, max_age: timedelta = RESET_MAX_AGE
) -> User | None:
    """The active user (staff or a client's person: the page that takes
    the token checks which it serves) a live, unused reset token names;
    else None."""
    try:
        data = _reset_serializer(secret_key).loads(token, max_age=int(max_age.total_seconds()))
    except BadSignature:  # expired tokens too (SignatureExpired is one)
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None
    user = active_user(session, data["u"])
    if user is None or password_fingerprint(user) != data.get("p"):
        return None
    return user


def set_password(user: User, password: str) -> None:
    """A new password for ``user``; Invalid when it is too short."""
    if len(password) < MIN_LENGTH:
        raise Invalid(
            f"The password must have at least {MIN_LENGTH} characters.",
            fields={"password": ["Too short."]},
        )
    user.password_hash = hash_password(password)


def update_profile(session: Session, user: User, *, name: str, email: str) -> User:
    """A staff user's own name and email. Emails are unique across every
    login (staff and clients, whatever the case): ``Conflict`` when another
    user has it."""
    name = name.strip()
    if len(name) > 200:
        raise Invalid("The name is too long.", fields={"name": ["Too long."]})
    email = check_email(email)
    key = email_key(email)
    taken = Conflict(f"A user with the email {email} already exists.", code="duplicate_email")
    if session.scalar(select(User.id).where(User.email_key == key, User.id != user.id)):
        raise taken
    user.name, user.email, user.email_key = name, email, key
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:  # a concurrent request took the email first
        raise taken from exc
    return user


def change_password(user: User, current: str, new: str) -> None:
    """A new password, given the current one (``Invalid`` on ``current``
    when it is wrong, on ``password`` when the new one is too short). The
    fingerprint changes with it, so other sessions end."""
    if not verify_password(user.password_hash, current):
        raise Invalid(
            "The current password is wrong.", fields={"current_password": ["Wrong password."]}
        )
    set_password(user, new)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session, user: User, *, name: str, read_only: bool = False
) -> tuple[ApiToken, str]:
    """A new API token for a staff user; the token text is returned this once."""
    if user.kind != UserKind.STAFF:
        raise Conflict("Only staff users have API tokens.", code="not_staff")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(
        user=user,
        name=name.strip() or "API token",
        token_hash=hash_token(token),
        prefix=token[:10],
        read_only=read_only,
        created_at=clock.now(),
    )
    session.add(record)
    session.flush()
    return record, token


@dataclass(frozen=True, slots=True)
class TokenHolder:
    """Who a valid API token speaks for."""

    token_id: int
    token_name: str
    read_only: bool
    user_id: int
    email: str


def authenticate_token(session: Session, token: str) -> TokenHolder | None:
    """Who ``token`` speaks for, if it is live and its user active; else None.
    One indexed query on every API request, so it reads only what it needs,
    and its statement is built once per process. Nothing about the token is
    kept between requests: a token revoked (or a user deactivated) is refused
    on the very next request, whichever process serves it."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = (
        session.connection().execute(_token_statement(), {"token_hash": hash_token(token)}).first()
    )
    if row is None:
        return None
    token_id, name, token_read_only, last_used_at, user_id, email, user_read_only = row
    now = clock.now()
    if last_used_at is None or now - last_used_at > LAST_USED_RESOLUTION:
        session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
        session.commit()
    # A read-only staff user's tokens are read-only, whatever they were made as.
    return TokenHolder(token_id, name, token_read_only or user_read_only, user_id, email)


@functools.cache
def _token_statement() -> Select:
    """The live token of a hash (``token_hash``) with its active user.
    Building it cost about half as much CPU as running it, on every request."""
    return (
        select(
            ApiToken.id,
            ApiToken.name,
            ApiToken.read_only,
            ApiToken.last_used_at,
            User.id,
            User.email,
            User.read_only,
        )
        .join(User, User.id == ApiToken.user_id)
        .where(
            ApiToken.token_hash == bindparam("token_hash"),
            ApiToken.revoked_at.is_(None),
            User.is_active.is_(True),
        )
    )


def revoke_tokens(session: Session, user: User, name: str) -> int:
    """Revoke the user's live tokens called ``name``; returns how many."""
    count = 0
    for record in user.tokens:
        if record.name == name and record.revoked_at is None:
            record.revoked_at = clock.now()
            count += 1
    return count


def list_tokens(session: Session) -> list[ApiToken]:
    """Every staff API token, live ones first, newest first (with its user)."""
    return list(
        session.scalars(
            select(ApiToken)
            .join(User, User.id == ApiToken.user_id)
            .order_by(
                ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id.desc()
            )
        )
    )


def get_token(session: Session, token_id: int) -> ApiToken:
    record = session.get(ApiToken, token_id)
    if record is None:
        raise NotFound("No such API token.")
    return record


def revoke_token(session: Session, record: ApiToken) -> bool:
    """Revoke one token (at once: the next request with it is refused);
    False when it was already revoked."""
    if record.revoked_at is not None:
        return False
    record.revoked_at = clock.now()
    return True
