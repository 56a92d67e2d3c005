"""*Bill client* (SPEC 6) through the test client: the form, its bad input,
the review's totals (the domain's), saving a draft, sending, drafts reopened,
and a double submit billing once."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from bridge.billing import clients, invoices
from bridge.models import Client, Invoice, InvoiceStatus
from tests import shop as shops
from tests.conftest import STAFF_PASSWORD
from tests.hub.conftest import csrf_token


@pytest.fixture
def shop(db, app):
    with db.session() as s:
        shops.open_business(s)
        plans = shops.add_product(
            s,
            "Hosting",
            {"monthly": shops.recurring("Monthly", 2900), "setup": shops.one_time("Setup", 15000)},
        )
        vat = shops.add_vat(s, "20")
        client_id = shops.add_client(s)
        site = add_site(app, s, client_id, "Shop", "https://shop.example")
        site_id = site.id
    return {"plans": plans, "vat": vat, "client": client_id, "site": site_id}


def add_site(app, session, client_id: int, name: str, url: str):
    client = session.get(Client, client_id)
    box = app.extensions["bridge.secret_box"]
    return clients.create_site(session, box, client, name=name, url=url)[0]


def form_data(page: bytes, shop: dict, **changes) -> dict:
    text = page.decode()
    key = re.search(r'name="key" type="hidden" value="([^"]+)"', text).group(1)
    data = {
        "csrf_token": csrf_token(text),
        "key": key,
        "client_id": str(shop["client"]),
        "site_id": str(shop["site"]),
        "items-0-plan_id": str(shop["plans"]["monthly"]),
        "items-0-quantity": "2",
        "items-1-plan_id": str(shop["plans"]["setup"]),
        "items-1-quantity": "1",
        "tax_rate_ids": str(shop["vat"]),
        "note": "Thanks!",
        "language": "en",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def count(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Invoice))


def test_the_form_lists_clients_plans_and_taxes_and_preselects_the_client(hub, shop):
    page = hub.client.get(f"/bill?client_id={shop['client']}")
    assert page.status_code == 200
    text = page.data.decode()
    assert f'<option value="{shop["client"]}" selected>' in text
    assert "Hosting — Monthly" in text and "VAT 20" in text and "Shop" in text
    assert 'href="/bill"' in hub.client.get("/").data.decode()


def test_rows_are_added_and_removed_with_plain_posts(hub, shop):
    page = hub.client.get("/bill")
    data = form_data(page.data, shop, action="add")
    added = hub.client.post("/bill", data=data).data.decode()
    assert "items-2-plan_id" in added
    data = form_data(page.data, shop, action="remove-0")
    removed = hub.client.post("/bill", data=data).data.decode()
    assert "items-1-plan_id" not in removed and "items-0-plan_id" in removed


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"client_id": "0"}, "client_id", "Required."),
        ({"items-0-plan_id": "0"}, "items-0-plan_id", "Required."),
        ({"items-0-quantity": "0"}, "items-0-quantity", "More than 0 and at most 10,000"),
        ({"items-0-quantity": "lots"}, "items-0-quantity", None),
        ({"note": "x" * 2001}, "note", "Too long."),
        ({"tax_rate_ids": "999"}, "tax_rate_ids", None),
        ({"site_id": "999"}, "site_id", None),
        ({"key": ""}, "key", "Required."),
    ],
)
def test_bad_input_comes_back_next_to_its_field_and_bills_nothing(
    hub, shop, db, changes, field, message
):
    page = hub.client.get("/bill")
    for action in ("continue", "save", "send"):
        answer = hub.client.post("/bill", data=form_data(page.data, shop, action=action, **changes))
        assert answer.status_code == 422
        text = answer.data.decode()
        assert f'id="{field}-error"' in text
        if message:
            assert message in text
    assert count(db) == 0


def test_a_site_of_another_client_is_refused_by_the_domain(hub, shop, db, app):
    with db.session() as s:
        other = shops.add_client(s, name="Bob", email="bob@example.com")
        other_site = add_site(app, s, other, "Bob's", "https://bob.example").id
    page = hub.client.get("/bill")
    # The form lists the sites of the client chosen first: post another's.
    answer = hub.client.post(
        f"/bill?client_id={shop['client']}",
        data=form_data(page.data, shop, action="continue", site_id=str(other_site)),
    )
    assert answer.status_code == 422
    assert count(db) == 0


def test_the_review_shows_the_domains_totals_and_saves_nothing(hub, shop, db):
    page = hub.client.get("/bill")
    review = hub.client.post("/bill", data=form_data(page.data, shop, action="continue"))
    assert review.status_code == 200
    text = review.data.decode()
    with db.session() as s:
        client = s.get(Client, shop["client"])
        expected = invoices.bill_client(
            s,
            client,
            [invoices.Item(shop["plans"]["monthly"], 2), invoices.Item(shop["plans"]["setup"], 1)],
            tax_rate_ids=[shop["vat"]],
        )
        total, subtotal = expected.total, expected.subtotal
        s.rollback()
    assert total == (2 * 2900 + 15000) * 120 // 100
    assert re.search(r'id="review-total">€249\.60<', text), text
    assert re.search(r'id="review-subtotal">€208\.00<', text)
    assert subtotal == 20800
    assert count(db) == 0


def test_preview_streams_the_drafts_pdf_and_saves_nothing(hub, shop, db):
    page = hub.client.get("/bill")
    answer = hub.client.post("/bill/preview", data=form_data(page.data, shop))
    assert answer.status_code == 200
    assert answer.mimetype == "application/pdf" and answer.data.startswith(b"%PDF")
    assert count(db) == 0


def test_save_as_draft_then_reopen_edit_and_send(hub, shop, db):
    page = hub.client.get("/bill")
    saved = hub.client.post("/bill", data=form_data(page.data, shop, action="save"))
    assert saved.status_code == 303
    invoice_id = int(saved.headers["Location"].rsplit("/", 1)[1])
    assert saved.headers["Location"] == f"/invoices/{invoice_id}"
    with db.session() as s:
        invoice = s.get(Invoice, invoice_id)
        assert invoice.status == InvoiceStatus.DRAFT and invoice.total == 24960
        assert invoice.site_id == shop["site"] and invoice.note == "Thanks!"

    reopened = hub.client.get(f"/bill/{invoice_id}")
    text = reopened.data.decode()
    assert reopened.status_code == 200 and "Thanks!" in text
    data = form_data(reopened.data, shop, action="send", **{"items-0-quantity": "1"})
    data.pop("client_id")
    review = hub.client.post(f"/bill/{invoice_id}", data={**data, "action": "continue"})
    assert re.search(r'id="review-total">€214\.80<', review.data.decode())
    sent = hub.client.post(f"/bill/{invoice_id}", data=data)
    assert sent.status_code == 303 and sent.headers["Location"] == f"/invoices/{invoice_id}"
    with db.session() as s:
        invoice = s.get(Invoice, invoice_id)
        assert invoice.status == InvoiceStatus.OPEN and invoice.number
        assert invoice.total == 21480
    # An issued invoice does not reopen in the flow: its page.
    assert hub.client.get(f"/bill/{invoice_id}").headers["Location"] == f"/invoices/{invoice_id}"
    assert count(db) == 1


def test_send_finalizes_a_new_invoice(hub, shop, db):
    page = hub.client.get("/bill")
    sent = hub.client.post("/bill", data=form_data(page.data, shop, action="send"))
    assert sent.status_code == 303
    with db.session() as s:
        (invoice,) = s.scalars(select(Invoice)).all()
        assert invoice.status == InvoiceStatus.OPEN and invoice.number


@pytest.mark.parametrize("action", ["save", "send"])
def test_a_double_submit_creates_one_invoice(hub, shop, db, action):
    page = hub.client.get("/bill")
    data = form_data(page.data, shop, action=action)
    first = hub.client.post("/bill", data=data)
    second = hub.client.post("/bill", data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert count(db) == 1
    # A fresh form (a new key) bills again.
    fresh = form_data(hub.client.get("/bill").data, shop, action=action)
    again = hub.client.post("/bill", data=fresh)
    assert again.headers["Location"] != first.headers["Location"]
    assert count(db) == 2


def test_a_read_only_user_cannot_bill(hub, shop, db, monkeypatch):
    page = hub.client.get("/bill")
    monkeypatch.setattr("bridge.auth.logins.read_only", lambda user: True)
    assert 'href="/bill"' not in hub.client.get("/").data.decode()
    assert hub.client.get("/bill").status_code == 403
    answer = hub.client.post("/bill", data=form_data(page.data, shop, action="send"))
    assert answer.status_code == 403
    assert count(db) == 0


@pytest.mark.slow
def test_two_submits_at_once_with_one_key_bill_once(app, db, shop):
    """The same form posted twice at the same moment (a double click on a
    slow connection) against a threaded server: one invoice, and both
    answers lead to it."""
    import threading

    import requests

    from tests.e2e.conftest import LiveServer
    from tests.hub.conftest import STAFF_EMAIL, add_staff

    add_staff(db)
    with LiveServer(app) as server:
        browser = requests.Session()
        login = browser.get(server.url + "/login").text
        credentials = {"email": STAFF_EMAIL, "password": STAFF_PASSWORD}
        browser.post(server.url + "/login", data={**credentials, "csrf_token": csrf_token(login)})
        page = browser.get(server.url + "/bill").content
        data = form_data(page, shop, action="send")
        start = threading.Barrier(2)
        answers = []

        def submit():
            start.wait()
            answers.append(browser.post(server.url + "/bill", data=data, allow_redirects=False))

        threads = [threading.Thread(target=submit) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert [a.status_code for a in answers] == [303, 303]
    assert answers[0].headers["Location"] == answers[1].headers["Location"]
    assert count(db) == 1


def test_a_drafts_preview_is_its_pdf_as_edited_and_changes_nothing(hub, shop, db):
    page = hub.client.get("/bill")
    saved = hub.client.post("/bill", data=form_data(page.data, shop, action="save"))
    invoice_id = int(saved.headers["Location"].rsplit("/", 1)[1])
    data = form_data(hub.client.get(f"/bill/{invoice_id}").data, shop, note="Changed")
    answer = hub.client.post(f"/bill/{invoice_id}/preview", data=data)
    assert answer.status_code == 200 and answer.data.startswith(b"%PDF")
    with db.session() as s:
        assert s.get(Invoice, invoice_id).note == "Thanks!"


def test_an_unknown_draft_is_a_404(hub, shop):
    assert hub.client.get("/bill/999").status_code == 404


def test_the_domains_field_errors_land_next_to_their_fields(app):
    from bridge.core.errors import Invalid
    from bridge.hub import bill
    from bridge.hub.forms import BillForm

    with app.test_request_context("/bill", method="POST", data={"items-0-quantity": "1"}):
        form = BillForm()
        fields = {"items.0.plan_id": ["This plan is archived."], "site_id": ["Unknown."]}
        error = Invalid("Some items cannot be billed.", fields={**fields, "x": ["?"]})
        notices = bill._show_domain_errors(form, error)
    assert form.items[0].form.plan_id.errors == ["This plan is archived."]
    assert form.site_id.errors == ["Unknown."]
    assert notices == ["?"]
