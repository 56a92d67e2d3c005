"""``POST /api/v1/imports/stripe`` and ``GET /api/v1/imports/{id}``: a job
to poll, its report, and refusals with stable codes (on both databases);
and ``bridge import-stripe`` with its exit status 2 on bad input."""

from __future__ import annotations

import time

import pytest
import responses
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select

from bridge.billing.business import get_settings
from bridge.cli import cli
from bridge.models import Client
from tests.payments import stripe_shapes as shapes

SECRET_KEY = "sk_test_import0000"


@pytest.fixture
def fake():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        stripe = shapes.FakeStripe(mock)
        stripe.lists["customers"] = [
            shapes.customer("cus_ann", "ann@example.com", "Ann"),
            shapes.customer("cus_bob", "bob@example.com", "Bob"),
        ]
        stripe.lists["products"] = [shapes.product("prod_seo", "SEO")]
        stripe.lists["prices"] = [shapes.price("price_seo", "prod_seo", 9900)]
        yield stripe


@pytest.fixture
def connected(app, db):
    """Stripe keys stored (the API's gateway then talks to api.stripe.com,
    which ``fake`` answers)."""
    box = app.extensions["bridge.secret_box"]
    with db.session() as s:
        get_settings(s).stripe_secret_key_encrypted = box.encrypt(SECRET_KEY)


def poll(api, job_id: int, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = api.get(f"/imports/{job_id}").get_json()
        if job["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_a_dry_run_then_the_import_as_jobs(api_eur, db, connected, fake):
    answer = api_eur.post("/imports/stripe", json={"dry_run": True})
    assert answer.status_code == 202, answer.get_json()
    assert answer.get_json()["status"] in ("queued", "running", "succeeded")
    job = poll(api_eur, answer.get_json()["id"])
    assert job["status"] == "succeeded", job
    assert job["done"] == 4  # Stripe objects read: two customers, a price, a product
    assert job["report"]["counts"] == {
        "client": {"create": 2},
        "product": {"create": 1},
        "plan": {"create": 1},
    }
    with db.session() as s:
        assert list(s.scalars(select(Client))) == []

    answer = api_eur.post("/imports/stripe", json={"dry_run": False, "customers": ["cus_bob"]})
    job = poll(api_eur, answer.get_json()["id"])
    assert job["status"] == "succeeded", job
    assert job["options"] == {"customers": ["cus_bob"], "subscriptions": "list"}
    with db.session() as s:
        assert [c.stripe_customer_id for c in s.scalars(select(Client))] == ["cus_bob"]


def test_refusals_have_stable_codes(api, api_read_only, db, connected):
    no_currency = api.post("/imports/stripe", json={"dry_run": True})
    assert no_currency.status_code == 409
    assert no_currency.get_json()["error"]["code"] == "currency_not_set"
    api.put("/settings/currency", json={"currency": "EUR", "confirm": True})

    bad = api.post("/imports/stripe", json={"customers": ["bob"], "subscriptions": "sometimes"})
    assert bad.status_code == 422
    assert bad.get_json()["error"]["code"] == "validation_error"
    assert set(bad.get_json()["error"]["fields"]) == {"customers.0", "subscriptions"}

    assert api.get("/imports/999").get_json()["error"]["code"] == "not_found"
    read_only = api_read_only.post("/imports/stripe", json={"dry_run": True})
    assert (read_only.status_code, read_only.get_json()["error"]["code"]) == (403, "forbidden")
    assert api_read_only.get("/imports/999").status_code == 404


def test_no_import_without_stripe(api_eur):
    answer = api_eur.post("/imports/stripe", json={"dry_run": True})
    error = answer.get_json()["error"]
    assert (answer.status_code, error["code"]) == (409, "stripe_not_configured")


# The command line --------------------------------------------------------------


def invoke(app, *args):
    return CliRunner().invoke(cli, list(args), obj=ScriptInfo(create_app=lambda: app))


def test_the_command_imports_with_a_progress_bar(app, api_eur, db, connected, fake):
    dry = invoke(app, "import-stripe", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Dry run: nothing was changed." in dry.output
    assert "clients: create 2" in dry.output
    real = invoke(app, "import-stripe", "--subscriptions", "import")
    assert real.exit_code == 0, real.output
    assert "Imported." in real.output
    again = invoke(app, "import-stripe")
    assert "clients: unchanged 2" in again.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--customers", "bob"), "'bob' is not a Stripe customer id"),
        (("--customers", ","), "--customers needs Stripe customer ids"),
        (("--subscriptions", "sometimes"), "Invalid value for '--subscriptions'"),
    ],
)
def test_bad_input_is_exit_status_2(app, args, message):
    result = invoke(app, "import-stripe", *args)
    assert result.exit_code == 2
    assert message in result.output


def test_without_stripe_the_command_says_so(app, api_eur):
    result = invoke(app, "import-stripe")
    assert result.exit_code == 2
    assert "Stripe is not connected" in result.output


def test_stripe_unreachable_fails_the_job_with_its_code(api_eur, connected, monkeypatch):
    import stripe

    monkeypatch.setattr(stripe._http_client.HTTPClient, "INITIAL_DELAY", 0.0)
    monkeypatch.setattr(stripe._http_client.HTTPClient, "MAX_DELAY", 0.0)
    with responses.RequestsMock(assert_all_requests_are_fired=False):  # no route: refused
        answer = api_eur.post("/imports/stripe", json={"dry_run": False})
        job = poll(api_eur, answer.get_json()["id"])
    assert (job["status"], job["error_code"]) == ("failed", "stripe_unavailable")
    assert job["report"]["counts"] == {}
