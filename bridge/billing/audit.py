"""The audit log, written by the session itself.

Every flush that creates, changes or deletes an audited object adds one
audit row per object, in the same transaction: if the change rolls back, so
does its record, and no code path can forget to log. Who acted comes from
``session.info["actor"]`` (set by the API, the CLI, the scheduler, the
webhook handler); the domain may name an action more precisely than
"updated" with ``name_action`` (e.g. "invoice.finalized").

One event is one row, however many flushes it takes: an object changed
again in the same transaction under the same action (finalizing flushes
before numbering, then again), or merely updated after it was recorded,
has its first row completed rather than a second one added. A different
action on the same object (finalized, then paid) is a row of its own.

``describe`` turns a row into a sentence for people ("Invoice finalized",
"Payment of €12.00 recorded"); ``LABELS`` is the one place that words
each action.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

from sqlalchemy import event, func, insert, inspect, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.base import NO_VALUE

from bridge.core import clock
from bridge.core.paging import Page
from bridge.models import (
    BusinessSettings,
    Client,
    ClientBalanceEntry,
    Coupon,
    CustomField,
    Discount,
    Plan,
    Product,
    Role,
    Site,
    SiteRole,
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
    Coupon: "coupon",
    Discount: "discount",
    BusinessSettings: "settings",
    Invoice: "invoice",
    Subscription: "subscription",
    Payment: "payment",
    CreditNote: "credit_note",
    ClientBalanceEntry: "balance_entry",
    # Staff and the people of clients (added, removed, deactivated).
    User: "user",
    # A person's role on one site instead of the client's.
    SiteRole: "site_role",
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
    # Keyed by id() but holding the object: an object the session let go
    # of could otherwise leave its id, and its action, to a new one.
    session.info.setdefault("audit_actions", {})[id(obj)] = (obj, action)


@event.listens_for(Session, "after_transaction_end")
def _forget_actions(session: Session, transaction) -> None:
    # Savepoints (begin_nested) end inside the transaction: keep the names.
    if transaction.parent is None:
        session.info.pop("audit_actions", None)
        session.info.pop("audit_rows", None)


_PLAIN = (str, int, bool)


def _jsonable(value):
    if type(value) in _PLAIN:
        return value
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


@cache
def _shown_columns(mapper) -> tuple[str, ...]:
    """The column attributes an audit row may show, in the table's order."""
    return tuple(attr.key for attr in mapper.column_attrs if attr.key not in HIDDEN)


def _changes(obj, created: bool) -> dict:
    state = inspect(obj)
    summary = {}
    if created:
        # The flushed values are in the instance's dict, read without the
        # attribute machinery (five new objects a renewal, some 50 columns
        # each); a column the database filled in, expired, is loaded as before.
        loaded = state.dict
        for key in _shown_columns(state.mapper):
            value = loaded[key] if key in loaded else getattr(obj, key)
            if type(value) in _PLAIN:
                if value != "":
                    summary[key] = value
            elif _shown(value):
                summary[key] = _jsonable(value)
        return summary
    # Only the attributes set since the last flush have a history worth
    # reading (``committed_state`` holds their loaded values): an invoice
    # has some 50 columns, a renewal changes a handful.
    # Their old value is there as well (NO_VALUE when it was never loaded),
    # the new one in the instance's dict: what the attribute's history would
    # say, without building it (a renewal updates some 20 attributes).
    touched = state.committed_state
    current = state.dict
    for key in _shown_columns(state.mapper):
        if key not in touched:
            continue
        old = touched[key]
        if old is NO_VALUE:
            old = None
        new = current.get(key)
        if old != new:
            summary[key] = [_jsonable(old), _jsonable(new)]
    return summary


def _merged(first: dict, later: dict, created: bool) -> dict:
    """The summary of one event recorded over two flushes: a creation keeps
    the latest values; a change keeps each field's first old value and its
    latest new one."""
    summary = dict(first)
    for key, change in later.items():
        if created:
            summary[key] = change[1] if isinstance(change, list) else change
        elif key in summary:
            summary[key] = [summary[key][0], change[1]]
        else:
            summary[key] = change
    return summary


