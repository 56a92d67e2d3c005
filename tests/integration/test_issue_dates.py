"""One issue date per invoice: the business's local calendar date at
finalization, the same on the PDF, the hosted page, the email and the API,
and the year of its number.

Each case finalizes at 00:30 local time (or 23:30, west of UTC) on a day
whose UTC date differs from the local one: around midnight, at the end of a
month and at the end of a year, in Paris, Auckland and Los Angeles.
"""

from __future__ import annotations

import io
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from babel.dates import format_date
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader
from sqlalchemy import select, text

from bridge import migrate
from bridge.billing import business as business_settings
from bridge.billing import catalog, clients, invoices, numbering, renewals, schedule, sites
from bridge.billing.invoices import Item
from bridge.core.l10n import Localiser
from bridge.db import Database
from bridge.models import Invoice, OutboxMessage, PaymentMethod, PlanKind
from tests.integration import test_migrations


@dataclass(frozen=True)
class Case:
    zone: str
    local: datetime  # naive wall-clock time in ``zone``
    expected: date

    @property
    def instant(self) -> datetime:
        return self.local.replace(tzinfo=ZoneInfo(self.zone)).astimezone(UTC)

    def __str__(self) -> str:
        return f"{self.zone}-{self.local:%Y-%m-%dT%H:%M}"


CASES = [
    # East of UTC, 00:30 local is still the day before in UTC.
    Case("Europe/Paris", datetime(2026, 6, 16, 0, 30), date(2026, 6, 16)),
    Case("Europe/Paris", datetime(2026, 3, 31, 0, 30), date(2026, 3, 31)),
    Case("Europe/Paris", datetime(2027, 1, 1, 0, 30), date(2027, 1, 1)),
    Case("Pacific/Auckland", datetime(2026, 6, 16, 0, 30), date(2026, 6, 16)),
    Case("Pacific/Auckland", datetime(2026, 3, 31, 0, 30), date(2026, 3, 31)),
    Case("Pacific/Auckland", datetime(2027, 1, 1, 0, 30), date(2027, 1, 1)),
    # West of UTC, 00:30 local is the same UTC day; 23:30 local is already
    # the next day (and on 31 December, the next year) in UTC.
    Case("America/Los_Angeles", datetime(2026, 3, 31, 0, 30), date(2026, 3, 31)),
    Case("America/Los_Angeles", datetime(2027, 1, 1, 0, 30), date(2027, 1, 1)),
    Case("America/Los_Angeles", datetime(2026, 3, 31, 23, 30), date(2026, 3, 31)),
    Case("America/Los_Angeles", datetime(2026, 12, 31, 23, 30), date(2026, 12, 31)),
]

_SPACES = re.compile(r"[\u00a0\u202f\u2009\u2007]")


def plain(text: str) -> str:
    return _SPACES.sub(" ", text)


def pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    return plain("\n".join(page.extract_text() for page in reader.pages))


def long_date(day: date) -> str:
    """As the PDF writes it in English ("March 31, 2026")."""
    return plain(format_date(day, "long", locale="en"))


def medium_date(day: date) -> str:
    """As the hosted page and the emails write it in English ("Mar 31, 2026")."""
    return plain(format_date(day, "medium", locale="en"))


@dataclass
class Business:
    api: object
    client_id: int
    one_time: int
    monthly: int


@pytest.fixture
def business(api_eur) -> Business:
    api = api_eur
    response = api.patch(
        "/settings", json={"company_name": "Pixel & Press", "email": "agency@agency.example"}
    )
    assert response.status_code == 200, response.get_json()
    product = api.post("/products", json={"name": "Website"}).get_json()
    one_time = api.post(
        f"/products/{product['id']}/plans",
        json={"name": "Redesign", "kind": "one_time", "amount": 15000},
    ).get_json()
    monthly = api.post(
        f"/products/{product['id']}/plans",
        json={"name": "Hosting", "kind": "recurring", "amount": 2900, "interval_unit": "month"},
    ).get_json()
    client = api.post(
        "/clients", json={"name": "Ana Lima", "email": "ana@client.example"}
    ).get_json()
    return Business(api, client["id"], one_time["id"], monthly["id"])


def set_zone(api, name: str) -> None:
    response = api.patch("/settings/schedule", json={"timezone": name})
    assert response.status_code == 200, response.get_json()


