"""The WordPress site API through HTTP, on SQLite and PostgreSQL: connect
codes, signed requests, what a site may read (only its own), the access of
a WordPress user, SEO scans, and the staff operations behind them."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import event, func, select

from bridge.auth.signatures import signed_headers
from bridge.core import clock
from bridge.models import AuditEntry, SeoScan, SiteConnectCode
from tests import shop as shops
from tests.conftest import snapshot

PUBLIC_URL = "http://127.0.0.1:5000"


class Plugin:
    """A site's plugin: signs its requests like the PHP one does."""

    def __init__(self, client, site_id: str, secret: str):
        self.client = client
        self.site_id = site_id
        self.secret = secret

    def request(self, method: str, path: str, body: bytes = b"", *, timestamp=None, headers=None):
        full = "/api/v1/site" + path
        signed = signed_headers(self.site_id, self.secret, method, full, body, timestamp)
        return self.client.open(
            full,
            method=method,
            data=body,
            headers={**signed, **(headers or {})},
            content_type="application/json" if body else None,
        )

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, payload, **kwargs):
        return self.request("POST", path, json.dumps(payload).encode(), **kwargs)


def ok(response, status=200):
    assert response.status_code == status, response.get_json()
    return response.get_json()


def make_client(api, number: int) -> dict:
    return shops.api_client(api, name=f"Client {number}", email=f"c{number}@x.example")


def make_site(api, client_id: int, name: str = "Acme shop") -> dict:
    slug = name.lower().replace(" ", "-")
    return shops.api_site(api, client_id, name, f"https://{slug}.example")


def plugin_for(client, site: dict) -> Plugin:
    return Plugin(client, site["public_id"], site["secret"])


def connect_code(api, client_id: int, site_id: int) -> str:
    return ok(api.post(f"/clients/{client_id}/sites/{site_id}/connect-codes"), 201)["code"]


@pytest.fixture
def acme(api_eur, client):
    """A client with a site, and its plugin."""
    customer = make_client(api_eur, 1)
    site = make_site(api_eur, customer["id"])
    return customer, site, plugin_for(client, site)


def hosting_plan(api, category="hosting", amount=4900, name="Managed hosting") -> dict:
    plan = shops.recurring("Pro monthly", amount)
    return shops.api_product(api, name, {"plan": plan}, category=category)["plan"]


def bill(api, client_id: int, site_id: int | None, plan_id: int, *, finalize=True, pay=False):
    body = {"client_id": client_id, "items": [{"plan_id": plan_id}]}
    if site_id is not None:
        body["site_id"] = site_id
    invoice = ok(api.post("/invoices", json=body), 201)
    if finalize:
        invoice = ok(api.post(f"/invoices/{invoice['id']}/finalize"))
    if pay:
        payment = {"amount": invoice["amount_due"], "method": "bank_transfer"}
        ok(api.post(f"/invoices/{invoice['id']}/payments", json=payment), 201)
    return invoice


# Connect codes ----------------------------------------------------------------


def test_a_connect_code_gives_the_plugin_fresh_credentials(api, client, acme, db):
    customer, site, old_plugin = acme
    answer = ok(api.post(f"/clients/{customer['id']}/sites/{site['id']}/connect-codes"), 201)
    code = answer["code"]
    assert len(code) == len("BBC-XXXX-XXXX-XXXX-XXXX") and code.startswith("BBC-")
    assert set(code.replace("-", "")[3:]) <= set("ABCDEFGHJKMNPQRSTUVWXYZ23456789")
    assert answer["expires_at"].endswith("Z")
    with db.session() as session:  # only the hash is kept
        stored = session.scalars(select(SiteConnectCode.code_hash)).all()
        assert len(stored) == 1 and code not in stored[0]

    connected = ok(client.post("/api/v1/site/connect", json={"code": code}))
    assert connected["site_id"] == site["public_id"]
    assert connected["secret"] != site["secret"]
    assert connected["site"] == {"name": "Acme shop", "url": "https://acme-shop.example"}
    assert connected["client"] == {"name": customer["name"]}

    fresh = Plugin(client, connected["site_id"], connected["secret"])
    assert ok(fresh.get("/summary"))["site"]["id"] == site["public_id"]
    refused = old_plugin.get("/summary")  # the previous secret stops working
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "bad_signature"

    with db.session() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "site.connected")
        ).one()
        assert entry.actor_kind == "site_plugin"
        assert entry.object_id == site["id"]
        assert "secret_encrypted" not in entry.summary


