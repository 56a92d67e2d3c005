"""Import from Stripe, the business rules: what a Stripe customer, product,
price or subscription becomes in the bridge. Plain data in (Stripe's JSON
shapes as dicts, read by ``bridge.payments.stripe_import``), no Stripe here.

Every object is *decided* against the database as it stands (create,
update, unchanged, skip with a reason, conflict), and, unless it is a dry
run, the decision is applied at once in the caller's transaction. Because
each decision reads the current state and every imported row carries its
Stripe id, importing again changes nothing, and a run cut short between two
batches then started again ends in the same state as one uninterrupted run.

Keys: a client by its Stripe customer id, else by email (an email that
belongs to a client linked to another Stripe customer is a conflict, left
alone); a product by its Stripe product id; a plan by its Stripe price id
(plans never change terms: a price whose amount changed at Stripe becomes a
new plan and the old one is archived); a subscription by its Stripe
subscription id.

Stripe subscriptions are listed in the report; imported on request, each
becomes an active bridge subscription whose first bridge invoice is due when
the period Stripe already charged ends, so no period is billed twice. The
Stripe subscription must then end at that period end: the agency cancels it,
or the import asks Stripe to (``cancel_at_stripe``).
"""

from __future__ import annotations

import enum
from collections import Counter
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from sqlalchemy import ARRAY, String, any_, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from bridge.billing import audit, catalog, clients, metrics
from bridge.billing.business import get_settings, require_currency
from bridge.billing.roles import default_role
from bridge.billing.validation import check_country, check_email, email_key
from bridge.core import clock
from bridge.core.errors import Conflict, Invalid, NotFound
from bridge.models import (
    CatalogStatus,
    Client,
    ClientStatus,
    ImportJob,
    ImportJobStatus,
    IntervalUnit,
    Plan,
    PlanKind,
    Product,
    ProductCategory,
    Subscription,
    SubscriptionStatus,
)


class SubscriptionMode(enum.StrEnum):
    """What the import does with Stripe's subscriptions."""

    LIST = "list"  # only report them: Stripe keeps renewing them
    IMPORT = "import"  # bridge subscriptions from their current period end
    CANCEL_AT_STRIPE = "cancel-at-stripe"  # and ask Stripe to end them then


# Stripe subscriptions the bridge can take over (others end at Stripe).
TAKEN_OVER = ("active", "trialing", "past_due")

FIELD_LENGTHS = {
    "name": 200,
    "company": 200,
    "address_line1": 200,
    "address_line2": 200,
    "city": 100,
    "postal_code": 20,
    "state": 100,
    "tax_id": 50,
}


@dataclass
class Entry:
    """One Stripe object and what the import does (or did) with it.
    ``reason`` is a stable code for skips and conflicts."""

    kind: str  # client, product, plan, subscription
    stripe_id: str
    action: str  # create, update, replace, unchanged, skip, conflict, keep_at_stripe
    label: str
    reason: str | None = None
    detail: str = ""
    changes: list[str] = field(default_factory=list)
    bridge_id: int | None = None
    facts: dict = field(default_factory=dict)


@dataclass
class ImportReport:
    dry_run: bool
    subscription_mode: str = SubscriptionMode.LIST.value
    entries: list[Entry] = field(default_factory=list)
    # Stripe subscriptions asked to cancel at period end (after the commit).
    cancelled_at_stripe: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        """``{kind: {action: n}}``."""
        counted: dict[str, Counter] = {}
        for entry in self.entries:
            counted.setdefault(entry.kind, Counter())[entry.action] += 1
        return {kind: dict(counter) for kind, counter in counted.items()}

    @property
    def changed(self) -> int:
        """How many objects were (or would be) written."""
        return sum(e.action in ("create", "update", "replace") for e in self.entries)

    def as_dict(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "subscription_mode": self.subscription_mode,
            "counts": self.counts(),
            "entries": [asdict(entry) for entry in self.entries],
            "cancelled_at_stripe": list(self.cancelled_at_stripe),
        }


