"""Demo data for ``make run``: a small agency with a catalog and clients.

Loading twice adds nothing: each object is looked up by its natural key first.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.auth.accounts import create_staff_user, create_token, revoke_tokens
from bridge.auth.secrets import SecretBox
from bridge.billing import (
    audit,
    business,
    catalog,
    clients,
    custom_fields,
    invitations,
    invoices,
    roles,
)
from bridge.billing.invoices import Item
from bridge.billing.sites import find_client_user
from bridge.billing.validation import email_key
from bridge.core.errors import Invalid
from bridge.models import (
    Client,
    ClientStatus,
    CustomField,
    CustomFieldEntity,
    CustomFieldType,
    IntervalUnit,
    PaymentMethod,
    Plan,
    PlanKind,
    Product,
    Role,
    TaxRate,
    User,
)

ADMIN_EMAIL = "admin@example.com"
# The demo client whose person logs in to the portal: invited, and the
# invitation accepted (the client is active from then on).
CLIENT_EMAIL = "hello@greenleafyoga.example"
CLIENT_PERSON = "Maya Green"
# Her client's role is the default, Billing only; on the shop she has Edit
# all of her own (a per-site role: the Hub's People tab, the portal's Sites).
SHOP_URL = "https://shop.greenleafyoga.example"
SHOP_ROLE = "edit_all"
# Local demo only (the command refuses to run in production).
DEFAULT_DEMO_PASSWORD = "bridge-demo-admin"  # noqa: S105
TOKEN_NAME = "make run"  # noqa: S105  (a label)

PRODUCTS = [
    (
        "Managed WordPress Hosting",
        "Fast, backed-up hosting for one WordPress site.",
        "hosting",
        [
            ("Basic, monthly", PlanKind.RECURRING, 2900, IntervalUnit.MONTH, 1, None),
            ("Pro, monthly", PlanKind.RECURRING, 5900, IntervalUnit.MONTH, 1, None),
            ("Pro, yearly", PlanKind.RECURRING, 59000, IntervalUnit.YEAR, 1, None),
        ],
    ),
    (
        "Care & Maintenance",
        "Updates, uptime monitoring and monthly reports.",
        "maintenance",
        [("Monthly care", PlanKind.RECURRING, 9900, IntervalUnit.MONTH, 1, None)],
    ),
    (
        "SEO Growth",
        "Technical SEO, content audit and a monthly report.",
        "seo",
        [
            ("Monthly SEO", PlanKind.RECURRING, 24900, IntervalUnit.MONTH, 1, None),
            ("SEO sprint (6 months)", PlanKind.RECURRING, 19900, IntervalUnit.MONTH, 1, 6),
        ],
    ),
    (
        "Website build",
        "Design and build of a WordPress site.",
        "other",
        [
            ("Starter site", PlanKind.ONE_TIME, 250000, None, None, None),
            ("Setup fee", PlanKind.ONE_TIME, 15000, None, None, None),
        ],
    ),
    ("Custom development", "Quoted per project.", "other", []),
]

CLIENTS = [
    (
        "Boulangerie Martin",
        "contact@boulangerie-martin.example",
        "Boulangerie Martin SARL",
        "FR",
        ClientStatus.ACTIVE,
        ["https://boulangerie-martin.example"],
    ),
    (
        "Alice Dupont",
        "alice@dupont-avocats.example",
        "Dupont Avocats",
        "FR",
        ClientStatus.ACTIVE,
        ["https://dupont-avocats.example", "https://blog.dupont-avocats.example"],
    ),
    (
        "Green Leaf Yoga",
        "hello@greenleafyoga.example",
        "Green Leaf Yoga Ltd",
        "GB",
        ClientStatus.PENDING,
        ["https://greenleafyoga.example", SHOP_URL],
    ),
    (
        "Hans Müller",
        "hans@mueller-bau.example",
        "Müller Bau GmbH",
        "DE",
        ClientStatus.ACTIVE,
        ["https://mueller-bau.example"],
    ),
    (
        "Café Lumière",
        "bonjour@cafe-lumiere.example",
        "Café Lumière",
        "FR",
        ClientStatus.INACTIVE,
        [],
    ),
    (
        "Northwind Outdoor",
        "it@northwind.example",
        "Northwind Outdoor Inc.",
        "US",
        ClientStatus.ACTIVE,
        ["https://northwind.example", "https://shop.northwind.example"],
    ),
    (
        "Sofia Rossi",
        "sofia@rossi-design.example",
        "Rossi Design",
        "IT",
        ClientStatus.PENDING,
        ["https://rossi-design.example"],
    ),
    (
        "Atelier Nord",
        "studio@ateliernord.example",
        "",
        "BE",
        ClientStatus.INACTIVE,
        ["https://ateliernord.example"],
    ),
]


def load(session: Session, box: SecretBox) -> str:
    """Create what is missing; return a one-line summary."""
    created = []
    settings = business.get_settings(session)
    if settings.currency is None:
        business.set_currency(session, "EUR", confirm=True)
    if not settings.company_name:
        business.update_settings(
            session,
            {
                "company_name": "Pixel & Press Agency",
                "address_line1": "12 rue des Lilas",
                "city": "Lyon",
                "postal_code": "69003",
                "country": "FR",
                "email": "billing@pixelpress.example",
                "phone": "+33 4 00 00 00 00",
                "website": "https://pixelpress.example",
                "tax_id": "FR11123456782",
                "statement_descriptor": "PIXELPRESS",
                # What French invoices to businesses must print.
                "legal_form": "SAS",
                "share_capital": 1_000_000,
                "siren": "123456782",
                "siret": "12345678200010",
                "rcs_city": "Lyon",
            },
        )

    if session.scalar(select(User.id).where(User.email_key == ADMIN_EMAIL)) is None:
        create_staff_user(session, email=ADMIN_EMAIL, password=_password(), name="Agency owner")
        created.append("admin user")

    if session.scalar(select(Role.id).where(Role.name == "SEO reviewer")) is None:
        roles.create_role(
            session,
            name="SEO reviewer",
            description="Sees the SEO report and can run scans; pays nothing.",
            permissions={
                "sites": {"level": "view"},
                "seo": {"level": "custom", "actions": ["view", "scan"]},
            },
        )
        created.append("role")

    existing_fields = set(session.scalars(select(CustomField.key)))
    if "account_manager" not in existing_fields:
        custom_fields.create_field(
            session,
            entity=CustomFieldEntity.CLIENT,
            label="Account manager",
            key="account_manager",
            field_type=CustomFieldType.CHOICE,
            options=["Camille", "Yanis"],
        )
    if "purchase_order" not in existing_fields:
        custom_fields.create_field(
            session,
            entity=CustomFieldEntity.CLIENT,
            label="Purchase order",
            key="purchase_order",
            field_type=CustomFieldType.TEXT,
            show_on_invoice=True,
        )

    existing_products = set(session.scalars(select(Product.name)))
    for name, description, category, plans in PRODUCTS:
        if name in existing_products:
            continue
        product = catalog.create_product(
            session, name=name, description=description, category=category
        )
        for plan_name, kind, amount, unit, count, cycles in plans:
            catalog.create_plan(
                session,
                product,
                name=plan_name,
                kind=kind,
                amount=amount,
                interval_unit=unit,
                interval_count=count,
                billing_cycles=cycles,
            )
        created.append(f"product {name}")

    existing_rates = set(session.scalars(select(TaxRate.name)))
    for name, percentage, inclusive in (("VAT 20%", "20", False), ("VAT 5.5%", "5.5", False)):
        if name not in existing_rates:
            catalog.create_tax_rate(session, name=name, percentage=percentage, inclusive=inclusive)

    for index, (name, email, company, country, status, urls) in enumerate(CLIENTS):
        if session.scalar(select(Client.id).where(Client.email_key == email_key(email))):
            continue
        client = clients.create_client(
            session,
            name=name,
            email=email,
            company=company,
            country=country,
            custom_fields={"account_manager": ["Camille", "Yanis"][index % 2]},
        )
        client.status = status
        for url in urls:
            clients.create_site(session, box, client, name=url.split("//")[1], url=url)
        created.append(f"client {name}")
    session.flush()
    count = session.query(Client).count()
    return f"Demo data: {len(created)} object(s) added; {count} clients in all."


class DemoLogins(NamedTuple):
    """What ``bridge demo`` prints: the admin's login and API token, and
    the login of a client's person to the portal."""

    email: str
    password: str
    token: str
    client_email: str


