"""Domain rules that need no database: plan terms, tax percentages, the
statement descriptor, URLs, colours, images, UTC datetimes."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.billing.business import check_statement_descriptor
from bridge.billing.catalog import (
    MAX_INTERVAL_COUNT,
    check_plan_terms,
    format_percentage,
    parse_percentage,
)
from bridge.billing.validation import (
    check_hex_color,
    check_image,
    check_url,
    email_key,
    sniff_image_type,
)
from bridge.core.errors import Invalid
from bridge.models import IntervalUnit, PlanKind
from bridge.models.types import UTCDateTime

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 20
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"></svg>'


# Plan terms -------------------------------------------------------------------


def test_recurring_plan_defaults_to_an_interval_count_of_one():
    assert check_plan_terms(PlanKind.RECURRING, 100, IntervalUnit.MONTH, None, None) == (
        IntervalUnit.MONTH,
        1,
        None,
    )


def test_recurring_plan_needs_a_unit():
    with pytest.raises(Invalid) as info:
        check_plan_terms(PlanKind.RECURRING, 100, None, 1, None)
    assert "interval_unit" in info.value.fields


@pytest.mark.parametrize("unit", list(IntervalUnit))
def test_billing_period_is_at_most_three_years(unit):
    check_plan_terms(PlanKind.RECURRING, 100, unit, MAX_INTERVAL_COUNT[unit], None)
    with pytest.raises(Invalid) as info:
        check_plan_terms(PlanKind.RECURRING, 100, unit, MAX_INTERVAL_COUNT[unit] + 1, None)
    assert "interval_count" in info.value.fields


def test_one_time_plan_has_no_period_and_reports_every_problem_at_once():
    with pytest.raises(Invalid) as info:
        check_plan_terms(PlanKind.ONE_TIME, -1, IntervalUnit.MONTH, 2, 3)
    assert set(info.value.fields) == {"amount", "interval_unit", "interval_count", "billing_cycles"}


@pytest.mark.parametrize("cycles", [0, -1, 1001])
def test_billing_cycles_are_between_one_and_a_thousand(cycles):
    with pytest.raises(Invalid):
        check_plan_terms(PlanKind.RECURRING, 100, IntervalUnit.WEEK, 1, cycles)


# Tax percentages ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, stored",
    [
        ("20", 200000),
        ("7.7", 77000),
        ("7.6543", 76543),
        ("0", 0),
        ("100", 1000000),
        (5.5, 55000),
        (19, 190000),
        ("0.0001", 1),
    ],
)
def test_percentages_are_stored_exactly(text, stored):
    assert parse_percentage(text) == stored


@pytest.mark.parametrize("text", ["7.65431", "100.0001", "-1", "abc", "NaN", "Infinity", True, ""])
def test_bad_percentages_are_refused(text):
    with pytest.raises(Invalid):
        parse_percentage(text)


@given(st.integers(min_value=0, max_value=1_000_000))
def test_percentage_text_round_trips(stored):
    assert parse_percentage(format_percentage(stored)) == stored


def test_percentage_text_has_no_trailing_zeros():
    assert format_percentage(200000) == "20"
    assert format_percentage(77000) == "7.7"
    assert format_percentage(1) == "0.0001"


# Statement descriptor ---------------------------------------------------------


@pytest.mark.parametrize("value", ["PIXELPRESS", "Pixel & Press 2026", "ABCDE", "A" * 22])
def test_valid_statement_descriptors(value):
    assert check_statement_descriptor(value) == value


@pytest.mark.parametrize(
    "value, problem",
    [
        ("ABCD", "5 to 22"),
        ("A" * 23, "5 to 22"),
        ("12345", "one letter"),
        ("PIXEL*PRESS", "*"),
        ('SAY "HI"', '"'),
        ("CAFÉ LUMIÈRE", "Latin"),
        ("<PIXEL>", "<"),
    ],
)
def test_invalid_statement_descriptors_say_why(value, problem):
    with pytest.raises(Invalid) as info:
        check_statement_descriptor(value)
    assert problem in " ".join(info.value.fields["statement_descriptor"])


# Small validators ---------------------------------------------------------------


def test_email_key_ignores_case_and_blanks():
    assert email_key("  Ann@Example.COM ") == "ann@example.com"


@pytest.mark.parametrize(
    "url", ["https://example.com", "http://localhost:8080/wp", "https://a.example/path?x=1"]
)
def test_valid_site_urls(url):
    assert check_url(url) == url


@pytest.mark.parametrize("color, expected", [("#2563EB", "#2563eb"), ("#000000", "#000000")])
def test_hex_colours_are_normalized(color, expected):
    assert check_hex_color(color) == expected


@pytest.mark.parametrize("color", ["2563eb", "#fff", "#GGGGGG", "#2563eb0", "red"])
def test_bad_hex_colours_are_refused(color):
    with pytest.raises(Invalid):
        check_hex_color(color)


def test_image_types_are_read_from_the_bytes():
    assert sniff_image_type(PNG) == "image/png"
    assert sniff_image_type(JPEG) == "image/jpeg"
    assert sniff_image_type(b"  <?xml version='1.0'?>" + SVG) == "image/svg+xml"
    assert sniff_image_type(b"GIF89a") is None


def test_images_are_limited_in_size_and_kind():
    assert check_image(PNG, 1024) == "image/png"
    with pytest.raises(Invalid, match="too large"):
        check_image(PNG, 10)
    with pytest.raises(Invalid, match="PNG, JPEG or SVG"):
        check_image(b"%PDF-1.7", 1024)
    with pytest.raises(Invalid, match="scripts"):
        check_image(b'<svg onload="alert(1)"></svg>', 1024)
    with pytest.raises(Invalid, match="scripts"):
        check_image(b"<svg><script>alert(1)</script></svg>", 1024)


# UTC datetimes --------------------------------------------------------------------


class _Dialect:
    def __init__(self, name):
        self.name = name


def test_datetimes_are_stored_in_utc_and_read_back_aware():
    column = UTCDateTime()
    paris = datetime(2026, 3, 29, 3, 30, tzinfo=timezone(timedelta(hours=2)))
    stored = column.process_bind_param(paris, _Dialect("sqlite"))
    assert stored == datetime(2026, 3, 29, 1, 30)
    assert column.process_result_value(stored, _Dialect("sqlite")) == paris
    assert column.process_result_value(stored, _Dialect("sqlite")).tzinfo is UTC


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2026, 1, 1), _Dialect("postgresql"))
