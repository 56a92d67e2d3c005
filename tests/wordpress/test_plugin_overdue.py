"""Overdue and grace in the real WordPress: an invoice of the site passes
its due date in the bridge, the notice shows on every wp-admin screen (read
from the plugin's cache, refreshed in the background), restricted turns
the SEO actions off, paying lifts it at the next refresh; the notice can be
hidden for a day; no wp-admin screen waits on a bridge that hangs.

The invoices here are issued with 0 days of net terms, so they pass their
due date as soon as they are issued (the WordPress side signs with the real
time, so the bridge's clock is not moved here; the grace periods as the
clock moves are pinned in tests/integration/test_site_overdue.py)."""

from __future__ import annotations

import time
from html import unescape

import pytest
import requests
from sqlalchemy import select

from bridge.models import Invoice, InvoiceStatus, Subscription
from tests.wordpress.conftest import ADMIN, JANE, NOBODY, system_role, text_of, use_role
from tests.wordpress.harness import nonce_form

pytestmark = pytest.mark.slow  # WordPress on PHP with MariaDB

CATEGORIES = ("hosting", "maintenance", "seo")
NOTICE = 'id="billing-bridge-overdue"'


def dashboard(session: requests.Session, wordpress) -> str:
    answer = session.get(f"{wordpress.url}/wp-admin/", timeout=20)
    assert answer.status_code == 200
    return answer.text


