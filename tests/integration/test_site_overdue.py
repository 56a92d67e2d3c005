"""Overdue and grace through HTTP, on SQLite and PostgreSQL: the business
settings (``/api/v1/settings/overdue``), the site's state in the site API
(``/site/standing`` and the summary's ``standing``) as the bridge's clock
passes an invoice's due date and its grace, the Hosting and SEO actions
refused (409 ``site_restricted``) while restricted, and payment lifting it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine

from bridge.billing import sites
from tests.integration.test_site_api import SCAN, acme, bill, ok  # noqa: F401 (fixture)

DEFAULTS = {
    "hosting": {"grace_days": 14, "after_grace": "nothing"},
    "maintenance": {"grace_days": 14, "after_grace": "nothing"},
    "seo": {"grace_days": 14, "after_grace": "nothing"},
}


def one_time(api, category: str, amount: int = 4900) -> dict:
    product = ok(
        api.post("/products", json={"name": f"{category} work", "category": category}), 201
    )
    body = {"name": "Once", "kind": "one_time", "amount": amount}
    return ok(api.post(f"/products/{product['id']}/plans", json=body), 201)


def due(invoice: dict) -> datetime:
    return datetime.fromisoformat(invoice["due_at"].replace("Z", "+00:00"))


def at(instant: datetime):
    return time_machine.travel(instant, tick=False)


def iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_settings_have_defaults_and_change_per_category(api):
    assert ok(api.get("/settings/overdue")) == DEFAULTS
    changed = ok(
        api.patch(
            "/settings/overdue", json={"hosting": {"grace_days": 7, "after_grace": "restricted"}}
        )
    )
    assert changed["hosting"] == {"grace_days": 7, "after_grace": "restricted"}
    assert changed["seo"] == DEFAULTS["seo"]
    ok(api.patch("/settings/overdue", json={"seo": {"after_grace": "banner"}}))
    answer = ok(api.get("/settings/overdue"))
    assert answer["hosting"]["grace_days"] == 7
    assert answer["seo"] == {"grace_days": 14, "after_grace": "banner"}


@pytest.mark.parametrize(
    "body",
    [
        {"hosting": {"grace_days": -1}},
        {"hosting": {"grace_days": 366}},
        {"hosting": {"grace_days": "7"}},
        {"hosting": {"after_grace": "delete_site"}},
        {"other": {"grace_days": 3}},
        {"hosting": {"grace_days": 3, "colour": "red"}},
    ],
)
def test_bad_settings_are_a_422_and_change_nothing(api, body):
    answer = api.patch("/settings/overdue", json=body)
    assert answer.status_code == 422 and answer.get_json()["error"]["code"] == "validation_error"
    assert ok(api.get("/settings/overdue")) == DEFAULTS


def test_read_only_tokens_read_the_settings_but_do_not_change_them(api_read_only):
    assert ok(api_read_only.get("/settings/overdue")) == DEFAULTS
    assert (
        api_read_only.patch("/settings/overdue", json={"seo": {"grace_days": 1}}).status_code == 403
    )


def test_a_site_without_overdue_invoices_is_ok(api, acme):  # noqa: F811
    customer, site, plugin = acme
    bill(api, customer["id"], site["id"], one_time(api, "hosting")["id"])
    assert ok(plugin.get("/standing")) == {
        "state": "ok",
        "grace_until": None,
        "grace_until_display": None,
        "restricted_since": None,
        "restricted_since_display": None,
        "banner": False,
        "restricted_areas": [],
        "amount_due": 0,
        "amount_due_display": None,
        "invoices": [],
    }


def test_a_hosting_invoice_past_due_goes_through_grace_to_restricted_and_payment_lifts_it(
    api,
    acme,  # noqa: F811
):
    customer, site, plugin = acme
    ok(
        api.patch(
            "/settings/overdue", json={"hosting": {"grace_days": 7, "after_grace": "restricted"}}
        )
    )
    invoice = bill(api, customer["id"], site["id"], one_time(api, "hosting")["id"])
    deadline = due(invoice)
    with at(deadline - timedelta(minutes=1)):
        assert ok(plugin.get("/standing"))["state"] == "ok"
    with at(deadline + timedelta(days=1)):
        standing = ok(plugin.get("/standing"))
        assert standing["state"] == "grace"
        assert standing["grace_until"] == iso(deadline + timedelta(days=7))
        assert standing["banner"] is False and standing["restricted_areas"] == []
        [row] = standing["invoices"]
        assert row["id"] == invoice["id"] and row["number"] == invoice["number"]
        assert (row["state"], row["category"], row["after_grace"]) == (
            "grace",
            "hosting",
            "restricted",
        )
        assert row["amount_due"] == 4900 and row["amount_due_display"] == "€49.00"
        [listed] = ok(plugin.get("/summary"))["invoices"]
        assert row["pay_url"] == listed["pay_url"] and row["pay_url"].startswith("http")
        ok(plugin.post("/seo-scans", SCAN), 201)  # not restricted yet
    with at(deadline + timedelta(days=8)):
        standing = ok(plugin.get("/standing"))
        assert standing["state"] == "restricted"
        assert standing["restricted_since"] == iso(deadline + timedelta(days=7))
        assert standing["banner"] is True
        assert standing["restricted_areas"] == ["hosting", "seo"]
        assert ok(plugin.get("/summary"))["standing"] == standing
        refused = plugin.post("/seo-scans", SCAN)
        assert refused.status_code == 409
        assert refused.get_json()["error"]["code"] == "site_restricted"
        # Reading stays open: billing, the hosting plan, the latest scan.
        ok(plugin.get("/hosting-plan"))
        ok(plugin.get("/seo-scans/latest"))
        payment = {"amount": invoice["amount_due"], "method": "bank_transfer"}
        ok(api.post(f"/invoices/{invoice['id']}/payments", json=payment), 201)
        assert ok(plugin.get("/standing"))["state"] == "ok"
        ok(plugin.post("/seo-scans", SCAN), 201)


def test_after_a_banner_grace_the_site_is_overdue_with_the_banner(api, acme):  # noqa: F811
    customer, site, plugin = acme
    ok(api.patch("/settings/overdue", json={"seo": {"grace_days": 0, "after_grace": "banner"}}))
    invoice = bill(api, customer["id"], site["id"], one_time(api, "seo")["id"])
    with at(due(invoice) + timedelta(hours=1)):
        standing = ok(plugin.get("/standing"))
        assert (standing["state"], standing["banner"]) == ("overdue", True)
        ok(plugin.post("/seo-scans", SCAN), 201)


def test_an_invoice_of_another_category_is_overdue_and_nothing_more(api, acme):  # noqa: F811
    customer, site, plugin = acme
    for category in ("hosting", "maintenance", "seo"):
        body = {category: {"grace_days": 0, "after_grace": "restricted"}}
        ok(api.patch("/settings/overdue", json=body))
    invoice = bill(api, customer["id"], site["id"], one_time(api, "other")["id"])
    with at(due(invoice) + timedelta(days=100)):
        standing = ok(plugin.get("/standing"))
        assert standing["state"] == "overdue" and standing["banner"] is False
        assert standing["invoices"][0]["category"] is None


def test_only_the_sites_own_invoices_count(api, client, acme):  # noqa: F811
    from tests.integration.test_site_api import make_site, plugin_for

    customer, site, plugin = acme
    ok(
        api.patch(
            "/settings/overdue", json={"hosting": {"grace_days": 0, "after_grace": "restricted"}}
        )
    )
    other = plugin_for(client, make_site(api, customer["id"], "Other"))
    plan = one_time(api, "hosting")
    invoice = bill(api, customer["id"], site["id"], plan["id"])
    bill(api, customer["id"], None, plan["id"])  # billed on no site
    with at(due(invoice) + timedelta(days=1)):
        assert ok(plugin.get("/standing"))["state"] == "restricted"
        assert ok(other.get("/standing"))["state"] == "ok"
        ok(other.post("/seo-scans", SCAN), 201)


def test_a_voided_invoice_lifts_the_restriction(api, acme):  # noqa: F811
    customer, site, plugin = acme
    ok(
        api.patch(
            "/settings/overdue", json={"hosting": {"grace_days": 0, "after_grace": "restricted"}}
        )
    )
    invoice = bill(api, customer["id"], site["id"], one_time(api, "hosting")["id"])
    with at(due(invoice) + timedelta(days=1)):
        assert ok(plugin.get("/standing"))["state"] == "restricted"
        ok(api.post(f"/invoices/{invoice['id']}/void"))
        assert ok(plugin.get("/standing"))["state"] == "ok"


def test_the_summary_says_the_amount_due_and_auto_pay(api, acme):  # noqa: F811
    customer, site, plugin = acme
    summary = ok(plugin.get("/summary"))
    assert (summary["amount_due"], summary["amount_due_display"]) == (0, "€0.00")
    assert summary["auto_pay"] is False and summary["standing"]["state"] == "ok"
    plan = one_time(api, "maintenance", 2500)
    bill(api, customer["id"], site["id"], plan["id"])
    bill(api, customer["id"], site["id"], plan["id"])
    bill(api, customer["id"], None, plan["id"])  # on no site: not this site's
    summary = ok(plugin.get("/summary"))
    assert (summary["amount_due"], summary["amount_due_display"]) == (5000, "€50.00")


def test_an_unpaid_invoice_older_than_the_listed_ones_still_counts_and_is_overdue(
    api,
    acme,  # noqa: F811
    monkeypatch,
):
    """The summary lists the newest invoices only; its unpaid count, amount
    due and standing take every unpaid invoice of the site, however old."""
    monkeypatch.setattr(sites, "MAX_INVOICES", 2)
    customer, site, plugin = acme
    old = bill(api, customer["id"], site["id"], one_time(api, "hosting")["id"])
    seo = one_time(api, "seo", 2500)
    newer = [bill(api, customer["id"], site["id"], seo["id"], pay=True) for _ in range(2)]
    with at(due(old) + timedelta(days=1)):
        summary = ok(plugin.get("/summary"))
        standing = ok(plugin.get("/standing"))
    assert [i["id"] for i in summary["invoices"]] == [newer[1]["id"], newer[0]["id"]]
    assert (summary["unpaid_count"], summary["amount_due"]) == (1, 4900)
    assert [row["id"] for row in standing["invoices"]] == [old["id"]]
    assert summary["standing"] == standing


def test_an_uncollectible_invoice_has_no_pay_url_and_is_not_overdue(api, acme):  # noqa: F811
    customer, site, plugin = acme
    ok(api.patch("/settings/overdue", json={"seo": {"grace_days": 0, "after_grace": "restricted"}}))
    invoice = bill(api, customer["id"], site["id"], one_time(api, "seo")["id"])
    ok(api.post(f"/invoices/{invoice['id']}/mark-uncollectible"))
    [listed] = ok(plugin.get("/summary"))["invoices"]
    assert listed["status"] == "uncollectible" and listed["amount_due"] > 0
    assert listed["pay_url"] is None and listed["pdf_url"].startswith("http")
    with at(due(invoice) + timedelta(days=1)):
        assert ok(plugin.get("/standing"))["state"] == "ok"


def test_a_hosting_plan_cancelled_at_period_end_says_when_it_ends(api, acme):  # noqa: F811
    from tests.integration.test_site_api import hosting_plan

    customer, site, plugin = acme
    bill(api, customer["id"], site["id"], hosting_plan(api)["id"], pay=True)
    [subscription] = ok(plugin.get("/summary"))["subscriptions"]
    assert subscription["current_period_end"] == subscription["next_renewal_at"]
    cancel = {"at_period_end": True}
    ok(api.post(f"/subscriptions/{subscription['id']}/cancel", json=cancel))
    summary = ok(plugin.get("/summary"))
    [ending] = summary["subscriptions"]
    assert ending["cancel_at_period_end"] is True and ending["next_renewal_at"] is None
    assert ending["current_period_end"] == subscription["current_period_end"]
    assert summary["hosting_plan"]["cancel_at_period_end"] is True
