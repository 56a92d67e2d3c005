"""The overdue state of a site (``bridge.billing.overdue``): the date math
of the grace period and the state as a pure function of the overdue
invoices, the business's rules and the time. Property tests (Hypothesis)
for the dates, across time zones with summer time and a 30-minute shift."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.billing.overdue import (
    GracePolicy,
    OverdueInvoice,
    grace_end,
    standing,
)

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
RANK = {"ok": 0, "overdue": 1, "grace": 2, "restricted": 3}

instants = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2098, 12, 31), timezones=st.just(UTC)
)
days = st.integers(min_value=0, max_value=365)
zones = st.sampled_from(ZONES)
actions = st.sampled_from(["nothing", "banner", "restricted"])
categories = st.sampled_from(["hosting", "maintenance", "seo", "other"])


@given(instants, days, zones)
def test_the_grace_ends_that_many_local_calendar_days_later(due, grace, zone):
    end = grace_end(due, grace, zone)
    local_due, local_end = due.astimezone(ZoneInfo(zone)), end.astimezone(ZoneInfo(zone))
    assert end.tzinfo is not None and end.utcoffset() == timedelta(0)
    # Same day count; the wall-clock time kept, but for the hour a spring
    # change skips (read with the offset from before it: one hour later).
    assert (local_end.date() - local_due.date()).days in (grace, grace + 1)
    shift = local_end.replace(tzinfo=None) - (
        local_due.replace(tzinfo=None) + timedelta(days=grace)
    )
    assert timedelta(0) <= shift <= timedelta(hours=1)


@given(instants, days, zones)
def test_a_grace_lasts_its_days_give_or_take_a_summer_time_change(due, grace, zone):
    length = grace_end(due, grace, zone) - due
    assert abs(length - timedelta(days=grace)) <= timedelta(hours=1)


@given(instants, days, days, zones)
def test_a_longer_grace_never_ends_sooner(due, a, b, zone):
    if a <= b:
        assert grace_end(due, a, zone) <= grace_end(due, b, zone)


@given(instants, zones)
def test_no_grace_ends_at_the_due_date(due, zone):
    assert grace_end(due, 0, zone) == due


def test_a_week_of_grace_across_the_change_to_summer_time_keeps_the_wall_clock():
    due = datetime(2026, 3, 25, 9, 0, tzinfo=ZoneInfo("Europe/Paris"))  # 08:00 UTC
    end = grace_end(due.astimezone(UTC), 7, "Europe/Paris")
    assert end == datetime(2026, 4, 1, 7, 0, tzinfo=UTC)  # 09:00 in Paris, summer time
    assert end - due == timedelta(days=7, hours=-1)


rule_sets = st.fixed_dictionaries(
    {
        c: st.builds(GracePolicy, grace_days=days, after_grace=actions)
        for c in ("hosting", "maintenance", "seo")
    }
)
invoice_sets = st.lists(
    st.builds(
        OverdueInvoice,
        id=st.integers(1, 10_000),
        due_at=instants,
        categories=st.frozensets(categories, max_size=3),
    ),
    max_size=5,
    unique_by=lambda i: i.id,
)


@given(invoice_sets, rule_sets, instants, st.timedeltas(timedelta(0), timedelta(days=800)), zones)
def test_as_time_passes_the_state_only_gets_worse(invoices, rules, now, later, zone):
    before = standing(invoices, rules, now, zone)
    after = standing(invoices, rules, now + later, zone)
    assert severity(after) >= severity(before)
    assert after.banner >= before.banner


def severity(result) -> tuple:
    """How bad a site's standing is: restricted, then a banner shown, then
    the state. A grace that ends in a banner reads "overdue" with the
    banner on, worse than "in grace" (a consequence pending) without it;
    an invoice whose grace leads to nothing is plain "overdue" from its
    due date and never in grace."""
    return (result.state == "restricted", result.banner, RANK[result.state])


def test_a_grace_that_ends_in_a_banner_turns_into_overdue_with_the_banner():
    due = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    rules = {
        "hosting": GracePolicy(grace_days=1, after_grace="banner"),
        "maintenance": GracePolicy(grace_days=0, after_grace="nothing"),
        "seo": GracePolicy(grace_days=0, after_grace="nothing"),
    }
    invoices = [
        OverdueInvoice(id=1, due_at=due, categories=frozenset()),
        OverdueInvoice(id=2, due_at=due, categories=frozenset({"hosting"})),
    ]
    during = standing(invoices, rules, due, "UTC")
    after = standing(invoices, rules, due + timedelta(days=1), "UTC")
    assert (during.state, during.banner) == ("grace", False)
    assert during.grace_until == due + timedelta(days=1)
    assert (after.state, after.banner) == ("overdue", True)


@given(invoice_sets, rule_sets, instants, zones)
def test_the_state_says_when_and_names_the_invoices_concerned(invoices, rules, now, zone):
    result = standing(invoices, rules, now, zone)
    past_due = sorted(i.id for i in invoices if i.due_at <= now)
    assert [s.invoice_id for s in result.invoices] == past_due
    assert (result.state == "ok") == (past_due == [])
    if result.state == "grace":
        assert result.grace_until is not None and result.grace_until > now
        assert result.grace_until == min(
            s.grace_until for s in result.invoices if s.state == "grace"
        )
    else:
        assert result.grace_until is None
    if result.state == "restricted":
        assert result.restricted_since is not None and result.restricted_since <= now
        # Since the first grace, among those that restrict, to have ended.
        ends = [
            grace_end(i.due_at, rules[c].grace_days, zone)
            for i in invoices
            if i.due_at <= now
            for c in i.categories
            if c in rules and rules[c].after_grace == "restricted"
        ]
        assert result.restricted_since == min(e for e in ends if e <= now)
    else:
        assert result.restricted_since is None
    restricting = any(
        c in rules
        and rules[c].after_grace == "restricted"
        and grace_end(i.due_at, rules[c].grace_days, zone) <= now
        for i in invoices
        if i.due_at <= now
        for c in i.categories
    )
    assert result.restricted == restricting


@given(invoice_sets, instants, zones)
def test_invoices_of_no_rule_are_overdue_and_nothing_more(invoices, now, zone):
    rules = {c: GracePolicy(0, "nothing") for c in ("hosting", "maintenance", "seo")}
    result = standing(invoices, rules, now, zone)
    assert result.state in ("ok", "overdue") and not result.banner


DUE = datetime(2026, 11, 15, 9, 0, tzinfo=UTC)
HOSTING = OverdueInvoice(1, DUE, frozenset({"hosting"}))


@pytest.mark.parametrize(
    ("now", "state", "grace_until", "restricted_since", "banner"),
    [
        (DUE - timedelta(seconds=1), "ok", None, None, False),
        (DUE, "grace", DUE + timedelta(days=7), None, False),
        (DUE + timedelta(days=7, seconds=-1), "grace", DUE + timedelta(days=7), None, False),
        (DUE + timedelta(days=7), "restricted", None, DUE + timedelta(days=7), True),
    ],
)
def test_a_hosting_invoice_goes_from_grace_to_restricted(
    now, state, grace_until, restricted_since, banner
):
    rules = {"hosting": GracePolicy(7, "restricted")}
    result = standing([HOSTING], rules, now)
    assert (result.state, result.grace_until, result.restricted_since, result.banner) == (
        state,
        grace_until,
        restricted_since,
        banner,
    )


def test_after_a_banner_grace_the_site_is_overdue_with_the_banner():
    rules = {"hosting": GracePolicy(3, "banner")}
    result = standing([HOSTING], rules, DUE + timedelta(days=3))
    assert (result.state, result.banner, result.restricted) == ("overdue", True, False)


def test_an_invoice_of_two_categories_follows_the_stricter_rule():
    invoice = OverdueInvoice(1, DUE, frozenset({"hosting", "seo"}))
    rules = {"hosting": GracePolicy(30, "banner"), "seo": GracePolicy(5, "restricted")}
    result = standing([invoice], rules, DUE + timedelta(days=1))
    assert (result.state, result.grace_until) == ("grace", DUE + timedelta(days=5))
    assert result.invoices[0].category == "seo"