def _text(value, key: str) -> str:
    return (value or "").strip()[: FIELD_LENGTHS[key]]


def _timestamp(value) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


def id_of(value) -> str | None:
    """An id from a field that may hold the id or the expanded object."""
    return value.get("id") if isinstance(value, dict) else value


def skip_reason(price: dict, currency: str) -> str | None:
    """Why a Stripe price cannot become a plan (a stable code), or None."""
    if (price.get("currency") or "").upper() != currency:
        return "other_currency"
    if price.get("billing_scheme") == "tiered" or price.get("tiers_mode"):
        return "tiered"
    if (price.get("recurring") or {}).get("usage_type") == "metered":
        return "metered"
    if price.get("custom_unit_amount"):
        return "custom_unit_amount"
    if price.get("transform_quantity"):
        return "transform_quantity"
    if price.get("unit_amount") is None:
        return "no_unit_amount"
    return None


SKIP_DETAILS = {
    "other_currency": "its currency is not the business currency",
    "tiered": "tiered prices have no plan equivalent",
    "metered": "metered (usage-based) prices have no plan equivalent",
    "custom_unit_amount": "customer-chosen amounts have no plan equivalent",
    "transform_quantity": "packaged quantities have no plan equivalent",
    "no_unit_amount": "it has no whole unit amount",
    "invalid_terms": "its period is beyond what a plan allows",
    "no_email": "a client needs an email and this customer has none",
    "invalid_email": "its email is not a valid address",
    "deleted": "deleted at Stripe",
    "not_found": "no such customer at Stripe",
    "several_items": "it bills several prices; take it over by hand",
    "ends_at_stripe": "it already ends at Stripe at the end of its period",
    "unknown_client": "its customer is not imported",
    "price_not_imported": "its price is not an imported recurring plan",
}


def plan_terms(price: dict) -> tuple[PlanKind, IntervalUnit | None, int | None]:
    recurring = price.get("recurring")
    if price.get("type") == "one_time" or not recurring:
        return PlanKind.ONE_TIME, None, None
    return (
        PlanKind.RECURRING,
        IntervalUnit(recurring["interval"]),
        int(recurring.get("interval_count") or 1),
    )


