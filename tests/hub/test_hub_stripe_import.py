"""Issue 15, *Import from Stripe* in the Hub (Setup): the empty state without
Stripe, a dry run listing what Stripe holds (creates, updates, skips with
their reasons, a conflict, Stripe's subscriptions and what the import does
with them) that changes nothing, applying it to some customers with the
Stripe subscriptions cancelled at period end, a bad choice said on the
form, and Stripe unreachable or rate limiting as a clear message. Stripe is
``responses`` answering in Stripe's documented shapes, as the import's own
tests do."""

from __future__ import annotations

import html
import re
import time

import pytest
import responses
from sqlalchemy import func, select

from bridge.billing import business, clients
from bridge.billing.business import get_settings
from bridge.models import AuditEntry, Client, ImportJob, Subscription
from tests.hub.conftest import Hub, add_staff
from tests.payments import stripe_shapes as shapes

SECRET_KEY = "sk_test_hubimport00"
PERIOD_START = 1_796_083_200  # 2026-12-01
PERIOD_END = 1_798_761_600  # 2027-01-01
LONG_NAME = "Établissements Dupont-Fontaine de la Rivière et Associés Internationaux " * 2


@pytest.fixture
def eur(db):
    with db.session() as s:
        business.set_currency(s, "EUR", confirm=True)


@pytest.fixture
def connected(app, db, eur):
    box = app.extensions["bridge.secret_box"]
    with db.session() as s:
        get_settings(s).stripe_secret_key_encrypted = box.encrypt(SECRET_KEY)


@pytest.fixture
def taken_email(db):
    """A client of the bridge already linked to another Stripe customer,
    whose email a Stripe customer also has: a conflict."""
    with db.session() as s:
        client = clients.create_client(s, name="Carol (bridge)", email="carol@example.com")
        client.stripe_customer_id = "cus_other"
        s.flush()
        return client.id


@pytest.fixture
def fake():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        stripe = shapes.FakeStripe(mock)
        seo = shapes.price("price_seo", "prod_seo", 9900, nickname="Monthly SEO")
        stripe.lists["customers"] = [
            shapes.customer("cus_ann", "ann@example.com", "Ann"),
            shapes.customer("cus_long", "long@example.com", LONG_NAME),
            shapes.customer("cus_carol", "carol@example.com", "Carol"),
            shapes.customer("cus_nomail", None, "No Mail"),
        ]
        stripe.lists["products"] = [shapes.product("prod_seo", "SEO")]
        stripe.lists["prices"] = [
            seo,
            shapes.price("price_usd", "prod_seo", 12000, currency="usd", nickname="SEO in USD"),
        ]
        stripe.lists["subscriptions"] = [
            shapes.subscription("sub_ann", "cus_ann", seo, start=PERIOD_START, end=PERIOD_END),
        ]
        yield stripe


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def finished(hub: Hub, url: str, timeout: float = 60.0) -> str:
    """The job's page once the job has ended (it polls itself meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        page = text_of(hub.client.get(url))
        if 'hx-trigger="every 1s"' not in page or time.monotonic() > deadline:
            return page
        time.sleep(0.05)


def dry_run(hub: Hub) -> tuple[str, str]:
    started = hub.post("/setup/import-stripe", page="/setup/import-stripe")
    assert started.status_code == 302, started.data
    url = started.headers["Location"]
    assert re.fullmatch(r"/setup/import-stripe/\d+", url)
    return url, finished(hub, url)


def jobs(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(ImportJob))


def row(page: str, key: str) -> str:
    """The report's (last) row of a Stripe object, or a row by its id."""
    start = max(page.rfind(f'data-stripe-id="{key}"'), page.rfind(f'id="{key}"'))
    assert start >= 0, key
    return page[start : page.index("</tr>", start)]


def plain(markup: str) -> str:
    """A row's words, without its tags."""
    return " ".join(re.sub(r"<[^>]+>", " ", markup.split(">", 1)[1]).split())


