"""Clients and their WordPress sites."""

from __future__ import annotations

import functools
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Select, bindparam, case, func, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridge.auth.secrets import SecretBox
from bridge.billing import legal
from bridge.billing.custom_fields import validate_values
from bridge.billing.roles import default_role, get_role
from bridge.billing.validation import check_country, check_email, check_url, email_key
from bridge.core import clock
from bridge.core.errors import Conflict, Invalid, NotFound
from bridge.core.paging import Page
from bridge.core.transactions import PLAN_FOR_VALUES, WROTE
from bridge.models import (
    CLIENTS_STAMP,
    ChangeStamp,
    Client,
    ClientStatus,
    CustomFieldEntity,
    Invoice,
    Role,
    Site,
    Subscription,
)

ADDRESS_FIELDS = ("address_line1", "address_line2", "city", "postal_code", "state", "country")
# The client's registration and VAT numbers, printed on invoices to a
# business (bridge.billing.legal).
LEGAL_FIELDS = ("siren", "tax_id")
EDITABLE_FIELDS = (
    "name",
    "email",
    "company",
    *ADDRESS_FIELDS,
    *LEGAL_FIELDS,
    "role_id",
    "custom_fields",
)

SORTS = {
    "name": (Client.name, Client.id),
    "-name": (Client.name.desc(), Client.id.desc()),
    "email": (Client.email_key, Client.id),
    "-email": (Client.email_key.desc(), Client.id.desc()),
    "created_at": (Client.created_at, Client.id),
    "-created_at": (Client.created_at.desc(), Client.id.desc()),
    # The figures kept on each client by bridge.billing.metrics (indexed).
    "mrr": (Client.mrr, Client.id),
    "-mrr": (Client.mrr.desc(), Client.id.desc()),
    "net_billing": (Client.net_billing, Client.id),
    "-net_billing": (Client.net_billing.desc(), Client.id.desc()),
}


class RoleRef(NamedTuple):
    """A role as a list shows it next to a client (a tuple: one per row of
    the busiest list, cheaper to make than a dataclass)."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class ClientRow:
    """A client as the client list shows it (only the columns it needs),
    with the attribute names of ``Client`` so one schema reads both."""

    id: int
    name: str
    email: str
    company: str
    status: ClientStatus
    created_at: datetime
    role: RoleRef
    site_count: int
    mrr: int
    net_billing: int


def search_text(name: str, email: str, company: str) -> str:
    """What the list's text search looks in (Unicode-aware lower case)."""
    return f"{name} {email} {company}".lower()


def _refresh_search_text(client: Client) -> None:
    client.search_text = search_text(client.name, client.email, client.company or "")


def _check_unique_email(session: Session, email: str, exclude_id: int | None = None) -> None:
    query = select(Client.id).where(Client.email_key == email_key(email))
    if exclude_id is not None:
        query = query.where(Client.id != exclude_id)
    if session.scalar(query) is not None:
        raise Conflict(f"A client with the email {email} already exists.", code="duplicate_email")


def create_client(
    session: Session,
    *,
    name: str,
    email: str,
    company: str = "",
    role_id: int | None = None,
    custom_fields: dict | None = None,
    siren: str = "",
    tax_id: str = "",
    **address: str,
) -> Client:
    name = name.strip()
    if not name:
        raise Invalid("A client needs a name.", fields={"name": ["Required."]})
    email = check_email(email)
    _check_unique_email(session, email)
    role = get_role_for_client(session, role_id)
    unknown = set(address) - set(ADDRESS_FIELDS)
    if unknown:
        raise Invalid("Unknown fields.", fields={k: ["Unknown field."] for k in unknown})
    if "country" in address:
        address["country"] = check_country(address["country"])
    client = Client(
        name=name,
        email=email,
        email_key=email_key(email),
        company=company.strip(),
        siren=legal.check_siren(siren),
        tax_id=legal.check_vat_number(tax_id),
        role=role,
        status=ClientStatus.INACTIVE,
        custom_fields=validate_values(session, CustomFieldEntity.CLIENT, custom_fields or {}),
        created_at=clock.now(),
        **{key: address.get(key, "") for key in ADDRESS_FIELDS},
    )
    _refresh_search_text(client)
    session.add(client)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent request took the email first
        session.rollback()
        raise Conflict(
            f"A client with the email {email} already exists.", code="duplicate_email"
        ) from exc
    return client


def get_role_for_client(session: Session, role_id: int | None):
    if role_id is None:
        return default_role(session)
    try:
        return get_role(session, role_id)
    except NotFound as exc:
        raise Invalid("No such role.", fields={"role_id": ["No such role."]}) from exc


def get_client(session: Session, client_id: int) -> Client:
    client = session.get(Client, client_id)
    if client is None:
        raise NotFound("No such client.")
    return client


