"""Import from Stripe through ``StripeApi`` and the billing rules, on SQLite
and PostgreSQL, against ``responses`` fixtures in Stripe's documented shapes
(prices, tax ids, subscriptions, lists paged with ``has_more``): a dry run
that writes nothing and predicts the real run, a re-run that changes
nothing, a crash between batches then a re-run, a rate-limited page retried,
email conflicts, the price kinds that are skipped and why, a changed amount,
and Stripe's subscriptions listed, taken over, and cancelled at Stripe only
when asked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import responses
import time_machine
from sqlalchemy import select

from bridge.billing import clients as client_domain
from bridge.billing.stripe_import import StripeImport
from bridge.models import CatalogStatus, Client, Plan, PlanKind, Product, Subscription
from bridge.payments.stripe.client import StripeApi
from bridge.payments.stripe_import import import_from_stripe
from tests import shop as shops
from tests.conftest import snapshot
from tests.payments import stripe_shapes as shapes
from tests.payments.conftest import SECRET_KEY

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PERIOD_START = int(datetime(2026, 2, 15, tzinfo=UTC).timestamp())
PERIOD_END = int(datetime(2026, 3, 15, tzinfo=UTC).timestamp())
CUSTOMERS = 210  # three pages of 100


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def business(db):
    with db.session() as s:
        shops.open_business(s)


@pytest.fixture
def fake():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        stripe = shapes.FakeStripe(mock)
        stripe.lists["customers"] = [
            shapes.customer(f"cus_{n:04d}", f"client{n}@example.com", f"Client {n}")
            for n in range(CUSTOMERS)
        ]
        first = stripe.lists["customers"][1]
        first["tax_ids"]["data"] = [shapes.tax_id("cus_0001", "DE123456789")]
        first["address"] = {
            "city": "Berlin",
            "country": "DE",
            "line1": "Unter den Linden 1",
            "line2": None,
            "postal_code": "10117",
            "state": None,
        }
        first["invoice_settings"]["default_payment_method"] = shapes.card_method(
            "pm_0001", "cus_0001", "4444"
        )
        stripe.lists["customers"][2]["email"] = None  # skipped: no email
        hosting = shapes.price("price_monthly", "prod_hosting", 2900, nickname="Monthly")
        stripe.lists["products"] = [
            shapes.product("prod_hosting", "Hosting"),
            shapes.product("prod_legacy", "Legacy", active=False),
        ]
        stripe.lists["prices"] = [
            hosting,
            shapes.price("price_setup", "prod_hosting", 15000, interval=None, nickname="Setup"),
            shapes.price("price_yearly", "prod_hosting", 29000, interval="year"),
            shapes.price("price_old", "prod_hosting", 1900, active=False, nickname="Old"),
            shapes.price("price_usd", "prod_hosting", 3000, currency="usd"),
            shapes.price(
                "price_tiered",
                "prod_hosting",
                None,
                billing_scheme="tiered",
                tiers_mode="graduated",
            ),
            shapes.price(
                "price_metered",
                "prod_hosting",
                10,
                recurring={
                    "aggregate_usage": "sum",
                    "interval": "month",
                    "interval_count": 1,
                    "trial_period_days": None,
                    "usage_type": "metered",
                },
            ),
            shapes.price(
                "price_custom",
                "prod_hosting",
                None,
                interval=None,
                custom_unit_amount={"maximum": None, "minimum": 500, "preset": 1000},
            ),
            shapes.price("price_legacy", "prod_legacy", 900),
        ]
        stripe.lists["subscriptions"] = [
            shapes.subscription(
                "sub_active", "cus_0001", hosting, start=PERIOD_START, end=PERIOD_END
            ),
            shapes.subscription(
                "sub_usd",
                "cus_0003",
                stripe.lists["prices"][4],
                start=PERIOD_START,
                end=PERIOD_END,
            ),
            shapes.subscription(
                "sub_ending",
                "cus_0004",
                hosting,
                start=PERIOD_START,
                end=PERIOD_END,
                cancel_at_period_end=True,
            ),
            shapes.subscription(
                "sub_incomplete",
                "cus_0005",
                hosting,
                status="incomplete",
                start=PERIOD_START,
                end=PERIOD_END,
            ),
        ]
        yield stripe


@pytest.fixture
def stripe_api():
    return StripeApi(SECRET_KEY, max_network_retries=2, retry_delay=0.0, rate_limit=0)


def run(db, stripe_api, *, dry_run=False, subscriptions="list", batch=100, **kwargs):
    importer = StripeImport(dry_run=dry_run, subscriptions=subscriptions)
    with db.session() as session:
        return import_from_stripe(session, stripe_api, importer, batch=batch, **kwargs)


def by_id(report, kind: str) -> dict:
    return {e.stripe_id: e for e in report.entries if e.kind == kind}


def end_state(db) -> dict:
    """What the import made, without the bridge's own ids and times."""
    with db.session() as s:
        return {
            "clients": sorted(
                [
                    (c.stripe_customer_id, c.name, c.email, c.tax_id, c.card_last4, c.country)
                    for c in s.scalars(select(Client))
                ],
                key=repr,
            ),
            "products": sorted(
                (p.stripe_product_id, p.name, p.status.value) for p in s.scalars(select(Product))
            ),
            "plans": sorted(
                (p.stripe_price_id, p.name, p.kind.value, p.amount, p.status.value)
                for p in s.scalars(select(Plan))
                if p.stripe_price_id
            ),
            "subscriptions": sorted(
                (x.stripe_subscription_id, x.status.value, x.current_period_end.isoformat())
                for x in s.scalars(select(Subscription))
            ),
        }