class StripeImport:
    """One import run, fed batch by batch (customers, then products with
    their prices, then subscriptions); its ``report`` grows as it goes. The
    caller commits after each batch (or rolls back, on a dry run)."""

    def __init__(self, *, dry_run: bool, subscriptions: SubscriptionMode = SubscriptionMode.LIST):
        self.report = ImportReport(dry_run, SubscriptionMode(subscriptions).value)
        self.mode = SubscriptionMode(subscriptions)
        # Within a run, so that a dry run decides as the real run would:
        # emails taken by a customer of this run, customers that are (or
        # would be) clients, prices that are (or would be) recurring plans.
        self._emails: dict[str, str] = {}
        self._customers: set[str] = set()
        self._recurring_prices: set[str] = set()
        self.to_cancel_at_stripe: list[str] = []
        self._role = None

    @property
    def dry_run(self) -> bool:
        return self.report.dry_run

    def _add(self, entry: Entry) -> Entry:
        if entry.reason and not entry.detail:
            entry.detail = SKIP_DETAILS.get(entry.reason, "")
        self.report.entries.append(entry)
        return entry

    # Customers -> clients ------------------------------------------------------

    def customers(self, session: Session, batch: list[dict]) -> None:
        """A batch of customers: the clients they match (by Stripe id or
        email) are read in one query, the changed ones updated in one
        flush, the new ones inserted as rows in one ``INSERT ... RETURNING``
        and their audit rows (one per client, as a flush writes them) in
        one executemany."""
        emails = {}
        for customer in batch:
            with suppress(Invalid):
                emails[customer["id"]] = check_email(customer.get("email") or "")
        ids = {customer["id"] for customer in batch}
        keys = {email_key(email) for email in emails.values()}
        matching = list(
            session.scalars(
                select(Client).where(
                    or_(
                        _among(session, Client.stripe_customer_id, ids),
                        _among(session, Client.email_key, keys),
                    )
                )
            )
        )
        by_stripe_id = {c.stripe_customer_id: c for c in matching if c.stripe_customer_id in ids}
        by_email = {c.email_key: c for c in matching if c.email_key in keys}
        created: list[tuple[Entry, dict]] = []
        for customer in batch:
            entry, row = self._customer(
                session, customer, emails.get(customer["id"]), by_stripe_id, by_email
            )
            self._add(entry)
            if row is not None:
                created.append((entry, row))
        if not self.dry_run:
            session.flush()
            if created:
                self._insert_clients(session, created)

    def missing_customer(self, customer_id: str) -> None:
        self._add(Entry("client", customer_id, "skip", customer_id, reason="not_found"))

    def _customer(self, session, customer, email, by_stripe_id, by_email):
        sid = customer["id"]
        label = customer.get("name") or customer.get("email") or sid
        if customer.get("deleted"):
            return Entry("client", sid, "skip", label, reason="deleted"), None
        if not (customer.get("email") or "").strip():
            return Entry("client", sid, "skip", label, reason="no_email"), None
        if email is None:
            return Entry("client", sid, "skip", label, reason="invalid_email"), None
        key = email_key(email)
        wanted = client_fields(customer, email)
        client = by_stripe_id.get(sid)
        holder = by_email.get(key)
        if holder is not None and holder is not client and (client or holder.stripe_customer_id):
            # The email is another client's: one linked to another Stripe
            # customer, or (for a client already imported) any other.
            other = holder.stripe_customer_id or "none"
            return self._email_conflict(sid, label, email, holder.id, other), None
        if client is None and holder is None and self._emails.get(key, sid) != sid:
            # A customer earlier in this run takes the email.
            return self._email_conflict(sid, label, email, None, self._emails[key]), None
        if client is None and holder is not None:
            # A client made in the bridge with the same email: it is linked.
            client = holder
            changes = ["stripe_customer_id", *_client_changes(client, wanted)]
            action = "update"
        elif client is None:
            changes, action = sorted(wanted), "create"
        else:
            changes = _client_changes(client, wanted)
            action = "update" if changes else "unchanged"
        self._emails[key] = sid
        self._customers.add(sid)
        entry = Entry("client", sid, action, label, changes=changes)
        entry.bridge_id = client.id if client is not None else None
        if self.dry_run or action == "unchanged":
            return entry, None
        if client is None:
            return entry, self._new_client(session, sid, wanted, customer)
        clients.update_client(
            session,
            client,
            {k: wanted[k] for k in changes if k in clients.EDITABLE_FIELDS},
        )
        client.stripe_customer_id = sid
        if "tax_id" in changes:
            client.tax_id = wanted["tax_id"]
        if "card" in changes:
            for name, value in _card_fields(customer).items():
                setattr(client, name, value)
        return entry, None

    def _new_client(self, session: Session, sid: str, wanted: dict, customer: dict) -> dict:
        """The row of a client as ``clients.create_client`` makes one, its
        checks already done for the whole batch (email free, fields clean);
        every row has the same columns, for one executemany."""
        if self._role is None:
            self._role = default_role(session)
        company = wanted.get("company", "")
        card = _card_fields(customer) if "card" in wanted else dict.fromkeys(CARD_FIELDS)
        return {
            "name": wanted["name"],
            "email": wanted["email"],
            "email_key": email_key(wanted["email"]),
            "company": company,
            "search_text": clients.search_text(wanted["name"], wanted["email"], company),
            "role_id": self._role.id,
            "status": ClientStatus.INACTIVE,
            "custom_fields": {},
            "tax_id": wanted.get("tax_id", ""),
            "stripe_customer_id": sid,
            "created_at": clock.now(),
            **{key: wanted.get(key, "") for key in clients.ADDRESS_FIELDS},
            **card,
        }

    def _insert_clients(self, session: Session, created: list[tuple[Entry, dict]]) -> None:
        rows = [row for _entry, row in created]
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            # The ids first, from the table's sequence, then the rows as an
            # executemany of one short statement (psycopg pipelines it and
            # parses it once) rather than one long INSERT ... RETURNING that
            # psycopg parses anew every batch.
            ids = connection.scalars(
                select(
                    func.nextval(func.pg_get_serial_sequence(Client.__tablename__, "id"))
                ).select_from(func.generate_series(1, len(rows)))
            ).all()
            for (entry, row), client_id in zip(created, sorted(ids), strict=True):
                row["id"] = entry.bridge_id = client_id
            connection.execute(insert(Client), rows)
        else:
            inserted = connection.execute(
                insert(Client).returning(Client.stripe_customer_id, Client.id), rows
            )
            ids = dict(inserted.all())
            for entry, row in created:
                row["id"] = entry.bridge_id = ids[entry.stripe_id]
        audit.record_created(session, Client, rows)

    def _email_conflict(self, sid, label, email, client_id, other) -> Entry:
        held = f"client #{client_id}" if client_id else "another customer of this import"
        return Entry(
            "client",
            sid,
            "conflict",
            label,
            reason="email_taken",
            detail=f"{email} is the email of {held}, linked to Stripe customer {other}; "
            "nothing was changed: merge or rename one of them, then import again",
            bridge_id=client_id,
        )

    # Products and prices -> products and plans -------------------------------

    def products(self, session: Session, batch: list[tuple[dict, list[dict]]]) -> None:
        """Products, each with its prices: what they match is read in two
        queries, what is new written in one flush."""
        currency = require_currency(session)
        ids = [product["id"] for product, _prices in batch]
        price_ids = [price["id"] for _product, prices in batch for price in prices]
        products = {
            p.stripe_product_id: p
            for p in session.scalars(select(Product).where(Product.stripe_product_id.in_(ids)))
        }
        # The latest plan of each price (an older one was replaced).
        plans = {
            p.stripe_price_id: p
            for p in session.scalars(
                select(Plan).where(Plan.stripe_price_id.in_(price_ids)).order_by(Plan.id)
            )
        }
        created: list[tuple[Entry, Product | Plan]] = []
        for stripe_product, prices in batch:
            self._product(session, stripe_product, prices, currency, products, plans, created)
        if not self.dry_run:
            session.flush()
            for entry, obj in created:
                entry.bridge_id = obj.id

    def _product(self, session, stripe_product, prices, currency, products, plans, created):
        sid = stripe_product["id"]
        name = _text(stripe_product.get("name") or sid, "name")
        product = products.get(sid)
        retire = not stripe_product.get("active", True)
        if product is None:
            action, changes = "create", ["name"] + (["archived"] if retire else [])
        else:
            changes = ["name"] if product.name != name else []
            if retire and product.status == CatalogStatus.ACTIVE:
                changes.append("archived")
            action = "update" if changes else "unchanged"
        entry = self._add(Entry("product", sid, action, name, changes=changes))
        entry.bridge_id = product.id if product is not None else None
        if not self.dry_run:
            if product is None:
                product = Product(
                    name=name,
                    description=(stripe_product.get("description") or "").strip(),
                    category=ProductCategory.OTHER,
                    status=CatalogStatus.ACTIVE,
                    stripe_product_id=sid,
                    created_at=clock.now(),
                )
                session.add(product)
                created.append((entry, product))
            elif "name" in changes:
                catalog.update_product(session, product, {"name": name})
        for price in prices:
            self._add(
                self._price(
                    session, product, name, price, currency, plans.get(price["id"]), created
                )
            )
        if not self.dry_run and "archived" in changes:
            catalog.archive(product)

    def _price(self, session, product, product_name, price, currency, current, created):
        sid = price["id"]
        name = _text(price.get("nickname") or product_name, "name")
        label = f"{product_name}: {name}" if name != product_name else name
        reason = skip_reason(price, currency)
        if reason is None:
            try:
                kind, unit, count = plan_terms(price)
                catalog.check_plan_terms(kind, price["unit_amount"], unit, count, None)
            except (Invalid, ValueError, KeyError, TypeError):
                reason = "invalid_terms"
        facts = {
            "currency": (price.get("currency") or "").upper(),
            "unit_amount": price.get("unit_amount"),
            "type": price.get("type"),
        }
        if reason is not None:
            return Entry("plan", sid, "skip", label, reason=reason, facts=facts)
        retire = not price.get("active", True)
        amount = price["unit_amount"]
        if kind == PlanKind.RECURRING and not retire:
            self._recurring_prices.add(sid)
        terms = (kind, amount, unit, count)
        if (
            current is not None
            and (
                current.kind,
                current.amount,
                current.interval_unit,
                current.interval_count,
            )
            == terms
        ):
            changes = ["name"] if current.name != name else []
            if retire and current.status == CatalogStatus.ACTIVE:
                changes.append("archived")
            entry = Entry("plan", sid, "update" if changes else "unchanged", label, changes=changes)
            entry.bridge_id, entry.facts = current.id, facts
            if not self.dry_run and changes:
                if "name" in changes:
                    catalog.update_plan(session, current, {"name": name})
                if retire:
                    catalog.archive(current)
            return entry
        if current is None:
            entry = Entry("plan", sid, "create", label, changes=["amount"], facts=facts)
        else:
            entry = Entry(
                "plan",
                sid,
                "replace",
                label,
                reason="amount_changed",
                detail=f"its terms changed at Stripe: a new plan replaces plan #{current.id}, "
                "which is archived (plans never change)",
                changes=["amount"],
                facts=facts,
            )
        if self.dry_run:
            return entry
        # As ``catalog.create_plan`` makes one, its terms checked above; an
        # archived product takes it too (inactive prices come in archived).
        plan = Plan(
            product=product,
            name=name,
            kind=kind,
            amount=amount,
            currency=currency,
            interval_unit=unit,
            interval_count=count,
            billing_cycles=None,
            status=CatalogStatus.ACTIVE,
            duplicated_from_id=current.id if current is not None else None,
            stripe_price_id=sid,
            created_at=clock.now(),
        )
        session.add(plan)
        created.append((entry, plan))
        if current is not None:
            catalog.archive(current)
        if retire:
            catalog.archive(plan)
        return entry

    # Subscriptions -------------------------------------------------------------

    def subscriptions(self, session: Session, batch: list[dict]) -> None:
        for subscription in batch:
            self._add(self._subscription(session, subscription))

    def _subscription(self, session: Session, stripe_sub: dict) -> Entry:
        sid = stripe_sub["id"]
        items = (stripe_sub.get("items") or {}).get("data") or []
        first = items[0] if items else {}
        price_id = id_of(first.get("price") or first.get("plan"))
        customer = id_of(stripe_sub.get("customer"))
        start = _timestamp(
            stripe_sub.get("current_period_start") or first.get("current_period_start")
        )
        end = _timestamp(stripe_sub.get("current_period_end") or first.get("current_period_end"))
        client = session.scalar(select(Client).where(Client.stripe_customer_id == customer))
        facts = {
            "customer": customer,
            "client_id": client.id if client else None,
            "price": price_id,
            "quantity": first.get("quantity") or 1,
            "status": stripe_sub.get("status"),
            "current_period_end": end.isoformat() if end else None,
            "cancel_at_period_end": bool(stripe_sub.get("cancel_at_period_end")),
        }
        label = client.name if client is not None else (customer or sid)

        def entry(action, reason=None, **kwargs) -> Entry:
            return Entry("subscription", sid, action, label, reason=reason, facts=facts, **kwargs)

        taken = session.scalar(
            select(Subscription).where(Subscription.stripe_subscription_id == sid)
        )
        if taken is not None:
            self._cancel_at_stripe_if_asked(stripe_sub)
            return entry(
                "unchanged",
                detail=f"taken over by subscription #{taken.id}, first billed by the bridge "
                "when Stripe's paid period ends",
                bridge_id=taken.id,
            )
        if self.mode == SubscriptionMode.LIST:
            return entry(
                "keep_at_stripe",
                detail="left at Stripe, which keeps renewing it; import it to have the bridge "
                "bill from its current period end (and cancel it at Stripe then)",
            )
        if stripe_sub.get("status") not in TAKEN_OVER:
            return entry(
                "skip",
                "inactive_status",
                detail=f"it is {stripe_sub.get('status')} at Stripe: only active, trialing "
                "and past-due subscriptions are taken over",
            )
        if len(items) != 1:
            return entry("skip", "several_items")
        if stripe_sub.get("cancel_at_period_end"):
            return entry("skip", "ends_at_stripe")
        if client is None and customer not in self._customers:
            return entry("skip", "unknown_client")
        plan = (
            session.scalars(
                select(Plan)
                .where(
                    Plan.stripe_price_id == price_id,
                    Plan.kind == PlanKind.RECURRING,
                    Plan.status == CatalogStatus.ACTIVE,
                )
                .order_by(Plan.id.desc())
                .limit(1)
            ).first()
            if price_id
            else None
        )
        if plan is None and not (self.dry_run and price_id in self._recurring_prices):
            return entry("skip", "price_not_imported")
        if end is None or start is None:
            return entry("skip", "inactive_status", detail="Stripe gave no current period")
        detail = (
            f"the bridge bills it from {end.date().isoformat()}, when the period Stripe "
            "charged ends"
        )
        if self.mode == SubscriptionMode.CANCEL_AT_STRIPE:
            detail += "; Stripe is asked to cancel it at that period end"
        else:
            detail += "; cancel it at Stripe at that period end, or it is billed twice"
        result = entry("create", detail=detail, changes=["status", "current_period_end"])
        if self.dry_run:
            return result
        subscription = Subscription(
            client_id=client.id,
            plan_id=plan.id,
            status=SubscriptionStatus.ACTIVE,
            quantity=facts["quantity"],
            unit_amount=plan.amount,
            currency=plan.currency,
            tax_rate_ids=[],
            # Its periods are counted from Stripe's current one, whose end is
            # kept as Stripe has it: the first renewal is due at that moment.
            anchor_at=start,
            period_index=0,
            current_period_start=start,
            current_period_end=end,
            cycles_invoiced=0,
            stripe_subscription_id=sid,
            created_at=clock.now(),
        )
        session.add(subscription)
        session.flush()
        metrics.refresh_client(session, client.id)
        result.bridge_id = subscription.id
        self._cancel_at_stripe_if_asked(stripe_sub)
        return result

    def _cancel_at_stripe_if_asked(self, stripe_sub: dict) -> None:
        if self.mode == SubscriptionMode.CANCEL_AT_STRIPE and not stripe_sub.get(
            "cancel_at_period_end"
        ):
            self.to_cancel_at_stripe.append(stripe_sub["id"])


