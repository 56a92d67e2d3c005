"""The audit log, written by the session itself.

Every flush that creates, changes or deletes an audited object adds one
audit row per object, in the same transaction: if the change rolls back, so
does its record, and no code path can forget to log. Who acted comes from
``session.info["actor"]`` (set by the API, the CLI, the scheduler, the
webhook handler); the domain may name an action more precisely than
"updated" with ``name_action`` (e.g. "invoice.finalized").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import event, func, insert, inspect, select
from sqlalchemy.orm import Session

from bridge.core import clock
from bridge.core.paging import Page
from bridge.models import (
    BusinessSettings,
    Client,
    CustomField,
    Plan,
    Product,
    Role,
    Site,
    TaxRate,
    User,
)
from bridge.models.audit import AuditEntry
from bridge.models.invoices import CreditNote, Invoice, Payment
from bridge.models.subscriptions import Subscription

AUDITED = {
    Client: "client",
    Site: "site",
    Role: "role",
    CustomField: "custom_field",
    Product: "product",
    Plan: "plan",
    TaxRate: "tax_rate",
    BusinessSettings: "settings",
    Invoice: "invoice",
    Subscription: "subscription",
    Payment: "payment",
    CreditNote: "credit_note",
    # Staff and the people of clients (added, removed, deactivated).
    User: "user",
}
# Never copied into the log: secrets, blobs, and bookkeeping noise.
HIDDEN = {
    "secret_encrypted",
    "stripe_secret_key_encrypted",
    "stripe_webhook_secret_encrypted",
    "password_hash",
    "hosted_token",
    "data",
    "updated_at",
    # The scheduler's own bookkeeping (leases, reminders sent).
    "next_charge_at",
    "overdue_reminders_sent",
    "renewal_reminded_for",
    "last_login_at",
    "email_key",
}


@dataclass(frozen=True)
class Actor:
    kind: str  # staff, api_token, client, scheduler, stripe_webhook, cli, system
    id: int | None = None
    label: str = ""


SYSTEM = Actor("system")


def set_actor(session: Session, actor: Actor) -> None:
    session.info["actor"] = actor


def name_action(session: Session, obj: object, action: str) -> None:
    """Record the changes of ``obj`` from now to the end of the transaction
    under ``action`` instead of "updated". Call it before changing ``obj``:
    any query may flush (autoflush) what was changed so far."""
    session.info.setdefault("audit_actions", {})[id(obj)] = action


@event.listens_for(Session, "after_transaction_end")
def _forget_actions(session: Session, transaction) -> None:
    # Savepoints (begin_nested) end inside the transaction: keep the names.
    if transaction.parent is None:
        session.info.pop("audit_actions", None)


def _jsonable(value):
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def _client_id(obj) -> int | None:
    if isinstance(obj, Client):
        return obj.id
    return getattr(obj, "client_id", None)


def _changes(obj, created: bool) -> dict:
    state = inspect(obj)
    summary = {}
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key in HIDDEN:
            continue
        history = state.attrs[key].history
        if created:
            value = getattr(obj, key)
            if value is not None and value != "" and value != [] and value != {}:
                summary[key] = _jsonable(value)
        elif history.has_changes():
            old = history.deleted[0] if history.deleted else None
            new = history.added[0] if history.added else None
            if old != new:
                summary[key] = [_jsonable(old), _jsonable(new)]
    return summary


@event.listens_for(Session, "after_flush")
def _record(session: Session, _flush_context) -> None:
    rows = []
    actions = session.info.get("audit_actions", {})
    actor = session.info.get("actor", SYSTEM)
    now = clock.now()
    for kind, objects in (
        ("created", session.new),
        ("updated", session.dirty),
        ("deleted", session.deleted),
    ):
        for obj in objects:
            object_type = AUDITED.get(type(obj))
            if object_type is None:
                continue
            if kind == "updated" and not session.is_modified(obj, include_collections=False):
                continue
            summary = (
                {"name": getattr(obj, "name", None) or getattr(obj, "number", None)}
                if kind == "deleted"
                else _changes(obj, created=kind == "created")
            )
            if kind == "updated" and not summary:
                continue
            rows.append(
                {
                    "actor_kind": actor.kind,
                    "actor_id": actor.id,
                    "actor_label": actor.label,
                    "action": actions.get(id(obj), f"{object_type}.{kind}"),
                    "object_type": object_type,
                    "object_id": getattr(obj, "id", None),
                    "client_id": _client_id(obj),
                    "summary": summary,
                    "created_at": now,
                }
            )
    if rows:
        session.connection().execute(insert(AuditEntry), rows)


def entries_page(
    session: Session, *, client_id: int | None = None, page: int = 1, per_page: int = 50
):
    """A page of the log, newest first, optionally for one client."""
    filters = [AuditEntry.client_id == client_id] if client_id is not None else []
    items = list(
        session.scalars(
            select(AuditEntry)
            .where(*filters)
            .order_by(AuditEntry.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    total = session.scalar(select(func.count()).select_from(AuditEntry).where(*filters))
    return Page(items=items, total=total or 0, page=page, per_page=per_page)


def object_history(
    session: Session, object_type: str, object_id: int, limit: int = 100
) -> list[AuditEntry]:
    """What happened to one object (an invoice...), newest first."""
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.object_type == object_type, AuditEntry.object_id == object_id)
            .order_by(AuditEntry.id.desc())
            .limit(limit)
        )
    )