def assert_imported(db) -> None:
    """The end state of one full import of the ``fake`` account."""
    state = end_state(db)
    assert len(state["clients"]) == CUSTOMERS - 1  # one has no email
    assert ("cus_0001", "Client 1", "client1@example.com", "DE123456789", "4444", "DE") in state[
        "clients"
    ]
    assert state["products"] == [
        ("prod_hosting", "Hosting", "active"),
        ("prod_legacy", "Legacy", "archived"),
    ]
    assert state["plans"] == [
        ("price_legacy", "Legacy", "recurring", 900, "active"),
        ("price_monthly", "Monthly", "recurring", 2900, "active"),
        ("price_old", "Old", "recurring", 1900, "archived"),
        ("price_setup", "Setup", "one_time", 15000, "active"),
        ("price_yearly", "Hosting", "recurring", 29000, "active"),
    ]


def test_a_dry_run_writes_nothing_and_tells_what_the_real_run_does(db, business, fake, stripe_api):
    before = snapshot(db)
    dry = run(db, stripe_api, dry_run=True)
    assert snapshot(db) == before
    assert fake.pages("customers") == 3  # 100 + 100 + 10, has_more paging
    assert dry.counts()["client"] == {"create": CUSTOMERS - 1, "skip": 1}

    real = run(db, stripe_api)
    assert real.counts() == dry.counts()
    assert [(e.kind, e.stripe_id, e.action, e.reason) for e in real.entries] == [
        (e.kind, e.stripe_id, e.action, e.reason) for e in dry.entries
    ]
    assert_imported(db)
    with db.session() as s:
        client = s.scalar(select(Client).where(Client.stripe_customer_id == "cus_0001"))
        assert (client.default_payment_method_id, client.card_brand) == ("pm_0001", "visa")
        assert (client.card_exp_month, client.card_exp_year) == (8, 2030)
        assert client.address_line1 == "Unter den Linden 1"


def test_importing_again_changes_nothing(db, business, fake, stripe_api):
    run(db, stripe_api)
    before = snapshot(db)
    again = run(db, stripe_api)
    assert again.changed == 0
    assert {e.action for e in again.entries} <= {"unchanged", "skip", "keep_at_stripe"}
    assert snapshot(db) == before


def test_the_import_is_in_the_audit_log(db, business, fake, stripe_api):
    from bridge.models import AuditEntry

    run(db, stripe_api)
    with db.session() as s:
        actions = [(e.object_type, e.action) for e in s.scalars(select(AuditEntry))]
    assert actions.count(("client", "client.created")) == CUSTOMERS - 1
    assert ("plan", "plan.created") in actions


def test_a_crash_between_batches_then_a_rerun_ends_as_one_run(db, business, fake, stripe_api):
    batches = []

    def crash_after_two(phase, _n):
        batches.append(phase)
        if len(batches) == 2:
            raise KeyboardInterrupt  # the process is stopped

    with pytest.raises(KeyboardInterrupt):
        run(db, stripe_api, batch=50, progress=crash_after_two)
    with db.session() as s:
        # Two whole batches committed (one customer has no email), nothing more.
        assert len(list(s.scalars(select(Client)))) == 99

    rerun = run(db, stripe_api, batch=50)
    assert rerun.counts()["client"] == {"unchanged": 99, "create": CUSTOMERS - 100, "skip": 1}
    assert_imported(db)
    assert run(db, stripe_api).changed == 0


def test_a_rate_limited_page_is_retried(db, business, fake, stripe_api):
    fake.throttle_once = {("customers", "cus_0099"), ("prices", None)}
    report = run(db, stripe_api)
    assert fake.pages("customers") == 4  # three pages, the second one twice
    assert fake.pages("prices") == 2
    assert report.counts()["client"]["create"] == CUSTOMERS - 1