def _among(session: Session, column, values):
    """``column IN values``. On PostgreSQL as ``= ANY`` one array: a short
    statement, the same for every batch (prepared once), rather than one
    placeholder per value."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(list(values), ARRAY(String)))
    return column.in_(values)


def client_fields(customer: dict, email: str) -> dict:
    """A client's fields from a Stripe customer (only those Stripe has)."""
    wanted = {
        "name": _text(customer.get("name") or email, "name"),
        "email": email,
    }
    company = (customer.get("metadata") or {}).get("company")
    if company:
        wanted["company"] = _text(company, "company")
    address = customer.get("address")
    if address:
        wanted.update(
            address_line1=_text(address.get("line1"), "address_line1"),
            address_line2=_text(address.get("line2"), "address_line2"),
            city=_text(address.get("city"), "city"),
            postal_code=_text(address.get("postal_code"), "postal_code"),
            state=_text(address.get("state"), "state"),
        )
        try:
            wanted["country"] = check_country(address.get("country") or "")
        except Invalid:
            wanted["country"] = ""
    tax_ids = (customer.get("tax_ids") or {}).get("data") or []
    if tax_ids:
        wanted["tax_id"] = _text(tax_ids[0].get("value"), "tax_id")
    if _card(customer) is not None:
        wanted["card"] = True
    return wanted


