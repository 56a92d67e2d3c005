"""What a client's people read of the audit log (the portal's Activity):
an allow-list of the log's actions, in the client's words, with who did it
told the client's way (the agency by its name, never a staff email).
Apart from ``bridge.billing.audit``, which the domain modules read here
import themselves."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from bridge.billing.audit import OTHER, matching_page, readable
from bridge.billing.invoices import describe_plan
from bridge.billing.payments import CARD_GATEWAY
from bridge.core.paging import Page
from bridge.models import BusinessSettings, Plan, User
from bridge.models.audit import AuditEntry
from bridge.models.invoices import Invoice, Payment
from bridge.models.subscriptions import Subscription


def _(message: str) -> str:
    """Marks a word for the catalogue; it is translated when shown."""
    return message


# What a client's people see of the log ----------------------------------------------

# The actions a client's people may read about their own account, each with
# the policy action that opens it. An allow-list: a new action (a staff note,
# a setting, a role, an email to the agency) stays staff-only until it is
# added here on purpose.
# A subscription's creation is not there: it waits for its first invoice to
# be paid, and its start ("activated") is what the client reads.
CLIENT_VISIBLE_ACTIONS = {
    "invoice.finalized": "billing.view",
    "invoice.paid": "billing.view",
    "invoice.voided": "billing.view",
    "payment.created": "billing.view",  # offline ones only, see client_activity
    "payment.succeeded": "billing.view",
    "payment.failed": "billing.view",
    "payment.requires_action": "billing.view",
    "credit_note.created": "billing.view",
    "client.card_saved": "billing.view",
    "client.card_replaced": "billing.view",
    "subscription.activated": "billing.view",
    "subscription.renewed": "billing.view",
    "subscription.cancel_scheduled": "billing.view",
    "subscription.cancel_undone": "billing.view",
    "subscription.cancelled": "billing.view",
    "subscription.paused": "billing.view",
    "subscription.resumed": "billing.view",
    "subscription.plan_changed": "billing.view",
    "subscription.change_scheduled": "billing.view",
    "subscription.change_unscheduled": "billing.view",
    "subscription.expired": "billing.view",
    "client.invitation_accepted": None,
}
# The same events in a client's words (the agency's staff read LABELS).
CLIENT_LABELS = {
    "invoice.finalized": _("Invoice %(number)s issued"),
    "invoice.paid": _("Invoice %(number)s paid"),
    "invoice.voided": _("Invoice %(number)s cancelled"),
    "payment.created": _("Payment of %(amount)s received"),
    "payment.succeeded": _("Card payment of %(amount)s received"),
    "payment.failed": _("Card payment of %(amount)s declined"),
    "payment.requires_action": _("Card payment of %(amount)s waiting for your confirmation"),
    "credit_note.created": _("Credit note of %(amount)s issued"),
    "client.card_saved": _("Card saved for payments"),
    "client.card_replaced": _("Card for renewals replaced"),
    "subscription.activated": _("Subscription to %(plan)s started"),
    "subscription.renewed": _("Subscription to %(plan)s renewed"),
    "subscription.cancel_scheduled": _("Subscription to %(plan)s set to end with its period"),
    "subscription.cancel_undone": _("Subscription to %(plan)s set to renew again"),
    "subscription.cancelled": _("Subscription to %(plan)s cancelled"),
    "subscription.paused": _("Subscription to %(plan)s paused"),
    "subscription.resumed": _("Subscription to %(plan)s resumed"),
    "subscription.plan_changed": _("Subscription changed to %(plan)s"),
    "subscription.change_scheduled": _("Subscription to %(plan)s set to change at its renewal"),
    "subscription.change_unscheduled": _(
        "Scheduled change of the subscription to %(plan)s cancelled"
    ),
    "subscription.expired": _("Subscription to %(plan)s ended"),
    "client.invitation_accepted": _("%(person)s joined the account"),
}
# Who acted, in a client's words (staff, tokens and scripts: the agency).
AGENCY_KINDS = {"staff", "api_token", "cli", "system"}
CLIENT_ACTORS = {
    "scheduler": _("Automatic renewal"),
    "stripe_webhook": _("Card payment"),
    "site_plugin": _("Your website"),
}
SOMEONE = _("Someone of your team")
AGENCY = _("Your agency")


@dataclass(frozen=True)
class ClientLine:
    """One event of a client's activity: ``sentence`` (a catalogue key)
    with ``values`` (``amount``: minor units and currency, ``number``,
    ``plan``, ``person``) and who did it (``actor``, a catalogue key when
    ``actor_is_word``, else a name)."""

    entry: AuditEntry
    sentence: str
    values: dict
    amount: tuple[int, str] | None
    actor: str
    actor_is_word: bool


def client_visible_actions(may) -> list[str]:
    """The actions of CLIENT_VISIBLE_ACTIONS that ``may(policy_action)`` opens."""
    return [
        action for action, needs in CLIENT_VISIBLE_ACTIONS.items() if needs is None or may(needs)
    ]


def client_activity(
    session: Session,
    client_id: int,
    *,
    actions: list[str] | None = None,
    page: int = 1,
    per_page: int = 25,
) -> Page:
    """A page of what happened to the client's account that its people may
    read (``actions``, by default all of CLIENT_VISIBLE_ACTIONS), newest
    first, as ClientLines. A payment's creation shows for offline payments
    only: a card payment is told by its outcome."""
    if actions is None:
        actions = list(CLIENT_VISIBLE_ACTIONS)
    wanted = [a for a in actions if a in CLIENT_VISIBLE_ACTIONS]
    card_payments = select(Payment.id).where(
        Payment.client_id == client_id, Payment.gateway == CARD_GATEWAY
    )
    filters = [
        AuditEntry.client_id == client_id,
        AuditEntry.action.in_(wanted),
        ~((AuditEntry.action == "payment.created") & AuditEntry.object_id.in_(card_payments)),
    ]
    found = matching_page(session, filters, page, per_page)
    return Page(_client_lines(session, found.items), found.total, page, per_page)


def _client_lines(session: Session, entries: list[AuditEntry]) -> list[ClientLine]:
    """ClientLines of ``entries``: one query per kind of object named."""
    amounts = {line.entry.id: line.amount for line in readable(session, entries)}

    def ids(object_type: str) -> set[int]:
        return {e.object_id for e in entries if e.object_type == object_type and e.object_id}

    numbers = dict(
        session.execute(
            select(Invoice.id, Invoice.number).where(Invoice.id.in_(ids("invoice")))
        ).all()
    )
    plans = {
        subscription.id: describe_plan(subscription.plan)
        for subscription in session.scalars(
            select(Subscription)
            .where(Subscription.id.in_(ids("subscription")))
            .options(selectinload(Subscription.plan).selectinload(Plan.product))
        )
    }
    people = {e.actor_id for e in entries if e.actor_kind == "client" and e.actor_id}
    people |= ids("user")
    names = dict(
        session.execute(
            select(User.id, func.coalesce(User.name, "")).where(User.id.in_(people))
        ).all()
    )
    company = session.scalar(select(BusinessSettings.company_name).limit(1)) or ""
    lines = []
    for entry in entries:
        person = names.get(entry.object_id, "") if entry.object_type == "user" else ""
        sentence = CLIENT_LABELS[entry.action]
        if "%(amount)s" in sentence and amounts.get(entry.id) is None:
            sentence = OTHER
        values = {
            "number": numbers.get(entry.object_id, "") if entry.object_type == "invoice" else "",
            "plan": plans.get(entry.object_id, "") if entry.object_type == "subscription" else "",
            "person": person,
        }
        if entry.actor_kind in AGENCY_KINDS:
            actor, is_word = (company, False) if company else (AGENCY, True)
        elif entry.actor_kind == "client":
            name = names.get(entry.actor_id, "")
            actor, is_word = (name, False) if name else (SOMEONE, True)
        else:
            actor, is_word = CLIENT_ACTORS.get(entry.actor_kind, AGENCY), True
        lines.append(
            ClientLine(
                entry,
                sentence,
                values,
                amounts.get(entry.id),
                actor,
                is_word,
            )
        )
    return lines
