"""The client's whole account as a site's plugin shows it on *My account*:
the client's invoices on every site and on none (a site build, a setup
fee), paged; the client's sites; what is due; auto-pay and where to
change the card.

Plain Python over a Session. The HTTP layer (``bridge.api.site``) checks
the signature, asks the policy whether the plugin may read the client's
account and whether the WordPress user's role grants ``billing``; the
functions here take the site and the client it found.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bridge import links
from bridge.billing import statement
from bridge.billing.business import get_settings
from bridge.billing.renewals import card_on_file
from bridge.billing.self_service import card_expiry, today
from bridge.billing.sites import client_sites, invoice_view, iso
from bridge.core import clock
from bridge.core.l10n import Localiser
from bridge.core.paging import Page
from bridge.models import Client, Invoice, InvoiceStatus, Site

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 50


def account_invoice_view(session: Session, invoice: Invoice, l10n: Localiser, site: Site) -> dict:
    """An invoice as the site summary shows it, plus the site it was billed
    on (``null`` for none) and whether that is the asking site."""
    billed_on = invoice.site
    return {
        **invoice_view(session, invoice, l10n),
        "site": None if billed_on is None else {"name": billed_on.name, "url": billed_on.url},
        "this_site": invoice.site_id == site.id,
    }


def card_view(session: Session, client: Client) -> dict | None:
    """The saved card's display facts (never a number), or None."""
    if not client.card_last4:
        return None
    return {
        "brand": client.card_brand or "",
        "last4": client.card_last4,
        "exp_month": client.card_exp_month,
        "exp_year": client.card_exp_year,
        "expiry": card_expiry(client, today(session)),
    }


def account(
    session: Session,
    site: Site,
    l10n: Localiser,
    *,
    page: int = 1,
    per_page: int = DEFAULT_PER_PAGE,
) -> dict:
    """The whole account of ``site``'s client, its invoices a ``Page`` of
    views, newest first (the portal's order), never drafts, never another
    client's."""
    client = site.client
    found = statement.client_invoices(session, client.id, "all", page=page, per_page=per_page)
    dues = statement.dues(session, client.id)
    settings = get_settings(session)
    currency = settings.currency
    # As the summary: what remains due on open invoices (an uncollectible one
    # is unpaid, but nothing is asked for it any more).
    due = sum(
        i.amount_due
        for i in dues.invoices
        if i.status == InvoiceStatus.OPEN and i.currency == currency
    )
    update_card = (
        links.portal_payment_method_url(session) if settings.stripe_secret_key_encrypted else None
    )
    return {
        "client": {"name": client.name, "email": client.email},
        "sites": [
            {
                "id": other.public_id,
                "name": other.name,
                "url": other.url,
                "this_site": other.id == site.id,
                "disabled": other.disabled,
            }
            for other in client_sites(session, client.id)
        ],
        "invoices": Page(
            [account_invoice_view(session, i, l10n, site) for i in found.items],
            found.total,
            found.page,
            found.per_page,
        ),
        "unpaid_count": len(dues.invoices),
        "amount_due": due,
        "amount_due_display": l10n.money(due, currency) if currency else None,
        "auto_pay": card_on_file(session, client),
        "card": card_view(session, client),
        "portal_url": links.portal_url(session),
        "update_card_url": update_card,
        "generated_at": iso(clock.now()),
    }