def test_a_connect_code_works_once(api, client, acme, db):
    customer, site, _ = acme
    code = connect_code(api, customer["id"], site["id"])
    ok(client.post("/api/v1/site/connect", json={"code": code}))
    before = snapshot(db)
    again = client.post("/api/v1/site/connect", json={"code": code})
    assert again.status_code == 400
    assert again.get_json()["error"]["code"] == "invalid_connect_code"
    assert snapshot(db) == before


def test_a_connect_code_is_typed_in_any_case_with_or_without_dashes(api, client, acme):
    customer, site, _ = acme
    code = connect_code(api, customer["id"], site["id"])
    typed = " " + code.lower().replace("-", " ") + " "
    assert ok(client.post("/api/v1/site/connect", json={"code": typed}))["site_id"]


def test_a_connect_code_expires_after_15_minutes(api, client, acme, db):
    customer, site, _ = acme
    start = clock.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        late = connect_code(api, customer["id"], site["id"])
        in_time = connect_code(api, customer["id"], site["id"])
    with time_machine.travel(start + timedelta(minutes=14, seconds=59), tick=False):
        ok(client.post("/api/v1/site/connect", json={"code": in_time}))
    with time_machine.travel(start + timedelta(minutes=15), tick=False):
        before = snapshot(db)
        refused = client.post("/api/v1/site/connect", json={"code": late})
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "invalid_connect_code"
    assert snapshot(db) == before


def test_using_a_code_retires_the_other_codes_of_the_site(api, client, acme):
    customer, site, _ = acme
    first = connect_code(api, customer["id"], site["id"])
    second = connect_code(api, customer["id"], site["id"])
    ok(client.post("/api/v1/site/connect", json={"code": second}))
    assert client.post("/api/v1/site/connect", json={"code": first}).status_code == 400


@pytest.mark.parametrize(
    "body, status",
    [
        ({"code": "BBC-AAAA-AAAA-AAAA-AAAA"}, 400),
        ({"code": "BBC-0000-1111-IIII-LLLL"}, 400),
        ({"code": ""}, 400),
        ({"code": "x" * 41}, 422),
        ({"code": 12}, 422),
        ({}, 422),
    ],
)
def test_an_unknown_or_malformed_code_changes_nothing(client, acme, db, body, status):
    before = snapshot(db)
    response = client.post("/api/v1/site/connect", json=body)
    assert response.status_code == status, response.get_json()
    if status == 400:
        assert response.get_json()["error"]["code"] == "invalid_connect_code"
    assert snapshot(db) == before


def test_a_code_brought_by_many_at_once_works_once(api, app, acme):
    customer, site, _ = acme
    code = connect_code(api, customer["id"], site["id"])
    barrier = threading.Barrier(4)
    statuses = []

    def exchange():
        test_client = app.test_client()
        barrier.wait()
        statuses.append(test_client.post("/api/v1/site/connect", json={"code": code}).status_code)

    threads = [threading.Thread(target=exchange) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 400, 400, 400]


def test_no_code_for_a_disabled_site_and_a_disabled_site_cannot_connect(api, client, acme):
    customer, site, _ = acme
    code = connect_code(api, customer["id"], site["id"])
    path = f"/clients/{customer['id']}/sites/{site['id']}"
    ok(api.patch(path, json={"disabled": True}))
    refused = api.post(f"{path}/connect-codes")
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "site_disabled"
    response = client.post("/api/v1/site/connect", json={"code": code})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "site_disabled"


def test_connect_codes_are_for_the_sites_of_the_client(api, acme):
    customer, _, _ = acme
    other = make_client(api, 2)
    other_site = make_site(api, other["id"], "Other")
    response = api.post(f"/clients/{customer['id']}/sites/{other_site['id']}/connect-codes")
    assert response.status_code == 404


# Signatures ---------------------------------------------------------------------


def error_code(response):
    return response.status_code, response.get_json()["error"]["code"]


