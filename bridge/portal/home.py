"""The portal's home page: what is due now and what renews next."""

from __future__ import annotations

from flask_login import current_user

from bridge.billing import balances, invoices, statement
from bridge.core import clock
from bridge.db import get_session
from bridge.portal.area import bp, client, may, nav, render


@bp.get("/")
def home():
    """A welcome; with ``billing.view``, the unpaid invoices and their total,
    the account credit (when there is some), and the next renewals. Without
    it, the other sections only."""
    context = {}
    if may("billing.view"):
        session = get_session()
        context = {
            "dues": statement.dues(session, client().id),
            "renewals": statement.next_renewals(session, client().id),
            "credit": balances.balance(session, client().id).amounts,
            "is_overdue": statement.is_overdue,
            "plan_name": invoices.describe_plan,
            "now": clock.now(),
        }
    return render(
        "portal/home.html",
        active="client.home",
        billing="dues" in context,
        person_name=current_user.display_name,
        sections=[item for item in nav() if item.endpoint != "client.home"],
        **context,
    )
