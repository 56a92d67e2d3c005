"""A client's account credit through the API, on both databases: staff
grant and take back credit (validated, audited, never below zero), the
client JSON carries the balance, the next invoice is paid from it first
(shown as a payment of method ``account_credit``), voiding gives it back,
and a credit note gives back what it paid, never through Stripe."""

import pytest

from tests.conftest import snapshot
from tests.integration.test_api_invoices import draft
from tests.integration.test_api_invoices import shop as shop  # noqa: F401  (fixture)


def _grant(api, client_id, **body):
    return api.post(f"/clients/{client_id}/balance", json=body)


def test_grant_then_read_the_ledger(api_eur, shop):  # noqa: F811
    client_id = shop["client"]["id"]
    assert api_eur.get(f"/clients/{client_id}").get_json()["balance"] == {}
    granted = _grant(api_eur, client_id, amount=2500, reason="Sorry for the outage")
    assert granted.status_code == 201, granted.get_json()
    body = granted.get_json()
    assert body["balance"] == {"EUR": 2500}
    [entry] = body["entries"]
    assert (entry["kind"], entry["amount"], entry["currency"]) == ("granted", 2500, "EUR")
    assert entry["reason"] == "Sorry for the outage" and entry["created_by"]
    taken = _grant(api_eur, client_id, amount=-500, currency="EUR", reason="Partly used elsewhere")
    assert taken.status_code == 201
    assert api_eur.get(f"/clients/{client_id}").get_json()["balance"] == {"EUR": 2000}
    ledger = api_eur.get(f"/clients/{client_id}/balance").get_json()
    assert [e["amount"] for e in ledger["entries"]] == [-500, 2500]  # newest first
    log = api_eur.get(f"/audit-log?client_id={client_id}").get_json()
    assert "balance_entry.created" in [row["action"] for row in log["data"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reason": "x"}, "amount"),
        ({"amount": "500", "reason": "x"}, "amount"),
        ({"amount": 5.5, "reason": "x"}, "amount"),
        ({"amount": True, "reason": "x"}, "amount"),
        ({"amount": 0, "reason": "x"}, "amount"),
        ({"amount": 10**13, "reason": "x"}, "amount"),
        ({"amount": 500}, "reason"),
        ({"amount": 500, "reason": "   "}, "reason"),
        ({"amount": 500, "reason": "x" * 501}, "reason"),
        ({"amount": 500, "reason": "x", "currency": "USD"}, "currency"),
        ({"amount": 500, "reason": "x", "currency": "EURO"}, "currency"),
        ({"amount": 500, "reason": "x", "currency": 978}, "currency"),
    ],
)
def test_bad_grants_are_422_naming_the_field(api_eur, shop, db, body, field):  # noqa: F811
    before = snapshot(db)
    response = _grant(api_eur, shop["client"]["id"], **body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["fields"]
    assert snapshot(db) == before


def test_taking_back_more_than_held_is_a_409(api_eur, shop):  # noqa: F811
    client_id = shop["client"]["id"]
    _grant(api_eur, client_id, amount=300, reason="Goodwill")
    response = _grant(api_eur, client_id, amount=-301, reason="Too much")
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "insufficient_balance"


def test_read_only_tokens_read_but_never_grant(api_eur, api_read_only, shop):  # noqa: F811
    client_id = shop["client"]["id"]
    assert api_read_only.get(f"/clients/{client_id}/balance").status_code == 200
    assert _grant(api_read_only, client_id, amount=100, reason="x").status_code == 403
    assert api_eur.get("/clients/999999/balance").status_code == 404


def test_the_next_invoice_is_paid_from_credit_first_and_void_gives_it_back(api_eur, shop):  # noqa: F811
    client_id = shop["client"]["id"]
    _grant(api_eur, client_id, amount=5000, reason="Goodwill")
    invoice = draft(api_eur, shop)  # 249.60
    sent = api_eur.post(f"/invoices/{invoice['id']}/finalize").get_json()
    assert (sent["status"], sent["amount_paid"], sent["amount_due"]) == ("open", 5000, 19960)
    assert [(p["method"], p["amount"]) for p in sent["payments"]] == [("account_credit", 5000)]
    assert api_eur.get(f"/clients/{client_id}").get_json()["balance"] == {}
    voided = api_eur.post(f"/invoices/{invoice['id']}/void")
    assert voided.status_code == 200, voided.get_json()
    assert api_eur.get(f"/clients/{client_id}").get_json()["balance"] == {"EUR": 5000}
    kinds = [e["kind"] for e in api_eur.get(f"/clients/{client_id}/balance").get_json()["entries"]]
    assert kinds == ["invoice_voided", "applied", "granted"]


def test_a_credit_note_on_a_credit_paid_invoice_goes_back_to_the_balance(api_eur, shop):  # noqa: F811
    client_id = shop["client"]["id"]
    _grant(api_eur, client_id, amount=30000, reason="Prepaid")
    invoice = draft(api_eur, shop)
    paid = api_eur.post(f"/invoices/{invoice['id']}/finalize").get_json()
    assert paid["status"] == "paid" and paid["amount_paid"] == 24960
    # Not paid by card: the default is a credit note, never a Stripe refund.
    note = api_eur.post(
        f"/invoices/{invoice['id']}/credit-notes", json={"amount": 4960, "reason": "Discount"}
    )
    assert note.status_code == 201, note.get_json()
    assert api_eur.get(f"/clients/{client_id}").get_json()["balance"] == {"EUR": 10000}