def test_a_wrong_signature_is_refused(client, acme):
    _, site, plugin = acme
    wrong = Plugin(client, site["public_id"], site["secret"] + "x")
    response = wrong.get("/summary")
    assert error_code(response) == (401, "bad_signature")
    assert response.headers["WWW-Authenticate"].startswith("Bridge-Signature")
    tampered = plugin.get("/summary", headers={"X-Bridge-Timestamp": "1"})
    assert error_code(tampered) == (401, "bad_signature")


@pytest.mark.parametrize("missing", ["X-Bridge-Site", "X-Bridge-Timestamp", "X-Bridge-Signature"])
def test_a_missing_header_is_refused(client, acme, missing):
    _, site, _ = acme
    headers = signed_headers(site["public_id"], site["secret"], "GET", "/api/v1/site/summary")
    del headers[missing]
    response = client.get("/api/v1/site/summary", headers=headers)
    assert error_code(response) == (401, "bad_signature")


def test_an_unknown_site_is_refused(client, acme):
    _, site, _ = acme
    for site_id in ("site_000000000000000000000000", "x" * 500, "site_\u00e9", "a\tb"):
        impostor = Plugin(client, site_id, site["secret"])
        assert error_code(impostor.get("/summary")) == (401, "bad_signature")


def test_the_body_is_signed(client, acme, db):
    _, site, plugin = acme
    body = json.dumps(SCAN).encode()
    headers = signed_headers(
        site["public_id"], site["secret"], "POST", "/api/v1/site/seo-scans", body
    )
    before = snapshot(db)
    response = client.post(
        "/api/v1/site/seo-scans",
        data=body.replace(b"Home", b"Hack"),
        headers=headers,
        content_type="application/json",
    )
    assert error_code(response) == (401, "bad_signature")
    assert snapshot(db) == before


def test_the_query_string_is_signed_as_sent(client, acme):
    _, site, plugin = acme
    path = "/api/v1/site/access?email=jane%40acme.example"
    headers = signed_headers(site["public_id"], site["secret"], "GET", path)
    assert ok(client.get(path, headers=headers))["email"] == "jane@acme.example"
    other = client.get("/api/v1/site/access?email=joe%40acme.example", headers=headers)
    assert error_code(other) == (401, "bad_signature")


def test_a_stale_request_is_refused(client, acme):
    _, _, plugin = acme
    now = int(clock.now().timestamp())
    assert plugin.get("/summary", timestamp=now - 290).status_code == 200
    # Ahead of the bridge's clock, only a little (tests/integration/test_site_api_replay.py).
    assert plugin.get("/summary", timestamp=now + 25).status_code == 200
    assert error_code(plugin.get("/summary", timestamp=now - 400)) == (401, "stale_request")
    assert error_code(plugin.get("/summary", timestamp=now + 290)) == (401, "stale_request")


def test_the_window_follows_the_bridge_clock(client, acme):
    _, _, plugin = acme
    sent = clock.now().replace(microsecond=0)
    timestamp = int(sent.timestamp())
    with time_machine.travel(sent + timedelta(seconds=300), tick=False):
        assert plugin.get("/summary", timestamp=timestamp).status_code == 200
    with time_machine.travel(sent + timedelta(seconds=301), tick=False):
        assert error_code(plugin.get("/summary", timestamp=timestamp)) == (401, "stale_request")


def test_a_disabled_site_is_told_so_only_when_signed(api, client, acme):
    customer, site, plugin = acme
    ok(api.patch(f"/clients/{customer['id']}/sites/{site['id']}", json={"disabled": True}))
    assert error_code(plugin.get("/summary")) == (403, "site_disabled")
    wrong = Plugin(client, site["public_id"], "not-the-secret")
    assert error_code(wrong.get("/summary")) == (401, "bad_signature")
    ok(api.patch(f"/clients/{customer['id']}/sites/{site['id']}", json={"disabled": False}))
    assert plugin.get("/summary").status_code == 200


def test_a_staff_token_does_not_open_the_site_api(api):
    response = api.get("/site/summary")
    assert error_code(response) == (401, "bad_signature")


def test_a_deeply_nested_signed_body_is_a_400(acme):
    _, _, plugin = acme
    response = plugin.request("POST", "/seo-scans", b"[" * 100_000 + b"]" * 100_000)
    assert error_code(response) == (400, "invalid_json")