@event.listens_for(Session, "after_flush")
def _record(session: Session, _flush_context) -> None:
    rows, objects_of_rows = [], []
    actions = session.info.get("audit_actions", {})
    # (type, id) -> [row id, action, summary, created] of the object's
    # latest row in this transaction, to complete rather than repeat.
    recorded = session.info.setdefault("audit_rows", {})
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
            summary = (
                {"name": getattr(obj, "name", None) or getattr(obj, "number", None)}
                if kind == "deleted"
                else _changes(obj, created=kind == "created")
            )
            if kind == "updated" and not summary:
                continue
            named = actions.get(id(obj))
            action = named[1] if named is not None and named[0] is obj else f"{object_type}.{kind}"
            key = (object_type, getattr(obj, "id", None))
            earlier = recorded.get(key)
            if (
                kind == "updated"
                and earlier is not None
                and earlier[1] in (action, f"{object_type}.created")
                and (action == earlier[1] or action == f"{object_type}.updated")
            ):
                merged = _merged(earlier[2], summary, created=earlier[3])
                done = session.connection().execute(
                    update(AuditEntry).where(AuditEntry.id == earlier[0]).values(summary=merged)
                )
                if done.rowcount == 1:
                    earlier[2] = merged
                    continue
                # Its row went with a rolled-back savepoint: a row of its own.
            rows.append(
                {
                    "actor_kind": actor.kind,
                    "actor_id": actor.id,
                    "actor_label": actor.label,
                    "action": action,
                    "object_type": object_type,
                    "object_id": getattr(obj, "id", None),
                    "client_id": _client_id(obj),
                    "summary": summary,
                    "created_at": now,
                }
            )
            objects_of_rows.append((key, kind == "created"))
    if rows:
        ids = session.connection().scalars(
            insert(AuditEntry).returning(AuditEntry.id, sort_by_parameter_order=True), rows
        )
        for row_id, row, (key, created) in zip(ids, rows, objects_of_rows, strict=True):
            recorded[key] = [row_id, row["action"], row["summary"], created]


def _shown(value) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def _summary(values: dict, keys: list[str]) -> dict:
    """A created object's summary from its row, as ``_changes`` makes it
    from the object (plain values taken as they are: the bulk path's cost)."""
    summary = {}
    for key in keys:
        value = values.get(key)
        if type(value) in _PLAIN:
            if value != "":
                summary[key] = value
        elif _shown(value):
            summary[key] = _jsonable(value)
    return summary


def record_created(session: Session, model: type, rows: list[dict]) -> None:
    """Log objects inserted in bulk, not through the session (an import's
    new clients): one "created" row per object, as a flush of the same
    objects would write it, all inserted in one executemany. ``rows`` are
    the inserted rows, each with its ``id``; unset columns take their
    defaults, as the insert did."""
    mapper = inspect(model)
    keys = [attr.key for attr in mapper.column_attrs if attr.key not in HIDDEN]
    defaults = {
        column.key: column.default.arg
        for column in mapper.local_table.columns
        if column.default is not None and column.default.is_scalar
    }
    object_type = AUDITED[model]
    actor = session.info.get("actor", SYSTEM)
    now = clock.now()
    entries = []
    for row in rows:
        values = defaults | row
        entries.append(
            {
                "actor_kind": actor.kind,
                "actor_id": actor.id,
                "actor_label": actor.label,
                "action": f"{object_type}.created",
                "object_type": object_type,
                "object_id": values["id"],
                "client_id": values["id"] if model is Client else values.get("client_id"),
                "summary": _summary(values, keys),
                "created_at": now,
            }
        )
    if entries:
        session.connection().execute(insert(AuditEntry), entries)


def record(session: Session, obj: object, action: str, summary: dict | None = None) -> None:
    """Log an event that changes no audited column (a reminder sent), by
    the session's actor, in the caller's transaction."""
    actor = session.info.get("actor", SYSTEM)
    session.connection().execute(
        insert(AuditEntry).values(
            actor_kind=actor.kind,
            actor_id=actor.id,
            actor_label=actor.label,
            action=action,
            object_type=AUDITED[type(obj)],
            object_id=getattr(obj, "id", None),
            client_id=_client_id(obj),
            summary=summary or {},
            created_at=clock.now(),
        )
    )


