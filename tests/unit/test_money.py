"""bridge.core.money: ISO exponents, parsing, exact conversions, Babel
formatting, Stripe amounts and half-up rounding."""

from __future__ import annotations

import ast
import re
import time
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path

import pytest
from babel.numbers import format_currency, get_currency_symbol
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.core import money
from bridge.core.errors import Invalid
from bridge.core.money import (
    CURRENCIES,
    CURRENCY_EXPONENTS,
    MAX_AMOUNT,
    InvalidAmount,
    UnknownCurrency,
    exponent,
    format_amount,
    from_decimal,
    from_stripe_amount,
    is_currency,
    parse_amount,
    percent_of,
    round_half_up,
    stripe_amount,
    stripe_exponent,
    to_decimal,
)

fast = settings(max_examples=150, deadline=None)
currencies = st.sampled_from(sorted(CURRENCIES))
amounts = st.integers(min_value=0, max_value=MAX_AMOUNT)

ISO_ZERO = {"JPY", "KRW", "VND", "CLP", "ISK", "XAF", "XOF", "XPF"} | {
    "PYG",
    "UGX",
    "RWF",
    "KMF",
    "GNF",
    "DJF",
    "BIF",
    "VUV",
}
ISO_THREE = {"KWD", "BHD", "JOD", "OMR", "TND", "LYD", "IQD"}


def plain_text(amount: int, currency: str, *, strip_zeros: bool) -> str:
    """``amount`` written as a person might, built without the module."""
    exp = CURRENCY_EXPONENTS[currency]
    if exp == 0:
        return str(amount)
    units, fraction = divmod(amount, 10**exp)
    digits = str(fraction).rjust(exp, "0")
    if strip_zeros:
        digits = digits.rstrip("0")
    return f"{units}.{digits}" if digits else str(units)


def spaces_normalised(text: str) -> str:
    return re.sub(r"\s", " ", text)


# The table --------------------------------------------------------------------


def test_table_holds_every_active_iso_code_as_three_upper_case_letters():
    assert len(CURRENCY_EXPONENTS) >= 150
    assert frozenset(CURRENCY_EXPONENTS) == CURRENCIES
    assert all(re.fullmatch(r"[A-Z]{3}", code) for code in CURRENCIES)
    assert {"EUR", "USD", "GBP", "CHF", "CAD", "HUF", "TWD", "MGA", "XCG", "ZWG"} <= CURRENCIES


def test_exponents_follow_iso_4217():
    assert {code for code, exp in CURRENCY_EXPONENTS.items() if exp == 0} == ISO_ZERO
    assert {code for code, exp in CURRENCY_EXPONENTS.items() if exp == 3} == ISO_THREE
    assert set(CURRENCY_EXPONENTS.values()) == {0, 2, 3}
    # Codes where Babel's CLDR digits disagree with ISO 4217.
    assert [exponent(code) for code in ("IQD", "ALL", "RSD", "HUF", "TWD")] == [3, 2, 2, 2, 2]


@pytest.mark.parametrize(
    "code", ["XAU", "XAG", "XPT", "XPD", "XDR", "XTS", "XXX", "XSU", "XUA", "CLF", "BOV", "USN"]
)
def test_funds_metals_and_test_codes_are_not_currencies(code):
    assert code not in CURRENCY_EXPONENTS
    assert not is_currency(code)


@pytest.mark.parametrize("code", ["EUR", "JPY", "KWD", "ISK"])
def test_is_currency_accepts_listed_codes(code):
    assert is_currency(code)


@pytest.mark.parametrize(
    "code", ["eur", "Eur", " EUR", "EUR ", "EURO", "EU", "", None, 978, b"EUR"]
)
def test_is_currency_refuses_anything_else(code):
    assert not is_currency(code)


@pytest.mark.parametrize("code, expected", [("EUR", 2), ("JPY", 0), ("KWD", 3), ("USD", 2)])
def test_exponent(code, expected):
    assert exponent(code) == expected


@pytest.mark.parametrize("code", ["eur", "XAU", "ABC", "", None])
def test_exponent_of_unknown_currency_raises(code):
    with pytest.raises(UnknownCurrency, match="not an ISO 4217 currency code"):
        exponent(code)


def test_errors_are_value_errors_and_domain_errors():
    for error in (UnknownCurrency, InvalidAmount):
        assert issubclass(error, ValueError)
        assert issubclass(error, Invalid)
    assert UnknownCurrency("x").code == "unknown_currency"
    assert InvalidAmount("x").code == "invalid_amount"


# Parsing what people type -----------------------------------------------------


