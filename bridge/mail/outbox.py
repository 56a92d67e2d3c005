"""The outbox: messages rendered when their event happens, written in the
event's own transaction, delivered later (``bridge.mail.delivery``).

``enqueue`` is an ``INSERT ... ON CONFLICT (dedupe_key) DO NOTHING``: the
dedupe key names the trigger, the object and the occasion
(``payment_failed:invoice:42:attempt:2``), so however many times an event is
handled, by however many processes at once, one message is queued.
"""

from __future__ import annotations

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
    True when a row was inserted. Runs in the caller's transaction."""
    now = now or clock.now()
    # Straight to the connection: the ORM's bulk path (and an autoflush)
    # cost more than the insert, hundreds of times in a renewal batch. The
    # rows it names are in the database already (they have ids).
    inserted = session.connection().execute(
        _enqueue_statement(session.get_bind().dialect.name),
        {
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
        },
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
    ``enqueue`` is what guarantees one message)."""
    found = session.connection().scalar(_queued_statement(), {"dedupe_key": dedupe_key[:200]})
    return found is not None


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
