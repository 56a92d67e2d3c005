"""Scheduling a plan or quantity change for the next renewal through the
API: the preview is the renewal invoice and writes nothing, the
subscription shows ``pending_change``, DELETE cancels it, a change now
drops it, bad input is a 422 naming the field, illegal states 409s."""

from datetime import timedelta

import time_machine

from tests.conftest import table_counts
from tests.integration.test_api_invoices import shop as shop  # noqa: F401  (fixture)
from tests.integration.test_api_plan_changes import HALFWAY, START, _change
from tests.integration.test_api_plan_changes import more as more  # noqa: F401  (fixture)
from tests.integration.test_api_plan_changes import sub as sub  # noqa: F401  (fixture)

JULY_1 = START + timedelta(days=30)


def _delete(api, sub):  # noqa: F811
    with time_machine.travel(HALFWAY, tick=False):
        return api.delete(f"/subscriptions/{sub['id']}/change")


def test_preview_then_schedule_then_cancel(api_eur, sub, more, db):  # noqa: F811
    body = {"plan_id": more["pro"]["id"], "when": "renewal"}
    before = table_counts(db)
    preview = _change(api_eur, sub, body, preview=True)
    assert preview.status_code == 200, preview.get_json()
    assert table_counts(db) == before
    shown = preview.get_json()
    assert shown["preview"] is True and shown["when"] == "renewal" and shown["invoice"] is None
    assert shown["effective_at"].startswith("2027-07-01T10:00:00")
    assert shown["new_period"] is False
    # The renewal invoice of July, on the new plan's price (20 % tax), no proration.
    assert [(li["plan_id"], li["net"], li["tax"], li["total"]) for li in shown["lines"]] == [
        (more["pro"]["id"], 5800, 1160, 6960)
    ]
    assert shown["lines"][0]["period_start"].startswith("2027-07-01T10:00:00")
    assert shown["subscription"]["pending_change"] is None

    scheduled = _change(api_eur, sub, body)
    assert scheduled.status_code == 200, scheduled.get_json()
    made = scheduled.get_json()
    assert made["preview"] is False and made["invoice"] is None
    assert made["lines"] == shown["lines"] and made["total"] == shown["total"]
    pending = made["subscription"]["pending_change"]
    assert pending["plan_id"] == more["pro"]["id"] and pending["quantity"] == 1
    assert pending["unit_amount"] == 5800
    assert pending["effective_at"].startswith("2027-07-01T10:00:00")
    assert made["subscription"]["plan"]["id"] == sub["plan"]["id"]  # not yet
    assert api_eur.get("/invoices").get_json()["total"] == 1  # nothing billed
    shown_again = api_eur.get(f"/subscriptions/{sub['id']}").get_json()
    assert shown_again["pending_change"] == pending

    cancelled = _delete(api_eur, sub)
    assert cancelled.status_code == 200
    assert cancelled.get_json()["pending_change"] is None
    again = _delete(api_eur, sub)
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "no_scheduled_change"


def test_monthly_to_yearly_at_renewal_previews_a_year_from_the_period_end(api_eur, sub, more):  # noqa: F811
    made = _change(api_eur, sub, {"plan_id": more["yearly"]["id"], "when": "renewal"}).get_json()
    assert made["new_period"] is True
    assert made["period_start"].startswith("2027-07-01T10:00:00")
    assert made["period_end"].startswith("2028-07-01T10:00:00")
    assert [li["net"] for li in made["lines"]] == [29000]


def test_a_change_now_drops_the_scheduled_one(api_eur, sub, more):  # noqa: F811
    _change(api_eur, sub, {"plan_id": more["yearly"]["id"], "when": "renewal"})
    now = _change(api_eur, sub, {"plan_id": more["pro"]["id"], "when": "now"}).get_json()
    assert now["subscription"]["pending_change"] is None


def test_illegal_states_are_409s_with_stable_codes(api_eur, sub, more):  # noqa: F811
    body = {"plan_id": more["pro"]["id"], "when": "renewal"}
    same = _change(api_eur, sub, {"quantity": 1, "when": "renewal"})
    assert same.status_code == 409 and same.get_json()["error"]["code"] == "no_change"
    with time_machine.travel(HALFWAY, tick=False):
        api_eur.post(f"/subscriptions/{sub['id']}/cancel", json={"at_period_end": True})
    ending = _change(api_eur, sub, body)
    assert ending.status_code == 409 and ending.get_json()["error"]["code"] == "cancel_scheduled"
    with time_machine.travel(HALFWAY, tick=False):
        api_eur.post(f"/subscriptions/{sub['id']}/resume")
        api_eur.post(f"/subscriptions/{sub['id']}/pause", json={})
    paused = _change(api_eur, sub, body, preview=True)
    assert paused.status_code == 409
    assert paused.get_json()["error"]["code"] == "subscription_paused"
    api_eur.post(f"/subscriptions/{sub['id']}/cancel", json={"at_period_end": False})
    cancelled = _change(api_eur, sub, body)
    assert cancelled.status_code == 409
    assert cancelled.get_json()["error"]["code"] == "illegal_transition"
    assert _delete(api_eur, sub).get_json()["error"]["code"] == "no_scheduled_change"


def test_the_openapi_document_has_when_renewal_and_the_delete(api_eur):
    spec = api_eur.get("/openapi.json").get_json()
    path = spec["paths"]["/api/v1/subscriptions/{subscription_id}/change"]
    assert "delete" in path
    assert "renewal" in spec["components"]["schemas"]["Change"]["properties"]["when"]["enum"]
    assert "pending_change" in spec["components"]["schemas"]["Subscription"]["properties"]
