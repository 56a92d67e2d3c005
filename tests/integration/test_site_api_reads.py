"""What the site API's signed reads keep and skip, on SQLite and PostgreSQL:
a site's secret decrypted once per process, the business settings kept per
process and reloaded when another process changes them, no transaction
around a signed GET on PostgreSQL (a signed write keeps its own), and the
answers these shortcuts must not change."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from datetime import datetime

import pytest
from sqlalchemy import event, func, select, update

from bridge.auth.signatures import signed_headers
from bridge.billing import business
from bridge.core.l10n import Localiser, day_display
from bridge.models import BusinessSettings, SiteRequestNonce
from tests.integration.test_api_settings import png
from tests.integration.test_site_api import bill, hosting_plan, make_client, make_site, ok
from tests.integration.test_site_api import plugin_for as plugin_of
from tests.unit.test_secret_box import CountingFernet


@pytest.fixture
def acme(api_eur, client):
    """A client with a site on a hosting plan and a person (c1@x.example),
    and the site's plugin."""
    customer = make_client(api_eur, 1)
    site = make_site(api_eur, customer["id"])
    person = {"email": customer["email"], "name": "Camille"}
    ok(api_eur.post(f"/clients/{customer['id']}/users", json=person), 201)
    bill(api_eur, customer["id"], site["id"], hosting_plan(api_eur)["id"], pay=True)
    return customer, site, plugin_of(client, site)


# The site's secret ------------------------------------------------------------


def test_a_sites_secret_is_decrypted_once_for_its_signed_calls(app, acme):
    _customer, _site, plugin = acme
    box = app.extensions["bridge.secret_box"]
    box._fernet = counting = CountingFernet(box._fernet)
    for path in ("/summary", "/hosting-plan", "/access?email=c1@x.example"):
        ok(plugin.get(path))
    assert counting.decrypted == 1


def test_a_rotated_secret_signs_at_once_and_the_old_one_no_more(api, acme, client):
    customer, site, plugin = acme
    ok(plugin.get("/hosting-plan"))  # the old secret is kept decrypted
    rotated = ok(api.post(f"/clients/{customer['id']}/sites/{site['id']}/rotate-secret"))
    assert plugin.get("/hosting-plan").status_code == 401
    fresh = plugin_of(client, {"public_id": site["public_id"], "secret": rotated["secret"]})
    assert ok(fresh.get("/hosting-plan"))["hosting_plan"]["product"] == "Managed hosting"


# The business settings ---------------------------------------------------------


def listening(db, name: str, listener, call) -> None:
    """``call()`` with ``listener`` on the app engine's event ``name``."""
    event.listen(db.engine, name, listener)
    try:
        call()
    finally:
        event.remove(db.engine, name, listener)


def statements_of(db, call) -> list[str]:
    """The SQL statements ``call()`` sends, on one line each."""
    sent: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        sent.append(" ".join(statement.split()))

    listening(db, "before_cursor_execute", record, call)
    return sent


def reads_the_settings(statements: list[str]) -> bool:
    return any("business_settings.invoice_language" in s for s in statements)


def test_the_settings_are_read_once_per_process_on_postgresql(acme, db):
    """On PostgreSQL a signed call reads the settings' version with its site
    and, when the process keeps that version, nothing more of them; SQLite
    reads them on every call."""
    _customer, _site, plugin = acme
    ok(plugin.get("/hosting-plan"))
    for path in ("/hosting-plan", "/summary", "/access?email=c1@x.example"):
        sent = statements_of(db, lambda path=path: ok(plugin.get(path)))
        assert reads_the_settings(sent) is (db.is_sqlite and path != "/access?email=c1@x.example")
    assert any("business_settings.xmin" in s for s in sent) is not db.is_sqlite