def test_without_stripe_the_screen_says_how_to_connect_it(hub, db, eur):
    page = text_of(hub.client.get("/setup/import-stripe"))
    assert 'id="import-not-connected"' in page and "Stripe is not connected" in page
    assert 'href="/setup/billing-account"' in page  # the way to connect it
    assert 'href="/setup/import-stripe" aria-current="page"' in page  # in Setup's menu
    assert 'id="dry-run-form"' not in page
    refused = hub.post("/setup/import-stripe", page="/setup/import-stripe")
    assert refused.status_code == 409
    assert "Connect Stripe first" in text_of(refused)
    assert jobs(db) == 0


def test_without_a_currency_the_screen_asks_for_it_first(hub, db):
    page = text_of(hub.client.get("/setup/import-stripe"))
    assert 'id="import-not-connected"' in page  # neither Stripe nor a currency yet
    with db.session() as s:
        get_settings(s).stripe_secret_key_encrypted = b"x"
    page = text_of(hub.client.get("/setup/import-stripe"))
    assert 'id="import-no-currency"' in page and 'href="/setup/payments"' in page


def test_a_dry_run_reports_what_stripe_holds_and_changes_nothing(
    hub, db, connected, taken_email, fake
):
    _url, page = dry_run(hub)
    assert "A dry run: nothing was changed" in page
    assert plain(row(page, "count-client")) == "Clients Conflict 1 · Would create 2 · Skipped 1"
    assert plain(row(page, "count-plan")) == "Plans (Stripe prices) Would create 1 · Skipped 1"
    assert "Would create" in row(page, "cus_ann")
    # The conflict names the client holding the email, and links to it.
    carol = row(page, "cus_carol")
    assert "Conflict" in carol and "belongs to another client" in carol
    assert f'href="/clients/{taken_email}"' in carol
    assert 'name="customers"' not in carol  # it cannot be picked
    assert "A client needs an email" in row(page, "cus_nomail")
    assert "Its currency is not the business currency" in row(page, "price_usd")
    assert "Would create" in row(page, "price_seo") and "€99.00" in row(page, "price_seo")
    assert LONG_NAME.strip() in row(page, "cus_long")
    sub = row(page, "sub_ann")
    assert "Ann" in sub and "SEO: Monthly SEO" in sub and "active" in sub
    assert "Jan 1, 2027" in sub and "Taken over if you choose so below" in sub
    assert 'id="apply-form"' in page and 'value="cus_ann"' in page
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Client)) == 1  # Carol's only
        assert s.scalar(select(func.count()).select_from(Subscription)) == 0
    assert fake.updates == []


def test_applying_some_customers_takes_their_subscription_over_and_ends_it_at_stripe(
    hub, db, connected, fake, staff
):
    url, _page = dry_run(hub)
    applied = hub.post(
        f"{url}/apply",
        {"which": "some", "customers": ["cus_ann"], "subscriptions": "cancel-at-stripe"},
        page=url,
    )
    assert applied.status_code == 302, text_of(applied)
    page = finished(hub, applied.headers["Location"])
    assert "Applied: the bridge was changed" in page and "Imported:" in page
    assert "Stripe was asked to cancel it at that period end" in row(page, "sub_ann")
    with db.session() as s:
        assert [c.stripe_customer_id for c in s.scalars(select(Client))] == ["cus_ann"]
        subscription = s.scalars(select(Subscription)).one()
        assert subscription.stripe_subscription_id == "sub_ann"
        job = s.scalars(select(ImportJob).order_by(ImportJob.id.desc())).first()
        assert job.options["customers"] == ["cus_ann"] and not job.dry_run
        # The audit log names the staff user who applied it.
        imported = ("client", "product", "plan", "subscription")
        actors = set(
            s.execute(
                select(AuditEntry.actor_kind, AuditEntry.actor_id).where(
                    AuditEntry.object_type.in_(imported)
                )
            )
        )
        assert actors == {("staff", staff)}
    assert fake.updates == [("sub_ann", {"cancel_at_period_end": "true"})]
    listed = text_of(hub.client.get("/setup/import-stripe"))
    assert "Import #" in listed and "Dry run #" in listed


