"""Changing a subscription's plan or quantity through the API: the preview
answers what applying makes and writes nothing, validation names the
field, illegal states are 409s with stable codes, Idempotency-Key replays,
the OpenAPI document."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tests import shop as shops
from tests.conftest import table_counts
from tests.integration.test_api_invoices import draft
from tests.integration.test_api_invoices import shop as shop  # noqa: F401  (fixture)

START = datetime(2027, 6, 1, 10, 0, tzinfo=UTC)  # June: 30 days
HALFWAY = START + timedelta(days=15)


@pytest.fixture
def more(api_eur):
    return shops.api_product(
        api_eur,
        "Care",
        {
            "pro": shops.recurring("Pro", 5800),
            "yearly": shops.recurring("Yearly", 29000, shops.IntervalUnit.YEAR),
        },
    )


@pytest.fixture
def sub(api_eur, shop):  # noqa: F811
    with time_machine.travel(START, tick=False):
        invoice = draft(api_eur, shop, items=[{"plan_id": shop["monthly"]["id"]}])
        api_eur.post(f"/invoices/{invoice['id']}/finalize")
        api_eur.post(f"/invoices/{invoice['id']}/payments", json={"amount": 3480, "method": "cash"})
        return api_eur.get("/subscriptions").get_json()["data"][0]


def _change(api, sub, body, preview=False, **kwargs):
    query = "?preview=true" if preview else ""
    with time_machine.travel(HALFWAY, tick=False):
        return api.post(f"/subscriptions/{sub['id']}/change{query}", json=body, **kwargs)


LINE_KEYS = ("plan_id", "description", "quantity_e3", "unit_amount", "net", "tax", "total")
LINE_KEYS += ("period_start", "period_end")


def _shape(body):
    return (
        [
            {k: line[k] for k in (*LINE_KEYS, "period_start", "period_end")}
            for line in body["lines"]
        ],
        body["subtotal"],
        body["tax"],
        body["total"],
    )


def test_preview_then_apply_a_mid_period_upgrade(api_eur, sub, more, db):
    body = {"plan_id": more["pro"]["id"], "when": "now"}
    before = table_counts(db)
    preview = _change(api_eur, sub, body, preview=True)
    assert preview.status_code == 200, preview.get_json()
    assert table_counts(db) == before
    shown = preview.get_json()
    assert shown["preview"] is True and shown["invoice"] is None
    assert shown["subscription"]["plan"]["id"] == sub["plan"]["id"]  # unchanged
    assert [(li["net"], li["tax"], li["total"]) for li in shown["lines"]] == [
        (-1450, -290, -1740),
        (2900, 580, 3480),
    ]
    assert (shown["subtotal"], shown["tax"], shown["total"]) == (1450, 290, 1740)

    applied = _change(api_eur, sub, body)
    assert applied.status_code == 200, applied.get_json()
    made = applied.get_json()
    assert made["preview"] is False
    assert _shape(made) == _shape(shown)
    invoice = made["invoice"]
    assert invoice["status"] == "open" and invoice["total"] == 1740
    assert _shape({**invoice, "lines": invoice["lines"]})[0] == _shape(shown)[0]
    assert made["subscription"]["plan"]["id"] == more["pro"]["id"]
    assert made["subscription"]["unit_amount"] == 5800


def test_sent_twice_it_bills_once(api_eur, sub, more):
    body = {"plan_id": more["pro"]["id"], "when": "now"}
    assert _change(api_eur, sub, body).status_code == 200
    again = _change(api_eur, sub, body)
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "no_change"
    assert api_eur.get("/invoices").get_json()["total"] == 2


def test_idempotency_key_replays_the_change(api_eur, sub, more):
    body = {"plan_id": more["pro"]["id"], "when": "now"}
    headers = {"Idempotency-Key": "change-1"}
    first = _change(api_eur, sub, body, headers=headers)
    again = _change(api_eur, sub, body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.get_json() == again.get_json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert api_eur.get("/invoices").get_json()["total"] == 2


def test_monthly_to_yearly_starts_a_new_period(api_eur, sub, more):
    made = _change(api_eur, sub, {"plan_id": more["yearly"]["id"], "when": "now"}).get_json()
    assert made["new_period"] is True
    assert [li["net"] for li in made["lines"]] == [-1450, 29000]
    assert made["subscription"]["current_period_start"].startswith("2027-06-16T10:00:00")
    assert made["subscription"]["current_period_end"].startswith("2028-06-16T10:00:00")


def test_a_decimal_quantity(api_eur, sub):
    made = _change(api_eur, sub, {"quantity": "1.5", "when": "now"}).get_json()
    assert [li["net"] for li in made["lines"]] == [-1450, 2175]
    assert made["subscription"]["quantity"] == 1.5


@pytest.mark.parametrize(
    "body, field",
    [
        ({"plan_id": 1}, "when"),
        ({"quantity": 1, "when": "later"}, "when"),
        ({"quantity": 1, "when": "renewal"}, "when"),
        ({"quantity": 0, "when": "now"}, "quantity"),
        ({"quantity": "1.0001", "when": "now"}, "quantity"),
        ({"quantity": 10001, "when": "now"}, "quantity"),
        ({"plan_id": "x", "when": "now"}, "plan_id"),
        ({"plan_id": 0, "when": "now"}, "plan_id"),
        ({"plan_id": 999999, "when": "now"}, "plan_id"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(api_eur, sub, db, body, field):
    before = table_counts(db)
    response = _change(api_eur, sub, body)
    assert response.status_code == 422, response.get_json()
    assert field in str(response.get_json()["error"])
    assert table_counts(db) == before


def test_a_one_time_plan_is_a_422_naming_plan_id(api_eur, sub, shop):  # noqa: F811
    response = _change(api_eur, sub, {"plan_id": shop["setup"]["id"], "when": "now"})
    assert response.status_code == 422
    assert "plan_id" in response.get_json()["error"]["fields"]


def test_illegal_states_are_409s_with_stable_codes(api_eur, sub, more):
    body = {"plan_id": more["pro"]["id"], "when": "now"}
    same = _change(api_eur, sub, {"plan_id": sub["plan"]["id"], "when": "now"})
    assert same.get_json()["error"]["code"] == "no_change"
    with time_machine.travel(HALFWAY, tick=False):
        api_eur.post(f"/subscriptions/{sub['id']}/pause", json={})
    paused = _change(api_eur, sub, body, preview=True)
    assert paused.status_code == 409
    assert paused.get_json()["error"]["code"] == "subscription_paused"
    api_eur.post(f"/subscriptions/{sub['id']}/cancel", json={"at_period_end": False})
    cancelled = _change(api_eur, sub, body)
    assert cancelled.status_code == 409
    assert cancelled.get_json()["error"]["code"] == "illegal_transition"


def test_a_downgrade_now_credits_the_client_balance(api_eur, sub, shop, more):  # noqa: F811
    _change(api_eur, sub, {"plan_id": more["pro"]["id"], "when": "now"})
    with time_machine.travel(HALFWAY + timedelta(days=1), tick=False):
        response = api_eur.post(
            f"/subscriptions/{sub['id']}/change",
            json={"plan_id": shop["monthly"]["id"], "when": "now"},
        )
    assert response.status_code == 200, response.get_json()
    made = response.get_json()
    assert made["total"] < 0
    invoice = api_eur.get(f"/invoices/{made['invoice']['id']}").get_json()
    assert invoice["status"] == "paid" and invoice["number"]
    assert invoice["amount_due"] == 0
    client = api_eur.get(f"/clients/{sub['client_id']}").get_json()
    assert client["balance"] == {"EUR": -made["total"]}
    ledger = api_eur.get(f"/clients/{sub['client_id']}/balance").get_json()
    assert [(e["kind"], e["amount"], e["invoice_id"]) for e in ledger["entries"]] == [
        ("invoice_credit", -made["total"], invoice["id"])
    ]


def test_change_is_in_the_openapi_document(api_eur):
    spec = api_eur.get("/openapi.json").get_json()
    path = spec["paths"]["/api/v1/subscriptions/{subscription_id}/change"]["post"]
    assert any(p["name"] == "preview" for p in path["parameters"])
    assert {"plan_id", "quantity", "when"} <= set(
        spec["components"]["schemas"]["Change"]["properties"]
    )