def test_price_kinds_without_a_plan_equivalent_are_skipped_with_their_reason(
    db, business, fake, stripe_api
):
    plans = by_id(run(db, stripe_api), "plan")
    assert {sid: e.reason for sid, e in plans.items() if e.action == "skip"} == {
        "price_usd": "other_currency",
        "price_tiered": "tiered",
        "price_metered": "metered",
        "price_custom": "custom_unit_amount",
    }
    assert all(plans[sid].detail for sid in ("price_usd", "price_tiered"))
    with db.session() as s:
        skipped = s.scalars(
            select(Plan).where(Plan.stripe_price_id.in_(["price_usd", "price_tiered"]))
        )
        assert list(skipped) == []


def test_an_email_of_a_client_linked_to_another_customer_is_a_conflict(
    db, business, fake, stripe_api
):
    with db.session() as s:
        taken = client_domain.create_client(s, name="Taken", email="client7@example.com")
        taken.stripe_customer_id = "cus_elsewhere"
        client_domain.create_client(s, name="Made here", email="client8@example.com")
    before = end_state(db)
    clients = by_id(run(db, stripe_api), "client")
    assert clients["cus_0007"].action == "conflict"
    assert clients["cus_0007"].reason == "email_taken"
    assert "cus_elsewhere" in clients["cus_0007"].detail
    # A client made in the bridge with the customer's email is linked to it.
    assert clients["cus_0008"].action == "update"
    assert "stripe_customer_id" in clients["cus_0008"].changes
    with db.session() as s:
        kept = s.scalar(select(Client).where(Client.email_key == "client7@example.com"))
        assert (kept.name, kept.stripe_customer_id) == ("Taken", "cus_elsewhere")
        linked = s.scalar(select(Client).where(Client.email_key == "client8@example.com"))
        assert linked.stripe_customer_id == "cus_0008"
    assert len(end_state(db)["clients"]) == len(before["clients"]) + CUSTOMERS - 3


def test_two_customers_with_one_email_conflict_in_the_dry_run_as_in_the_real_run(
    db, business, fake, stripe_api
):
    fake.lists["customers"][11]["email"] = "client10@example.com"
    dry = by_id(run(db, stripe_api, dry_run=True), "client")
    real = by_id(run(db, stripe_api), "client")
    assert dry["cus_0011"].action == real["cus_0011"].action == "conflict"


def test_a_changed_amount_makes_a_new_plan_and_archives_the_old(db, business, fake, stripe_api):
    run(db, stripe_api)
    fake.lists["prices"][0]["unit_amount"] = 3500
    plans = by_id(run(db, stripe_api), "plan")
    assert plans["price_monthly"].action == "replace"
    assert plans["price_monthly"].reason == "amount_changed"
    with db.session() as s:
        old, new = s.scalars(
            select(Plan).where(Plan.stripe_price_id == "price_monthly").order_by(Plan.id)
        )
        assert (old.amount, old.status) == (2900, CatalogStatus.ARCHIVED)
        assert (new.amount, new.status, new.duplicated_from_id) == (
            3500,
            CatalogStatus.ACTIVE,
            old.id,
        )
    assert by_id(run(db, stripe_api), "plan")["price_monthly"].action == "unchanged"


def test_stripe_subscriptions_are_listed_and_left_at_stripe_by_default(
    db, business, fake, stripe_api
):
    subscriptions = by_id(run(db, stripe_api), "subscription")
    active = subscriptions["sub_active"]
    assert active.action == "keep_at_stripe"
    assert active.facts["price"] == "price_monthly"
    assert active.facts["status"] == "active"
    assert active.facts["current_period_end"] == "2026-03-15T00:00:00+00:00"
    assert active.label == "Client 1"
    assert end_state(db)["subscriptions"] == []
    assert fake.updates == []


def test_imported_subscriptions_start_at_the_end_of_the_period_stripe_charged(
    db, business, fake, stripe_api
):
    report = run(db, stripe_api, subscriptions="import")
    subscriptions = by_id(report, "subscription")
    assert subscriptions["sub_active"].action == "create"
    assert {sid: e.reason for sid, e in subscriptions.items() if e.action == "skip"} == {
        "sub_usd": "price_not_imported",
        "sub_ending": "ends_at_stripe",
        "sub_incomplete": "inactive_status",
    }
    with db.session() as s:
        taken = s.scalar(select(Subscription))
        assert taken.stripe_subscription_id == "sub_active"
        assert taken.current_period_end == datetime(2026, 3, 15, tzinfo=UTC)
        assert taken.cycles_invoiced == 0 and taken.plan.amount == 2900
        assert taken.client.mrr == 2900
    assert fake.updates == []  # Stripe is not asked unless told to
    assert run(db, stripe_api, subscriptions="import").changed == 0