@pytest.mark.parametrize(
    "text, currency, expected",
    [
        ("12.50", "EUR", 1250),
        ("12.5", "EUR", 1250),
        ("12", "EUR", 1200),
        ("0", "EUR", 0),
        ("0.01", "EUR", 1),
        ("007.5", "EUR", 750),
        ("1000", "JPY", 1000),
        ("1.234", "KWD", 1234),
        ("1.2", "KWD", 1200),
        ("5", "ISK", 5),
        ("9999999999.99", "EUR", MAX_AMOUNT),
        ("999999999999", "JPY", MAX_AMOUNT),
    ],
)
def test_parse_amount(text, currency, expected):
    assert parse_amount(text, currency) == expected


@pytest.mark.parametrize(
    "text, currency, message",
    [
        ("12.5", "JPY", "JPY has no decimals: 12.5 is not a valid amount"),
        ("1000.0", "JPY", "JPY has no decimals"),
        ("12.505", "EUR", "EUR has at most 2 decimals: 12.505 is not a valid amount"),
        ("12.500", "EUR", "EUR has at most 2 decimals"),
        ("1.2345", "KWD", "KWD has at most 3 decimals"),
        ("-5", "EUR", "cannot be negative"),
        ("-0.50", "EUR", "cannot be negative"),
        ("10000000000.00", "EUR", "above the largest amount"),
        ("1000000000000", "JPY", "above the largest amount"),
        ("1" * 5000, "EUR", "above the largest amount"),
    ],
)
def test_parse_amount_explains_refusals(text, currency, message):
    with pytest.raises(InvalidAmount, match=re.escape(message)):
        parse_amount(text, currency)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "1e3",
        "1E3",
        "NaN",
        "nan",
        "Infinity",
        "inf",
        " 12",
        "12 ",
        "12\n",
        "1,000.00",
        "1 000",
        "12,50",
        "12.",
        ".5",
        "+12",
        "1.2.3",
        "0x10",
        "1_000",
        "١٢",  # Arabic-Indic digits: int() would accept them.
        "１２",  # full-width digits
        "--5",
    ],
)
def test_parse_amount_is_strict(text):
    with pytest.raises(InvalidAmount, match="not a valid amount"):
        parse_amount(text, "EUR")


def test_parse_amount_checks_the_currency_first():
    with pytest.raises(UnknownCurrency):
        parse_amount("12", "eur")


def test_parse_amount_takes_only_text():
    with pytest.raises(TypeError):
        parse_amount(12, "EUR")  # type: ignore[arg-type]


def test_parse_amount_shortens_echoed_input():
    with pytest.raises(InvalidAmount) as raised:
        parse_amount("x" * 10_000, "EUR")
    assert len(str(raised.value)) < 200


@fast
@given(currencies, amounts, st.booleans())
def test_parse_reads_back_any_amount_written_plainly(currency, amount, strip_zeros):
    assert parse_amount(plain_text(amount, currency, strip_zeros=strip_zeros), currency) == amount


@fast
@given(
    currencies,
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=1, max_value=3),
    st.data(),
)
def test_parse_refuses_more_decimals_than_the_exponent(currency, units, extra, data):
    count = CURRENCY_EXPONENTS[currency] + extra
    fraction = data.draw(st.text(alphabet="0123456789", min_size=count, max_size=count))
    with pytest.raises(InvalidAmount, match=f"{currency} has (no|at most [23]) decimals"):
        parse_amount(f"{units}.{fraction}", currency)


# Exact conversions ------------------------------------------------------------


@pytest.mark.parametrize(
    "amount, currency, expected",
    [
        (1250, "EUR", "12.50"),
        (0, "EUR", "0.00"),
        (5, "EUR", "0.05"),
        (-5, "EUR", "-0.05"),
        (1000, "JPY", "1000"),
        (1234, "KWD", "1.234"),
        (10**30 + 1, "EUR", "10000000000000000000000000000.01"),
    ],
)
def test_to_decimal_is_exact(amount, currency, expected):
    value = to_decimal(amount, currency)
    assert str(value) == expected
    assert value == Decimal(expected)


@pytest.mark.parametrize("bad", [12.5, True, "1250", Decimal("1250")])
def test_to_decimal_takes_only_ints(bad):
    with pytest.raises(TypeError):
        to_decimal(bad, "EUR")


@pytest.mark.parametrize(
    "value, currency, expected",
    [
        ("12.50", "EUR", 1250),
        ("12.5", "EUR", 1250),
        ("12.5000", "EUR", 1250),
        ("-0.05", "EUR", -5),
        ("0E-10", "EUR", 0),
        ("-0", "EUR", 0),
        ("1E+3", "JPY", 1000),
        ("1000.00", "JPY", 1000),
        ("1.234", "KWD", 1234),
    ],
)
def test_from_decimal(value, currency, expected):
    assert from_decimal(Decimal(value), currency) == expected


