"""The same bill-again form sent twice at the same moment (a double click)
to a threaded server on PostgreSQL: one draft, and both answers open it."""

from __future__ import annotations

import threading

import pytest
import requests

from bridge.billing import invoices
from bridge.models import InvoiceStatus
from tests.e2e.conftest import LiveServer, make_invoice, make_shop
from tests.hub.conftest import csrf_token

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
SENDS = 6


def test_a_bill_again_form_sent_many_times_at_once_makes_one_draft(app, db, hub, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("the race needs PostgreSQL")
    shop = make_shop(db)
    make_invoice(db, shop, "paid")
    with db.session() as s:
        line_id = invoices.one_time_items(s, shop.client_id)[0].id
    base = f"/clients/{shop.client_id}"
    token = csrf_token(hub.client.get(base + "?tab=products").data)
    cookie = hub.client.get_cookie("session")
    action = f"{base}/items/{line_id}/bill-again"
    answers: list[str] = []
    barrier = threading.Barrier(SENDS)
    with LiveServer(app) as server:

        def send():
            barrier.wait()
            response = requests.post(
                server.url + action,
                data={"csrf_token": token, "key": "one-form"},
                cookies={"session": cookie.value},
                allow_redirects=False,
                timeout=30,
            )
            answers.append(f"{response.status_code} {response.headers.get('Location')}")

        threads = [threading.Thread(target=send) for _ in range(SENDS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    with db.session() as s:
        drafts = invoices.list_invoices(s, client_id=shop.client_id, status=InvoiceStatus.DRAFT)
        assert drafts.total == 1
        draft_id = drafts.items[0].id
    assert len(answers) == SENDS
    assert all(answer.startswith("302 ") for answer in answers), answers
    assert f"302 /invoices/{draft_id}" in answers
    others = {a for a in answers if a != f"302 /invoices/{draft_id}"}
    assert others <= {f"302 {base}?tab=products"}, answers
