"""``Idempotency-Key`` on the API's POSTs, as Stripe does it.

A POST sent with ``Idempotency-Key: <up to 255 printable characters>``:

- the first time, runs as usual; its answer (status, body, the headers that
  matter) is stored with the key **in the same transaction as its work**:
  the key row is inserted when the request starts, in the request's own
  transaction, the view's commits are held back (``bridge.core.transactions``)
  and the answer is written just before the one commit. A commit that went
  through but whose acknowledgement was lost (the client saw a 503, or
  nothing) therefore holds the answer, and the client's retry replays it
  instead of recording the payment twice;
- again with the same key and the same request (method, path, body): the
  stored answer, with ``Idempotent-Replayed: true``, for 24 hours;
- with the same key and another request: 409 ``idempotency_key_reused``;
- while the first is still running: 409 ``idempotency_key_in_use``.

Only successful answers (2xx) are stored (their bodies encrypted, as some
carry a secret): an error changed nothing, so a
retry with the same key runs again. Keys belong to a caller (the staff user
of the API token, or the signed site) and are forgotten after 24 hours
(lazily, by the requests that use keys).

A request that must commit before waiting on Stripe (a refund to the card)
commits the key as ``in_progress`` with it; a retry meanwhile is a 409, and
if that request died, the key is taken over after ``LEASE`` (Stripe's own
idempotency keys make the second run safe).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta

from flask import Response, current_app, g, request
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from bridge.api import errors
from bridge.auth import policy
from bridge.auth.secrets import SecretBox
from bridge.core import clock
from bridge.core.outages import is_database_unavailable
from bridge.core.transactions import defer_commits
from bridge.db import get_session
from bridge.models import IdempotencyKey

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
TTL = timedelta(hours=24)
LEASE = timedelta(seconds=60)
REPLAYED_HEADERS = ("Content-Type", "Location")
IN_PROGRESS, DONE = "in_progress", "done"
PURGE_BATCH = 500

KEYS = IdempotencyKey.__table__

OPENAPI_PARAMETER = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    "description": "A unique key (e.g. a UUID) making the request safe to retry: "
    "the first answer is stored for 24 hours and replayed to a retry with the same "
    "key (marked 'Idempotent-Replayed: true'); the same key with a different request "
    "is a 409 idempotency_key_reused, and one still running a 409 "
    "idempotency_key_in_use. Only successful answers are stored.",
}


def _scope() -> str | None:
    """Whose key it is: keys of different callers never meet."""
    principal = g.get("principal")
    if isinstance(principal, policy.Staff):
        return f"user:{principal.user_id}"
    site = g.get("site")
    if site is not None:
        return f"site:{site.id}"
    return None


def _fingerprint() -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b"\n")
    digest.update(request.full_path.rstrip("?").encode() + b"\n")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _lock_number(scope: str, key: str) -> int:
    """A signed 64-bit number for PostgreSQL's advisory lock on the key."""
    value = int.from_bytes(hashlib.sha256(f"{scope}\n{key}".encode()).digest()[:8], "big")
    return value - (1 << 64) if value >= 1 << 63 else value


def begin() -> Response | None:
    """``before_request`` (after authentication) of the API blueprints: for a
    POST with a key, the stored answer, a 409, or nothing (the view runs
    with its commits deferred to ``finish``)."""
    if request.method != "POST" or HEADER not in request.headers:
        return None
    scope = _scope()
    if scope is None:  # an unsigned call (connect): nobody to keep keys for
        return None
    key = request.headers[HEADER].strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        return errors.error_response(
            400,
            "invalid_idempotency_key",
            f"The {HEADER} header must be 1 to {MAX_KEY_LENGTH} printable characters.",
        )
    session = get_session()
    now = clock.now()
    if session.get_bind().dialect.name == "postgresql":
        # Held until the request's transaction ends: a second request with
        # the key meanwhile is told so at once instead of waiting.
        locked = session.scalar(select(func.pg_try_advisory_xact_lock(_lock_number(scope, key))))
        if not locked:
            return _in_use()
    fingerprint = _fingerprint()
    row = session.execute(
        select(KEYS).where(KEYS.c.scope == scope, KEYS.c.key == key)
    ).one_or_none()
    if row is not None and row.created_at <= now - TTL:
        session.execute(delete(KEYS).where(KEYS.c.id == row.id))
        row = None
    if row is not None:
        if row.status != DONE and row.locked_until is not None and row.locked_until > now:
            return _in_use()
        if row.request_hash != fingerprint:
            return errors.error_response(
                409,
                "idempotency_key_reused",
                f"This {HEADER} was used for a different request: use a new key.",
            )
        if row.status == DONE:
            return _replay(row)
        # Its request died: this one takes the key over.
        session.execute(update(KEYS).where(KEYS.c.id == row.id).values(locked_until=now + LEASE))
    else:
        _purge(session, now)
        session.execute(
            insert(KEYS).values(
                scope=scope,
                key=key,
                request_hash=fingerprint,
                status=IN_PROGRESS,
                created_at=now,
                locked_until=now + LEASE,
            )
        )
    g.idempotency = (scope, key, fingerprint, now)
    defer_commits(session)
    return None


