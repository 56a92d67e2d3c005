"""Inviting a client's person (SPEC 3): a single-use link that expires,
sent by email; accepting it sets the person's name and password.

The client's status follows: *inactive* (never invited) -> *pending*
(invited) -> *active* (a person accepted). A new invitation revokes the
client's earlier links, so only the latest email works. Only the SHA-256
of a link's token is stored; the token itself travels in the
``ClientInvited`` event, from which the email is written.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bridge.auth.passwords import hash_password, weakness
from bridge.billing import audit
from bridge.billing.sites import add_client_user, find_client_user
from bridge.billing.validation import email_key
from bridge.core import clock, events
from bridge.core.errors import Conflict, Invalid
from bridge.models import Client, ClientStatus, Invitation, User, UserKind

DEFAULT_DAYS = 7
MAX_NAME = 200
# secrets.token_urlsafe(32): 43 characters of the URL-safe alphabet.
TOKEN = re.compile(r"[A-Za-z0-9_-]{40,64}")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _person(session: Session, client: Client) -> User:
    """The client's person with the client's contact email, added when
    missing. An email that is another login's (staff, another client) is a
    Conflict: one email, one login."""
    user = find_client_user(session, client.id, client.email)
    if user is not None:
        return user
    existing = session.scalar(select(User).where(User.email_key == email_key(client.email)))
    if existing is not None:
        if existing.kind == UserKind.CLIENT and existing.client_id == client.id:
            return existing  # deactivated: the invitation gives the login back
        raise Conflict(
            f"The email {client.email} is already another login's: "
            "change the client's email to invite them.",
            code="duplicate_email",
        )
    return add_client_user(session, client, email=client.email, name=client.name)


def invite(session: Session, client: Client, *, days: int = DEFAULT_DAYS) -> tuple[Invitation, str]:
    """Invite the client's contact (its email) to set a password: a new link
    valid ``days`` days, the client's earlier links revoked, the client
    *pending*, the email queued (``ClientInvited``). Returns the invitation
    and its token (shown nowhere else: it is only in the email). A client
    that is already active is a Conflict."""
    if client.status == ClientStatus.ACTIVE:
        raise Conflict("This client already accepted an invitation.", code="client_already_active")
    if days < 1:
        raise Invalid("An invitation lasts at least one day.", fields={"days": ["At least 1."]})
    audit.name_action(session, client, "client.invited")
    user = _person(session, client)
    now = clock.now()
    revoke_open(session, client)
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        client_id=client.id,
        user_id=user.id,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(invitation)
    client.status = ClientStatus.PENDING
    client.updated_at = now
    session.flush()
    events.record(
        session,
        events.ClientInvited(
            client_id=client.id, user_id=user.id, invitation_id=invitation.id, token=token
        ),
    )
    return invitation, token


def revoke_open(session: Session, client: Client) -> int:
    """Kill the client's links not used yet; returns how many."""
    done = session.execute(
        update(Invitation)
        .where(
            Invitation.client_id == client.id,
            Invitation.used_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(revoked_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return done.rowcount or 0


def live_invitation(session: Session, token: str) -> Invitation | None:
    """The invitation of ``token`` while it can be accepted; None for an
    unknown, altered, used, revoked or expired one (one answer for all)."""
    if not token or not TOKEN.fullmatch(token):
        return None
    invitation = session.scalar(
        select(Invitation).where(Invitation.token_hash == hash_token(token))
    )
    if (
        invitation is None
        or invitation.used_at is not None
        or invitation.revoked_at is not None
        or invitation.expires_at <= clock.now()
        or invitation.user.kind != UserKind.CLIENT
        or invitation.user.client_id != invitation.client_id
    ):
        return None
    return invitation


class Expired(Exception):
    """The link stopped being valid (used, revoked, expired) meanwhile."""


def accept(session: Session, invitation: Invitation, *, name: str, password: str) -> User:
    """The person sets their name and password: the link is used up, the
    person's login works, the client is *active* and the agency is told
    (``InvitationAccepted``). Invalid (nothing changed) for an empty or
    long name or a weak password; ``Expired`` when another request used the
    link first."""
    user = invitation.user
    client = invitation.client
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["required"]
    elif len(name) > MAX_NAME:
        errors["name"] = ["too_long"]
    problem = weakness(password or "", (name, user.email, client.name, client.company))
    if problem:
        errors["password"] = [problem]
    if errors:
        raise Invalid("The name or the password cannot be used.", fields=errors)
    now = clock.now()
    # One winner when the same link is sent twice at once.
    claimed = session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation.id,
            Invitation.used_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise Expired()
    audit.set_actor(session, audit.Actor("client", user.id, user.email))
    audit.name_action(session, user, "user.invitation_accepted")
    audit.name_action(session, client, "client.invitation_accepted")
    user.name = name
    user.password_hash = hash_password(password)
    user.is_active = True
    client.status = ClientStatus.ACTIVE
    client.updated_at = now
    session.flush()
    events.record(session, events.InvitationAccepted(client_id=client.id, user_id=user.id))
    return user


def accepted_at(session: Session, client: Client):
    """When a person of the client last accepted an invitation, or None."""
    return session.scalar(
        select(Invitation.used_at)
        .where(Invitation.client_id == client.id, Invitation.used_at.is_not(None))
        .order_by(Invitation.used_at.desc())
        .limit(1)
    )


def last_sent_at(session: Session, client: Client):
    """When the client's latest invitation was made, or None."""
    return session.scalar(
        select(Invitation.created_at)
        .where(Invitation.client_id == client.id)
        .order_by(Invitation.id.desc())
        .limit(1)
    )
