"""Requests while PostgreSQL stalls, is cut, or loses a commit's answer:
a quick 503 ``database_unavailable`` with Retry-After, never a hang or a
500, and a retry with the same Idempotency-Key records one payment."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bridge.billing import clients, invoices
from bridge.billing.invoices import Item
from bridge.models import Payment
from tests import shop as shops
from tests.outage.proxy import timed

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# A stall costs a statement (1 s + 1 s) and a fresh connection (2 s) at most.
QUICK = 6.0


@pytest.fixture
def open_invoice(db):
    with db.session() as s:
        shops.open_business(s)
        plan = shops.add_product(s, "Build", {"site": shops.one_time("Site", 10_000)})["site"]
        client = clients.get_client(s, shops.add_client(s, name="C", email="c@example.com"))
        invoice = invoices.bill_client(s, client, [Item(plan)])
        invoices.finalize(s, invoice)
        return {"id": invoice.id, "token": invoice.hosted_token}


def unavailable(response) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "database_unavailable"
    assert int(response.headers["Retry-After"]) > 0


def pay(api, invoice_id, **kwargs):
    return api.post(
        f"/invoices/{invoice_id}/payments",
        json={"amount": 2500, "method": "bank_transfer"},
        **kwargs,
    )


def payments(direct) -> int:
    with direct.session() as s:
        return s.scalar(select(func.count()).select_from(Payment))


def test_a_stalled_database_is_a_quick_503_on_every_kind_of_route(api, client, proxy, open_invoice):
    assert api.get("/clients").status_code == 200  # a pooled connection
    proxy.stall()
    for call in (
        lambda: api.get("/clients"),
        lambda: pay(api, open_invoice["id"]),
        lambda: client.post(
            "/api/v1/site/seo-scans",
            json={},
            headers={
                "X-Bridge-Site": "site_x",
                "X-Bridge-Timestamp": "1",
                "X-Bridge-Signature": "0" * 64,
            },
        ),
        lambda: client.post(f"/i/{open_invoice['token']}/setup-intent", json={}),
    ):
        response, seconds = timed(call)
        unavailable(response)
        assert seconds < QUICK
    health, seconds = timed(client.get, "/healthz")
    assert health.status_code == 503 and seconds < QUICK
    proxy.resume()
    assert api.get("/clients").status_code == 200


def test_a_database_cut_mid_request_answers_503_and_records_nothing(
    api, proxy, direct, open_invoice
):
    proxy.go_down_when(b"INSERT INTO payments")
    response, seconds = timed(pay, api, open_invoice["id"])
    unavailable(response)
    assert seconds < QUICK
    proxy.come_back()
    assert payments(direct) == 0
    assert api.get(f"/invoices/{open_invoice['id']}").get_json()["amount_paid"] == 0


def test_a_lost_commit_acknowledgement_then_a_retry_with_the_key_records_one_payment(
    api, proxy, direct, open_invoice
):
    key = {"Idempotency-Key": "payment-7c1f"}
    assert api.get("/clients").status_code == 200  # the token's last use is recorded
    proxy.lose_next_commit_ack()
    lost = pay(api, open_invoice["id"], headers=key)
    assert proxy.commit_acks_lost == 1
    unavailable(lost)  # the client cannot know it went through...
    assert payments(direct) == 1  # ...but it did
    retry = pay(api, open_invoice["id"], headers=key)
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert payments(direct) == 1
    with direct.session() as s:
        assert retry.get_json()["id"] == s.scalar(select(Payment.id))
    assert api.get(f"/invoices/{open_invoice['id']}").get_json()["amount_paid"] == 2500


def test_the_hosted_page_and_its_pdf_answer_a_503_page_while_the_database_is_cut(
    client, proxy, open_invoice
):
    page = f"/i/{open_invoice['token']}"
    assert client.get(page).status_code == 200
    proxy.stall()
    for path in (page, f"{page}/pdf"):
        response, seconds = timed(client.get, path, headers={"Accept-Language": "fr"})
        assert response.status_code == 503, response.get_data(as_text=True)[:300]
        assert response.mimetype == "text/html"
        assert int(response.headers["Retry-After"]) > 0
        assert "Temporairement indisponible" in response.get_data(as_text=True)
        assert seconds < QUICK
    proxy.resume()
    assert client.get(page).status_code == 200
