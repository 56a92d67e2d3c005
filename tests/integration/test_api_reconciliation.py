"""``GET /api/v1/reconciliation``: the report of the differences with
Stripe (``responses`` fixtures in Stripe's shapes), staff only, read-only
tokens too; a bad date a 422 with a stable code that changes nothing."""

from __future__ import annotations

import pytest
import responses

from bridge.billing.business import get_settings
from tests.conftest import snapshot
from tests.payments import reconcile_shapes as shapes

SECRET_KEY = "sk_test_reconcile0000"


@pytest.fixture
def connected(app, db):
    box = app.extensions["bridge.secret_box"]
    with db.session() as s:
        get_settings(s).stripe_secret_key_encrypted = box.encrypt(SECRET_KEY)


@pytest.fixture
def stripe_lists():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield shapes.StripeLists(mock)


def test_the_report_lists_each_difference_with_its_remedy(api_eur, connected, stripe_lists):
    stripe_lists.lists["payment_intents"].append(
        shapes.payment_intent("pi_Dashboard0001", "cus_someone", 2000)
    )

    answer = api_eur.get("/reconciliation?since=2026-11-20")

    assert answer.status_code == 200, answer.get_json()
    report = answer.get_json()
    assert report["counts"] == {"payment_missing_here": 1}
    (difference,) = report["differences"]
    assert difference["kind"] == "payment_missing_here"
    assert (difference["remedy"], difference["safe"]) == ("manual", False)
    assert (difference["stripe_id"], difference["amount"], difference["currency"]) == (
        "pi_Dashboard0001",
        2000,
        "EUR",
    )
    assert report["since"].startswith("2026-11-20T") and report["unavailable"] == []
    (intents,) = [q for path, q in stripe_lists.calls if path == "payment_intents"]
    assert intents["created[gte]"] == report_start(report)


def report_start(report) -> str:
    from datetime import datetime

    return str(int(datetime.fromisoformat(report["since"]).timestamp()))


def test_a_clean_state_answers_an_empty_report(api_eur, api_read_only, connected, stripe_lists):
    for api in (api_eur, api_read_only):
        answer = api.get("/reconciliation")
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json()["differences"] == [] and answer.get_json()["counts"] == {}


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("since=yesterday", 422, "validation_error"),
        ("since=2026-02-30", 422, "validation_error"),
        ("since=", 422, "validation_error"),
        ("since=2999-01-01", 422, "since_in_future"),
    ],
)
def test_a_bad_date_is_refused_with_a_stable_code(
    api_eur, db, connected, stripe_lists, query, status, code
):
    before = snapshot(db)
    answer = api_eur.get(f"/reconciliation?{query}")
    assert answer.status_code == status
    error = answer.get_json()["error"]
    assert error["code"] == code and "since" in error["fields"]
    assert stripe_lists.calls == []
    assert snapshot(db) == before


def test_only_staff_tokens_may_read_it(client, api_eur, connected):
    anonymous = client.get("/api/v1/reconciliation")
    assert anonymous.status_code == 401
    assert anonymous.get_json()["error"]["code"] == "unauthorized"
    forged = client.get("/api/v1/reconciliation", headers={"Authorization": "Bearer nope"})
    assert (forged.status_code, forged.get_json()["error"]["code"]) == (401, "invalid_token")
    assert api_eur.post("/reconciliation").status_code == 405


def test_without_stripe_the_report_is_refused(api_eur):
    answer = api_eur.get("/reconciliation")
    assert answer.status_code == 409
    assert answer.get_json()["error"]["code"] == "stripe_not_configured"
