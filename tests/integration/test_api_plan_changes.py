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
        ({"quantity": 0, "when": "renewal"}, "quantity"),
        ({"quantity": "1.0001", "when": "renewal"}, "quantity"),
        ({"plan_id": 999999, "when": "renewal"}, "plan_id"),
        ({"plan_id": 0, "when": "renewal"}, "plan_id"),
        ({"quantity": 2, "when": "at renewal"}, "when"),
        ({"quantity": 2, "when": None}, "when"),
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


def _coupon(api, **fields):
    body = {"name": "Friends", "percent_off": "20", "duration": "forever", **fields}
    body = {key: value for key, value in body.items() if value is not None}
    response = api.post("/coupons", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def ten_to_twenty(api_eur):
    """Stripe's proration vector: a monthly 10.00 plan and a 20.00 one, no tax."""
    plans = shops.api_product(
        api_eur,
        "Basic care",
        {"ten": shops.recurring("Ten", 1000), "twenty": shops.recurring("Twenty", 2000)},
    )
    client = shops.api_client(api_eur)
    with time_machine.travel(START, tick=False):
        invoice = api_eur.post(
            "/invoices",
            json={"client_id": client["id"], "items": [{"plan_id": plans["ten"]["id"]}]},
        ).get_json()
        api_eur.post(f"/invoices/{invoice['id']}/finalize")
        api_eur.post(f"/invoices/{invoice['id']}/payments", json={"amount": 1000, "method": "cash"})
    sub = api_eur.get("/subscriptions", query_string={"client_id": client["id"]}).get_json()
    return {**plans, "client": client, "sub": sub["data"][0]}


def _renew(db, at):
    from bridge.billing import renewals

    with time_machine.travel(at, tick=False), db.session() as s:
        renewals.renew_due(s, at)
        s.commit()


def _pay(api, invoice_id):
    invoice = api.get(f"/invoices/{invoice_id}").get_json()
    payment = {"amount": invoice["total"], "method": "cash"}
    api.post(f"/invoices/{invoice_id}/payments", json=payment)


def test_a_forever_coupon_discounts_the_credit_and_the_charge_preview_equals_applied(
    api_eur, ten_to_twenty, db
):
    sub = ten_to_twenty["sub"]
    client_id = ten_to_twenty["client"]["id"]
    with time_machine.travel(START, tick=False):
        forever = _coupon(api_eur)
        applied = api_eur.post(f"/clients/{client_id}/coupon", json={"coupon_id": forever["id"]})
        assert applied.status_code == 201, applied.get_json()
    # July's renewal takes the coupon: 8.00 paid for July.
    july = datetime(2027, 7, 1, 10, 0, tzinfo=UTC)
    _renew(db, july)
    listed = api_eur.get("/invoices", query_string={"client_id": client_id}).get_json()["data"]
    renewal = max(listed, key=lambda i: i["id"])
    assert renewal["total"] == 800
    _pay(api_eur, renewal["id"])
    body = {"plan_id": ten_to_twenty["twenty"]["id"], "when": "now"}
    halfway = july + timedelta(days=15, hours=12)  # July: 31 days
    with time_machine.travel(halfway, tick=False):
        preview = api_eur.post(f"/subscriptions/{sub['id']}/change?preview=true", json=body)
        made = api_eur.post(f"/subscriptions/{sub['id']}/change", json=body)
    assert preview.status_code == 200 and made.status_code == 200, made.get_json()
    shown, done = preview.get_json(), made.get_json()
    # The credit gives back what July's 8.00 paid for half of July; the
    # charge is 20 % off the new plan's half month.
    amounts = [(li["amount"], li["discount"], li["net"]) for li in shown["lines"]]
    assert amounts == [(-500, -100, -400), (1000, 200, 800)]
    assert (shown["subtotal"], shown["tax"], shown["total"]) == (400, 0, 400)
    assert _shape(done) == _shape(shown)
    assert [li["discount"] for li in done["lines"]] == [-100, 200]
    invoice = api_eur.get(f"/invoices/{done['invoice']['id']}").get_json()
    assert (invoice["discount"], invoice["discount_id"], invoice["total"]) == (100, None, 400)
    assert invoice["subtotal"] == sum(line["net"] for line in invoice["lines"])


def test_a_change_invoice_does_not_use_up_a_coupon_cycle(api_eur, ten_to_twenty, db):
    sub = ten_to_twenty["sub"]
    with time_machine.travel(START, tick=False):
        twice = _coupon(api_eur, duration="repeating", duration_cycles=2)
        api_eur.post(f"/subscriptions/{sub['id']}/coupon", json={"coupon_id": twice["id"]})
        # June was billed before the coupon: its unused half is credited in full.
        body = {"plan_id": ten_to_twenty["twenty"]["id"], "when": "now"}
    with time_machine.travel(HALFWAY, tick=False):
        made = api_eur.post(f"/subscriptions/{sub['id']}/change", json=body).get_json()
    assert [(li["amount"], li["discount"]) for li in made["lines"]] == [(-500, 0), (1000, 200)]
    _pay(api_eur, made["invoice"]["id"])
    totals = []
    for month in (7, 8, 9):
        at = datetime(2027, month, 1, 10, 0, tzinfo=UTC)
        _renew(db, at)
        invoices = api_eur.get(
            "/invoices", query_string={"client_id": ten_to_twenty["client"]["id"]}
        ).get_json()["data"]
        latest = max(invoices, key=lambda i: i["id"])
        totals.append(latest["total"])
        _pay(api_eur, latest["id"])
    # Both cycles are still there for the renewals: 16.00, 16.00, then 20.00.
    assert totals == [1600, 1600, 2000]


def test_an_amount_off_is_prorated_on_both_lines(api_eur, ten_to_twenty, db):
    sub = ten_to_twenty["sub"]
    client_id = ten_to_twenty["client"]["id"]
    with time_machine.travel(START, tick=False):
        five_off = _coupon(api_eur, percent_off=None, amount_off=500)
        api_eur.post(f"/clients/{client_id}/coupon", json={"coupon_id": five_off["id"]})
    july = datetime(2027, 7, 1, 10, 0, tzinfo=UTC)
    _renew(db, july)
    listed = api_eur.get("/invoices", query_string={"client_id": client_id}).get_json()["data"]
    renewal = max(listed, key=lambda i: i["id"])
    assert renewal["total"] == 500
    _pay(api_eur, renewal["id"])
    body = {"plan_id": ten_to_twenty["twenty"]["id"], "when": "now"}
    with time_machine.travel(july + timedelta(days=15, hours=12), tick=False):
        made = api_eur.post(f"/subscriptions/{sub['id']}/change", json=body).get_json()
    # Credit: half of July as paid (5.00 off 10.00): 2.50 back. Charge: half
    # of a 20.00 month less half of the 5.00 a full month would take off.
    assert [(li["amount"], li["discount"], li["net"]) for li in made["lines"]] == [
        (-500, -250, -250),
        (1000, 250, 750),
    ]
    assert made["total"] == 500
