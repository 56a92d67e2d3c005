"""The portal's Subscriptions page: the client's current and inactive
plans, each with its next renewal as it will be billed; *Cancel at period
end* (after a confirmation page) and *Resume*, when the agency allows it
(``portal_client_can_cancel``) and the person's role may pay.

The rules are ``bridge.billing.self_service``'s; the audit log names the
person (the area's guard sets the actor on every POST).
"""

from __future__ import annotations

from flask import redirect, request, url_for
from flask_wtf import FlaskForm

from bridge.billing import self_service
from bridge.core.errors import Conflict
from bridge.db import get_session
from bridge.models.subscriptions import Subscription
from bridge.portal import area
from bridge.portal.area import bp, render


def _(message: str) -> str:
    """Marks a word for the catalogue; it is translated when rendered."""
    return message


class ChangeForm(FlaskForm):
    """Cancel or resume: the CSRF token only."""


# Why a change was refused, in the reader's words (by the domain's code).
REFUSALS = {
    "portal_cancel_disabled": _(
        "Your agency does not let subscriptions be changed from the portal: contact them."
    ),
    "illegal_transition": _("This subscription can no longer be changed."),
}
DONE = {
    "cancelled": _("Your subscription will end at the end of its paid period."),
    "resumed": _("Your subscription will renew as before."),
}


def may_change() -> bool:
    """Whether this person may cancel and resume (the agency's setting and
    their role)."""
    return self_service.clients_may_cancel(get_session()) and area.may("billing.pay")


def _page(status: int = 200, notice: str | None = None):
    session = get_session()
    current, inactive = self_service.client_plans(session, area.client().id)
    return render(
        "portal/subscriptions.html",
        status,
        active="client.subscriptions",
        current=current,
        inactive=inactive,
        may_change=may_change(),
        form=ChangeForm(),
        done=DONE.get(request.args.get("done", "")),
        notice=notice,
    )


@bp.get("/subscriptions")
def subscriptions():
    area.require("billing.view")
    return _page()


def _subscription(subscription_id: int) -> Subscription:
    """The client's own subscription (else 404) that this person may change
    (else 403)."""
    area.require("billing.view")
    subscription = area.own(Subscription, subscription_id)
    area.require("billing.pay", subscription)
    return subscription


@bp.route("/subscriptions/<int:subscription_id>/cancel", methods=["GET", "POST"])
def cancel_subscription(subscription_id: int):
    """The confirmation (GET), then the cancel at the end of the period."""
    subscription = _subscription(subscription_id)
    session = get_session()
    if not self_service.clients_may_cancel(session):
        return _page(409, REFUSALS["portal_cancel_disabled"])
    if request.method == "GET":
        row = self_service.plan_row(session, subscription)
        if not (row.may_cancel or row.cancelling):
            return _page(409, REFUSALS["illegal_transition"])
        return render(
            "portal/subscription_cancel.html",
            active="client.subscriptions",
            row=row,
            form=ChangeForm(),
        )
    try:
        self_service.cancel_at_period_end(session, subscription)
    except Conflict as error:
        session.rollback()
        return _page(409, REFUSALS.get(error.code, REFUSALS["illegal_transition"]))
    session.commit()
    return redirect(url_for("client.subscriptions", done="cancelled"), 303)


@bp.post("/subscriptions/<int:subscription_id>/resume")
def resume_subscription(subscription_id: int):
    """Keep a subscription that was set to end."""
    subscription = _subscription(subscription_id)
    session = get_session()
    try:
        self_service.resume(session, subscription)
    except Conflict as error:
        session.rollback()
        return _page(409, REFUSALS.get(error.code, REFUSALS["illegal_transition"]))
    session.commit()
    return redirect(url_for("client.subscriptions", done="resumed"), 303)