def test_settings_changed_elsewhere_are_seen_by_the_next_signed_call(acme, db):
    """Another process (here another connection, no Python of ours in
    between) changes the business's language and time zone: the very next
    signed call answers in them."""
    _customer, _site, plugin = acme
    before = ok(plugin.get("/hosting-plan"))["hosting_plan"]
    assert before["interval"] == "1 month"
    with db.engine.begin() as connection:
        connection.execute(
            update(BusinessSettings).values(invoice_language="fr", timezone="Pacific/Kiritimati")
        )
    after = ok(plugin.get("/hosting-plan"))["hosting_plan"]
    assert after["interval"] == "1 mois"
    end = datetime.fromisoformat(after["current_period_end"].replace("Z", "+00:00"))
    expected = day_display(Localiser("fr", "Pacific/Kiritimati"), end)
    assert after["current_period_end_display"] == expected
    summary = ok(plugin.get("/summary"))
    assert summary["hosting_plan"]["current_period_end_display"] == expected
    assert summary["subscriptions"][0]["amount_display"] == "49,00\u00a0€"


def test_a_change_through_the_api_reaches_the_kept_settings(api, acme):
    _customer, _site, plugin = acme
    assert ok(plugin.get("/summary"))["agency"]["name"] == ""
    ok(api.patch("/settings", json={"company_name": "Agence Web", "invoice_language": "de"}))
    summary = ok(plugin.get("/summary"))
    assert summary["agency"]["name"] == "Agence Web"
    assert summary["hosting_plan"]["interval"] == "1 Monat"


def test_kept_settings_are_a_frozen_value_of_no_session(acme, db):
    _customer, _site, plugin = acme
    ok(plugin.get("/summary"))
    with db.session() as session:
        business.note_settings_version(session, None)
        settings = business.reading_settings(session)
    assert isinstance(settings, business.ReaderSettings)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.invoice_language = "fr"
    with pytest.raises(TypeError):
        settings.overdue_grace["hosting"] = {}


# Narrow rows ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/summary", "/hosting-plan", "/access?email=c1@x.example"])
def test_a_signed_call_reads_the_columns_it_answers_with_and_no_more(acme, db, path):
    """The signing site and its client come with the columns the answers
    use: not the client's address, custom fields or search text, and no
    other statement loads them afterwards."""
    _customer, _site, plugin = acme
    ok(plugin.get(path))  # the settings and the secret are kept from now on
    sent = statements_of(db, lambda: ok(plugin.get(path)))
    signing = next(s for s in sent if "WHERE sites.public_id" in s)
    assert "_1.name" in signing and "sites.secret_encrypted" in signing  # clients_1
    for unused in (".search_text", ".custom_fields", ".address_line1", ".secret_rotated_at"):
        assert not [s for s in sent if unused in s], unused


# Transactions --------------------------------------------------------------------


def transaction_states(db, call) -> list[str]:
    """The connection's transaction state after each statement of ``call()``
    (PostgreSQL: IDLE means no transaction was open, so none was begun; a
    statement in a transaction leaves it INTRANS; SQLite tells nothing)."""
    states: list[str] = []

    def record(conn, *_args):
        info = getattr(conn.connection.dbapi_connection, "info", None)
        states.append(info.transaction_status.name if info is not None else "unknown")

    listening(db, "after_cursor_execute", record, call)
    return states


@pytest.fixture
def postgres_only(db):
    if db.is_sqlite:
        pytest.skip("SQLite runs every request in a transaction")


def test_a_signed_get_sends_no_begin_on_postgresql(postgres_only, acme, db):
    _customer, _site, plugin = acme
    for path in ("/summary", "/hosting-plan", "/access?email=c1@x.example", "/standing"):
        states = transaction_states(db, lambda path=path: ok(plugin.get(path)))
        assert states and set(states) == {"IDLE"}, path


def test_connections_go_back_to_the_pool_in_transactions(postgres_only, acme, db):
    """After signed GETs, every pooled connection is as the engine hands
    them out: not in autocommit, its first statement in a transaction."""
    _customer, _site, plugin = acme
    ok(plugin.get("/summary"))
    with contextlib.ExitStack() as stack:
        pooled = [stack.enter_context(db.engine.connect()) for _ in range(3)]
        for connection in pooled:
            assert connection.connection.dbapi_connection.autocommit is False
            connection.execute(select(1))
            assert connection.connection.dbapi_connection.info.transaction_status.name == (
                "INTRANS"
            )


def post_scan(plugin, body: bytes, nonce: str):
    """A signed POST of an SEO scan with this request id."""
    path = "/api/v1/site/seo-scans"
    headers = signed_headers(plugin.site_id, plugin.secret, "POST", path, body, nonce=nonce)
    return plugin.client.post(path, data=body, headers=headers, content_type="application/json")