def finalize_at(business: Business, moment: datetime, plan_id: int | None = None) -> dict:
    """An invoice billed and finalized at ``moment``; its API answer."""
    api = business.api
    with time_machine.travel(moment, tick=False):
        response = api.post(
            "/invoices",
            json={
                "client_id": business.client_id,
                "items": [{"plan_id": plan_id or business.one_time}],
            },
        )
        assert response.status_code == 201, response.get_json()
        response = api.post(f"/invoices/{response.get_json()['id']}/finalize")
        assert response.status_code == 200, response.get_json()
        return response.get_json()


@dataclass(frozen=True)
class Surfaces:
    api: dict
    pdf: str
    page: str
    email: str
    site: dict


def surfaces(business: Business, client, db, app, invoice_id: int) -> Surfaces:
    """What each surface says about the invoice."""
    api = business.api
    answer = api.get(f"/invoices/{invoice_id}")
    assert answer.status_code == 200
    body = answer.get_json()
    pdf = api.get(f"/invoices/{invoice_id}/pdf")
    assert pdf.status_code == 200
    page = client.get(f"/i/{body['hosted_url'].rsplit('/', 1)[1]}")
    assert page.status_code == 200
    with db.session() as session:
        emails = list(
            session.scalars(
                select(OutboxMessage.body_text).where(
                    OutboxMessage.trigger == "invoice_sent",
                    OutboxMessage.invoice_id == invoice_id,
                )
            )
        )
        with app.test_request_context():
            site = sites.invoice_view(session, session.get(Invoice, invoice_id), Localiser("en"))
    assert len(emails) == 1
    return Surfaces(body, pdf_text(pdf.data), plain(page.get_data(as_text=True)), emails[0], site)


def assert_dated(seen: Surfaces, day: date, *, not_day: date | None = None) -> None:
    """Every surface gives ``day`` as the issue date (and never ``not_day``)."""
    assert seen.api["issue_date"] == day.isoformat()
    assert seen.site["issue_date"] == day.isoformat()
    assert f"ISSUE DATE\n{long_date(day)}\n" in seen.pdf
    assert f"<dt>Issued</dt><dd>{medium_date(day)}</dd>" in seen.page
    assert f"issued on {medium_date(day)}." in seen.email
    if not_day is not None and not_day != day:
        assert long_date(not_day) not in seen.pdf
        assert medium_date(not_day) not in seen.page
        assert medium_date(not_day) not in seen.email


# Finalized by staff ----------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=str)
def test_an_invoice_has_its_local_date_on_every_surface_and_in_its_number(
    business, client, db, app, case
):
    set_zone(business.api, case.zone)

    invoice = finalize_at(business, case.instant)

    assert invoice["number"] == f"INV-{case.expected.year}-00001"
    assert invoice["issue_date"] == case.expected.isoformat()
    assert invoice["issued_at"] == case.instant.isoformat()
    seen = surfaces(business, client, db, app, invoice["id"])
    assert_dated(seen, case.expected, not_day=case.instant.date())
    # The due date too is the local one: 14 calendar days later.
    due = case.expected + timedelta(days=14)
    assert datetime.fromisoformat(invoice["due_at"]).astimezone(ZoneInfo(case.zone)).date() == due
    assert f"Due date: {medium_date(due)}" in seen.email
    assert f"<dt>Due</dt><dd>{medium_date(due)}</dd>" in seen.page
    assert f"DUE DATE\n{long_date(due)}\n" in seen.pdf


def test_the_series_follows_the_local_year_not_the_utc_one(business, client, db, app):
    set_zone(business.api, "America/Los_Angeles")
    zone = ZoneInfo("America/Los_Angeles")
    late = datetime(2026, 12, 31, 23, 30, tzinfo=zone)
    numbers = [
        finalize_at(business, (late - timedelta(hours=2)).astimezone(UTC))["number"],
        finalize_at(business, late.astimezone(UTC))["number"],
        finalize_at(business, (late + timedelta(hours=1)).astimezone(UTC))["number"],
    ]
    assert numbers == ["INV-2026-00001", "INV-2026-00002", "INV-2027-00001"]