# The summary ------------------------------------------------------------------------


def test_the_summary_shows_the_sites_billing(api, client, acme):
    customer, site, plugin = acme
    plan = hosting_plan(api)
    paid = bill(api, customer["id"], site["id"], plan["id"], pay=True)
    other_product = ok(api.post("/products", json={"name": "Site build"}), 201)
    build = ok(
        api.post(
            f"/products/{other_product['id']}/plans",
            json={"name": "Build", "kind": "one_time", "amount": 150000},
        ),
        201,
    )
    open_invoice = bill(api, customer["id"], site["id"], build["id"])
    bill(api, customer["id"], site["id"], build["id"], finalize=False)  # a draft: not shown

    summary = ok(plugin.get("/summary"))
    assert summary["site"] == {
        "id": site["public_id"],
        "name": "Acme shop",
        "url": "https://acme-shop.example",
    }
    assert summary["client"] == {"name": "Client 1", "email": "c1@x.example"}
    hosting = summary["hosting_plan"]
    assert hosting["product"] == "Managed hosting" and hosting["plan"] == "Pro monthly"
    assert hosting["status"] == "active"
    assert (hosting["amount"], hosting["currency"]) == (4900, "EUR")
    assert hosting["amount_display"] == "€49.00"
    assert hosting["interval"] == "1 month"
    assert hosting["current_period_end"].endswith("Z")

    [subscription] = summary["subscriptions"]
    assert subscription["id"] == hosting["subscription_id"]
    assert subscription["category"] == "hosting"
    assert subscription["next_renewal_at"] == hosting["current_period_end"]
    assert subscription["cancel_at_period_end"] is False

    assert [i["id"] for i in summary["invoices"]] == [open_invoice["id"], paid["id"]]
    newest, oldest = summary["invoices"]
    assert newest["status"] == "open" and newest["amount_due"] == 150000
    assert newest["amount_due_display"] == "€1,500.00"
    assert newest["pay_url"].startswith(f"{PUBLIC_URL}/i/")
    assert newest["pdf_url"] == newest["pay_url"] + "/pdf"
    assert newest["issued_at"].endswith("Z") and newest["due_at"].endswith("Z")
    assert oldest["status"] == "paid" and oldest["pay_url"] is None
    assert oldest["pdf_url"].startswith(f"{PUBLIC_URL}/i/")
    assert summary["unpaid_count"] == 1
    assert summary["generated_at"].endswith("Z")

    assert ok(plugin.get("/hosting-plan")) == {"hosting_plan": hosting}


def test_amounts_are_written_in_the_business_language(api, acme):
    customer, site, plugin = acme
    ok(api.patch("/settings", json={"invoice_language": "fr"}))
    bill(api, customer["id"], site["id"], hosting_plan(api)["id"])
    summary = ok(plugin.get("/summary"))
    assert summary["invoices"][0]["total_display"] == "49,00\u00a0€"


def test_intervals_and_amounts_follow_the_business_language(api, acme):
    customer, site, plugin = acme
    ok(api.patch("/settings", json={"invoice_language": "de"}))
    bill(api, customer["id"], site["id"], hosting_plan(api)["id"], pay=True)
    hosting = ok(plugin.get("/hosting-plan"))["hosting_plan"]
    assert hosting["amount_display"] == "49,00\u00a0€"
    assert hosting["interval"] == "1 Monat"
    ok(api.patch("/settings", json={"invoice_language": "fr"}))
    assert ok(plugin.get("/hosting-plan"))["hosting_plan"]["interval"] == "1 mois"


def test_only_a_hosting_product_is_the_hosting_plan(api, acme):
    customer, site, plugin = acme
    seo = hosting_plan(api, category="seo", name="SEO care")
    bill(api, customer["id"], site["id"], seo["id"], pay=True)
    summary = ok(plugin.get("/summary"))
    assert summary["hosting_plan"] is None
    assert [s["category"] for s in summary["subscriptions"]] == ["seo"]
    assert ok(plugin.get("/hosting-plan")) == {"hosting_plan": None}