def finish(response: Response) -> Response:
    """``after_request``: store a successful answer with the request's work
    and commit both, or give the key back after an error."""
    state = g.pop("idempotency", None)
    if state is None:
        return response
    scope, key, fingerprint, started = state
    session = get_session()
    defer_commits(session, False)
    try:
        if 200 <= response.status_code < 300:
            _store(session, scope, key, fingerprint, started, response)
            session.commit()
        else:
            # Nothing of an error answer is kept (a rejected request changes
            # nothing): the key is free for a retry. It may have been
            # committed in progress (a refund commits before calling Stripe).
            session.rollback()
            session.execute(
                delete(KEYS).where(
                    KEYS.c.scope == scope, KEYS.c.key == key, KEYS.c.status == IN_PROGRESS
                )
            )
            session.commit()
    except Exception as exc:  # the answer cannot be given if it cannot be kept
        _quietly_roll_back(session)
        if is_database_unavailable(exc):
            return errors.database_unavailable(exc)
        log.exception("idempotency key %r of %s could not be stored", key, scope)
        return errors.error_response(500, "internal_error", "Something went wrong on our side.")
    return response


def _store(
    session: Session, scope: str, key: str, fingerprint: str, started, response: Response
) -> None:
    headers = {
        name: response.headers[name] for name in REPLAYED_HEADERS if name in response.headers
    }
    answer = {
        "status": DONE,
        "response_status": response.status_code,
        "response_headers": json.dumps(headers),
        # Encrypted like site secrets: some answers carry one (a new site).
        "response_body": _box().encrypt(response.get_data(as_text=True)),
        "locked_until": None,
    }
    stored = session.execute(
        update(KEYS).where(KEYS.c.scope == scope, KEYS.c.key == key).values(**answer)
    )
    if stored.rowcount == 0:
        # The view rolled its transaction back (and our row with it) before
        # succeeding after all.
        session.execute(
            insert(KEYS).values(
                scope=scope, key=key, request_hash=fingerprint, created_at=started, **answer
            )
        )


def _replay(row) -> Response:
    response = Response(_box().decrypt(row.response_body), status=row.response_status)
    for name, value in json.loads(row.response_headers or "{}").items():
        response.headers[name] = value
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _box() -> SecretBox:
    return current_app.extensions["bridge.secret_box"]


def _in_use() -> Response:
    response = errors.error_response(
        409,
        "idempotency_key_in_use",
        f"A request with this {HEADER} is still being processed: retry later.",
    )
    response.headers["Retry-After"] = "1"
    return response


def _purge(session: Session, now) -> None:
    """Forget keys older than ``TTL`` (a few at a time, by whoever adds one)."""
    old = select(KEYS.c.id).where(KEYS.c.created_at <= now - TTL).limit(PURGE_BATCH)
    ids = list(session.scalars(old))
    if ids:
        session.execute(delete(KEYS).where(KEYS.c.id.in_(ids)))


def _quietly_roll_back(session: Session) -> None:
    try:
        session.rollback()
    except Exception:  # the connection is gone: nothing to roll back
        log.debug("rollback after a failed idempotent request failed", exc_info=True)
