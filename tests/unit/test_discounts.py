"""Issue 14, discounts: the arithmetic of a coupon on an invoice's lines
(bridge/billing/discounts.py) and taxes on the discounted amounts."""

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.billing.discounts import line_discounts, percent_discount, spread
from bridge.billing.taxes import Rate, invoice_totals, line_totals

VAT20 = Rate("vat", "VAT 20%", 200_000, False)
VAT20_INCL = Rate("incl", "VAT 20% incl.", 200_000, True)
RATES = st.sampled_from([[], [VAT20], [VAT20_INCL], [VAT20, VAT20_INCL]])
amounts = st.lists(st.integers(0, 10**9), min_size=1, max_size=30)


def test_percent_off_is_rounded_half_up_once_per_line():
    assert percent_discount(999, 1250) == 125  # 124.875 -> 125
    assert percent_discount(4, 1250) == 1  # 0.5 -> 1 (half-up)
    assert percent_discount(3, 1250) == 0  # 0.375 -> 0
    assert percent_discount(1000, 10_000) == 1000


def test_amount_off_is_spread_by_largest_remainder():
    # 100 over 1:1:1 -> 33.33 each, the remainder to the first line.
    assert spread(100, [500, 500, 500]) == [34, 33, 33]
    assert spread(10, [1, 2, 7]) == [1, 2, 7]
    assert spread(3, [3, 1]) == [2, 1]  # 2.25, 0.75: the unit left to the .75


def test_amount_off_larger_than_the_line_takes_the_line_to_zero_never_below():
    assert spread(5000, [1200]) == [1200]
    line = line_totals(1000, 1200, [VAT20], discount=spread(5000, [1200])[0])
    assert (line.net, line.taxes, line.total) == (0, {"vat": 0}, 0)


def test_taxes_are_computed_on_the_discounted_amount():
    line = line_totals(1000, 10_000, [VAT20], discount=2000)  # 100.00 - 20 %
    assert (line.base, line.net, line.taxes["vat"], line.total) == (10_000, 8000, 1600, 9600)
    inclusive = line_totals(1000, 12_000, [VAT20_INCL], discount=2400)
    assert (inclusive.net, inclusive.taxes["incl"], inclusive.total) == (8000, 1600, 9600)


def test_ineligible_lines_are_not_reduced():
    assert line_discounts([1000, 1000], [True, False], percent_e2=5000) == [500, 0]
    assert line_discounts([1000, 3000], [False, True], amount_off=4000) == [0, 3000]


@given(amounts, st.integers(0, 10**10))
def test_spread_sums_exactly_and_never_exceeds_a_line(values, amount_off):
    shares = spread(amount_off, values)
    assert sum(shares) == min(amount_off, sum(values))
    assert all(0 <= share <= value for share, value in zip(shares, values, strict=True))


@given(amounts, st.integers(0, 10**10))
def test_each_share_is_within_one_unit_of_its_exact_pro_rata(values, amount_off):
    total = sum(values)
    if total == 0 or amount_off >= total:
        return
    for share, value in zip(spread(amount_off, values), values, strict=True):
        assert abs(share * total - amount_off * value) < total


@given(st.integers(0, 10**9), st.integers(0, 10_000))
def test_percent_discount_is_the_exact_half_up_rounding(amount, percent_e2):
    exact = Decimal(amount) * Decimal(percent_e2) / Decimal(10_000)
    assert percent_discount(amount, percent_e2) == int(exact.quantize(1, ROUND_HALF_UP))
    assert 0 <= percent_discount(amount, percent_e2) <= amount


@given(
    st.lists(
        st.tuples(st.integers(1, 100_000), st.integers(0, 10**7), RATES, st.booleans()),
        min_size=1,
        max_size=12,
    ),
    st.one_of(
        st.tuples(st.just("percent"), st.integers(1, 10_000)),
        st.tuples(st.just("amount"), st.integers(1, 10**9)),
    ),
)
def test_discounted_lines_sum_to_the_totals_and_never_go_negative(lines, coupon):
    bases = [line_totals(q, unit, rates).base for q, unit, rates, _ in lines]
    eligible = [ok for *_, ok in lines]
    kind, value = coupon
    reductions = line_discounts(
        bases,
        eligible,
        percent_e2=value if kind == "percent" else None,
        amount_off=value if kind == "amount" else None,
    )
    if kind == "amount":
        assert sum(reductions) == min(
            value, sum(b for b, ok in zip(bases, eligible, strict=True) if ok)
        )
    computed = [
        line_totals(q, unit, rates, discount=d)
        for (q, unit, rates, _), d in zip(lines, reductions, strict=True)
    ]
    totals = invoice_totals(computed)
    for line in computed:
        assert line.net >= 0 and line.total >= 0 and all(t >= 0 for t in line.taxes.values())
        assert line.net + sum(line.taxes.values()) == line.total
    assert totals.subtotal == sum(line.net for line in computed)
    assert totals.total == sum(line.total for line in computed)
    assert totals.subtotal + totals.tax == totals.total


def test_a_discount_outside_the_line_is_refused():
    with pytest.raises(ValueError):
        line_totals(1000, 100, [], discount=101)
    with pytest.raises(ValueError):
        line_discounts([1], [True], percent_e2=1, amount_off=1)
