"""Forms that act once per form: those that make an invoice (bill client,
reactivate a subscription, bill a one-time item again) or move money (an
offline payment, a refund).

The form carries a key (a uuid made when the page was rendered). The view
claims the key in the same transaction as its work (a row of
``idempotency_keys`` under the staff user's own ``hub:`` scope, unique with
the key) and writes where it went when done; the same form sent again (a
double click, a reload of the POST) goes there instead of acting twice. A
second request racing the first waits on the row's unique key, then finds
the first one's answer.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridge.core import clock
from bridge.models import IdempotencyKey

DONE, IN_PROGRESS = "done", "in_progress"
IN_USE = ""  # claimed by a request still running
MAX_KEY = 64


def new_key() -> str:
    return uuid.uuid4().hex


def _scope(user_id: int) -> str:
    return f"hub:user:{user_id}"


def _row(session: Session, user_id: int, key: str) -> IdempotencyKey | None:
    return session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.scope == _scope(user_id), IdempotencyKey.key == key
        )
    )


def claim(session: Session, user_id: int, key: str) -> str | None:
    """None: the key is ours, act. Otherwise where the first answer went (a
    path), or ``IN_USE`` while it is still running."""
    row = _row(session, user_id, key)
    if row is not None:
        return row.response_body if row.status == DONE else IN_USE
    try:
        # A savepoint: a request racing ours waits on the unique key, and on
        # losing, only the insert is undone (row locks taken before stay).
        with session.begin_nested():
            session.add(
                IdempotencyKey(
                    scope=_scope(user_id),
                    key=key,
                    request_hash="hub-form",
                    status=IN_PROGRESS,
                    created_at=clock.now(),
                )
            )
    except IntegrityError:  # another request took it first, and committed
        row = _row(session, user_id, key)
        return row.response_body if row is not None and row.status == DONE else IN_USE
    return None


def done(session: Session, user_id: int, key: str, location: str) -> None:
    """Where the answer went, stored with the work (the caller commits)."""
    row = _row(session, user_id, key)
    row.status = DONE
    row.response_status = 303
    row.response_body = location


def forget(session: Session, user_id: int, key: str) -> None:
    """Give the key back (the work it guarded failed after a commit), so the
    same form can be sent again. The caller commits."""
    session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.scope == _scope(user_id), IdempotencyKey.key == key
        )
    )
