"""Renewals in sets: a claimed batch's plain renewals (one period due, no
change, coupon, credit or end) are written with a few multi-row statements,
and what they write is what renewing them one by one writes, row for row;
a set that cannot be written (another scheduler renewed one of them) is
renewed one by one instead."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
import time_machine
from sqlalchemy import select, text

from bridge import create_app
from bridge.billing import clients, coupons, invoices, numbering, renewals, subscriptions
from bridge.billing.invoices import Item
from bridge.core import events
from bridge.models import IntervalUnit, Invoice, NumberSeries, PaymentMethod, Subscription
from tests import shop as shops

BOUGHT = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
RENEWED = datetime(2027, 2, 10, 10, 0, tzinfo=UTC)
# What must differ between two databases built alike: random tokens (put
# back as the invoice they belong to) and nothing else.
COMPARED = {
    "invoices": "id",
    "invoice_lines": "id",
    "invoice_line_taxes": "id",
    "number_series": "key",
    "subscriptions": "id",
    "clients": "id",
    "outbox_messages": "id",
    "audit_log": None,
}


def _build(db, box) -> None:
    """Clients bought at BOUGHT, in an order that mixes plain renewals
    (card, no card, VAT, billing cycles) with those renewed one by one
    (a coupon, a cancel at period end, weekly periods three behind)."""
    with time_machine.travel(BOUGHT, tick=False), db.session() as s:
        shops.open_business(
            s,
            stripe_secret_key_encrypted=box.encrypt("sk_test_scheduler"),
            company_name="Pixel & Co",
            email="billing@pixel.example",
        )
        vat = shops.add_vat(s)
        plans = shops.add_product(
            s,
            "Managed hosting",
            {
                "monthly": shops.MONTHLY,
                "monthly12": shops.recurring("Monthly, 12 months", 2900, cycles=12),
                "weekly": shops.recurring("Weekly", 900, IntervalUnit.WEEK),
            },
        )
        coupon = coupons.create_coupon(
            s, name="Ten off", percent_off="10", duration="forever", code="TENOFF"
        )
        shapes = [
            ("monthly", True, [vat], None),
            ("monthly", False, [], None),
            ("monthly", True, [], "coupon"),
            ("monthly12", True, [vat], None),
            ("monthly", False, [vat], "cancel"),
            ("monthly", True, [], None),
            ("weekly", True, [], None),
            ("monthly", False, [], None),
        ]
        for n, (plan, card, rates, twist) in enumerate(shapes):
            client = clients.create_client(s, name=f"Client {n}", email=f"c{n}@client.example")
            if card:
                client.stripe_customer_id = f"cus_{client.id}"
                client.default_payment_method_id = f"pm_{client.id}"
            invoice = invoices.bill_client(s, client, [Item(plans[plan])], tax_rate_ids=rates)
            invoices.finalize(s, invoice)
            invoices.record_offline_payment(
                s, invoice, amount=invoice.total, method=PaymentMethod.BANK_TRANSFER
            )
            s.flush()
            subscription = s.get(Subscription, invoice.lines[0].subscription_id)
            if twist == "coupon":
                coupons.apply_to_subscription(s, subscription, coupon)
            if twist == "cancel":
                subscriptions.cancel(s, subscription, at_period_end=True)


def _rows(db) -> dict:
    """Every row renewing writes, ids and tokens that must differ set aside."""
    with db.engine.connect() as conn:
        tokens = dict(conn.execute(text("SELECT hosted_token, id FROM invoices")).all())
        rows = {}
        for table, order in COMPARED.items():
            found = [dict(row._mapping) for row in conn.execute(text(f"SELECT * FROM {table}"))]
            for row in found:
                if table == "invoices":
                    row["hosted_token"] = f"<token of invoice {row['id']}>"
                if table == "audit_log":
                    row.pop("id")
                    # The same changes, recorded over one flush instead of
                    # two: their keys may come in another order.
                    if isinstance(row["summary"], str):
                        row["summary"] = json.loads(row["summary"])
                for key, value in row.items():
                    if isinstance(value, str):
                        for token, invoice_id in tokens.items():
                            value = value.replace(token, f"<token of invoice {invoice_id}>")
                        row[key] = value
            rows[table] = sorted(
                found,
                key=lambda r: (
                    repr(r[order]) if order else json.dumps(r, sort_keys=True, default=str)
                ),
            )
        return rows


def _renew(db, *, in_sets: bool, monkeypatch) -> tuple[dict, list]:
    if not in_sets:
        monkeypatch.setattr(renewals, "_plain_renewals", lambda *_args: {})
    seen = []

    def remember(_session, event):
        seen.append(event)

    events.subscribe(events.Event, remember)
    try:
        with time_machine.travel(RENEWED, tick=False), db.session() as s:
            report = renewals.renew_due(s, RENEWED, batch=5)
    finally:
        events.unsubscribe(events.Event, remember)
        monkeypatch.undo()
    return report.counts(), seen


@pytest.fixture
def second_database_url(request, database_url):
    """A second empty, migrated database like ``database_url``'s."""
    if database_url.startswith("sqlite"):
        from tests.conftest import sqlite_copy

        yield from sqlite_copy(
            request.getfixturevalue("sqlite_template"),
            request.getfixturevalue("sqlite_directory"),
        )
    else:
        # The same database, emptied once the first run is read.
        yield None