def test_a_sites_subscriptions_come_with_their_plans_and_products_in_one_statement(api, acme, db):
    """The plugin's calls read the site's subscriptions joined to their
    plans and products: no statement of their own per call, however many
    products the site subscribes to."""
    customer, site, plugin = acme
    for category, name in (("hosting", "Managed hosting"), ("seo", "SEO care")):
        bill(
            api, customer["id"], site["id"], hosting_plan(api, category, name=name)["id"], pay=True
        )
    sent: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        sent.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        summary = ok(plugin.get("/summary"))
        hosting = ok(plugin.get("/hosting-plan"))["hosting_plan"]
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert sorted(s["category"] for s in summary["subscriptions"]) == ["hosting", "seo"]
    assert hosting["product"] == "Managed hosting"
    reading = [s for s in sent if s.startswith("SELECT")]
    assert reading
    assert not [s for s in reading if s.startswith(("SELECT plans.", "SELECT products."))]


def test_a_site_never_reads_another_sites_billing(api, client, acme):
    customer, site, plugin = acme
    sister = make_site(api, customer["id"], "Sister")  # same client, another site
    stranger_client = make_client(api, 2)
    stranger = make_site(api, stranger_client["id"], "Stranger")
    plan = hosting_plan(api)
    bill(api, customer["id"], sister["id"], plan["id"], pay=True)
    bill(api, stranger_client["id"], stranger["id"], plan["id"], pay=True)
    bill(api, customer["id"], None, plan["id"])  # the client's, on no site

    summary = ok(plugin.get("/summary"))
    assert summary["invoices"] == []
    assert summary["subscriptions"] == []
    assert summary["hosting_plan"] is None
    assert summary["unpaid_count"] == 0
    for other in (sister, stranger):
        own = ok(plugin_for(client, other).get("/summary"))
        assert own["site"]["id"] == other["public_id"]
        assert len(own["invoices"]) == 1 and own["hosting_plan"] is not None
    # Another site's id with this site's secret is not a way in either.
    borrowed = Plugin(client, stranger["public_id"], site["secret"])
    assert error_code(borrowed.get("/summary")) == (401, "bad_signature")


# Access of a WordPress user ------------------------------------------------------------


def add_user(api, client_id: int, email: str, name: str = "") -> dict:
    return ok(api.post(f"/clients/{client_id}/users", json={"email": email, "name": name}), 201)


def test_access_of_a_billing_only_client_user(api, acme):
    customer, _, plugin = acme
    add_user(api, customer["id"], "Jane@Acme.example", "Jane")
    access = ok(plugin.get("/access?email=jane%40ACME.example"))
    assert access["email"] == "Jane@Acme.example"
    assert access["client_user"] is True
    assert access["role"] == {"id": customer["role"]["id"], "name": "Billing only"}
    assert access["areas"] == {
        "sites": [],
        "hosting": [],
        "seo": [],
        "site_billing": ["view", "pay"],
        "billing": ["view", "pay"],
    }


def test_access_follows_a_custom_role(api, acme):
    customer, _, plugin = acme
    role = ok(
        api.post(
            "/roles",
            json={
                "name": "SEO reader",
                "permissions": {
                    "seo": {"level": "custom", "actions": ["scan"]},
                    "hosting": {"level": "view"},
                },
            },
        ),
        201,
    )
    ok(api.patch(f"/clients/{customer['id']}", json={"role_id": role["id"]}))
    add_user(api, customer["id"], "sam@acme.example")
    access = ok(plugin.get("/access?email=sam%40acme.example"))
    assert access["role"]["name"] == "SEO reader"
    assert access["areas"]["seo"] == ["view", "scan"]
    assert access["areas"]["hosting"] == ["view", "analytics", "logs"]
    assert access["areas"]["billing"] == []


NOBODY = {
    "client_user": False,
    "role": None,
    "areas": {"sites": [], "hosting": [], "seo": [], "site_billing": [], "billing": []},
}


def test_an_email_of_another_client_gets_nothing(api, acme):
    customer, _, plugin = acme
    other = make_client(api, 2)
    add_user(api, other["id"], "mallory@other.example")
    access = ok(plugin.get("/access?email=mallory%40other.example"))
    assert access == {"email": "mallory@other.example", **NOBODY}
    # Nor does staff, nor an unknown or malformed email.
    for email in ("staff%40agency.example", "nobody%40x.example", "not-an-email", "%20"):
        assert ok(plugin.get(f"/access?email={email}"))["client_user"] is False


