"""The portal's Sites page: the client's WordPress sites and, for each,
what the person's role there grants (their own on that site, else the
client's), area by area. The grants are the very
answer the site's plugin gets from ``/api/v1/site/access``
(``bridge.billing.sites.access``), put into words."""

from __future__ import annotations

from flask_login import current_user

from bridge.billing import sites as site_book
from bridge.db import get_session
from bridge.models import Site
from bridge.portal import area
from bridge.portal.area import bp, render


def _(message: str) -> str:
    """Marks a word for the catalogue; it is translated when rendered."""
    return message


# The areas and actions of a role (bridge.auth.permissions), in words.
AREA_WORDS = {
    "sites": _("Sites"),
    "hosting": _("Hosting"),
    "seo": _("SEO"),
    "site_billing": _("Site billing"),
    "billing": _("Billing"),
}
ACTION_WORDS = {
    "view": _("view"),
    "manage": _("manage"),
    "analytics": _("analytics"),
    "logs": _("logs"),
    "emails": _("emails"),
    "backups": _("backups"),
    "staging": _("staging"),
    "scan": _("scan"),
    "configure": _("configure"),
    "pay": _("pay"),
}


def _card(session, site: Site) -> dict:
    """A site as the page shows it, with the plugin's access answer for the
    logged-in person."""
    access = site_book.access(session, site, current_user.email)
    return {
        "site": site,
        "wp_admin": site_book.wp_admin_url(site),
        "areas": [(key, actions) for key, actions in access["areas"].items()],
    }


def _page(found: list[Site], single: bool = False):
    session = get_session()
    return render(
        "portal/sites.html",
        active="client.sites",
        cards=[_card(session, site) for site in found],
        single=single,
        area_words=AREA_WORDS,
        action_words=ACTION_WORDS,
    )


@bp.get("/sites")
def sites():
    """The sites the person's roles let them see: every one of the client's
    when the client's role does, else those where their own role does
    (``policy.listed``); the page opens when either holds for any site."""
    every = site_book.client_sites(get_session(), area.client().id)
    area.require_somewhere("sites.view", every)
    return _page(area.listed("sites.view", every))


@bp.get("/sites/<int:site_id>")
def site(site_id: int):
    """One site: opens exactly when the list shows it."""
    found = area.own(Site, site_id)
    area.require_listed("sites.view", found)
    return _page([found], single=True)
