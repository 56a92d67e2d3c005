"""The schedule settings through the API: time zone, dunning, reminders."""

from __future__ import annotations

from tests.conftest import snapshot


def test_defaults_are_the_documented_schedule(api):
    response = api.get("/settings/schedule")
    assert response.status_code == 200
    assert response.json == {
        "timezone": "UTC",
        "dunning_retry_days": [1, 3, 5, 7],
        "past_due_cancel_after_days": 14,
        "renewal_reminder_days": 7,
        "overdue_reminder_days": [3, 7, 14],
    }


def test_changing_the_schedule(api):
    response = api.patch(
        "/settings/schedule",
        json={
            "timezone": "Europe/Paris",
            "dunning_retry_days": [2, 4],
            "past_due_cancel_after_days": None,
            "renewal_reminder_days": 0,
        },
    )
    assert response.status_code == 200, response.json
    assert response.json["timezone"] == "Europe/Paris"
    assert response.json["dunning_retry_days"] == [2, 4]
    assert response.json["past_due_cancel_after_days"] is None
    assert api.get("/settings/schedule").json["renewal_reminder_days"] == 0


def test_a_bad_schedule_names_each_field_and_changes_nothing(api, db):
    before = snapshot(db)
    response = api.patch(
        "/settings/schedule",
        json={
            "timezone": "Mars/Olympus",
            "dunning_retry_days": [5, 3],
            "overdue_reminder_days": [3, 3],
        },
    )
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {
        "timezone",
        "dunning_retry_days",
        "overdue_reminder_days",
    }
    assert snapshot(db) == before


def test_types_are_checked_before_the_domain(api, db):
    before = snapshot(db)
    for body in (
        {"dunning_retry_days": "1,3"},
        {"dunning_retry_days": [0]},
        {"renewal_reminder_days": True},
        {"past_due_cancel_after_days": -1},
        {"dunning_retry_days": list(range(1, 20))},
    ):
        response = api.patch("/settings/schedule", json=body)
        assert response.status_code == 422, body
        assert response.json["error"]["fields"]
    assert snapshot(db) == before


def test_read_only_tokens_read_but_do_not_change(api_read_only):
    assert api_read_only.get("/settings/schedule").status_code == 200
    response = api_read_only.patch("/settings/schedule", json={"timezone": "Europe/Paris"})
    assert response.status_code == 403
