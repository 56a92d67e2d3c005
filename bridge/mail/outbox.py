"""The outbox: messages rendered when their event happens, written in the
event's own transaction, delivered later (``bridge.mail.delivery``).

``enqueue`` is an ``INSERT ... ON CONFLICT (dedupe_key) DO NOTHING``: the
dedupe key names the trigger, the object and the occasion
(``payment_failed:invoice:42:attempt:2``), so however many times an event is
handled, by however many processes at once, one message is queued.

Renewal day queues a receipt or an invoice email for each renewal of a set:
within ``queued_together`` the messages are kept and written at the end in
one statement, instead of a look-up and an insert each.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bridge.core import clock
from bridge.core.paging import Page
from bridge.mail.render import Rendered
from bridge.models import OutboxMessage, OutboxStatus

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def enqueue(
    session: Session,
    *,
    trigger: str,
    dedupe_key: str,
    to: str,
    message: Rendered,
    client_id: int | None = None,
    invoice_id: int | None = None,
    subscription_id: int | None = None,
    now: datetime | None = None,
) -> bool:
    """Queue ``message`` for ``to`` unless ``dedupe_key`` was queued before;
    True when a row was inserted. Runs in the caller's transaction. Within
    ``queued_together`` the row is kept for the end of the set (True unless
    the set has the key already)."""
    now = now or clock.now()
    row = {
        "trigger": trigger,
        "dedupe_key": dedupe_key[:200],
        "to_address": to,
        "from_name": message.from_name[:200],
        "reply_to": message.reply_to,
        "subject": message.subject[:500],
        "body_html": message.html,
        "body_text": message.text,
        "logo_id": message.logo_id,
        "client_id": client_id,
        "invoice_id": invoice_id,
        "subscription_id": subscription_id,
        "status": OutboxStatus.QUEUED,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    together = session.info.get(_TOGETHER)
    if together is not None:
        return together.setdefault(row["dedupe_key"], row) is row
    # Straight to the connection: the ORM's bulk path (and an autoflush)
    # cost more than the insert, hundreds of times in a renewal batch. The
    # rows it names are in the database already (they have ids).
    inserted = session.connection().execute(
        _enqueue_statement(session.get_bind().dialect.name), row
    )
    # A row comes back only when one was inserted.
    return inserted.first() is not None


@cache
def _enqueue_statement(dialect: str):
    return (
        _INSERTS[dialect](OutboxMessage)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OutboxMessage.id)
    )


def is_queued(session: Session, dedupe_key: str) -> bool:
    """Whether ``dedupe_key`` was queued already (spares rendering it again;
    ``enqueue`` is what guarantees one message). Within ``queued_together``
    only the set's own messages are looked at: a key queued before the set
    is rendered for nothing and dropped when the set is written, which is
    rare (a replayed event) and cheaper than a look-up for every message."""
    together = session.info.get(_TOGETHER)
    if together is not None:
        return dedupe_key[:200] in together
    found = session.connection().scalar(_queued_statement(), {"dedupe_key": dedupe_key[:200]})
    return found is not None


_TOGETHER = "bridge.outbox.together"


@contextmanager
def queued_together(session: Session) -> Iterator[None]:
    """The messages queued within are written when it ends, in one
    statement (``ON CONFLICT DO NOTHING`` still keeps one message per
    dedupe key), in the caller's transaction; nothing is written when it
    ends with an error. Within another, the outer one writes. Use it where
    no savepoint inside may roll back alone: its messages would stay."""
    if _TOGETHER in session.info:
        yield
        return
    together: dict[str, dict] = {}
    session.info[_TOGETHER] = together
    try:
        yield
        rows = list(together.values())
        together.clear()
        if rows:
            session.connection().execute(
                _enqueue_many_statement(session.get_bind().dialect.name), rows
            )
    finally:
        session.info.pop(_TOGETHER, None)


@cache
def _enqueue_many_statement(dialect: str):
    return _INSERTS[dialect](OutboxMessage).on_conflict_do_nothing(index_elements=["dedupe_key"])


@cache
def _queued_statement():
    # Built once: asked before every email, hundreds of times a renewal batch.
    return select(OutboxMessage.id).where(OutboxMessage.dedupe_key == bindparam("dedupe_key"))


def messages_page(
    session: Session,
    *,
    status: OutboxStatus | None = None,
    trigger: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """A page of the outbox, newest first."""
    filters = []
    if status is not None:
        filters.append(OutboxMessage.status == status)
    if trigger is not None:
        filters.append(OutboxMessage.trigger == trigger)
    items = list(
        session.scalars(
            select(OutboxMessage)
            .where(*filters)
            .order_by(OutboxMessage.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    total = session.scalar(select(func.count()).select_from(OutboxMessage).where(*filters))
    return Page(items=items, total=total or 0, page=page, per_page=per_page)