def entries_page(
    session: Session, *, client_id: int | None = None, page: int = 1, per_page: int = 50
):
    """A page of the log, newest first, optionally for one client."""
    filters = [AuditEntry.client_id == client_id] if client_id is not None else []
    return matching_page(session, filters, page, per_page)


def matching_page(session: Session, filters: list, page: int, per_page: int) -> Page:
    """The page of log rows matching ``filters``, newest first."""
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


# Words for people -----------------------------------------------------------------


def _(message: str) -> str:
    """Marks a sentence for the catalogues; the Hub translates it when shown."""
    return message


# Each action as a sentence (its English text is the catalogue's key).
# ``%(amount)s``: the payment's or credit note's amount.
LABELS = {
    "invoice.created": _("Invoice drafted"),
    "invoice.updated": _("Invoice changed"),
    "invoice.deleted": _("Draft deleted"),
    "invoice.finalized": _("Invoice finalized"),
    "invoice.paid": _("Invoice paid"),
    "invoice.voided": _("Invoice voided"),
    "invoice.marked_uncollectible": _("Invoice marked uncollectible"),
    "invoice.disputed": _("Payment disputed by the client's bank"),
    "invoice.reminded": _("Payment reminder sent"),
    "payment.created": _("Payment of %(amount)s recorded"),
    "payment.updated": _("Payment of %(amount)s changed"),
    "payment.deleted": _("Payment of %(amount)s deleted"),
    "payment.pending": _("Payment of %(amount)s waiting for the bank"),
    "payment.succeeded": _("Payment of %(amount)s succeeded"),
    "payment.failed": _("Payment of %(amount)s failed"),
    "payment.requires_action": _("Payment of %(amount)s waiting for the client to confirm"),
    "payment.canceled": _("Payment of %(amount)s canceled"),
    "payment.reconciled": _("Payment of %(amount)s recorded as Stripe took it (reconciliation)"),
    "credit_note.created": _("Credit note of %(amount)s issued"),
    "credit_note.updated": _("Credit note of %(amount)s changed"),
    "credit_note.deleted": _("Credit note of %(amount)s deleted"),
    "credit_note.reconciled": _(
        "Credit note of %(amount)s issued for a refund made in Stripe (reconciliation)"
    ),
    "balance_entry.created": _("Account credit changed by %(amount)s"),
    "client.created": _("Client added"),
    "client.updated": _("Client details changed"),
    "client.deleted": _("Client deleted"),
    "client.card_saved": _("Card saved for payments"),
    "client.card_replaced": _("Card for renewals replaced"),
    "client.reconciled": _("Saved card set to the default card at Stripe (reconciliation)"),
    "client.invited": _("Invitation sent"),
    "client.invitation_accepted": _("Invitation accepted"),
    "site.created": _("Site added"),
    "site.updated": _("Site changed"),
    "site.deleted": _("Site removed"),
    "site.connected": _("Site connected"),
    "subscription.created": _("Subscription added"),
    "subscription.updated": _("Subscription changed"),
    "subscription.deleted": _("Subscription deleted"),
    "subscription.activated": _("Subscription started"),
    "subscription.renewed": _("Subscription renewed"),
    "subscription.past_due": _("Subscription past due"),
    "subscription.cancel_scheduled": _("Subscription set to end at the end of its period"),
    "subscription.cancel_undone": _("Subscription set to renew again"),
    "subscription.cancelled": _("Subscription cancelled"),
    "subscription.expired": _("Subscription ended"),
    "subscription.paused": _("Subscription paused"),
    "subscription.resumed": _("Subscription resumed after a pause"),
    "subscription.plan_changed": _("Subscription plan or quantity changed, prorated"),
    "subscription.change_scheduled": _("Plan or quantity change scheduled for the renewal"),
    "subscription.change_unscheduled": _("Scheduled plan or quantity change cancelled"),
    "user.created": _("Person added"),
    "user.updated": _("Person changed"),
    "user.deleted": _("Person removed"),
    "user.invitation_accepted": _("Person set their password from the invitation"),
    "site_role.created": _("Person given a role of their own on a site"),
    "site_role.updated": _("Person's role on a site changed"),
    "site_role.deleted": _("Person's role on a site removed: the client's role applies there"),
    "role.created": _("Role added"),
    "role.updated": _("Role changed"),
    "role.deleted": _("Role deleted"),
    "custom_field.created": _("Custom field added"),
    "custom_field.updated": _("Custom field changed"),
    "custom_field.deleted": _("Custom field deleted"),
    "product.created": _("Product added"),
    "product.updated": _("Product changed"),
    "product.deleted": _("Product deleted"),
    "plan.created": _("Plan added"),
    "plan.updated": _("Plan changed"),
    "plan.deleted": _("Plan deleted"),
    "tax_rate.created": _("Tax rate added"),
    "tax_rate.updated": _("Tax rate changed"),
    "tax_rate.deleted": _("Tax rate deleted"),
    "coupon.created": _("Coupon added"),
    "coupon.updated": _("Coupon changed"),
    "coupon.archived": _("Coupon archived"),
    "discount.created": _("Coupon applied"),
    "discount.updated": _("Coupon replaced"),
    "discount.removed": _("Coupon removed"),
    "settings.created": _("Settings created"),
    "settings.updated": _("Settings changed"),
    "settings.stripe_connected": _("Stripe connected"),
    "settings.stripe_disconnected": _("Stripe disconnected"),
}
# Who acted, when the row names nobody (the label says who otherwise).
ACTORS = {
    "staff": _("Staff"),
    "api_token": _("API"),
    "client": _("The client"),
    "scheduler": _("Scheduler"),
    "stripe_webhook": _("Stripe"),
    "cli": _("Command line"),
    "system": _("Bridge"),
}
OTHER = _("Change recorded")
# The objects whose sentence names their amount.
MONEY = {"payment": Payment, "credit_note": CreditNote, "balance_entry": ClientBalanceEntry}


