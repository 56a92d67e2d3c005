"""Issue 14, Lines: decimal quantities are stored as thousandths and a line
is unit x quantity rounded half-up once; an invoice's lines, each with its
own rates, sum to its totals."""

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.billing.taxes import Rate, invoice_totals, line_totals
from bridge.core.money import (
    InvalidQuantity,
    line_amount,
    quantity_decimal,
    quantity_e3,
)

quantities = st.integers(1, 10_000_000)  # thousandths: 0.001 to 10,000
units = st.integers(0, 10**9)


def test_known_vectors():
    assert line_amount(2900, 1500) == 4350  # 29.00 x 1.5
    assert line_amount(333, 1500) == 500  # 4.995 -> 5.00: halves go up
    assert line_amount(333, 333) == 111  # 110.889 -> 111
    assert line_amount(1, 499) == 0 and line_amount(1, 500) == 1
    assert line_amount(12345, 3000) == 37035  # whole quantities never round


@given(units, quantities)
def test_line_amount_is_the_exact_product_rounded_half_up_once(unit, thousandths):
    exact = Decimal(unit) * quantity_decimal(thousandths)
    assert line_amount(unit, thousandths) == int(exact.quantize(Decimal(1), ROUND_HALF_UP))
    assert abs(Decimal(line_amount(unit, thousandths)) - exact) <= Decimal("0.5")


@given(quantities)
def test_quantities_round_trip_exactly_through_text_and_decimal(thousandths):
    value = quantity_decimal(thousandths)
    assert quantity_e3(value) == thousandths
    assert quantity_e3(str(value)) == thousandths
    assert "E" not in str(value) and not (str(value).endswith("0") and "." in str(value))


@pytest.mark.parametrize("bad", ["1.2345", "abc", "1e3", "", " ", 1.5, True, Decimal("NaN")])
def test_more_than_three_decimals_or_not_a_number_is_refused(bad):
    with pytest.raises(InvalidQuantity):
        quantity_e3(bad)


def test_display_drops_trailing_zeros():
    assert str(quantity_decimal(1500)) == "1.5"
    assert str(quantity_decimal(2000)) == "2"
    assert str(quantity_decimal(250)) == "0.25"
    assert str(quantity_decimal(10_000_000)) == "10000"


POOL = [
    Rate("vat", "VAT", 200_000, False),
    Rate("reduced", "Reduced VAT", 55_000, False),
    Rate("incl", "VAT incl.", 190_000, True),
    Rate("qst", "QST", 99_750, False),
]
line_rates = st.lists(st.sampled_from(POOL), unique_by=lambda r: r.key, max_size=3)


@given(st.lists(st.tuples(quantities, units, line_rates), min_size=1, max_size=12))
def test_every_invoice_s_lines_sum_to_its_totals_with_mixed_taxes(items):
    computed = [line_totals(q, u, rates) for q, u, rates in items]
    totals = invoice_totals(computed)
    assert totals.subtotal == sum(line.net for line in computed)
    assert totals.total == sum(line.total for line in computed) == totals.subtotal + totals.tax
    for rate in POOL:
        on_lines = [line.taxes[rate.key] for line in computed if rate.key in line.taxes]
        assert totals.taxes.get(rate.key, 0) == sum(on_lines)
    for (q, u, rates), line in zip(items, computed, strict=True):
        assert line.base == line_amount(u, q)
        assert set(line.taxes) == {r.key for r in rates}
        inclusive = any(r.inclusive for r in rates)
        assert line.net + sum(t for k, t in line.taxes.items() if _incl(k)) == line.base
        if not inclusive:
            assert line.net == line.base


def _incl(key):
    return any(r.key == key and r.inclusive for r in POOL)