def update_client(session: Session, client: Client, changes: dict) -> Client:
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise Invalid("Unknown fields.", fields={k: ["Unknown field."] for k in unknown})
    if "name" in changes:
        if not changes["name"].strip():
            raise Invalid("A client needs a name.", fields={"name": ["Required."]})
        client.name = changes["name"].strip()
    if "email" in changes:
        email = check_email(changes["email"])
        _check_unique_email(session, email, exclude_id=client.id)
        client.email = email
        client.email_key = email_key(email)
    if "role_id" in changes:
        client.role = get_role_for_client(session, changes["role_id"])
    if "custom_fields" in changes:
        client.custom_fields = validate_values(
            session, CustomFieldEntity.CLIENT, changes["custom_fields"]
        )
    if "country" in changes:
        changes["country"] = check_country(changes["country"])
    if "siren" in changes:
        client.siren = legal.check_siren(changes["siren"])
    if "tax_id" in changes:
        client.tax_id = legal.check_vat_number(changes["tax_id"])
    for key in ("company", *ADDRESS_FIELDS):
        if key in changes:
            setattr(client, key, changes[key].strip())
    _refresh_search_text(client)
    client.updated_at = clock.now()
    return client


def delete_client(session: Session, client: Client) -> None:
    """Delete a client that was never billed; a billed client's history stays."""
    billed = session.scalar(select(Invoice.id).where(Invoice.client_id == client.id).limit(1))
    subscribed = session.scalar(
        select(Subscription.id).where(Subscription.client_id == client.id).limit(1)
    )
    if billed is not None or subscribed is not None:
        raise Conflict(
            "This client has invoices or subscriptions: their history is kept, "
            "so the client cannot be deleted.",
            code="client_has_billing_history",
        )
    session.delete(client)


def client_count(session: Session) -> int:
    """How many clients the business has (``count(*)`` over an index)."""
    return session.scalar(select(func.count()).select_from(Client)) or 0


