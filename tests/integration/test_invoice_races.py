"""Two staff actions on one invoice at the same moment, through the real HTTP
API on PostgreSQL: the app is served by werkzeug's threaded server, and
threads released together by a barrier send the requests. Every write of an
invoice takes its row lock first, so one request wins and the others get a
409 (or a 404 for an invoice deleted meanwhile), never a 500, and no money
is counted twice or lost."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import requests
from sqlalchemy import func, select

from bridge.models import AuditEntry, CreditNote, Invoice, OutboxMessage, Payment
from bridge.models.subscriptions import Subscription
from tests import shop as shops
from tests.conftest import make_token
from tests.e2e.conftest import LiveServer

pytestmark = [
    pytest.mark.parametrize("database_url", ["postgres"], indirect=True),
    pytest.mark.slow,
]


@pytest.fixture
def live(app, db):
    """(base URL of the API, headers with a staff token)."""
    with LiveServer(app) as server:
        yield server.url + "/api/v1", {"Authorization": f"Bearer {make_token(db)}"}


@pytest.fixture
def shop(api_eur):
    plans = shops.api_product(api_eur, "Hosting", {"monthly": shops.MONTHLY, "setup": shops.SETUP})
    client = shops.api_client(api_eur)
    return {**plans, "client": client}


def _invoice(api, shop, *, status: str = "open") -> dict:
    """An invoice of one setup fee and one monthly hosting line."""
    body = {
        "client_id": shop["client"]["id"],
        "items": [{"plan_id": shop["setup"]["id"]}, {"plan_id": shop["monthly"]["id"]}],
    }
    invoice = api.post("/invoices", json=body).get_json()
    if status != "draft":
        invoice = api.post(f"/invoices/{invoice['id']}/finalize").get_json()
        assert invoice["status"] == "open", invoice
    if status == "paid":
        paid = api.post(
            f"/invoices/{invoice['id']}/payments",
            json={"amount": invoice["amount_due"], "method": "bank_transfer"},
        )
        assert paid.status_code == 201, paid.get_json()
        invoice = api.get(f"/invoices/{invoice['id']}").get_json()
    return invoice


def race(live, *calls: tuple[str, str, dict | None]) -> list[tuple[int, dict | None]]:
    """Send every call at once; the (status, body) of each, in call order."""
    base, headers = live
    barrier = threading.Barrier(len(calls))
    answers: list = [None] * len(calls)

    def send(index: int, method: str, path: str, body: dict | None) -> None:
        barrier.wait()
        response = requests.request(method, base + path, json=body, headers=headers, timeout=60)
        answers[index] = (
            response.status_code,
            response.json() if response.content else None,
        )

    threads = [threading.Thread(target=send, args=(i, *call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _codes(answers) -> Counter:
    return Counter(status for status, _ in answers)


def _error_codes(answers) -> set[str]:
    return {body["error"]["code"] for status, body in answers if status >= 400}


def test_a_draft_finalized_by_eight_requests_at_once_gets_one_number(api_eur, shop, live, db):
    invoice = _invoice(api_eur, shop, status="draft")
    answers = race(live, *[("POST", f"/invoices/{invoice['id']}/finalize", None)] * 8)
    assert _codes(answers) == {200: 1, 409: 7}, answers
    assert _error_codes(answers) == {"invoice_not_draft"}
    (winner,) = [body for status, body in answers if status == 200]
    with db.session() as s:
        stored = s.get(Invoice, invoice["id"])
        assert stored.number == winner["number"] and stored.number.endswith("00001")
        assert s.scalar(select(func.count()).select_from(Subscription)) == 1
        raced = _audit_actions(s, invoice["id"])
        sent = s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.invoice_id == invoice["id"])
        )
        assert sent == 1
    # The next invoice takes the next number (no gap), and its one
    # finalization left the audit entries the raced one has.
    following = _invoice(api_eur, shop)
    assert following["number"].endswith("00002")
    with db.session() as s:
        assert raced == _audit_actions(s, following["id"])


def _audit_actions(session, invoice_id: int) -> Counter:
    return Counter(
        session.scalars(
            select(AuditEntry.action).where(
                AuditEntry.object_type == "invoice", AuditEntry.object_id == invoice_id
            )
        )
    )


def test_delete_racing_finalize_never_deletes_a_numbered_invoice(api_eur, shop, live, db):
    for _ in range(4):
        invoice = _invoice(api_eur, shop, status="draft")
        path = f"/invoices/{invoice['id']}"
        with db.session() as s:
            queued = s.scalar(select(func.count()).select_from(OutboxMessage))
        finalized, deleted = race(live, ("POST", path + "/finalize", None), ("DELETE", path, None))
        assert 500 not in (finalized[0], deleted[0]), (finalized, deleted)
        with db.session() as s:
            stored = s.get(Invoice, invoice["id"])
            if finalized[0] == 200:
                assert deleted[0] == 409 and deleted[1]["error"]["code"] == "invoice_not_draft"
                assert stored is not None and stored.number == finalized[1]["number"]
            else:
                assert (finalized[0], deleted[0]) == (404, 204)
                assert stored is None
                # No email with a pay link to nothing.
                assert s.scalar(select(func.count()).select_from(OutboxMessage)) == queued


def test_a_draft_edited_while_finalized_is_never_changed_after_its_number(api_eur, shop, live, db):
    """An issued invoice is never changed: the edit lands before the number
    (and the finalized answer shows it) or is a 409."""
    for _ in range(4):
        invoice = _invoice(api_eur, shop, status="draft")
        path = f"/invoices/{invoice['id']}"
        edit = {"items": [{"plan_id": shop["setup"]["id"], "quantity": 3}]}
        finalized, edited = race(live, ("POST", path + "/finalize", None), ("PATCH", path, edit))
        assert finalized[0] == 200 and edited[0] in (200, 409), (finalized, edited)
        with db.session() as s:
            stored = s.get(Invoice, invoice["id"])
            assert (stored.number, stored.total) == (
                finalized[1]["number"],
                finalized[1]["total"],
            )
            assert [line.quantity for line in stored.lines] == [
                line["quantity"] for line in finalized[1]["lines"]
            ]
        if edited[0] == 409:
            assert edited[1]["error"]["code"] == "invoice_not_draft"


def test_four_simultaneous_full_payments_record_one(api_eur, shop, live, db):
    invoice = _invoice(api_eur, shop)
    body = {"amount": invoice["amount_due"], "method": "bank_transfer"}
    answers = race(live, *[("POST", f"/invoices/{invoice['id']}/payments", body)] * 4)
    codes = _codes(answers)
    assert codes[201] == 1 and sum(codes.values()) == 4, answers
    assert all(400 <= status < 500 for status, _ in answers if status != 201), answers
    with db.session() as s:
        stored = s.get(Invoice, invoice["id"])
        assert (stored.status.value, stored.amount_paid) == ("paid", invoice["total"])
        assert s.scalar(select(func.count()).select_from(Payment)) == 1
        receipts = s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.trigger == "payment_receipt")
        )
        assert receipts == 1


def test_void_racing_a_payment_never_leaves_a_void_invoice_holding_money(api_eur, shop, live, db):
    for _ in range(4):
        invoice = _invoice(api_eur, shop)
        path = f"/invoices/{invoice['id']}"
        paid, voided = race(
            live,
            ("POST", path + "/payments", {"amount": 100, "method": "cash"}),
            ("POST", path + "/void", None),
        )
        assert sorted([paid[0], voided[0]]) in ([200, 409], [201, 409]), (paid, voided)
        with db.session() as s:
            stored = s.get(Invoice, invoice["id"])
            if voided[0] == 200:
                assert stored.status.value == "void" and stored.amount_paid == 0
                assert paid[1]["error"]["code"] == "invoice_not_payable"
            else:
                assert stored.status.value == "open" and stored.amount_paid == 100
                assert voided[1]["error"]["code"] == "invoice_partly_paid"


def test_four_simultaneous_full_credit_notes_issue_one(api_eur, shop, live, db):
    invoice = _invoice(api_eur, shop, status="paid")
    body = {"amount": invoice["total"], "refund_to_card": False}
    answers = race(live, *[("POST", f"/invoices/{invoice['id']}/credit-notes", body)] * 4)
    assert _codes(answers) == {201: 1, 409: 3}, answers
    assert _error_codes(answers) == {"exceeds_refundable"}
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(CreditNote)) == 1
        assert s.get(Invoice, invoice["id"]).amount_refunded == invoice["total"]


def test_a_payment_and_a_credit_note_at_once_both_count(api_eur, shop, live, db):
    """Half paid, then the other half paid while the first half is credited:
    both amounts are kept (neither write overwrites the other's total). (The
    two writes touch different columns, so this held before the row lock
    too: it guards the pair.)"""
    for _ in range(3):
        invoice = _invoice(api_eur, shop)
        half = invoice["total"] // 2
        path = f"/invoices/{invoice['id']}"
        first = api_eur.post(path + "/payments", json={"amount": half, "method": "cash"})
        assert first.status_code == 201
        rest = invoice["total"] - half
        paid, credited = race(
            live,
            ("POST", path + "/payments", {"amount": rest, "method": "cash"}),
            ("POST", path + "/credit-notes", {"amount": half, "refund_to_card": False}),
        )
        assert (paid[0], credited[0]) == (201, 201), (paid, credited)
        with db.session() as s:
            stored = s.get(Invoice, invoice["id"])
            assert (stored.amount_paid, stored.amount_refunded) == (invoice["total"], half)
            assert stored.status.value == "paid"