def _client_changes(client: Client, wanted: dict) -> list[str]:
    changes = [
        key
        for key, value in wanted.items()
        if key != "card"
        and (
            email_key(value) != client.email_key
            if key == "email"
            else getattr(client, key) != value
        )
    ]
    # A card saved in the bridge is never replaced by Stripe's default.
    if "card" in wanted and not client.default_payment_method_id:
        changes.append("card")
    return sorted(changes)


def _card(customer: dict) -> dict | None:
    """The customer's default card: Stripe's ``invoice_settings.
    default_payment_method`` expanded to the payment method (its id alone
    when not expanded)."""
    method = (customer.get("invoice_settings") or {}).get("default_payment_method")
    if isinstance(method, str):
        return {"id": method}
    if isinstance(method, dict) and method.get("type", "card") == "card":
        return method
    return None


CARD_FIELDS = (
    "default_payment_method_id",
    "card_brand",
    "card_last4",
    "card_exp_month",
    "card_exp_year",
)


def _card_fields(customer: dict) -> dict:
    """The client's saved card, from the customer's default one."""
    method = _card(customer)
    card = method.get("card") or {}
    return {
        "default_payment_method_id": method["id"],
        "card_brand": (card.get("brand") or "")[:20] or None,
        "card_last4": (card.get("last4") or "")[:4] or None,
        "card_exp_month": card.get("exp_month"),
        "card_exp_year": card.get("exp_year"),
    }