def test_a_credit_note_has_its_local_date_and_year(business, db):
    api = business.api
    set_zone(api, "Europe/Paris")
    invoice = finalize_at(business, datetime(2026, 12, 20, 10, 0, tzinfo=UTC))
    response = api.post(
        f"/invoices/{invoice['id']}/payments", json={"amount": 15000, "method": "bank_transfer"}
    )
    assert response.status_code == 201, response.get_json()
    new_year = datetime(2027, 1, 1, 0, 30, tzinfo=ZoneInfo("Europe/Paris")).astimezone(UTC)

    with time_machine.travel(new_year, tick=False):
        response = api.post(
            f"/invoices/{invoice['id']}/credit-notes",
            json={"amount": 5000, "refund_to_card": False},
        )

    assert response.status_code == 201, response.get_json()
    note = response.get_json()
    assert note["number"] == "CN-2027-00001"
    assert note["issue_date"] == "2027-01-01"
    listed = api.get(f"/invoices/{invoice['id']}").get_json()["credit_notes"]
    assert [n["issue_date"] for n in listed] == ["2027-01-01"]


def test_the_issue_date_stays_when_the_business_moves_zone(business, client, db, app):
    """The date is fixed at finalization: a later change of time zone does
    not redate an issued invoice (its number already carries the year)."""
    set_zone(business.api, "Europe/Paris")
    moment = datetime(2027, 1, 1, 0, 30, tzinfo=ZoneInfo("Europe/Paris")).astimezone(UTC)
    invoice = finalize_at(business, moment)

    set_zone(business.api, "America/Los_Angeles")

    seen = surfaces(business, client, db, app, invoice["id"])
    assert invoice["number"] == "INV-2027-00001"
    assert_dated(seen, date(2027, 1, 1), not_day=date(2026, 12, 31))


# Renewals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("zone_name", ["Europe/Paris", "Pacific/Auckland"])
def test_a_renewal_dated_at_local_midnight_shows_its_local_day(
    business, client, db, app, zone_name
):
    """Bought and paid at local midnight on 1 March: the renewal is dated
    the first moment of its period, local midnight on 1 April, which is
    still 31 March in UTC."""
    api = business.api
    set_zone(api, zone_name)
    zone = ZoneInfo(zone_name)
    bought = datetime(2026, 3, 1, 0, 0, tzinfo=zone).astimezone(UTC)
    first = finalize_at(business, bought, business.monthly)
    with time_machine.travel(bought, tick=False):
        response = api.post(
            f"/invoices/{first['id']}/payments",
            json={"amount": first["total"], "method": "bank_transfer"},
        )
        assert response.status_code == 201, response.get_json()
    renewal_day = datetime(2026, 4, 1, 0, 0, tzinfo=zone).astimezone(UTC)
    # The scheduler runs a little after the period ended.
    ran_at = renewal_day + timedelta(hours=3)

    with time_machine.travel(ran_at, tick=False), db.session() as session:
        report = renewals.renew_due(session, ran_at)
    assert report.renewed == 1 and report.emailed == 1

    with db.session() as session:
        renewal = session.scalar(
            select(Invoice).where(Invoice.subscription_id.is_not(None)).order_by(Invoice.id)
        )
        assert renewal.issued_at == renewal_day
        renewal_id = renewal.id
    seen = surfaces(business, client, db, app, renewal_id)
    assert_dated(seen, date(2026, 4, 1), not_day=date(2026, 3, 31))
    assert seen.api["number"] == "INV-2026-00002"
    # The period, too, starts on the local 1 April (on the PDF and the page).
    assert f"{medium_date(date(2026, 4, 1))} – {medium_date(date(2026, 5, 1))}" in seen.page
    assert "Hosting (Apr 1 – May 1, 2026)" in seen.pdf


# Due dates across a change of daylight saving time ---------------------------------------


@pytest.mark.parametrize(
    ("zone_name", "issued", "due"),
    [
        # Clocks go back on 25 October in Paris, 1 November in Los Angeles,
        # 5 April in Auckland: 14 days there are 14 x 24 hours plus one.
        ("Europe/Paris", datetime(2026, 10, 20, 0, 30), date(2026, 11, 3)),
        ("America/Los_Angeles", datetime(2026, 10, 25, 0, 30), date(2026, 11, 8)),
        ("Pacific/Auckland", datetime(2026, 3, 31, 0, 30), date(2026, 4, 14)),
        # Clocks go forward on 29 March in Paris: 14 days are an hour shorter.
        ("Europe/Paris", datetime(2026, 3, 20, 23, 30), date(2026, 4, 3)),
    ],
)
def test_the_due_date_is_net_terms_local_calendar_days_later_across_dst(
    business, client, db, app, zone_name, issued, due
):
    set_zone(business.api, zone_name)
    zone = ZoneInfo(zone_name)

    invoice = finalize_at(business, issued.replace(tzinfo=zone).astimezone(UTC))

    due_at = datetime.fromisoformat(invoice["due_at"])
    assert due_at.astimezone(zone).replace(tzinfo=None) == datetime.combine(due, issued.time())
    seen = surfaces(business, client, db, app, invoice["id"])
    assert f"Due date: {medium_date(due)}" in seen.email
    assert f"<dt>Due</dt><dd>{medium_date(due)}</dd>" in seen.page
    assert f"DUE DATE\n{long_date(due)}\n" in seen.pdf
    wrong = due - timedelta(days=1) if issued.hour == 0 else due + timedelta(days=1)
    assert medium_date(wrong) not in seen.email


