"""The import's rules on Stripe prices, without a database: which prices
become plans (and which kind), which are skipped and why, and a legacy
Stripe plan read as the price it is."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.billing.stripe_import import SKIP_DETAILS, plan_terms, skip_reason
from bridge.models import IntervalUnit, PlanKind
from bridge.payments.stripe_import import price_of_plan
from tests.payments import stripe_shapes as shapes


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({}, None),
        ({"currency": "usd"}, "other_currency"),
        ({"billing_scheme": "tiered", "tiers_mode": "volume", "unit_amount": None}, "tiered"),
        (
            {"custom_unit_amount": {"minimum": 100, "maximum": None, "preset": None}},
            "custom_unit_amount",
        ),
        ({"transform_quantity": {"divide_by": 10, "round": "up"}}, "transform_quantity"),
        ({"unit_amount": None, "unit_amount_decimal": "0.5"}, "no_unit_amount"),
    ],
)
def test_why_a_price_is_skipped(extra, reason):
    price = shapes.price("price_x", "prod_x", 1000, **extra)
    assert skip_reason(price, "EUR") == reason
    assert reason is None or SKIP_DETAILS[reason]


def test_a_metered_price_is_skipped():
    price = shapes.price("price_x", "prod_x", 5)
    price["recurring"]["usage_type"] = "metered"
    assert skip_reason(price, "EUR") == "metered"


@given(
    interval=st.sampled_from(["day", "week", "month", "year"]),
    count=st.integers(min_value=1, max_value=36),
    amount=st.integers(min_value=0, max_value=10**9),
)
def test_a_recurring_price_keeps_its_period(interval, count, amount):
    price = shapes.price("price_x", "prod_x", amount, interval=interval, interval_count=count)
    assert plan_terms(price) == (PlanKind.RECURRING, IntervalUnit(interval), count)
    assert skip_reason(price, "EUR") is None


def test_a_one_time_price_is_a_one_time_plan():
    price = shapes.price("price_x", "prod_x", 15000, interval=None)
    assert plan_terms(price) == (PlanKind.ONE_TIME, None, None)


def test_a_legacy_plan_reads_as_its_price():
    plan = {
        "id": "plan_gold",
        "object": "plan",
        "active": True,
        "amount": 2900,
        "billing_scheme": "per_unit",
        "currency": "eur",
        "interval": "year",
        "interval_count": 1,
        "nickname": None,
        "product": "prod_gold",
        "tiers_mode": None,
        "transform_usage": None,
        "usage_type": "licensed",
    }
    price = price_of_plan(plan)
    assert skip_reason(price, "EUR") is None
    assert plan_terms(price) == (PlanKind.RECURRING, IntervalUnit.YEAR, 1)
    assert (price["id"], price["unit_amount"], price["product"]) == ("plan_gold", 2900, "prod_gold")


def test_reading_ahead_hands_over_the_reader_s_error_and_stops_with_the_caller():
    import threading

    from bridge.payments.stripe_import import read_ahead

    def failing():
        yield from range(5)
        raise RuntimeError("Stripe went away")

    chunks = read_ahead(failing(), 2)
    assert next(chunks) == [0, 1]
    assert next(chunks) == [2, 3]
    with pytest.raises(RuntimeError, match="went away"):
        next(chunks)

    endless = read_ahead(iter(range(10**9)), 3)
    assert next(endless) == [0, 1, 2]
    endless.close()  # the caller stops (a batch failed): the reader ends too
    for thread in threading.enumerate():
        if thread.name == "stripe-import-reader":
            thread.join(timeout=2)
            assert not thread.is_alive()
