"""Idempotency-Key on the API's POSTs: the first answer is replayed to a
retry with the same key, another request with the key is a 409, errors are
not kept, keys belong to their caller and are forgotten after a day."""

import threading
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select, text

from bridge.api import idempotency
from bridge.billing import clients, invoices
from bridge.billing.invoices import Item
from bridge.core import clock
from bridge.models import IdempotencyKey, Payment
from tests import shop as shops
from tests.conftest import Api, make_token
from tests.e2e.conftest import LiveServer

THREADS = 8


@pytest.fixture
def open_invoice(db):
    with db.session() as s:
        shops.open_business(s)
        plan = shops.add_product(s, "Build", {"site": shops.one_time("Site", 10_000)})["site"]
        client = clients.get_client(s, shops.add_client(s, name="C", email="c@example.com"))
        invoice = invoices.bill_client(s, client, [Item(plan)])
        invoices.finalize(s, invoice)
        return invoice.id


def pay(api, invoice_id, key, amount=1000, **kwargs):
    return api.post(
        f"/invoices/{invoice_id}/payments",
        json={"amount": amount, "method": "bank_transfer"},
        headers={"Idempotency-Key": key},
        **kwargs,
    )


def payments(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Payment))


def test_a_retry_with_the_same_key_replays_the_first_answer(api, db, open_invoice):
    first = pay(api, open_invoice, "key-1")
    assert first.status_code == 201
    again = pay(api, open_invoice, "key-1")
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Content-Type"] == first.headers["Content-Type"]
    assert "Idempotent-Replayed" not in first.headers
    assert payments(db) == 1
    invoice = api.get(f"/invoices/{open_invoice}").get_json()
    assert invoice["amount_paid"] == 1000


def test_another_key_is_another_request(api, db, open_invoice):
    assert pay(api, open_invoice, "key-1").status_code == 201
    assert pay(api, open_invoice, "key-2").status_code == 201
    assert payments(db) == 2


def test_the_same_key_with_another_body_is_a_409(api, db, open_invoice):
    assert pay(api, open_invoice, "key-1", amount=1000).status_code == 201
    reused = pay(api, open_invoice, "key-1", amount=2000)
    assert reused.status_code == 409
    assert reused.get_json()["error"]["code"] == "idempotency_key_reused"
    other_path = api.post(
        f"/invoices/{open_invoice}/finalize", headers={"Idempotency-Key": "key-1"}
    )
    assert other_path.get_json()["error"]["code"] == "idempotency_key_reused"
    assert payments(db) == 1


def test_an_error_is_not_kept_and_the_key_runs_again(api, db, open_invoice):
    # More than is due: refused, nothing kept.
    refused = pay(api, open_invoice, "key-1", amount=10**9)
    assert refused.status_code in (409, 422)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(IdempotencyKey)) == 0
    assert pay(api, open_invoice, "key-2", amount=1000).status_code == 201


def test_keys_belong_to_their_caller(api, client, db, open_invoice):
    other = Api(client, make_token(db, email="other@agency.example"))
    assert pay(api, open_invoice, "shared").status_code == 201
    theirs = pay(other, open_invoice, "shared")
    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert payments(db) == 2


def scope_of(db, key: str) -> str:
    with db.session() as s:
        return s.scalar(select(IdempotencyKey.scope).where(IdempotencyKey.key == key))