@pytest.mark.parametrize(
    "value, currency",
    [
        ("12.505", "EUR"),
        ("0.001", "EUR"),
        ("12.5", "JPY"),
        ("1.2345", "KWD"),
        ("NaN", "EUR"),
        ("sNaN", "EUR"),
        ("Infinity", "EUR"),
        ("-Infinity", "EUR"),
    ],
)
def test_from_decimal_refuses_what_is_not_exact(value, currency):
    with pytest.raises(InvalidAmount):
        from_decimal(Decimal(value), currency)


@pytest.mark.parametrize("value", ["1E999999999", "1E-999999999", "1" * 50])
def test_from_decimal_refuses_absurd_values_quickly(value):
    started = time.perf_counter()
    with pytest.raises(InvalidAmount):
        from_decimal(Decimal(value), "EUR")
    assert time.perf_counter() - started < 0.5


def test_from_decimal_takes_only_decimals():
    with pytest.raises(TypeError):
        from_decimal(12.5, "EUR")  # type: ignore[arg-type]


@fast
@given(currencies, st.integers(min_value=-(10**20), max_value=10**20))
def test_decimal_round_trip(currency, amount):
    assert from_decimal(to_decimal(amount, currency), currency) == amount


# Formatting for people --------------------------------------------------------


@pytest.mark.parametrize(
    "amount, currency, locale, expected",
    [
        (1250, "EUR", "en", "€12.50"),
        (1250, "EUR", "fr", "12,50 €"),
        (-1250, "EUR", "en", "-€12.50"),
        (-1250, "EUR", "fr", "-12,50 €"),
        (0, "EUR", "en", "€0.00"),
        (123456789, "EUR", "en", "€1,234,567.89"),
        (1000, "JPY", "en", "¥1,000"),
        (0, "JPY", "en", "¥0"),
        (1000, "JPY", "fr", "1 000 JPY"),
        (1234, "KWD", "fr", "1,234 KWD"),
    ],
)
def test_format_amount(amount, currency, locale, expected):
    assert spaces_normalised(format_amount(amount, currency, locale)) == expected


def test_format_amount_is_babels_output():
    assert format_amount(1250, "EUR", "fr") == format_currency(Decimal("12.50"), "EUR", locale="fr")
    # Three decimals, however Babel places the code.
    assert format_amount(1234, "KWD", "en") == format_currency(
        Decimal("1.234"), "KWD", format="¤#,##0.000", locale="en", currency_digits=False
    )
    assert "1.234" in format_amount(1234, "KWD", "en")


@pytest.mark.parametrize("locale", ["xx", "zz_ZZ", "en_XX", "", None])
def test_format_amount_refuses_unknown_locales(locale):
    with pytest.raises(ValueError, match="Unknown locale"):
        format_amount(1250, "EUR", locale)


def test_format_amount_refuses_unknown_currency():
    with pytest.raises(UnknownCurrency):
        format_amount(1250, "eur")


def test_format_amount_refuses_a_float_every_time_even_once_the_integer_was_written():
    # Written amounts are kept per process; 1250 and 1250.0 are equal keys.
    assert spaces_normalised(format_amount(1250, "EUR", "en")) == "€12.50"
    for _ in range(2):
        with pytest.raises(TypeError):
            format_amount(1250.0, "EUR", "en")


@fast
@given(currencies, st.integers(min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT))
def test_format_shows_the_exact_amount_with_iso_decimals(currency, amount):
    shown = format_amount(amount, currency, "en")
    number = shown.replace(get_currency_symbol(currency, locale="en"), "", 1)
    assert number.replace(",", "").strip() == str(to_decimal(amount, currency))


# Amounts for Stripe -----------------------------------------------------------


@pytest.mark.parametrize(
    "amount, currency, expected",
    [
        (1250, "EUR", 1250),
        (0, "EUR", 0),
        (1000, "JPY", 1000),
        (5, "KRW", 5),
        (5, "ISK", 500),  # ISO zero-decimal, two-decimal at Stripe
        (5, "UGX", 500),  # in Stripe's zero-decimal list, overridden by its special cases
        (1045, "HUF", 1045),  # two-decimal for charges at Stripe, as in ISO
        (80045, "TWD", 80045),
        (1230, "KWD", 1230),
        (5120, "BHD", 5120),
        (1200, "MGA", 12),  # ISO two-decimal, zero-decimal at Stripe
        (1230, "LYD", 123),  # ISO three-decimal, not in Stripe's three-decimal list
        (MAX_AMOUNT, "USD", MAX_AMOUNT),
    ],
)
def test_stripe_amount(amount, currency, expected):
    assert stripe_amount(amount, currency) == expected
    assert from_stripe_amount(expected, currency) == amount