def wait_for(check, what: str, timeout: float = 15.0):
    """Page views until ``check()`` is true: each one may start the background refresh."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.3)


def with_notice(session, wordpress) -> str | None:
    html = dashboard(session, wordpress)
    return html if NOTICE in html else None


def expire_cache(wordpress) -> None:
    """What the TTL does: the fresh copy goes, the last good copy stays."""
    wordpress.php(r"\BillingBridge\Plugin::bridge()->cache()->forget('summary');")


def bill_hosting(bridge) -> dict:
    product = bridge.api("POST", "/products", {"name": "Hosting renewal", "category": "hosting"})
    plan = bridge.api(
        "POST",
        f"/products/{product['id']}/plans",
        {"name": "One year", "kind": "one_time", "amount": 30000},
    )
    body = {
        "client_id": bridge.shop.client_id,
        "site_id": bridge.shop.site_id,
        "items": [{"plan_id": plan["id"]}],
    }
    invoice = bridge.api("POST", "/invoices", body)
    return bridge.api("POST", f"/invoices/{invoice['id']}/finalize")


def site_amount_due(bridge) -> str:
    with bridge.db.session() as s:
        due = sum(
            i.amount_due
            for i in s.scalars(
                select(Invoice).where(
                    Invoice.site_id == bridge.shop.site_id, Invoice.status == InvoiceStatus.OPEN
                )
            )
        )
    return f"€{due / 100:,.2f}"


def pay(bridge, invoice: dict) -> None:
    body = {"amount": invoice["amount_due"], "method": "bank_transfer"}
    bridge.api("POST", f"/invoices/{invoice['id']}/payments", body)


@pytest.fixture
def due_at_once(connected, bridge, wordpress):
    """Invoices due when issued; the overdue rules put back afterwards."""
    bridge.api("PATCH", "/settings", {"invoice_net_terms_days": 0})
    made: list[dict] = []
    yield made
    for invoice in made:
        if bridge.api("GET", f"/invoices/{invoice['id']}")["status"] == "open":
            pay(bridge, invoice)
    bridge.api("PATCH", "/settings", {"invoice_net_terms_days": 14})
    default = {"grace_days": 14, "after_grace": "nothing"}
    bridge.api("PATCH", "/settings/overdue", {c: default for c in CATEGORIES})
    wordpress.flush_plugin_cache()


def test_restricted_shows_everywhere_turns_seo_off_and_paying_lifts_it(
    due_at_once, connected, bridge, wordpress
):
    admin = connected.admin
    seo = admin.get(wordpress.admin_page("billing-bridge-seo"), timeout=20).text
    scan_form = nonce_form(seo, "billing_bridge_seo_scan")  # taken while it was allowed
    restricted = {"grace_days": 0, "after_grace": "restricted"}
    bridge.api("PATCH", "/settings/overdue", {"hosting": restricted})
    invoice = bill_hosting(bridge)
    due_at_once.append(invoice)
    wordpress.flush_plugin_cache()

    # The first screen has nothing cached: it shows no notice and starts the refresh.
    started = time.monotonic()
    first = dashboard(admin, wordpress)
    assert time.monotonic() - started < 3
    assert NOTICE not in first and 'id="billing-bridge-widget-empty"' in first
    html = wait_for(lambda: with_notice(admin, wordpress), "the notice")
    notice = html.split(NOTICE)[1].split("</div>")[0]
    assert 'data-state="restricted"' in notice and "notice-error" in html.split(NOTICE)[0][-80:]
    text = text_of(notice)
    assert "Billing: tools turned off." in text
    assert "1 invoice of this site is overdue (€300.00)." in text
    assert "The Hosting and SEO tools are off since" in text
    assert 'id="billing-bridge-pay-now"' in notice and "Hide for a day" not in text
    # The Dashboard widget: the amount due, auto-pay off (no saved card).
    widget = text_of(html.split('id="billing-bridge-widget"')[1].split("</table>")[0])
    assert f"Amount due {site_amount_due(bridge)}" in widget  # every open invoice of the site
    assert "Auto-pay Off" in widget and "Next invoice €49.00 on" in widget

    # On another screen too; the SEO actions are gone, the site's own tools are not.
    posts = admin.get(f"{wordpress.url}/wp-admin/edit.php", timeout=20).text
    assert NOTICE in posts
    seo = admin.get(wordpress.admin_page("billing-bridge-seo"), timeout=20).text
    assert 'id="billing-bridge-restricted"' in seo
    assert 'id="billing-bridge-run-scan"' not in seo and 'id="billing-bridge-configure"' not in seo
    before = len(bridge.site_api_requests)
    refused = admin.post(f"{wordpress.url}/wp-admin/admin-post.php", data=scan_form, timeout=20)
    assert refused.status_code == 403 and "The Hosting and SEO tools are off" in refused.text
    assert not [r for r in bridge.site_api_requests[before:] if r.startswith("POST")]
    assert (
        'id="billing-bridge-restricted"'
        in admin.get(wordpress.admin_page("billing-bridge-hosting"), timeout=20).text
    )

    # Pay now goes (through the nonce-checked redirect) to the invoice's hosted page.
    link = notice.split('id="billing-bridge-pay-now" target="_blank" rel="noopener" href="')[1]
    link = unescape(link.split('"')[0])
    hop = admin.get(link, allow_redirects=False, timeout=20)
    assert hop.status_code == 303 and hop.headers["Location"].startswith(f"{bridge.url}/i/")

    # Every logged-in user sees the banner once restricted: without the amounts
    # or Pay for someone whose role cannot see billing.
    nobody = wordpress.login(NOBODY[0], NOBODY[1])
    banner = dashboard(nobody, wordpress)
    assert NOTICE in banner
    other = text_of(banner.split(NOTICE)[1].split("</div>")[0])
    assert "Please let the person who pays for it know." in other and "€" not in other
    assert "billing-bridge-pay-now" not in banner

    # Paid in the bridge: the notice goes at the next refresh.
    pay(bridge, invoice)
    expire_cache(wordpress)
    wait_for(lambda: NOTICE not in dashboard(admin, wordpress), "the notice to go")
    seo = admin.get(wordpress.admin_page("billing-bridge-seo"), timeout=20).text
    assert 'id="billing-bridge-run-scan"' in seo and 'id="billing-bridge-restricted"' not in seo


def test_the_overdue_notice_is_for_billing_roles_and_hides_for_a_day(
    due_at_once, connected, bridge, wordpress
):
    use_role(bridge, wordpress, system_role(bridge, "billing_only"))
    due_at_once.append(bill_hosting(bridge))  # hosting: nothing after the grace (default)
    wordpress.flush_plugin_cache()
    admin = connected.admin
    dashboard(admin, wordpress)
    html = wait_for(lambda: with_notice(admin, wordpress), "the notice")
    notice = html.split(NOTICE)[1].split("</div>")[0]
    assert 'data-state="overdue"' in notice and "Billing: payment overdue." in text_of(notice)

    jane = wordpress.login(JANE[0], JANE[1])  # billing only: sees it, with Pay now
    assert 'id="billing-bridge-pay-now"' in dashboard(jane, wordpress).split(NOTICE)[1]
    nobody = wordpress.login(NOBODY[0], NOBODY[1])  # no banner: not for everybody
    assert NOTICE not in dashboard(nobody, wordpress)

    hide = notice.split('id="billing-bridge-dismiss" href="')[1].split('"')[0]
    hidden = admin.get(unescape(hide), timeout=20)
    assert hidden.status_code == 200 and NOTICE not in hidden.text
    assert NOTICE not in dashboard(admin, wordpress)
    assert NOTICE in dashboard(jane, wordpress)  # hidden for the administrator only
    meta = wordpress.php(
        "$m = get_user_meta(get_user_by('login', '"
        + ADMIN[0]
        + "')->ID, 'billing_bridge_overdue_dismissed', true);"
        "echo $m['state'], ' ', $m['until'] - time();"
    ).split()
    assert meta[0] == "overdue" and 86300 < int(meta[1]) <= 86400


def test_no_screen_waits_on_a_bridge_that_hangs(connected, bridge, wordpress, monkeypatch):
    answers = bridge._app

    def hanging(environ, start_response):
        time.sleep(6)
        return answers(environ, start_response)

    admin = connected.admin
    dashboard(admin, wordpress)  # something cached
    monkeypatch.setattr(bridge, "_app", hanging)
    try:
        expire_cache(wordpress)
        timings = []
        for path in ("/wp-admin/", "/wp-admin/edit.php", "/wp-admin/", "/wp-admin/profile.php"):
            started = time.monotonic()
            assert admin.get(f"{wordpress.url}{path}", timeout=20).status_code == 200
            timings.append(time.monotonic() - started)
        print("wp-admin screens with a hanging bridge (s):", [round(t, 2) for t in timings])
        assert max(timings) < 2.5, timings  # the bridge's timeout is 3 s
    finally:
        monkeypatch.undo()
        time.sleep(6.5)  # the hanging refresh finishes


def test_a_hosting_plan_cancelled_at_period_end_shows_its_end_date(connected, bridge, wordpress):
    with bridge.db.session() as s:
        subscription = s.scalar(
            select(Subscription).where(Subscription.site_id == bridge.shop.site_id)
        )
        subscription.cancel_at_period_end = True
        ends = subscription.current_period_end
    wordpress.flush_plugin_cache()
    try:
        admin = connected.admin
        day = f"{ends:%B} {ends.day}, {ends.year}"  # WordPress's "F j, Y" (the site is in UTC)
        billing = admin.get(wordpress.admin_page("billing-bridge"), timeout=20).text
        row = billing.split(f'id="bb-subscription-{subscription.id}"')[1].split("</tr>")[0]
        assert f"Ends on {day}" in text_of(row)
        hosting = admin.get(wordpress.admin_page("billing-bridge-hosting"), timeout=20).text
        ending = text_of(hosting.split('id="billing-bridge-plan-ending"')[1].split("</p>")[0])
        assert f"This plan is ending: it stops on {day} and will not renew." in ending
    finally:
        with bridge.db.session() as s:
            s.get(Subscription, subscription.id).cancel_at_period_end = False
        wordpress.flush_plugin_cache()
