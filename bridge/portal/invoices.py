"""The portal's invoices: every issued invoice of the client, its payments,
and the client's credit notes. Each invoice opens its hosted page (pay,
offline instructions, PDF)."""

from __future__ import annotations

from flask import request

from bridge.billing import statement
from bridge.db import get_session
from bridge.portal.area import bp, client, render, require

PER_PAGE = 25


def page_number() -> int:
    """The ``page`` of the query string (1 for anything else)."""
    page = request.args.get("page", 1, type=int) or 1
    return max(1, min(page, 100_000))


@bp.get("/invoices")
def invoices():
    require("billing.view")
    status = request.args.get("status", "all")
    if status not in statement.INVOICE_FILTERS:
        status = "all"
    session = get_session()
    page = statement.client_invoices(
        session, client().id, status, page=page_number(), per_page=PER_PAGE
    )
    return render(
        "portal/invoices.html",
        active="client.invoices",
        page=page,
        chosen=status,
        filters=list(statement.INVOICE_FILTERS),
        receipts=statement.receipts,
        is_overdue=statement.is_overdue,
        credit_notes=statement.credit_notes(session, client().id),
    )
