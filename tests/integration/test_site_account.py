"""``GET /api/v1/site/account``, the plugin's *My account*, on SQLite and
PostgreSQL: the client's invoices on every site and on none, paged beyond
50, the client's sites, auto-pay and the card, only for a person whose role
grants billing, only ever the signing site's client; and the site API's
amounts and dates written in the reader's locale."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import pytest
import time_machine

from bridge.billing import business, clients, invoices
from bridge.billing.business import get_settings
from bridge.billing.invoices import Item
from tests.integration.test_site_api import (
    PUBLIC_URL,
    add_user,
    bill,
    error_code,
    hosting_plan,
    make_client,
    make_site,
    ok,
    plugin_for,
)

JANE = "jane@acme.example"


def account(plugin, email: str = JANE, **query):
    query = "".join(f"&{key}={quote(str(value))}" for key, value in query.items())
    return plugin.get(f"/account?email={quote(email)}{query}")


@pytest.fixture
def acme(api_eur, client):
    """A client with a site, its plugin, and Jane, a person of the client
    whose role (Billing only, the default) grants billing."""
    customer = make_client(api_eur, 1)
    site = make_site(api_eur, customer["id"])
    add_user(api_eur, customer["id"], JANE, "Jane")
    return customer, site, plugin_for(client, site)


def test_the_account_has_every_invoice_of_the_client_and_its_sites(api, client, acme):
    customer, site, plugin = acme
    sister = make_site(api, customer["id"], "Bakery blog")
    stranger_client = make_client(api, 2)
    stranger = make_site(api, stranger_client["id"], "Stranger")
    plan = hosting_plan(api)
    here = bill(api, customer["id"], site["id"], plan["id"], pay=True)
    there = bill(api, customer["id"], sister["id"], plan["id"])
    build = bill(api, customer["id"], None, plan["id"])  # on no site
    bill(api, customer["id"], None, plan["id"], finalize=False)  # a draft: never shown
    bill(api, stranger_client["id"], stranger["id"], plan["id"])  # another client's

    answer = ok(account(plugin))
    assert answer["client"] == {"name": "Client 1", "email": "c1@x.example"}
    rows = answer["invoices"]["data"]
    assert [i["id"] for i in rows] == [build["id"], there["id"], here["id"]]
    assert [i["site"] for i in rows] == [
        None,
        {"name": "Bakery blog", "url": "https://bakery-blog.example"},
        {"name": "Acme shop", "url": "https://acme-shop.example"},
    ]
    assert [i["this_site"] for i in rows] == [False, False, True]
    assert rows[0]["pay_url"].startswith(f"{PUBLIC_URL}/i/") and rows[2]["pay_url"] is None
    assert rows[0]["amount_due_display"] == "€49.00"
    assert {key: answer["invoices"][key] for key in ("page", "per_page", "total", "pages")} == {
        "page": 1,
        "per_page": 50,
        "total": 3,
        "pages": 1,
    }
    assert [(s["name"], s["this_site"]) for s in answer["sites"]] == [
        ("Acme shop", True),
        ("Bakery blog", False),
    ]
    assert answer["unpaid_count"] == 2
    assert (answer["amount_due"], answer["amount_due_display"]) == (9800, "€98.00")
    assert answer["portal_url"] == f"{PUBLIC_URL}/portal/"
    # The sister site reads the same account, marked from its side.
    sister_view = ok(account(plugin_for(client, sister)))
    assert [i["this_site"] for i in sister_view["invoices"]["data"]] == [False, True, False]


def test_the_history_is_paged_beyond_50(api, acme, db):
    customer, site, plugin = acme
    plan = hosting_plan(api)
    with db.session() as s:
        client = clients.get_client(s, customer["id"])
        for number in range(55):
            invoice = invoices.bill_client(
                s, client, [Item(plan["id"])], site_id=site["id"] if number % 2 else None
            )
            invoices.finalize(s, invoice)
    first = ok(account(plugin))["invoices"]
    assert (len(first["data"]), first["total"], first["pages"]) == (50, 55, 2)
    second = ok(account(plugin, page=2))["invoices"]
    assert (len(second["data"]), second["page"]) == (5, 2)
    seen = [i["id"] for i in first["data"] + second["data"]]
    assert len(set(seen)) == 55 and seen == sorted(seen, reverse=True)
    small = ok(account(plugin, page=3, per_page=20))["invoices"]
    assert (len(small["data"]), small["pages"]) == (15, 3)
    assert ok(account(plugin, page=9))["invoices"]["data"] == []
    for bad in ({"per_page": 101}, {"per_page": 0}, {"page": 0}, {"page": "x"}):
        assert error_code(account(plugin, **bad)) == (422, "validation_error"), bad


def test_only_a_person_whose_role_grants_billing_reads_the_account(api, acme):
    customer, _site, plugin = acme
    other = make_client(api, 2)
    add_user(api, other["id"], "mallory@other.example")
    for email in ("mallory@other.example", "nobody@x.example", "staff@agency.example"):
        assert error_code(account(plugin, email)) == (403, "billing_not_granted"), email
    role = ok(
        api.post(
            "/roles",
            json={"name": "Site bills only", "permissions": {"site_billing": {"level": "view"}}},
        ),
        201,
    )
    ok(api.patch(f"/clients/{customer['id']}", json={"role_id": role["id"]}))
    assert error_code(account(plugin)) == (403, "billing_not_granted")
    assert error_code(plugin.get("/account")) == (422, "validation_error")


def test_auto_pay_the_card_and_where_to_change_it(api, acme, db):
    customer, _site, plugin = acme
    answer = ok(account(plugin))
    assert (answer["auto_pay"], answer["card"], answer["update_card_url"]) == (False, None, None)
    with db.session() as s:
        get_settings(s).stripe_secret_key_encrypted = "stored"
        client = clients.get_client(s, customer["id"])
        client.stripe_customer_id = "cus_1"
        client.default_payment_method_id = "pm_1"
        client.card_brand, client.card_last4 = "visa", "4242"
        client.card_exp_month, client.card_exp_year = 12, 2099
    answer = ok(account(plugin))
    assert answer["auto_pay"] is True
    assert answer["card"] == {
        "brand": "visa",
        "last4": "4242",
        "exp_month": 12,
        "exp_year": 2099,
        "expiry": None,
    }
    assert answer["update_card_url"] == f"{PUBLIC_URL}/portal/payment-method"


def test_amounts_are_written_in_the_readers_locale(api, acme):
    customer, _site, plugin = acme
    bill(api, customer["id"], None, hosting_plan(api, amount=150000)["id"])
    german = ok(account(plugin, locale="de_DE"))
    assert german["invoices"]["data"][0]["total_display"] == "1.500,00\u00a0€"
    assert german["amount_due"] == 150000 and german["amount_due_display"] == "1.500,00\u00a0€"
    assert ok(account(plugin, locale="fr_FR"))["amount_due_display"] == "1\u202f500,00\u00a0€"
    # A language without a catalogue: the business's (English here).
    assert ok(account(plugin, locale="es_ES"))["amount_due_display"] == "€1,500.00"
    for bad in ("de DE", "x", "de_DE<script>", "a" * 40):
        assert error_code(account(plugin, locale=bad)) == (422, "validation_error"), bad


def test_the_summary_and_standing_are_written_in_the_readers_locale(api, acme):
    customer, site, plugin = acme
    ok(api.patch("/settings", json={"invoice_net_terms_days": 0}))
    with time_machine.travel(datetime(2027, 3, 5, 12, tzinfo=UTC), tick=False):
        bill(api, customer["id"], site["id"], hosting_plan(api, amount=150000)["id"])
    with time_machine.travel(datetime(2027, 3, 9, 12, tzinfo=UTC), tick=False):
        english = ok(plugin.get("/summary"))
        german = ok(plugin.get("/summary?locale=de_DE"))
        french = ok(plugin.get("/standing?locale=fr_FR"))
        hosting = ok(plugin.get("/hosting-plan?locale=de"))["hosting_plan"]
        refused = plugin.get("/summary?locale=de%20DE")
    invoice = english["invoices"][0]
    assert (invoice["total"], invoice["total_display"]) == (150000, "€1,500.00")
    assert (invoice["issue_date_display"], invoice["due_at_display"]) == (
        "March 5, 2027",
        "March 5, 2027",
    )
    invoice = german["invoices"][0]
    assert (invoice["total"], invoice["total_display"]) == (150000, "1.500,00\u00a0€")
    assert invoice["issue_date_display"] == "5. März 2027"
    assert german["subscriptions"][0]["interval"] == "1 Monat"
    assert german["standing"]["invoices"][0]["due_at_display"] == "5. März 2027"
    assert french["amount_due_display"] == "1\u202f500,00\u00a0€"
    assert french["invoices"][0]["due_at_display"] == "5 mars 2027"
    assert french["grace_until_display"] is None  # nothing follows the default grace
    assert (hosting["amount_display"], hosting["interval"]) == ("1.500,00\u00a0€", "1 Monat")
    assert error_code(refused) == (422, "validation_error")


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


def test_the_summary_names_the_agency_with_its_logo(api, client, acme, db):
    _customer, _site, plugin = acme
    ok(api.patch("/settings", json={"company_name": "Pixel & <Pine>", "brand_color": "#0f766e"}))
    assert ok(plugin.get("/summary"))["agency"] == {
        "name": "Pixel & <Pine>",
        "brand_color": "#0f766e",
        "logo_url": None,
    }
    with db.session() as s:
        business.set_logo(s, PNG, 100_000)
    logo_url = ok(plugin.get("/summary"))["agency"]["logo_url"]
    assert logo_url.startswith(f"{PUBLIC_URL}/portal/logo?v=")
    served = client.get(logo_url.removeprefix(PUBLIC_URL))  # to anybody, for the <img>
    assert served.status_code == 200 and served.data == PNG
    ok(api.patch("/settings", json={"invoice_show_logo": False}))
    assert ok(plugin.get("/summary"))["agency"]["logo_url"] is None


def test_the_agency_delegates_apply_configuration_to_roles(api, acme):
    _customer, _site, plugin = acme
    assert api.get("/settings").get_json()["seo_configure_delegated"] is False
    assert ok(plugin.get("/summary"))["seo_configure_delegated"] is False
    assert ok(api.patch("/settings", json={"seo_configure_delegated": True}))[
        "seo_configure_delegated"
    ]
    assert ok(plugin.get("/summary"))["seo_configure_delegated"] is True
    refused = api.patch("/settings", json={"seo_configure_delegated": "yes please"})
    assert error_code(refused) == (422, "validation_error")