def test_a_key_still_in_progress_is_a_409_until_its_lease_ends(api, db, open_invoice, time_machine):
    with db.session() as s:
        # A request that committed its key before calling Stripe, then died:
        # made from a real one, its answer forgotten.
        assert pay(api, open_invoice, "busy").status_code == 201
        row = s.scalar(select(IdempotencyKey).where(IdempotencyKey.key == "busy"))
        row.status, row.response_body = "in_progress", None
        row.locked_until = clock.now() + idempotency.LEASE
    blocked = pay(api, open_invoice, "busy")
    assert blocked.status_code == 409
    assert blocked.get_json()["error"]["code"] == "idempotency_key_in_use"
    assert blocked.headers["Retry-After"]
    time_machine.move_to(clock.now() + idempotency.LEASE + timedelta(seconds=1))
    # Its lease is over: another request is refused, the same one runs again.
    assert pay(api, open_invoice, "busy", amount=5).get_json()["error"]["code"] == (
        "idempotency_key_reused"
    )
    assert pay(api, open_invoice, "busy").status_code == 201
    assert pay(api, open_invoice, "busy").headers["Idempotent-Replayed"] == "true"
    assert payments(db) == 2


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_on_postgresql_a_concurrent_request_with_the_key_is_a_409_at_once(api, db, open_invoice):
    assert pay(api, open_invoice, "probe").status_code == 201
    number = idempotency._lock_number(scope_of(db, "probe"), "held")
    with db.engine.connect() as other:  # the first request, still running
        other.execute(text("SELECT pg_advisory_xact_lock(:n)"), {"n": number})
        blocked = pay(api, open_invoice, "held")
        assert blocked.status_code == 409
        assert blocked.get_json()["error"]["code"] == "idempotency_key_in_use"
    assert pay(api, open_invoice, "held").status_code == 201


def test_keys_are_forgotten_after_a_day(api, db, open_invoice, time_machine):
    assert pay(api, open_invoice, "key-1").status_code == 201
    time_machine.move_to(clock.now() + timedelta(hours=24, minutes=1))
    assert pay(api, open_invoice, "key-2").status_code == 201  # purges key-1
    with db.session() as s:
        assert s.scalars(select(IdempotencyKey.key)).all() == ["key-2"]
    assert pay(api, open_invoice, "key-1").status_code == 201
    assert payments(db) == 3


def test_a_bad_key_is_a_400(api, open_invoice):
    answer = pay(api, open_invoice, "x" * 256)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "invalid_idempotency_key"


def test_finalize_void_and_billing_replay_too(api, db, open_invoice):
    with db.session() as s:
        client_id = shops.add_client(s, name="D", email="d@example.com")
    plans = api.get("/products").get_json()["data"][0]
    plan = api.get(f"/products/{plans['id']}/plans").get_json()["data"][0]
    body = {"client_id": client_id, "items": [{"plan_id": plan["id"]}]}
    created = api.post("/invoices", json=body, headers={"Idempotency-Key": "bill"})
    assert created.status_code == 201
    assert api.post("/invoices", json=body, headers={"Idempotency-Key": "bill"}).get_json() == (
        created.get_json()
    )
    draft = created.get_json()["id"]
    done = api.post(f"/invoices/{draft}/finalize", headers={"Idempotency-Key": "fin"})
    again = api.post(f"/invoices/{draft}/finalize", headers={"Idempotency-Key": "fin"})
    assert done.status_code == again.status_code == 200
    assert again.get_json()["number"] == done.get_json()["number"]
    listed = api.get(f"/invoices?client_id={client_id}").get_json()
    assert listed["total"] == 1


def test_the_openapi_document_names_the_header_on_posts(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    reference = {"$ref": "#/components/parameters/IdempotencyKey"}
    assert spec["components"]["parameters"]["IdempotencyKey"]["in"] == "header"
    post = spec["paths"]["/api/v1/invoices/{invoice_id}/payments"]["post"]
    assert reference in post["parameters"]
    assert reference in spec["paths"]["/api/v1/site/seo-scans"]["post"]["parameters"]
    assert "parameters" not in spec["paths"]["/api/v1/site/connect"]["post"]


@pytest.mark.slow
def test_simultaneous_requests_with_one_key_record_one_payment(app, db, open_invoice):
    token = make_token(db)
    barrier = threading.Barrier(THREADS)
    answers: list[tuple[int, str | None]] = []

    def worker(url):
        barrier.wait()
        response = requests.post(
            f"{url}/api/v1/invoices/{open_invoice}/payments",
            json={"amount": 1000, "method": "bank_transfer"},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "once"},
            timeout=30,
        )
        answers.append((response.status_code, (response.json().get("error") or {}).get("code")))

    with LiveServer(app) as server:
        threads = [threading.Thread(target=worker, args=(server.url,)) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert payments(db) == 1
    assert len(answers) == THREADS
    assert {a for a in answers if a[0] != 201} <= {(409, "idempotency_key_in_use")}, answers
    assert (201, None) in answers