def _app(url, tmp_path):
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "test-secret-key", "TESTING": True})
    app.instance_path = str(tmp_path / "instance")
    return app


def test_a_batch_renewed_in_sets_writes_what_renewing_one_by_one_writes(
    request, app, database_url, second_database_url, tmp_path, monkeypatch
):
    db = app.extensions["bridge.db"]
    _build(db, app.extensions["bridge.secret_box"])
    one_by_one = _renew(db, in_sets=False, monkeypatch=monkeypatch)
    expected = _rows(db)
    if second_database_url is None:
        db.dispose()
        request.getfixturevalue("postgres_database").reset()
        other = app
    else:
        other = _app(second_database_url, tmp_path)
    other_db = other.extensions["bridge.db"]
    _build(other_db, other.extensions["bridge.secret_box"])

    in_sets = _renew(other_db, in_sets=True, monkeypatch=monkeypatch)

    # 5 plain renewals, a coupon's, an end, a weekly subscription held.
    assert in_sets[0] == one_by_one[0]
    assert (in_sets[0]["renewed"], in_sets[0]["ended"], in_sets[0]["held"]) == (6, 1, 1)
    assert in_sets[1] == one_by_one[1]
    got = _rows(other_db)
    for table in COMPARED:
        assert got[table] == expected[table], table
    if other is not app:
        other_db.dispose()


def test_a_set_another_scheduler_renewed_part_of_is_renewed_one_by_one_without_gaps(app, db):
    _build(db, app.extensions["bridge.secret_box"])
    # Another scheduler invoiced the second client's next period (its own
    # number taken) and has not moved the subscription on yet.
    with time_machine.travel(RENEWED, tick=False), db.session() as s:
        subscription = s.scalars(select(Subscription).order_by(Subscription.id)).all()[1]
        start, end = subscriptions.period_bounds(s, subscription, subscription.period_index + 1)
        renewals.renewal_invoice(s, subscription, start, end)
        raced = subscription.id

    with time_machine.travel(RENEWED, tick=False), db.session() as s:
        report = renewals.renew_due(s, RENEWED, batch=50)

    assert (report.renewed, report.errors) == (5, 0)
    assert raced in report.failed_ids
    with db.session() as s:
        numbers = s.scalars(
            select(Invoice.number).where(Invoice.number.is_not(None)).order_by(Invoice.number)
        ).all()
    # One series, gap-free: the eight purchases, then the five renewals.
    assert numbers == [f"INV-2027-{n:05}" for n in range(1, 14)]


def test_a_block_of_numbers_is_what_numbering_one_at_a_time_gives(db):
    fmt = "F{year}-{seq:03}"
    days = [date(2026, 12, 31), date(2027, 1, 1), date(2026, 12, 31), date(2027, 1, 2)]
    with db.session() as s:
        shops.open_business(s)
        assert numbering.next_numbers(s, "invoice", fmt, days) == [
            "F2026-001",
            "F2027-001",
            "F2026-002",
            "F2027-002",
        ]
        assert numbering.next_number(s, "invoice", fmt, date(2027, 3, 1)) == "F2027-003"
    # A rolled-back block leaves no gap.
    with db.session() as s:
        numbering.next_numbers(s, "invoice", fmt, [date(2027, 5, 1)] * 10)
        s.rollback()
    with db.session() as s:
        assert numbering.next_numbers(s, "invoice", fmt, [date(2027, 6, 1)]) == ["F2027-004"]
        assert (
            s.scalar(select(NumberSeries.next_value).where(NumberSeries.key == "invoice:2027")) == 5
        )
