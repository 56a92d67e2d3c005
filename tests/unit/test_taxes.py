"""Line and invoice totals with inclusive and exclusive taxes."""

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.billing.taxes import Rate, invoice_totals, line_totals

VAT20 = Rate("vat", "VAT 20%", 200_000, False)
VAT20_INCL = Rate("vat_incl", "VAT 20% incl.", 200_000, True)
GST5 = Rate("gst", "GST 5%", 50_000, False)
QST = Rate("qst", "QST 9.975%", 99_750, False)


def test_exclusive_tax_is_added_and_rounded_half_up_per_line():
    line = line_totals(3 * 1000, 3333, [VAT20])  # 9999 -> 1999.8 -> 2000
    assert (line.net, line.taxes, line.total) == (9999, {"vat": 2000}, 11999)


def test_inclusive_tax_is_extracted_and_the_total_stays_the_price():
    line = line_totals(1 * 1000, 12000, [VAT20_INCL])
    assert (line.net, line.taxes, line.total) == (10000, {"vat_incl": 2000}, 12000)


def test_two_exclusive_rates_each_apply_to_the_net():
    line = line_totals(1 * 1000, 10000, [GST5, QST])
    assert line.taxes == {"gst": 500, "qst": 998}  # 997.5 rounds half-up
    assert line.total == 11498


def test_no_tax():
    assert line_totals(2 * 1000, 500, []).total == 1000


def test_invoice_totals_are_sums_of_rounded_lines():
    lines = [line_totals(1 * 1000, 1, [VAT20]) for _ in range(3)]  # 0.2 -> 0 each
    totals = invoice_totals(lines)
    assert (totals.subtotal, totals.tax, totals.total) == (3, 0, 3)


def test_bad_lines_are_refused():
    with pytest.raises(ValueError):
        line_totals(0 * 1000, 100, [])
    with pytest.raises(ValueError):
        line_totals(1 * 1000, -1, [])


percentages = st.integers(min_value=0, max_value=1_000_000)
rates = st.lists(
    st.builds(Rate, st.uuids().map(str), st.just("r"), percentages, st.booleans()),
    max_size=3,
)
lines = st.tuples(st.integers(1, 1000), st.integers(0, 10**9), rates)


@given(st.lists(lines, min_size=1, max_size=8))
def test_totals_equal_the_sum_of_lines_and_nothing_is_negative(items):
    computed = [line_totals(q * 1000, u, r) for q, u, r in items]
    totals = invoice_totals(computed)
    assert totals.total == sum(line.total for line in computed)
    assert totals.subtotal == sum(line.net for line in computed)
    assert totals.tax == sum(sum(line.taxes.values()) for line in computed)
    assert totals.total == totals.subtotal + totals.tax
    assert all(line.net >= 0 and line.total >= 0 for line in computed)
    assert all(amount >= 0 for line in computed for amount in line.taxes.values())


@given(st.integers(1, 1000), st.integers(0, 10**9), st.lists(percentages, max_size=3))
def test_inclusive_rates_never_change_the_total(quantity, unit, percents):
    inclusive = [Rate(i, "r", p, True) for i, p in enumerate(percents)]
    line = line_totals(quantity * 1000, unit, inclusive)
    assert line.total == quantity * unit
    assert line.net + sum(line.taxes.values()) == quantity * unit


@given(st.integers(1, 1000), st.integers(0, 10**9), percentages)
def test_exclusive_tax_matches_decimal_half_up(quantity, unit, percentage):
    line = line_totals(quantity * 1000, unit, [Rate("r", "r", percentage, False)])
    expected = (Decimal(quantity * unit) * Decimal(percentage) / Decimal(1_000_000)).quantize(
        Decimal(1), rounding=ROUND_HALF_UP
    )
    assert line.taxes["r"] == int(expected)


def test_a_tax_rows_label_says_the_rate_once():
    from bridge.billing.invoices import TaxSum, tax_label
    from bridge.core.l10n import Localiser

    en, fr = Localiser("en", "UTC"), Localiser("fr", "UTC")

    def row(name, percentage_e4=200_000, inclusive=False):
        return TaxSum(name, percentage_e4, inclusive, 0)

    assert tax_label(row("VAT"), en) == "VAT (20%)"
    assert tax_label(row("VAT 20%"), en) == "VAT 20%"  # its name says it
    assert tax_label(row("TVA 5,5 %", 55_000), fr) == "TVA 5,5 %"
    assert tax_label(row("TVA", 55_000), fr) == "TVA (5,5\u202f%)"
    assert tax_label(row("VAT 20%", inclusive=True), en) == "VAT 20% (included)"
    assert tax_label(row("VAT", inclusive=True), en) == "VAT (20%, included)"
