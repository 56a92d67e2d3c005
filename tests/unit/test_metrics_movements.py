"""MRR movements rounded to minor units: they sum to the change of the
rounded MRRs exactly and keep their signs (``metrics._rounded_movements``)."""

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from bridge.billing.metrics import MOVEMENTS, Movements, _rounded_movements, to_minor

amounts = st.fractions(min_value=0, max_value=10**9, max_denominator=10**6)


@given(
    before=amounts,
    ups=st.lists(amounts, min_size=3, max_size=3),
    downs=st.lists(amounts, min_size=2, max_size=2),
)
def test_rounded_movements_sum_to_the_rounded_change(before, ups, downs):
    new, expansion, reactivation = ups
    contraction, churn = (-min(d, before) / 2 for d in downs)
    after = before + new + expansion + reactivation + contraction + churn
    exact = dict(zip(MOVEMENTS, (new, expansion, contraction, churn, reactivation), strict=True))
    moved = _rounded_movements(exact, to_minor(after) - to_minor(before))
    assert sum(vars(moved).values()) == to_minor(after) - to_minor(before)
    assert min(moved.new, moved.expansion, moved.reactivation) >= 0
    assert max(moved.contraction, moved.churn) <= 0
    for name in MOVEMENTS:  # each within one minor unit of its exact amount
        assert abs(getattr(moved, name) - exact[name]) < 1


def test_a_third_three_times():
    third = Fraction(1000, 3)
    moved = _rounded_movements({"new": third, "expansion": third, "reactivation": third}, 1000)
    assert moved == Movements(new=334, expansion=333, reactivation=333)