def test_a_signed_write_runs_in_a_transaction_rolled_back_on_error(acme, db):
    """A signed POST begins a transaction: its request id, stored before its
    body is read, is rolled back with a refused body (and the same request
    id may then be sent again)."""
    _customer, _site, plugin = acme
    nonce = "a-retried-write-0001"
    refused = []
    states = transaction_states(
        db, lambda: refused.append(post_scan(plugin, b'{"pages": "none"}', nonce))
    )
    assert refused[0].status_code == 422
    if not db.is_sqlite:
        assert states and set(states) == {"INTRANS"}
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(SiteRequestNonce)) == 0
    scan = json.dumps({"scanned_at": "2026-12-01T10:00:00Z", "pages": []}).encode()
    stored = post_scan(plugin, scan, nonce)
    assert stored.status_code == 201, stored.get_json()


# The agency's logo and the site's subscriptions ----------------------------------------


def test_the_logo_is_named_by_its_stored_hash_without_reading_the_image(api, acme, db):
    _customer, _site, plugin = acme
    logo = png(b"x" * 20_000)
    with db.session() as session:
        business.set_logo(session, logo, 100_000)
    sent = statements_of(db, lambda: ok(plugin.get("/summary")))  # the settings changed
    summary = ok(plugin.get("/summary"))
    assert summary["agency"]["logo_url"].endswith(f"?v={hashlib.sha256(logo).hexdigest()[:16]}")
    assert any("stored_files.sha256" in s for s in sent)
    assert not [s for s in sent if "stored_files.data" in s]


def test_a_subscriptions_amount_counts_its_quantity(api, acme):
    customer, site, plugin = acme
    plan = hosting_plan(api, category="seo", amount=1250, name="SEO care")
    body = {
        "client_id": customer["id"],
        "site_id": site["id"],
        "items": [{"plan_id": plan["id"], "quantity": 3}],
    }
    invoice = ok(api.post("/invoices", json=body), 201)
    ok(api.post(f"/invoices/{invoice['id']}/finalize"))
    seo = next(s for s in ok(plugin.get("/summary"))["subscriptions"] if s["category"] == "seo")
    assert seo["amount"] == 3750 and seo["amount_display"] == "€37.50"
    assert seo["status"] == "pending" and seo["plan"] == "Pro monthly"


def test_the_summary_reads_the_invoices_it_lists_in_one_narrow_statement(api, acme, db):
    customer, site, plugin = acme
    plan = hosting_plan(api, category="seo", amount=1250, name="SEO care")
    bill(api, customer["id"], site["id"], plan["id"])  # open, not yet due
    ok(plugin.get("/summary"))
    sent = statements_of(db, lambda: ok(plugin.get("/summary")))
    reading_invoices = [s for s in sent if "FROM invoices" in s]
    assert len(reading_invoices) == 1
    assert "invoices.hosted_token" in reading_invoices[0]
    assert "invoices.note," not in reading_invoices[0]
    summary = ok(plugin.get("/summary"))
    assert [i["status"] for i in summary["invoices"]] == ["open", "paid"]
    assert summary["unpaid_count"] == 1 and summary["amount_due"] == 1250


def test_the_access_of_a_person_is_read_with_their_role_on_the_site_at_once(api, acme, db):
    """The person and their own role on the site come in one statement,
    after the signing site's."""
    customer, site, plugin = acme
    person = ok(api.get(f"/clients/{customer['id']}/users"))["data"][0]
    roles = ok(api.get("/roles"))["data"]
    billing_only = next(r for r in roles if r["name"] == "Billing only")
    path = f"/clients/{customer['id']}/users/{person['id']}/site-roles/{site['id']}"
    ok(api.put(path, json={"role_id": billing_only["id"]}))
    ok(plugin.get("/access?email=c1@x.example"))
    answers = []
    sent = statements_of(db, lambda: answers.append(ok(plugin.get("/access?email=C1@x.example"))))
    assert len([s for s in sent if s.startswith("SELECT")]) == 2
    assert answers[0]["role"] == {"id": billing_only["id"], "name": "Billing only"}
    assert answers[0]["areas"]["billing"] and not answers[0]["areas"]["hosting"]