def login(session: Session) -> DemoLogins:
    """The admin's email and demo password, and a fresh API token (the
    previous ``make run`` token is revoked, so tokens do not pile up); the
    demo client's person, who accepted their invitation with the same demo
    password, and their client's paid hosting and unpaid setup fee (made on
    the first run only)."""
    user = session.scalar(select(User).where(User.email_key == ADMIN_EMAIL))
    revoke_tokens(session, user, TOKEN_NAME)
    _, token = create_token(session, user, name=TOKEN_NAME)
    person = _client_person(session)
    return DemoLogins(user.email, _password(), token, person.email)


def _client_person(session: Session) -> User:
    """The demo client's person, invited and accepted through the same
    domain calls as a real invitation (so the Hub shows *Active since*)."""
    client = session.scalar(select(Client).where(Client.email_key == email_key(CLIENT_EMAIL)))
    person = find_client_user(session, client.id, client.email)
    if person is not None and person.password_hash:
        return person
    invitation, _token = invitations.invite(session, client)
    # Accepting acts as the person; what the demo does next is the agency's.
    agency = session.info.get("actor", audit.SYSTEM)
    try:
        person = invitations.accept(session, invitation, name=CLIENT_PERSON, password=_password())
    except Invalid as error:
        raise Invalid(
            "BRIDGE_DEMO_PASSWORD is too easy to guess for the demo client's login: "
            "choose a longer one of uncommon words.",
            fields=error.fields,
        ) from error
    audit.set_actor(session, agency)
    _client_billing(session, client)
    _shop_role(session, person, client)
    return person