def test_access_needs_an_email(acme):
    _, _, plugin = acme
    response = plugin.get("/access")
    assert error_code(response) == (422, "validation_error")
    assert "email" in response.get_json()["error"]["fields"]


def test_a_removed_user_gets_nothing(api, acme):
    customer, _, plugin = acme
    user = add_user(api, customer["id"], "jane@acme.example")
    assert api.delete(f"/clients/{customer['id']}/users/{user['id']}").status_code == 204
    assert ok(plugin.get("/access?email=jane%40acme.example"))["client_user"] is False


# Client users (staff) ---------------------------------------------------------------


def test_client_users_are_listed_added_and_removed(api, acme, db):
    customer, _, _ = acme
    jane = add_user(api, customer["id"], " jane@acme.example ", "Jane Roe")
    assert jane["email"] == "jane@acme.example" and jane["name"] == "Jane Roe"
    assert jane["client_id"] == customer["id"] and jane["is_active"] is True
    joe = add_user(api, customer["id"], "joe@acme.example")
    listed = ok(api.get(f"/clients/{customer['id']}/users"))["data"]
    assert [u["id"] for u in listed] == [jane["id"], joe["id"]]

    before = snapshot(db)
    duplicate = api.post(f"/clients/{customer['id']}/users", json={"email": "JANE@acme.example"})
    assert error_code(duplicate) == (409, "duplicate_email")
    staff = api.post(f"/clients/{customer['id']}/users", json={"email": "staff@agency.example"})
    assert error_code(staff) == (409, "duplicate_email")
    for body in ({"email": "nope"}, {}, {"email": "a@b.example", "name": "x" * 201}):
        assert api.post(f"/clients/{customer['id']}/users", json=body).status_code == 422
    other = make_client(api, 2)
    assert snapshot(db) != before  # the other client
    before = snapshot(db)
    assert api.delete(f"/clients/{other['id']}/users/{jane['id']}").status_code == 404
    assert api.post("/clients/999/users", json={"email": "z@x.example"}).status_code == 404
    assert snapshot(db) == before

    assert api.delete(f"/clients/{customer['id']}/users/{joe['id']}").status_code == 204
    assert [u["id"] for u in ok(api.get(f"/clients/{customer['id']}/users"))["data"]] == [
        jane["id"]
    ]
    # Adding and removing people of a client is in the client's audit log.
    log = ok(api.get(f"/audit-log?client_id={customer['id']}"))["data"]
    user_entries = [(e["action"], e["object_id"]) for e in log if e["object_type"] == "user"]
    assert ("user.deleted", joe["id"]) in user_entries
    assert ("user.created", jane["id"]) in user_entries


def test_read_only_tokens_only_read_client_users(api_read_only, acme):
    customer, _, _ = acme
    assert api_read_only.get(f"/clients/{customer['id']}/users").status_code == 200
    response = api_read_only.post(f"/clients/{customer['id']}/users", json={"email": "a@b.example"})
    assert response.status_code == 403


# SEO scans --------------------------------------------------------------------------------

SCAN = {
    "scanned_at": "2026-11-25T10:00:00Z",
    "site": {"blog_public": True, "sitemap": True, "permalink_structure": "/%postname%/"},
    "pages": [
        {
            "url": "https://acme.example/",
            "title": "Home",
            "title_length": 4,
            "meta_description": "Acme, since 1901",
            "h1_count": 1,
            "images_without_alt": 0,
        }
    ],
}


def test_a_scan_is_stored_and_read_back(api, acme):
    customer, site, plugin = acme
    assert ok(plugin.get("/seo-scans/latest")) == {"scan": None}
    received = ok(plugin.post("/seo-scans", SCAN), 201)
    assert received["received_at"].endswith("Z")
    latest = ok(plugin.get("/seo-scans/latest"))["scan"]
    assert latest == {**SCAN, "id": received["id"], "received_at": received["received_at"]}
    staff = ok(api.get(f"/clients/{customer['id']}/sites/{site['id']}/seo-scans/latest"))
    assert staff == {"scan": latest}


def test_a_site_reads_only_its_own_scans(api, client, acme):
    customer, _, plugin = acme
    other = plugin_for(client, make_site(api, customer["id"], "Other"))
    ok(plugin.post("/seo-scans", SCAN), 201)
    assert ok(other.get("/seo-scans/latest")) == {"scan": None}