# Import jobs (the API's imports, run in the background) ----------------------


def queue_job(
    session: Session,
    *,
    dry_run: bool,
    customers: list[str] | None,
    subscriptions: SubscriptionMode,
    requested_by: str = "",
    staff_id: int | None = None,
) -> ImportJob:
    """A queued import from Stripe. Refused (``currency_not_set``) before
    the business currency is chosen: plans are in that currency. Asked for
    by a staff user in the Hub (``staff_id``), its changes are logged as
    theirs; else as the API token's (``requested_by``)."""
    require_currency(session)
    if not get_settings(session).stripe_secret_key_encrypted:
        raise Conflict(
            "Connect Stripe first: the import reads from the Stripe account.",
            code="stripe_not_configured",
        )
    options = {"customers": customers, "subscriptions": SubscriptionMode(subscriptions).value}
    if staff_id is not None:
        options["staff_id"] = staff_id
    job = ImportJob(
        source="stripe",
        status=ImportJobStatus.QUEUED,
        dry_run=dry_run,
        options=options,
        done=0,
        requested_by=requested_by[:300],
        created_at=clock.now(),
    )
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, job_id: int) -> ImportJob:
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFound("No such import.")
    return job


def job_started(session: Session, job: ImportJob) -> None:
    job.status = ImportJobStatus.RUNNING
    job.started_at = clock.now()


def job_progressed(session: Session, job_id: int, read: int) -> None:
    """``read`` more Stripe objects went through the import."""
    session.execute(
        update(ImportJob).where(ImportJob.id == job_id).values(done=ImportJob.done + read)
    )


def job_finished(session: Session, job: ImportJob, report: ImportReport) -> None:
    job.status = ImportJobStatus.SUCCEEDED
    job.report = report.as_dict()
    job.finished_at = clock.now()


def job_failed(session: Session, job: ImportJob, code: str, message: str, report=None) -> None:
    """The import stopped (Stripe unreachable, a refusal): what it did so far
    is committed, running it again completes it."""
    job.status = ImportJobStatus.FAILED
    job.error_code = code[:60]
    job.error = message[:500]
    job.report = report.as_dict() if report is not None else None
    job.finished_at = clock.now()