@dataclass(frozen=True)
class Line:
    """One row of the log as people read it: ``sentence`` (a catalogue key,
    with ``%(amount)s`` for ``amount``: minor units and currency) and who."""

    entry: AuditEntry
    sentence: str
    amount: tuple[int, str] | None
    actor: str  # the actor's label, else ACTORS' word for its kind (a key)
    actor_is_word: bool


def readable(session: Session, entries: list[AuditEntry]) -> list[Line]:
    """The sentences of ``entries``: one query per kind of object with an
    amount (payments, credit notes), whatever the number of rows."""
    amounts: dict[tuple[str, int], tuple[int, str]] = {}
    for object_type, model in MONEY.items():
        ids = {e.object_id for e in entries if e.object_type == object_type and e.object_id}
        if ids:
            for object_id, amount, currency in session.execute(
                select(model.id, model.amount, model.currency).where(model.id.in_(ids))
            ):
                amounts[(object_type, object_id)] = (amount, currency)
    lines = []
    for entry in entries:
        amount = amounts.get((entry.object_type, entry.object_id))
        summary = entry.summary or {}
        if amount is None and isinstance(summary.get("amount"), int):
            # A deleted object's row keeps what its creation recorded, if anything.
            amount = (summary["amount"], summary.get("currency") or "")
        sentence = LABELS.get(entry.action, OTHER)
        if "%(amount)s" in sentence and amount is None:
            sentence = OTHER
        label = entry.actor_label
        lines.append(
            Line(entry, sentence, amount, label or ACTORS.get(entry.actor_kind, OTHER), not label)
        )
    return lines


def invoice_history(session: Session, invoice: Invoice, limit: int = 100) -> list[AuditEntry]:
    """What happened to an invoice, its payments and its credit notes,
    newest first, in one query (the invoice's page has its payments and
    notes loaded already)."""
    wanted = (AuditEntry.object_type == "invoice") & (AuditEntry.object_id == invoice.id)
    for object_type, objects in (
        ("payment", invoice.payments),
        ("credit_note", invoice.credit_notes),
    ):
        if objects:
            wanted |= (AuditEntry.object_type == object_type) & AuditEntry.object_id.in_(
                [obj.id for obj in objects]
            )
    return list(
        session.scalars(
            select(AuditEntry).where(wanted).order_by(AuditEntry.id.desc()).limit(limit)
        )
    )