@pytest.mark.parametrize(
    "amount, currency, message",
    [
        (1234, "KWD", "multiples of 0.010"),
        (5125, "OMR", "multiples of 0.010"),
        (1, "TND", "multiples of 0.010"),
        (1250, "MGA", "no decimals"),
        (1234, "LYD", "at most 2 decimals"),
        (-1, "EUR", "no negative"),
        (MAX_AMOUNT, "ISK", "maximum"),
    ],
)
def test_stripe_amount_refuses_what_stripe_refuses(amount, currency, message):
    with pytest.raises(InvalidAmount, match=message):
        stripe_amount(amount, currency)


def test_stripe_exponents():
    for code in money.STRIPE_ZERO_DECIMAL - {"UGX"}:
        assert stripe_exponent(code) == 0
    for code in money.STRIPE_THREE_DECIMAL:
        assert stripe_exponent(code) == 3
    assert stripe_exponent("ISK") == stripe_exponent("UGX") == 2
    assert stripe_exponent("EUR") == stripe_exponent("HUF") == stripe_exponent("TWD") == 2
    with pytest.raises(UnknownCurrency):
        stripe_exponent("jpy")


def test_from_stripe_amount_refuses_fractions_of_our_unit():
    with pytest.raises(InvalidAmount):
        from_stripe_amount(550, "ISK")


def test_stripe_amount_takes_only_ints():
    with pytest.raises(TypeError):
        stripe_amount(12.5, "EUR")  # type: ignore[arg-type]


# Multiples of 100 minor units are valid everywhere (whole MGA, tens of fils);
# the bound keeps ISK and UGX, scaled by 100, under Stripe's ceiling.
stripe_ready = st.integers(min_value=0, max_value=MAX_AMOUNT // 10_000).map(lambda k: k * 100)


@fast
@given(currencies, stripe_ready, stripe_ready)
def test_stripe_amount_is_monotonic_and_keeps_zero(currency, a, b):
    assert stripe_amount(0, currency) == 0
    low, high = sorted((a, b))
    assert stripe_amount(low, currency) <= stripe_amount(high, currency)
    assert (stripe_amount(a, currency) == stripe_amount(b, currency)) == (a == b)
    assert from_stripe_amount(stripe_amount(a, currency), currency) == a


# Rounding ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "numerator, denominator, expected",
    [
        (5, 2, 3),
        (-5, 2, -3),
        (7, 2, 4),
        (3, 2, 2),
        (-3, 2, -2),
        (1, 3, 0),
        (2, 3, 1),
        (-1, 3, 0),
        (-2, 3, -1),
        (0, 7, 0),
        (10, 5, 2),
        (10**40 + 5, 10, 10**39 + 1),
    ],
)
def test_round_half_up(numerator, denominator, expected):
    assert round_half_up(numerator, denominator) == expected


@pytest.mark.parametrize("denominator", [0, -1])
def test_round_half_up_needs_a_positive_denominator(denominator):
    with pytest.raises(ValueError):
        round_half_up(1, denominator)


@fast
@given(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.integers(min_value=1, max_value=10**20),
)
def test_round_half_up_matches_decimal(numerator, denominator):
    with localcontext(prec=200):
        expected = (Decimal(numerator) / Decimal(denominator)).quantize(
            Decimal(1), rounding=ROUND_HALF_UP
        )
    assert round_half_up(numerator, denominator) == int(expected)


@pytest.mark.parametrize(
    "amount, percentage_e4, expected",
    [
        (1250, 200_000, 250),  # 20 %
        (999, 55_000, 55),  # 5.5 % of 9.99 is 0.54945
        (3, 200_000, 1),  # 0.6
        (10, 50_000, 1),  # 0.5 exactly: half up
        (-10, 50_000, -1),  # credit: half away from zero
        (10, 49_999, 0),
        (1234, 1_000_000, 1234),  # 100 %
        (1234, 0, 0),
        (1000, 77, 0),  # 0.0077 %
    ],
)
def test_percent_of(amount, percentage_e4, expected):
    assert percent_of(amount, percentage_e4) == expected


@fast
@given(
    st.lists(st.integers(min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT), min_size=1, max_size=30),
    st.integers(min_value=0, max_value=10_000_000),
)
def test_rounding_per_line_drifts_at_most_one_unit_per_line(lines, percentage_e4):
    per_line = sum(percent_of(line, percentage_e4) for line in lines)
    assert abs(percent_of(sum(lines), percentage_e4) - per_line) <= len(lines)


@fast
@given(st.integers(min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT))
def test_percent_of_whole_and_nothing(amount):
    assert percent_of(amount, 1_000_000) == amount
    assert percent_of(amount, 0) == 0


def test_the_module_has_no_float_arithmetic():
    tree = ast.parse(Path(money.__file__).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        assert not (isinstance(node, ast.Constant) and isinstance(node.value, float))
        assert not isinstance(node, ast.Div)  # true division yields floats
        assert not (isinstance(node, ast.Name) and node.id == "float")
