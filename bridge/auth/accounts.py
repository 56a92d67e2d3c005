"""Staff accounts and their API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from bridge import clock
from bridge.auth.passwords import MIN_LENGTH, hash_password
from bridge.billing.errors import Conflict, Invalid, NotFound
from bridge.billing.validation import check_email, email_key
from bridge.models import ApiToken, User, UserKind

TOKEN_PREFIX = "bb_"  # noqa: S105  (a prefix, not a secret)
# Writing "last used" on every request would turn every read into a write;
# once per interval is enough to tell live tokens from forgotten ones.
LAST_USED_RESOLUTION = timedelta(minutes=5)


def create_staff_user(session: Session, *, email: str, password: str, name: str = "") -> User:
    email = check_email(email)
    if len(password) < MIN_LENGTH:
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
        password_hash=hash_password(password),
        is_active=True,
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email_key == email_key(email)))
    if user is None:
        raise NotFound(f"No user with the email {email}.")
    return user


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


def authenticate_token(session: Session, token: str) -> ApiToken | None:
    """The live token record for ``token`` (its user active), else None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    record = session.scalar(
        select(ApiToken)
        .options(joinedload(ApiToken.user))
        .where(ApiToken.token_hash == hash_token(token))
    )
    if record is None or record.revoked_at is not None or not record.user.is_active:
        return None
    now = clock.now()
    if record.last_used_at is None or now - record.last_used_at > LAST_USED_RESOLUTION:
        record.last_used_at = now
        session.commit()
    return record


def revoke_tokens(session: Session, user: User, name: str) -> int:
    """Revoke the user's live tokens called ``name``; returns how many."""
    count = 0
    for record in user.tokens:
        if record.name == name and record.revoked_at is None:
            record.revoked_at = clock.now()
            count += 1
    return count