def test_the_latest_20_scans_are_kept(acme, db):
    _, site, plugin = acme
    ids = [
        ok(plugin.post("/seo-scans", {**SCAN, "pages": [{"url": f"https://a.example/{n}"}]}), 201)[
            "id"
        ]
        for n in range(23)
    ]
    with db.session() as session:
        kept = session.scalars(select(SeoScan.id).order_by(SeoScan.id)).all()
    assert kept == ids[-20:]
    latest = ok(plugin.get("/seo-scans/latest"))["scan"]
    assert latest["pages"] == [{"url": "https://a.example/22"}]


def test_a_scan_in_another_time_zone_is_stored_in_utc(acme):
    _, _, plugin = acme
    ok(plugin.post("/seo-scans", {**SCAN, "scanned_at": "2026-11-25T11:00:00+01:00"}), 201)
    assert ok(plugin.get("/seo-scans/latest"))["scan"]["scanned_at"] == "2026-11-25T10:00:00Z"


def page(**fields) -> dict:
    return {"url": "https://acme.example/", **fields}


@pytest.mark.parametrize(
    "change, field",
    [
        ({"pages": [page()] * 101}, "pages"),
        ({"pages": [page(title="t" * 501)]}, "pages"),
        ({"pages": [page(meta_description="d" * 1001)]}, "pages"),
        ({"pages": [{"title": "no url"}]}, "pages"),
        ({"pages": [page(url="u" * 2001)]}, "pages"),
        ({"pages": [page(h1_count=-1)]}, "pages"),
        ({"pages": [page(h1_count="1")]}, "pages"),
        ({"pages": [page(title="NUL \u0000")]}, "pages"),
        ({"pages": [page(colour="red")]}, "pages"),
        ({"pages": "all of them"}, "pages"),
        ({"site": {"blog_public": "yes"}}, "site"),
        ({"site": {"permalink_structure": "p" * 201}}, "site"),
        ({"scanned_at": "yesterday"}, "scanned_at"),
        ({"scanned_at": "0001-01-01T00:00:00+14:00"}, "scanned_at"),
        ({"extra": 1}, "extra"),
    ],
)
def test_an_invalid_scan_is_a_422_and_nothing_changes(acme, db, change, field):
    _, _, plugin = acme
    before = snapshot(db)
    response = plugin.post("/seo-scans", {**SCAN, **change})
    assert error_code(response) == (422, "validation_error")
    problems = response.get_json()["error"]["fields"]
    assert any(k == field or k.startswith(f"{field}.") for k in problems), problems
    assert snapshot(db) == before


def test_a_scan_without_pages_or_date_is_refused(acme):
    _, _, plugin = acme
    for missing in ("pages", "scanned_at"):
        body = {key: value for key, value in SCAN.items() if key != missing}
        response = plugin.post("/seo-scans", body)
        assert response.status_code == 422
        assert missing in response.get_json()["error"]["fields"]


def test_scans_go_when_their_site_goes(api, acme, db):
    customer, site, plugin = acme
    ok(plugin.post("/seo-scans", SCAN), 201)
    connect_code(api, customer["id"], site["id"])
    assert api.delete(f"/clients/{customer['id']}/sites/{site['id']}").status_code == 204
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(SeoScan)) == 0
        assert session.scalar(select(func.count()).select_from(SiteConnectCode)) == 0


# Product categories ----------------------------------------------------------------------


def test_products_have_a_category(api, db):
    product = ok(api.post("/products", json={"name": "Care plan"}), 201)
    assert product["category"] == "other"
    hosting = ok(api.post("/products", json={"name": "Hosting", "category": "hosting"}), 201)
    assert hosting["category"] == "hosting"
    changed = ok(api.patch(f"/products/{product['id']}", json={"category": "maintenance"}))
    assert changed["category"] == "maintenance"
    before = snapshot(db)
    for body in ({"category": "gold"}, {"category": None}, {"category": 1}):
        response = api.patch(f"/products/{product['id']}", json=body)
        assert response.status_code == 422, response.get_json()
        assert "category" in response.get_json()["error"]["fields"]
    assert snapshot(db) == before
