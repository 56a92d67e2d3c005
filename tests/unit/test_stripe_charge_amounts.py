"""What a card is charged at Stripe for an amount due (``stripe_charge_amount``)
and which amounts Stripe cannot take by card (``card_limit``): Stripe's unit
for three-decimal currencies and its documented minimum charges."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.core.money import (
    CURRENCIES,
    MAX_AMOUNT,
    STRIPE_MINIMUM_CHARGE,
    card_limit,
    stripe_amount,
    stripe_charge_amount,
    stripe_step,
)


@pytest.mark.parametrize(
    ("amount", "currency", "charged", "sent"),
    [
        (5124, "KWD", 5130, 5130),  # Stripe wants the last of three decimals 0
        (5120, "KWD", 5120, 5120),
        (1, "BHD", 10, 10),
        (1001, "LYD", 1010, 101),  # three decimals in ISO, two at Stripe
        (1045, "MGA", 1100, 11),  # two in ISO, none at Stripe
        (1557, "EUR", 1557, 1557),
        (5, "ISK", 5, 500),  # whole krónur sent with two zero decimals
        (10, "JPY", 10, 10),
    ],
)
def test_the_charge_is_the_amount_due_rounded_up_to_stripes_unit(amount, currency, charged, sent):
    assert stripe_charge_amount(amount, currency) == charged
    assert stripe_amount(charged, currency) == sent


@pytest.mark.parametrize(
    ("amount", "currency", "reason", "limit"),
    [
        (10, "JPY", "below_minimum", 50),
        (1045, "HUF", "below_minimum", 17500),
        (49, "EUR", "below_minimum", 50),
        (29, "GBP", "below_minimum", 30),
        (50, "EUR", None, None),
        (50, "JPY", None, None),
        (1, "KWD", None, None),  # no documented minimum for KWD
        (MAX_AMOUNT, "KWD", "above_maximum", 999_999_999_990),
    ],
)
def test_what_stripe_cannot_take_by_card(amount, currency, reason, limit):
    found = card_limit(amount, currency)
    assert (found and (found.reason, found.limit)) == (reason and (reason, limit))


def test_the_messages_name_the_limit():
    assert (
        card_limit(10, "JPY").message("JPY") == "Stripe's smallest card payment in JPY is 50 JPY."
    )
    assert card_limit(1045, "HUF").message("HUF") == (
        "Stripe's smallest card payment in HUF is 175.00 HUF."
    )


@given(st.sampled_from(sorted(CURRENCIES)), st.integers(min_value=1, max_value=MAX_AMOUNT))
def test_every_amount_stripe_can_take_is_sent_exactly_and_never_below_what_is_due(currency, amount):
    if card_limit(amount, currency) is not None:
        return
    charged = stripe_charge_amount(amount, currency)
    assert amount <= charged < amount + stripe_step(currency)
    stripe_amount(charged, currency)  # never refused


def test_the_minimums_are_at_stripes_unit():
    for currency, minimum in STRIPE_MINIMUM_CHARGE.items():
        assert stripe_charge_amount(minimum, currency) == minimum
        assert card_limit(minimum, currency) is None
        assert card_limit(minimum - 1, currency).reason == "below_minimum"