def list_clients(
    session: Session,
    *,
    status: ClientStatus | None = None,
    text: str | None = None,
    sort: str = "name",
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """One page of clients with their site counts, and how many clients
    match: one statement whatever the page size or page number, reading
    only the listed columns."""
    if sort not in SORTS:
        raise Invalid(
            f"Sort by one of: {', '.join(SORTS)}.", fields={"sort": ["Unknown sort key."]}
        )
    needle = text.strip().lower() if text else ""
    parameters: dict[str, object] = {"limit": per_page, "offset": (page - 1) * per_page}
    if status is not None:
        parameters["status"] = status
    if needle:
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        # The pattern is built here, not in SQL, so PostgreSQL can reuse its plan.
        parameters["pattern"] = f"%{escaped}%"
    connection = session.connection()
    # A transaction that wrote may count clients no one else sees yet (or
    # ever, if it rolls back): it neither uses nor keeps a total.
    counted = _matching_totals if connection.info.get(WROTE) is False else None
    known = (status, needle)
    known_stamp, known_total = counted.get(known, ("", 0)) if counted is not None else ("", 0)
    parameters["known_stamp"], parameters["known_total"] = known_stamp, known_total
    # Core rows, not the ORM's: nothing here is an entity to load.
    rows = connection.execute(
        _client_page_statement(sort, status is not None, bool(needle)), parameters
    ).all()
    stamp, total = rows[0][:2]
    if counted is not None and stamp is not None and stamp != known_stamp:
        counted.keep(known, (stamp, total))
    rows = [row[2:] for row in rows if row[2] is not None]
    return Page(
        items=[
            ClientRow(
                id,
                name,
                email,
                company,
                status,
                created_at,
                RoleRef(role_id, role),
                sites,
                mrr,
                net,
            )
            for id, name, email, company, status, created_at, role_id, role, sites, mrr, net in rows
        ],
        total=total,
        page=page,
        per_page=per_page,
    )


@functools.cache
def _client_page_statement(sort: str, by_status: bool, by_text: bool) -> Select:
    """The client list's statement for a sort and the filters given, built
    once per process (building it cost about as much CPU as running it);
    the values are bound parameters: ``status``, ``pattern``, ``limit``,
    ``offset``."""
    filters = []
    if by_status:
        filters.append(Client.status == bindparam("status"))
    if by_text:
        filters.append(Client.search_text.like(bindparam("pattern"), escape="\\"))
    site_count = (
        select(func.count(Site.id))
        .where(Site.client_id == Client.id)
        .correlate(Client)
        .scalar_subquery()
    )
    columns = (
        Client.id,
        Client.name,
        Client.email,
        Client.company,
        Client.status,
        Client.created_at,
        Client.role_id,
        Role.name.label("role_name"),
        site_count.label("sites"),
        Client.mrr,
        Client.net_billing,
        func.row_number().over(order_by=SORTS[sort]).label("position"),
    )
    if by_text:
        # A search reads each candidate's row for its text anyway: one scan
        # along the sort's index, the page cut from it (PostgreSQL plans and
        # runs this in about half the time of the two-step form below).
        listed = (
            select(*columns)
            .join(Role, Role.id == Client.role_id)
            .where(*filters)
            .order_by(*SORTS[sort])
            .limit(bindparam("limit"))
            .offset(bindparam("offset"))
            .subquery()
        )
    else:
        # The page's ids first, from the sort's index alone (a late page
        # skips index entries, not table rows), then those clients.
        page_ids = (
            select(Client.id)
            .where(*filters)
            .order_by(*SORTS[sort])
            .limit(bindparam("limit"))
            .offset(bindparam("offset"))
            .subquery()
        )
        listed = (
            select(*columns)
            .join(page_ids, page_ids.c.id == Client.id)
            .join(Role, Role.id == Client.role_id)
            .subquery()
        )
    # count(*), not count(id): the narrow (status, search_text) index answers it alone.
    matching = select(func.count()).select_from(Client).where(*filters).scalar_subquery()
    # The clients' change stamp (migration 0031), read in the same snapshot
    # as the page: while it is the one read with the process's last count of
    # this filter, that count is still true, and PostgreSQL does not run the
    # count (a subquery in a CASE branch not taken is never executed). The
    # count was about half the statement's time (bench/api.py).
    stamp = select(ChangeStamp.stamp).where(ChangeStamp.name == CLIENTS_STAMP).scalar_subquery()
    head = select(stamp.label("stamp")).subquery()
    total = case(
        (head.c.stamp == bindparam("known_stamp"), bindparam("known_total")),
        else_=matching,
    )
    # The stamp and total joined to the page (outer: a page past the end is
    # one row with them and no client), so one round trip answers it all.
    return (
        select(head.c.stamp, total.label("total"), *(c for c in listed.c if c.key != "position"))
        .select_from(head)
        .outerjoin(listed, true())
        .order_by(listed.c.position)
        # A plan for the pattern and status given: a generic plan of the
        # search costs PostgreSQL ten times as much (bridge.db).
        .execution_options(**{PLAN_FOR_VALUES: True})
    )


class _Totals:
    """How many clients match a filter, with the change stamp read with the
    count: ``(status, text) -> (stamp, total)``, the most recent
    ``KEPT`` filters, for this process. Nothing here is trusted on its own:
    a total is used only when the stamp read with the page is the same."""

    KEPT = 512

    def __init__(self) -> None:
        self._totals: dict[tuple, tuple[str, int]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple, default: tuple[str, int]) -> tuple[str, int]:
        return self._totals.get(key, default)

    def keep(self, key: tuple, value: tuple[str, int]) -> None:
        with self._lock:
            self._totals.pop(key, None)
            self._totals[key] = value
            while len(self._totals) > self.KEPT:
                del self._totals[next(iter(self._totals))]

    def clear(self) -> None:
        with self._lock:
            self._totals.clear()


_matching_totals = _Totals()


# Sites ---------------------------------------------------------------------


def new_site_secret() -> str:
    return "bbs_" + secrets.token_urlsafe(32)


def create_site(
    session: Session, box: SecretBox, client: Client, *, name: str, url: str
) -> tuple[Site, str]:
    """Add a site to ``client``. Returns the site and its secret, which is
    shown this once: only its encrypted form is kept."""
    name = name.strip()
    if not name:
        raise Invalid("A site needs a name.", fields={"name": ["Required."]})
    secret = new_site_secret()
    now = clock.now()
    site = Site(
        public_id="site_" + secrets.token_hex(12),
        client=client,
        name=name,
        url=check_url(url),
        secret_encrypted=box.encrypt(secret),
        secret_rotated_at=now,
        disabled=False,
        created_at=now,
    )
    session.add(site)
    session.flush()
    return site, secret


def get_site(session: Session, site_id: int, client_id: int | None = None) -> Site:
    site = session.get(Site, site_id)
    if site is None or (client_id is not None and site.client_id != client_id):
        raise NotFound("No such site.")
    return site


def update_site(session: Session, site: Site, changes: dict) -> Site:
    if "name" in changes:
        if not changes["name"].strip():
            raise Invalid("A site needs a name.", fields={"name": ["Required."]})
        site.name = changes["name"].strip()
    if "url" in changes:
        site.url = check_url(changes["url"])
    if "disabled" in changes:
        site.disabled = changes["disabled"]
    site.updated_at = clock.now()
    return site


def rotate_site_secret(session: Session, box: SecretBox, site: Site) -> str:
    """Replace the site's secret; the old one stops working at once."""
    secret = new_site_secret()
    site.secret_encrypted = box.encrypt(secret)
    site.secret_rotated_at = clock.now()
    site.updated_at = site.secret_rotated_at
    return secret


def delete_site(session: Session, site: Site) -> None:
    session.delete(site)