def test_applying_all_again_changes_nothing(hub, db, connected, fake):
    url, _page = dry_run(hub)
    for _ in range(2):
        applied = hub.post(f"{url}/apply", {"which": "all", "subscriptions": "list"}, page=url)
        page = finished(hub, applied.headers["Location"])
    assert "Imported: 0 objects created or updated" in page
    assert "Left at Stripe, which keeps renewing it" in row(page, "sub_ann")
    with db.session() as s:
        assert (
            s.scalar(select(func.count()).select_from(Client)) == 3
        )  # all but the one without email
    assert fake.updates == []


@pytest.mark.parametrize(
    ("choice", "message"),
    [
        ({"which": "some", "subscriptions": "import"}, "Tick at least one customer"),
        (
            {"which": "some", "customers": ["cus_nomail"], "subscriptions": "import"},
            "Tick at least one customer",
        ),
        ({"which": "all", "subscriptions": "sometimes"}, "Nothing was imported"),
    ],
)
def test_a_bad_choice_is_said_on_the_form_and_imports_nothing(
    hub, db, connected, fake, choice, message
):
    url, _page = dry_run(hub)
    before = jobs(db)
    refused = hub.post(f"{url}/apply", choice, page=url)
    assert refused.status_code == 422
    assert message in text_of(refused) and 'role="alert"' in text_of(refused)
    assert jobs(db) == before


def test_a_read_only_user_sees_the_report_without_the_forms(app, db, connected, fake, hub):
    url, _page = dry_run(hub)
    add_staff(db, email="reader@agency.example", name="Rita Reader", read_only=True)
    reader = Hub(app.test_client())
    assert reader.login(email="reader@agency.example").status_code == 302
    page = text_of(reader.client.get(url))
    assert 'data-stripe-id="cus_ann"' in page
    assert 'id="apply-form"' not in page and 'name="customers"' not in page
    assert 'id="dry-run-form"' not in text_of(reader.client.get("/setup/import-stripe"))


def test_stripe_unreachable_is_a_clear_message_with_a_retry(hub, db, connected, monkeypatch):
    import stripe

    monkeypatch.setattr(stripe._http_client.HTTPClient, "INITIAL_DELAY", 0.0)
    monkeypatch.setattr(stripe._http_client.HTTPClient, "MAX_DELAY", 0.0)
    with responses.RequestsMock(assert_all_requests_are_fired=False):  # no route: refused
        url, page = dry_run(hub)
    assert "Stopped" in page
    assert "Stripe could not be reached" in page and 'id="import-failed"' in page
    assert f'action="{url}/again"' in page


def test_stripe_rate_limiting_is_a_clear_message(hub, db, connected, fake, monkeypatch):
    import stripe

    monkeypatch.setattr(stripe._http_client.HTTPClient, "INITIAL_DELAY", 0.0)
    monkeypatch.setattr(stripe._http_client.HTTPClient, "MAX_DELAY", 0.0)
    # Every page of customers answers 429 however often it is retried.
    fake.throttle_once = AlwaysThrottled()
    url, page = dry_run(hub)
    assert "Stripe is limiting the requests of this account (rate limited)" in page
    again = hub.post(f"{url}/again", page=url)
    fake.throttle_once = set()
    assert again.status_code == 302
    assert "Would create" in finished(hub, again.headers["Location"])


class AlwaysThrottled(set):
    def __contains__(self, key) -> bool:
        return True

    def discard(self, key) -> None:
        pass


def test_an_update_names_what_it_changes_in_words(hub, db, connected, fake):
    """A client found by email, whose address differs at Stripe: the report
    says what changes in the page's words, not the bridge's field names."""
    with db.session() as s:
        clients.create_client(s, name="Ann", email="ann@example.com", city="Lyon")
    fake.lists["customers"][0]["address"] = {
        "city": "Paris",
        "country": "FR",
        "line1": "1 rue de la Paix",
        "line2": None,
        "postal_code": "75002",
        "state": None,
    }
    _url, page = dry_run(hub)
    ann = plain(row(page, "cus_ann"))
    assert "Would update" in ann
    assert "link to the Stripe customer" in ann and "city" in ann and "postal code" in ann
    assert "address_line1" not in ann and "stripe_customer_id" not in ann