# Any instant, any zone -------------------------------------------------------------------


@pytest.fixture
def domain_db(tmp_path, sqlite_template):
    """A SQLite database of the test's own with a client and a plan, for
    the domain alone (no app: many examples, each one a finalization)."""
    path = tmp_path / "property.sqlite3"
    shutil.copy(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    with database.session() as s:
        business_settings.set_currency(s, "EUR", confirm=True)
        product = catalog.create_product(s, name="Website")
        plan = catalog.create_plan(s, product, name="Redesign", kind=PlanKind.ONE_TIME, amount=100)
        client = clients.create_client(s, name="Ana Lima", email="ana@client.example")
        ids = (client.id, plan.id)
    yield database, ids
    database.dispose()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    instant=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 12, 31),
        timezones=st.just(UTC),
    ),
    zone=st.timezones(),
)
def test_any_instant_in_any_zone_is_dated_and_numbered_by_its_local_day(domain_db, instant, zone):
    database, (client_id, plan_id) = domain_db
    with database.session() as s:
        business_settings.get_settings(s).timezone = zone.key
        draft = invoices.bill_client(s, clients.get_client(s, client_id), [Item(plan_id)])
        invoice = invoices.finalize(s, draft, instant, issued_at=instant, send=False)
        # The wall clock in ``zone`` at ``instant``, from the zone's own rule.
        local_day = zone.fromutc(instant.replace(tzinfo=zone)).date()
        assert invoice.issue_date == local_day
        assert invoice.number.startswith(f"INV-{local_day.year}-")
        assert invoice.issued_at == instant
        due = invoice.due_at.astimezone(zone)
        assert due.date() == local_day + timedelta(days=14)


def test_numbers_are_taken_by_local_date_never_by_an_instant():
    with pytest.raises(TypeError):
        numbering.next_number(None, "invoice", "INV-{year}-{seq}", datetime(2027, 1, 1, tzinfo=UTC))


# Invoices issued before the issue date was kept -----------------------------------------

# A fresh database of the test's own, migrated by the test (SQLite and PostgreSQL).
empty_engine = test_migrations.empty_engine


def test_the_migration_dates_existing_rows_in_the_business_zone(empty_engine):
    migrate.upgrade(empty_engine)
    database = Database(empty_engine.url.render_as_string(hide_password=False))
    # 00:30 on 1 January 2027 in Auckland.
    issued = datetime(2026, 12, 31, 11, 30, tzinfo=UTC)
    try:
        with time_machine.travel(issued, tick=False), database.session() as s:
            business_settings.set_currency(s, "EUR", confirm=True)
            schedule.update_schedule(s, {"timezone": "Pacific/Auckland"})
            product = catalog.create_product(s, name="Website")
            plan = catalog.create_plan(
                s, product, name="Redesign", kind=PlanKind.ONE_TIME, amount=100
            )
            client = clients.create_client(s, name="Ana Lima", email="ana@client.example")
            issued_one = invoices.bill_client(s, client, [Item(plan.id)])
            invoices.finalize(s, issued_one)
            invoices.record_offline_payment(
                s, issued_one, amount=100, method=PaymentMethod.BANK_TRANSFER
            )
            invoices.issue_credit_note(s, issued_one, amount=40)
            invoices.bill_client(s, client, [Item(plan.id)])  # a draft
    finally:
        database.dispose()

    migrate.downgrade(empty_engine, "0007")
    migrate.upgrade(empty_engine)

    with empty_engine.connect() as conn:
        dated = conn.execute(text("SELECT number, issue_date FROM invoices ORDER BY id")).all()
        notes = conn.execute(text("SELECT number, issue_date FROM credit_notes")).all()
    assert [(number, str(day) if day else None) for number, day in dated] == [
        ("INV-2027-00001", "2027-01-01"),
        (None, None),
    ]
    assert [(number, str(day)) for number, day in notes] == [("CN-2027-00001", "2027-01-01")]
