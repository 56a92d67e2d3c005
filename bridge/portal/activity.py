"""The portal's activity: what happened to the client's account and who
did it, in the client's words (``bridge.billing.client_activity``);
never the agency's own records."""

from __future__ import annotations

from typing import NamedTuple

from bridge.billing import client_activity
from bridge.db import get_session
from bridge.models.audit import AuditEntry
from bridge.portal.area import bp, client, l10n, may, render
from bridge.portal.invoices import page_number

PER_PAGE = 25


class Event(NamedTuple):
    entry: AuditEntry
    text: str
    who: str


def sentences(lines: list[client_activity.ClientLine]) -> list[Event]:
    """ClientLines in the reader's language, amounts as it writes them."""
    words = l10n()
    events = []
    for line in lines:
        who = words.gettext(line.actor) if line.actor_is_word else line.actor
        values = dict(line.values)
        values["amount"] = words.money(*line.amount) if line.amount else ""
        values["person"] = values["person"] or who
        events.append(Event(line.entry, words.gettext(line.sentence) % values, who))
    return events


@bp.get("/activity")
def activity():
    """Newest first; billing events only for a role with ``billing.view``."""
    page = client_activity.client_activity(
        get_session(),
        client().id,
        actions=client_activity.client_visible_actions(may),
        page=page_number(),
        per_page=PER_PAGE,
    )
    return render(
        "portal/activity.html",
        active="client.activity",
        page=page,
        events=sentences(page.items),
    )