def _shop_role(session: Session, person: User, client: Client) -> None:
    """The person's own role on the client's shop, other than the client's
    (given once, with the person: the agency may change it afterwards)."""
    shop = next((site for site in client.sites if site.url.rstrip("/") == SHOP_URL), None)
    if shop is None:  # a demo database from before the shop
        return
    role_id = session.scalar(select(Role.id).where(Role.system_key == SHOP_ROLE))
    roles.set_site_role(session, person, shop, role_id)


def _client_billing(session: Session, client: Client) -> None:
    """Something for the person to see in the portal: hosting on their site,
    paid (an active subscription), and a setup fee still to pay."""
    plans = {plan.name: plan.id for plan in session.scalars(select(Plan))}
    vat = session.scalar(select(TaxRate.id).where(TaxRate.name == "VAT 20%"))
    site_id = client.sites[0].id if client.sites else None
    hosting = invoices.bill_client(
        session, client, [Item(plans["Pro, monthly"])], tax_rate_ids=[vat], site_id=site_id
    )
    invoices.finalize(session, hosting, send=False)
    invoices.record_offline_payment(
        session, hosting, amount=hosting.amount_due, method=PaymentMethod.BANK_TRANSFER
    )
    setup = invoices.bill_client(
        session, client, [Item(plans["Setup fee"])], tax_rate_ids=[vat], site_id=site_id
    )
    invoices.finalize(session, setup, send=False)


def _password() -> str:
    return os.environ.get("BRIDGE_DEMO_PASSWORD") or DEFAULT_DEMO_PASSWORD
