"""The payment state machine: every move the charge flows make is allowed,
and any other one (un-receiving money, reviving a canceled attempt as a
failure...) is refused with ``illegal_transition``."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest

from bridge.billing import states
from bridge.billing.states import PAYMENT_TRANSITIONS, IllegalTransition, payment_to
from bridge.models import PaymentStatus

PENDING = PaymentStatus.PENDING
SUCCEEDED = PaymentStatus.SUCCEEDED
FAILED = PaymentStatus.FAILED
REQUIRES_ACTION = PaymentStatus.REQUIRES_ACTION
CANCELED = PaymentStatus.CANCELED

LEGAL = [
    # Stripe answers the charge request.
    (PENDING, SUCCEEDED),
    (PENDING, FAILED),
    (PENDING, REQUIRES_ACTION),
    (PENDING, CANCELED),
    # The client authenticates on the page, the bank then decides.
    (REQUIRES_ACTION, PENDING),
    (REQUIRES_ACTION, SUCCEEDED),
    (REQUIRES_ACTION, FAILED),
    # The client saved another card: the waiting attempt is dropped.
    (REQUIRES_ACTION, CANCELED),
    # A declined PaymentIntent confirmed again, or reports out of order.
    (FAILED, PENDING),
    (FAILED, REQUIRES_ACTION),
    (FAILED, SUCCEEDED),
    (FAILED, CANCELED),
    # The client's success crossed our cancel.
    (CANCELED, SUCCEEDED),
]


def payment(status: PaymentStatus) -> SimpleNamespace:
    return SimpleNamespace(status=status)


def test_every_status_has_its_row():
    assert set(PAYMENT_TRANSITIONS) == set(PaymentStatus)


@pytest.mark.parametrize(("current", "new"), LEGAL, ids=lambda s: s.value)
def test_a_legal_move_changes_the_status(current, new):
    p = payment(current)
    assert states.payment_may_become(current, new)
    payment_to(p, new)
    assert p.status == new


ILLEGAL = sorted(
    set(itertools.product(PaymentStatus, PaymentStatus)) - set(LEGAL),
    key=lambda move: (move[0].value, move[1].value),
)


@pytest.mark.parametrize(("current", "new"), ILLEGAL, ids=lambda s: s.value)
def test_any_other_move_is_refused_and_leaves_the_status(current, new):
    p = payment(current)
    assert not states.payment_may_become(current, new)
    with pytest.raises(IllegalTransition) as refused:
        payment_to(p, new)
    assert refused.value.code == "illegal_transition"
    assert refused.value.fields == {"status": [f"{current.value} -> {new.value} is not allowed"]}
    assert p.status == current


def test_received_money_is_final():
    assert PAYMENT_TRANSITIONS[SUCCEEDED] == frozenset()
    for new in (PENDING, FAILED, REQUIRES_ACTION, CANCELED):
        with pytest.raises(IllegalTransition, match="A succeeded payment cannot become"):
            payment_to(payment(SUCCEEDED), new)


def test_nothing_moves_back_to_itself_through_the_machine():
    # A repeated report of the same status is not a transition: the domain
    # records its details without calling payment_to.
    for status in PaymentStatus:
        assert not states.payment_may_become(status, status)
