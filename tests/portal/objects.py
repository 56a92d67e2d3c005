"""Objects of a client for the portal's tests: sites, a custom role, and
one of each kind of object a portal URL can name (invoice, subscription,
site), to fill routes' ``<int:...>`` parameters generically."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from bridge.billing import clients, roles
from bridge.models import Client, Subscription
from tests.e2e.conftest import make_invoice

LONG_URL = (
    "https://www.a-very-long-subdomain-for-the-bakery-of-the-martin-family.example"
    "/boulangerie/patisserie/viennoiserie/pain-au-chocolat-et-croissants"
)


def add_site(app, db, client_id: int, name: str, url: str, *, disabled: bool = False) -> int:
    with db.session() as session:
        client = session.get(Client, client_id)
        box = app.extensions["bridge.secret_box"]
        site = clients.create_site(session, box, client, name=name, url=url)[0]
        site.disabled = disabled
        session.flush()
        return site.id


def give_custom_role(db, client_id: int, name: str = "Shop manager") -> int:
    """A role with custom actions: Hosting analytics and backups, SEO off,
    Sites view, the billing areas on."""
    with db.session() as session:
        role = roles.create_role(
            session,
            name=name,
            permissions={
                "sites": {"level": "view"},
                "hosting": {"level": "custom", "actions": ["analytics", "backups"]},
                "seo": {"level": "off"},
                "site_billing": {"level": "view"},
                "billing": {"level": "edit"},
            },
        )
        session.flush()
        session.get(Client, client_id).role_id = role.id
        return role.id


@dataclass(frozen=True)
class Owned:
    """One object of each kind a portal URL names, all of one client."""

    invoice: int
    paid_invoice: int
    subscription: int
    site: int
    numbers: tuple[str, ...]

    def ids(self) -> set[int]:
        return {self.invoice, self.paid_invoice, self.subscription, self.site}


def own_objects(app, db, shop) -> Owned:
    """The shop's client (Alice's) gets an open and a paid invoice (the
    paid one starts a subscription) and a site."""
    open_invoice = make_invoice(db, shop, "open")
    paid = make_invoice(db, shop, "paid")
    site = add_site(app, db, shop.client_id, "Martin Bakery", "https://martin-bakery.example")
    with db.session() as session:
        subscription = session.scalar(
            select(Subscription.id).where(Subscription.client_id == shop.client_id).limit(1)
        )
    assert subscription is not None
    return Owned(
        open_invoice.id,
        paid.id,
        subscription,
        site,
        tuple(n for n in (open_invoice.number, paid.number) if n),
    )
