"""Pausing and resuming subscriptions through the API: validation with
stable codes, the JSON shows the pause, Idempotency-Key replays, emails."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from bridge.models import OutboxMessage
from tests.integration.test_api_invoices import draft
from tests.integration.test_api_invoices import shop as shop  # noqa: F401  (fixture)

START = datetime(2027, 6, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def sub(api_eur, shop):  # noqa: F811
    with time_machine.travel(START, tick=False):
        invoice = draft(api_eur, shop, items=[{"plan_id": shop["monthly"]["id"]}])
        api_eur.post(f"/invoices/{invoice['id']}/finalize")
        api_eur.post(f"/invoices/{invoice['id']}/payments", json={"amount": 3480, "method": "cash"})
        return api_eur.get("/subscriptions").get_json()["data"][0]


def triggers(db):
    with db.session() as s:
        return list(s.scalars(select(OutboxMessage.trigger).order_by(OutboxMessage.id)))


def test_pause_until_a_date_then_resume_early(api_eur, sub, db):
    with time_machine.travel(START + timedelta(days=9), tick=False):
        paused = api_eur.post(f"/subscriptions/{sub['id']}/pause", json={"until": "2027-09-01"})
        assert paused.status_code == 200, paused.get_json()
        body = paused.get_json()
        assert body["paused_until"].startswith("2027-09-01T00:00:00")
        assert body["paused_at"] and body["paused"] is False  # June still runs
        assert body["status"] == "active"
    with time_machine.travel(datetime(2027, 7, 15, 9, 0, tzinfo=UTC), tick=False):
        assert api_eur.get(f"/subscriptions/{sub['id']}").get_json()["paused"] is True
        resumed = api_eur.post(f"/subscriptions/{sub['id']}/resume").get_json()
        assert resumed["paused_at"] is None and resumed["paused"] is False
        assert resumed["current_period_start"].startswith("2027-07-15T09:00:00")
    assert "subscription_paused" in triggers(db) and "subscription_resumed" in triggers(db)


def test_pause_indefinitely(api_eur, sub):
    with time_machine.travel(START, tick=False):
        body = api_eur.post(f"/subscriptions/{sub['id']}/pause", json={}).get_json()
        assert body["paused_at"] and body["paused_until"] is None


@pytest.mark.parametrize(
    "until, code",
    [("2027-05-01", "until_in_past"), ("2027-06-20", "until_before_period_end")],
)
def test_a_pause_date_too_early_is_a_422_naming_until(api_eur, sub, until, code):
    with time_machine.travel(START, tick=False):
        response = api_eur.post(f"/subscriptions/{sub['id']}/pause", json={"until": until})
        assert response.status_code == 422
        body = response.get_json()
        assert body["error"]["code"] == code and "until" in body["error"]["fields"]
        assert api_eur.get(f"/subscriptions/{sub['id']}").get_json()["paused_at"] is None


def test_a_bad_date_is_a_422(api_eur, sub):
    response = api_eur.post(f"/subscriptions/{sub['id']}/pause", json={"until": "soon"})
    assert response.status_code == 422
    assert "until" in str(response.get_json())


def test_cancelled_subscriptions_cannot_be_paused(api_eur, sub):
    api_eur.post(f"/subscriptions/{sub['id']}/cancel", json={"at_period_end": False})
    response = api_eur.post(f"/subscriptions/{sub['id']}/pause", json={})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "illegal_transition"


def test_a_paused_subscription_cannot_be_set_to_cancel_at_period_end(api_eur, sub):
    api_eur.post(f"/subscriptions/{sub['id']}/pause", json={})
    response = api_eur.post(f"/subscriptions/{sub['id']}/cancel", json={"at_period_end": True})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "subscription_paused"
    now = api_eur.post(f"/subscriptions/{sub['id']}/cancel", json={"at_period_end": False})
    assert now.get_json()["status"] == "cancelled" and now.get_json()["paused_at"] is None


def test_pause_honours_the_idempotency_key(api_eur, sub, db):
    headers = {"Idempotency-Key": "pause-1"}
    first = api_eur.post(f"/subscriptions/{sub['id']}/pause", json={}, headers=headers)
    again = api_eur.post(f"/subscriptions/{sub['id']}/pause", json={}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.get_json() == again.get_json()
    assert triggers(db).count("subscription_paused") == 1


def test_resume_of_a_subscription_neither_paused_nor_cancelling_is_a_409(api_eur, sub):
    response = api_eur.post(f"/subscriptions/{sub['id']}/resume")
    assert response.status_code == 409


def test_pause_and_resume_are_in_the_openapi_document(api_eur):
    spec = api_eur.get("/openapi.json").get_json()
    assert "/api/v1/subscriptions/{subscription_id}/pause" in spec["paths"]
    schema = spec["components"]["schemas"]["Subscription"]["properties"]
    assert {"paused_at", "paused_until", "paused"} <= set(schema)