def test_the_dry_run_of_a_takeover_tells_what_the_takeover_does(db, business, fake, stripe_api):
    fake.lists["prices"][0]["active"] = False  # its plan comes in archived: no takeover
    fake.lists["subscriptions"].append(
        shapes.subscription(
            "sub_yearly",
            "cus_0006",
            fake.lists["prices"][2],
            start=PERIOD_START,
            end=PERIOD_END,
        )
    )
    dry = by_id(run(db, stripe_api, dry_run=True, subscriptions="import"), "subscription")
    real = by_id(run(db, stripe_api, subscriptions="import"), "subscription")
    assert {sid: (e.action, e.reason) for sid, e in dry.items()} == {
        sid: (e.action, e.reason) for sid, e in real.items()
    }
    assert real["sub_yearly"].action == "create"
    assert real["sub_active"].reason == "price_not_imported"


def test_the_renewal_comes_from_the_bridge_only_when_stripe_s_period_ends(
    db, business, fake, stripe_api
):
    from bridge.billing import renewals

    run(db, stripe_api, subscriptions="import")
    with db.session() as s:
        assert renewals.renew_due(s, NOW).renewed == 0
    with db.session() as s:
        report = renewals.renew_due(s, datetime(2026, 3, 15, 0, 1, tzinfo=UTC))
        assert report.renewed == 1


def test_stripe_is_asked_to_cancel_at_period_end_only_when_told_to(db, business, fake, stripe_api):
    report = run(db, stripe_api, subscriptions="cancel-at-stripe")
    assert report.cancelled_at_stripe == ["sub_active"]
    assert fake.updates == [("sub_active", {"cancel_at_period_end": "true"})]
    again = run(db, stripe_api, subscriptions="cancel-at-stripe")
    assert again.cancelled_at_stripe == [] and again.changed == 0
    assert len(fake.updates) == 1


def test_some_customers_only(db, business, fake, stripe_api):
    report = run(db, stripe_api, customers=["cus_0001", "cus_missing"], subscriptions="import")
    clients = by_id(report, "client")
    assert clients["cus_0001"].action == "create"
    assert clients["cus_missing"].reason == "not_found"
    assert set(by_id(report, "subscription")) == {"sub_active"}
    assert len(end_state(db)["clients"]) == 1


def test_an_inactive_price_on_an_archived_product_comes_in_archived(db, business, fake, stripe_api):
    fake.lists["prices"][-1]["active"] = False
    run(db, stripe_api)
    with db.session() as s:
        plan = s.scalar(select(Plan).where(Plan.stripe_price_id == "price_legacy"))
        assert plan.status == CatalogStatus.ARCHIVED
        assert plan.product.status == CatalogStatus.ARCHIVED
        assert plan.kind == PlanKind.RECURRING


# localstripe: customers, products and plans of a stateful fake Stripe -------


def test_customers_products_and_plans_from_localstripe(db, business, localstripe):
    import stripe

    fake = stripe.StripeClient(
        SECRET_KEY, base_addresses={"api": localstripe.url}, max_network_retries=0
    )
    card = fake.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 11, "exp_year": 2031, "cvc": "123"},
        }
    )
    customer = fake.v1.customers.create(
        params={
            "name": "Émilie Durand",
            "email": "emilie@example.fr",
            "address": {"line1": "3 rue Lepic", "city": "Paris", "country": "FR"},
            "payment_method": card.id,
            "invoice_settings": {"default_payment_method": card.id},
        }
    )
    product = fake.v1.products.create(params={"name": "Maintenance"})
    fake.v1.plans.create(
        params={
            "id": "plan_maintenance",
            "product": product.id,
            "amount": 4900,
            "currency": "eur",
            "interval": "month",
        }
    )
    api = StripeApi(SECRET_KEY, api_base=localstripe.url, max_network_retries=0, rate_limit=0)
    dry = run(db, api, dry_run=True)
    assert dry.counts() == {
        "client": {"create": 1},
        "product": {"create": 1},
        "plan": {"create": 1},
    }
    run(db, api)
    with db.session() as s:
        client = s.scalar(select(Client))
        assert (client.stripe_customer_id, client.name, client.city) == (
            customer.id,
            "Émilie Durand",
            "Paris",
        )
        assert (client.default_payment_method_id, client.card_last4) == (card.id, "4242")
        plan = s.scalar(select(Plan))
        assert (plan.stripe_price_id, plan.amount, plan.interval_unit.value) == (
            "plan_maintenance",
            4900,
            "month",
        )
        assert plan.product.stripe_product_id == product.id
    assert run(db, api).changed == 0
