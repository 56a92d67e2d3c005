"""Account credit spent from several requests at the same moment, through
the real HTTP API on PostgreSQL (threads released together by a barrier):
whoever reads the balance to spend it holds the client's row lock, so the
same credit is never spent twice and the balance never goes below zero."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from bridge.billing import balances, invoices
from bridge.core.errors import Conflict
from bridge.models import Client, ClientBalanceEntry, Payment, PaymentMethod
from tests.integration.test_invoice_races import _codes, _invoice, race
from tests.integration.test_invoice_races import live as live  # noqa: F401  (fixture)
from tests.integration.test_invoice_races import shop as shop  # noqa: F401  (fixture)

pytestmark = [
    pytest.mark.parametrize("database_url", ["postgres"], indirect=True),
    pytest.mark.slow,
]


def _grant(api, client_id: int, amount: int) -> None:
    response = api.post(
        f"/clients/{client_id}/balance", json={"amount": amount, "reason": "Prepaid"}
    )
    assert response.status_code == 201, response.get_json()


def _spent(db, client_id: int) -> tuple[int, int]:
    """(what account credit paid, the balance left)."""
    with db.session() as s:
        paid = s.scalar(
            select(func.coalesce(func.sum(Payment.amount), 0)).where(
                Payment.client_id == client_id, Payment.method == PaymentMethod.ACCOUNT_CREDIT
            )
        )
        return int(paid), balances.balance_of(s, client_id, "EUR")


def test_four_bills_finalized_at_once_share_the_credit_once(api_eur, shop, live, db):  # noqa: F811
    client_id = shop["client"]["id"]
    drafts = [_invoice(api_eur, shop, status="draft") for _ in range(4)]
    _grant(api_eur, client_id, drafts[0]["total"] + 1000)
    answers = race(live, *[("POST", f"/invoices/{d['id']}/finalize", None) for d in drafts])
    assert _codes(answers) == {200: 4}, answers
    paid_from_credit = sorted(body["amount_paid"] for _status, body in answers)
    # One bill was paid in full, one got the 10.00 left, two got nothing.
    assert paid_from_credit == [0, 0, 1000, drafts[0]["total"]]
    assert _spent(db, client_id) == (drafts[0]["total"] + 1000, 0)


def test_a_take_back_racing_a_finalize_never_overdraws(api_eur, shop, live, db):  # noqa: F811
    client_id = shop["client"]["id"]
    for _ in range(3):
        draft = _invoice(api_eur, shop, status="draft")
        _grant(api_eur, client_id, 5000)
        answers = race(
            live,
            ("POST", f"/invoices/{draft['id']}/finalize", None),
            ("POST", f"/clients/{client_id}/balance", {"amount": -5000, "reason": "Refunded"}),
        )
        finalized, taken = answers
        assert finalized[0] == 200, finalized
        assert taken[0] in (201, 409), taken
        if taken[0] == 409:
            assert taken[1]["error"]["code"] == "insufficient_balance"
            assert finalized[1]["amount_paid"] == 5000
        else:
            assert finalized[1]["amount_paid"] == 0
        with db.session() as s:
            assert balances.balance_of(s, client_id, "EUR") == 0
            assert s.scalar(
                select(func.count())
                .select_from(ClientBalanceEntry)
                .where(ClientBalanceEntry.client_id == client_id)
            )


def test_a_finalize_holding_the_credit_makes_a_take_back_wait(api_eur, shop, db):  # noqa: F811
    """The interleaving forced: finalization A has read (and locked) the
    balance and not committed; a take-back B must wait for A, then see what
    A spent. Without the client's row lock B would take the same credit."""
    client_id = shop["client"]["id"]
    draft = _invoice(api_eur, shop, status="draft")
    _grant(api_eur, client_id, 5000)
    outcome: dict = {}

    def take_back() -> None:
        try:
            with db.session() as s:
                client = s.get(Client, client_id)
                balances.grant(s, client, amount=-5000, reason="Refunded")
            outcome["result"] = "taken"
        except Conflict as exc:
            outcome["result"] = exc.code

    with db.session() as a:
        invoice = invoices.get_invoice(a, draft["id"], lock=True)
        invoices.finalize(a, invoice)
        assert invoice.amount_paid == 5000
        b = threading.Thread(target=take_back)
        b.start()
        b.join(timeout=1.5)
        assert b.is_alive(), "the take-back read the balance while a finalize held it"
    b.join(timeout=30)
    assert outcome == {"result": "insufficient_balance"}
    assert _spent(db, client_id) == (5000, 0)
