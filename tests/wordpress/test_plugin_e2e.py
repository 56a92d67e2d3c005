"""The plugin in a real WordPress (Debian's 6.1 on PHP 8.2, MariaDB) against
a real bridge on loopback, through HTTP with real logins: connecting with a
one-time code, what administrators and client users see, 403s on pages and
actions the client role does not grant, the cache and the bridge going down."""

from __future__ import annotations

import json
import re
import time

import pytest
import requests
from sqlalchemy import func, select

from bridge.billing import invoices
from bridge.models import Invoice, PaymentMethod, SeoScan
from tests.wordpress.conftest import (
    JANE,
    NOBODY,
    SAM,
    invoice_row,
    system_role,
    text_of,
    use_role,
)
from tests.wordpress.harness import nonce_form

pytestmark = pytest.mark.slow  # WordPress on PHP with MariaDB

SLUGS = {
    "billing": "billing-bridge",
    "hosting": "billing-bridge-hosting",
    "seo": "billing-bridge-seo",
    "settings": "billing-bridge-settings",
}


def page(session: requests.Session, wordpress, name: str) -> requests.Response:
    return session.get(wordpress.admin_page(SLUGS[name]), timeout=20)


def post_action(session, wordpress, fields: dict) -> requests.Response:
    return session.post(f"{wordpress.url}/wp-admin/admin-post.php", data=fields, timeout=30)


def settings(wordpress) -> dict:
    return json.loads(wordpress.get_option("billing_bridge_settings"))


def test_connect_with_a_one_time_code(connected, wordpress, bridge):
    saved = text_of(connected.settings_html)
    assert "Connected. This site belongs to Alice Martin." in saved
    assert f"Connected as site {bridge.shop.site_public_id} (client: Alice Martin)." in saved
    stored = settings(wordpress)
    assert stored["site_id"] == bridge.shop.site_public_id
    assert stored["bridge_url"] == bridge.url
    assert len(stored["secret"]) >= 20
    # The secret is never printed back: not on the page, not in the form.
    assert stored["secret"] not in connected.settings_html
    assert stored["secret"] not in connected.test_html
    tested = text_of(connected.test_html)
    assert (
        "The connection works. Client: Alice Martin. Hosting plan: Managed hosting – Pro monthly."
        in tested
    )
    assert 'name="secret" value=""' in connected.settings_html


def test_a_used_connect_code_is_refused(connected, wordpress, bridge):
    admin = connected.admin
    form = nonce_form(page(admin, wordpress, "settings").text, "billing_bridge_settings")
    answer = post_action(
        admin,
        wordpress,
        {
            **form,
            "bridge_url": bridge.url,
            "connect_code": "BBC-AAAA-BBBB-CCCC-DDDD",
            "cache_ttl": "60",
        },
    )
    assert "Connecting failed" in text_of(answer.text)
    assert settings(wordpress)["site_id"] == bridge.shop.site_public_id  # unchanged


def test_the_administrator_sees_every_page(connected, wordpress, bridge):
    admin = connected.admin
    billing = page(admin, wordpress, "billing")
    assert billing.status_code == 200
    text = text_of(billing.text)
    assert bridge.shop.open_invoice_number in text and bridge.shop.paid_invoice_number in text
    assert "€1,440.00" in text  # the build, VAT included, as the bridge formats it
    assert "Managed hosting" in text and "Pro monthly" in text
    assert f'id="bb-invoice-{bridge.shop.open_invoice_id}"' in billing.text
    assert 'class="button button-primary bb-pay"' in billing.text
    assert "Download PDF" in text
    # The menu's badge counts unpaid invoices.
    assert 'billing-bridge-unpaid"><span class="pending-count">1</span>' in billing.text

    hosting = page(admin, wordpress, "hosting")
    assert hosting.status_code == 200
    text = text_of(hosting.text)
    assert "Pro monthly" in text and "€49.00 / 1 month" in text
    assert re.search(r"Disk used by plugins \d+(\.\d)? KB", text), text  # the plugin itself
    for fact in (
        "PHP version 8.",
        "WordPress version 6.1",
        "MariaDB",
        "Disk used by uploads",
        "Active theme",
        "Active plugins 1",
        "DISABLE_WP_CRON",
        "HTTPS No",
    ):
        assert fact in text, fact

    seo = page(admin, wordpress, "seo")
    assert seo.status_code == 200
    assert "No SEO scan yet." in text_of(seo.text)
    assert (
        'id="billing-bridge-run-scan"' in seo.text and 'id="billing-bridge-configure"' in seo.text
    )

    assert page(admin, wordpress, "settings").status_code == 200


def test_pay_and_pdf_open_the_bridge(connected, wordpress, bridge):
    admin = connected.admin
    html = page(admin, wordpress, "billing").text
    row = html.split(f'id="bb-invoice-{bridge.shop.open_invoice_id}"')[1].split("</tr>")[0]
    pay = (
        row.split('bb-pay" target="_blank" rel="noopener" href="')[1]
        .split('"')[0]
        .replace("&#038;", "&")
    )
    pdf = row.split('bb-pdf" href="')[1].split('"')[0].replace("&#038;", "&")
    to_pay = admin.get(pay, allow_redirects=False, timeout=20)
    assert to_pay.status_code == 303
    assert to_pay.headers["Location"].startswith(f"{bridge.url}/i/")
    hosted = requests.get(to_pay.headers["Location"], timeout=20)
    assert hosted.status_code == 200 and bridge.shop.open_invoice_number in hosted.text
    to_pdf = admin.get(pdf, allow_redirects=False, timeout=20)
    assert to_pdf.status_code == 303 and to_pdf.headers["Location"].endswith("/pdf")
    document = requests.get(to_pdf.headers["Location"], timeout=30)
    assert document.status_code == 200 and document.content.startswith(b"%PDF")
    # Without the nonce, the redirect is refused.
    assert (
        admin.get(pay.split("&_wpnonce")[0], allow_redirects=False, timeout=20).status_code == 403
    )


def test_a_scan_whose_answer_was_lost_is_sent_again_and_stored_once(connected, wordpress, bridge):
    """The plugin sends each write with an Idempotency-Key and retries it once
    with the same key when the answer is lost: the bridge replays the first
    answer, and the scan is stored once."""
    with bridge.db.session() as session:
        before = session.scalar(select(func.count()).select_from(SeoScan))
    seo = page(connected.admin, wordpress, "seo").text
    bridge.lose_next_answer.add("/api/v1/site/seo-scans")
    keys_before = len(bridge.idempotency_keys)
    scanned = post_action(connected.admin, wordpress, nonce_form(seo, "billing_bridge_seo_scan"))
    assert "Scan done" in text_of(scanned.text), text_of(scanned.text)[:2000]
    sent = bridge.idempotency_keys[keys_before:]
    assert len(sent) == 2 and sent[0] == sent[1] and len(sent[0]) == 32
    with bridge.db.session() as session:
        assert session.scalar(select(func.count()).select_from(SeoScan)) == before + 1


def test_scan_and_apply_configuration(connected, wordpress, bridge):
    admin = connected.admin
    # A post whose title has characters that are markup: the report shows them as text.
    wordpress.php(
        "wp_insert_post(['post_title' => 'Bread < 5 € & rolls', 'post_status' => 'publish',"
        " 'post_content' => '<p>Daily.</p><img src=\"/bread.png\">']);"
    )
    seo = page(admin, wordpress, "seo").text
    started = time.monotonic()
    scanned = post_action(admin, wordpress, nonce_form(seo, "billing_bridge_seo_scan"))
    assert scanned.status_code == 200
    assert time.monotonic() - started < 20
    text = text_of(scanned.text)
    # The home page, then the posts and pages, newest first.
    assert "Scan done: 4 pages checked." in text, text[:3000]
    assert "Bread &lt; 5 € &amp; rolls" in scanned.text
    latest = bridge.api(
        "GET", f"/clients/{bridge.shop.client_id}/sites/{bridge.shop.site_id}/seo-scans/latest"
    )["scan"]
    urls = [p["url"] for p in latest["pages"]]
    assert urls[0] == f"{wordpress.url}/"
    assert f"{wordpress.url}/?p=1" in urls  # Hello world!, with plain permalinks
    assert latest["site"] == {"blog_public": False, "sitemap": False, "permalink_structure": ""}
    bread = latest["pages"][1]
    assert bread["title"] == "Bread < 5 € & rolls – Acme shop"
    assert bread["images_without_alt"] == 1
    home = latest["pages"][0]
    assert home["title"].startswith("Acme shop") and home["title_length"] == len(home["title"])
    assert "Acme shop" in text and "Plain (?p=123)" in text
    assert 'data-check="blog_public" data-ok="0"' in scanned.text

    configured = post_action(
        admin, wordpress, nonce_form(scanned.text, "billing_bridge_seo_configure")
    )
    assert "Configuration applied" in text_of(configured.text)
    assert wordpress.get_option("blog_public") == '"1"'
    assert wordpress.get_option("permalink_structure") == '"\\/%postname%\\/"'
    rescanned = post_action(
        admin, wordpress, nonce_form(configured.text, "billing_bridge_seo_scan")
    )
    assert 'data-check="blog_public" data-ok="1"' in rescanned.text
    assert 'data-check="sitemap" data-ok="1"' in rescanned.text
    assert "/%postname%/" in text_of(rescanned.text)
    latest = bridge.api(
        "GET", f"/clients/{bridge.shop.client_id}/sites/{bridge.shop.site_id}/seo-scans/latest"
    )["scan"]
    assert any(p["url"].endswith("/hello-world/") for p in latest["pages"])


def test_connect_with_a_site_id_and_secret(connected, wordpress, bridge):
    admin = connected.admin
    shop = bridge.shop
    rotated = bridge.api("POST", f"/clients/{shop.client_id}/sites/{shop.site_id}/rotate-secret")
    secret = rotated["secret"]

    def save(secret_field: str) -> str:
        form = nonce_form(page(admin, wordpress, "settings").text, "billing_bridge_settings")
        fields = {
            **form,
            "bridge_url": bridge.url + "/",
            "connect_code": "",
            "site_id": shop.site_public_id,
            "secret": secret_field,
            "cache_ttl": "60",
        }
        return post_action(admin, wordpress, fields).text

    def test_connection() -> str:
        form = nonce_form(page(admin, wordpress, "settings").text, "billing_bridge_test")
        return text_of(post_action(admin, wordpress, form).text)

    # The old secret (saved by the connect code) stopped working with the rotation.
    assert "The connection failed: The request signature is missing or wrong." in test_connection()
    saved = save(secret)
    assert "Settings saved." in text_of(saved) and secret not in saved
    assert settings(wordpress)["secret"] == secret
    assert settings(wordpress)["bridge_url"] == bridge.url  # no trailing slash
    assert "The connection works. Client: Alice Martin." in test_connection()
    # An empty secret field keeps the saved secret.
    save("")
    assert settings(wordpress)["secret"] == secret
    assert "The connection works." in test_connection()


def test_billing_only_client_user_sees_billing_and_nothing_else(connected, wordpress, bridge):
    use_role(bridge, wordpress, system_role(bridge, "billing_only"))
    jane = wordpress.login(JANE[0], JANE[1])
    billing = page(jane, wordpress, "billing")
    assert billing.status_code == 200
    text = text_of(billing.text)
    assert bridge.shop.open_invoice_number in text and "€1,440.00" in text
    assert "bb-pay" in billing.text  # Billing only may pay
    assert "admin.php?page=billing-bridge-hosting" not in billing.text  # not in the menu
    for name in ("hosting", "seo", "settings"):
        answer = page(jane, wordpress, name)
        assert answer.status_code == 403, name
    assert "does not give access" in page(jane, wordpress, "hosting").text
    # Actions too, not only pages.
    before = len(bridge.site_api_requests)
    answer = post_action(jane, wordpress, {"action": "billing_bridge_seo_scan", "_wpnonce": "x"})
    assert answer.status_code == 403
    assert (
        post_action(jane, wordpress, {"action": "billing_bridge_seo_configure"}).status_code == 403
    )
    assert post_action(jane, wordpress, {"action": "billing_bridge_test"}).status_code == 403
    assert post_action(jane, wordpress, {"action": "billing_bridge_settings"}).status_code == 403
    assert not [r for r in bridge.site_api_requests[before:] if r.startswith("POST")]
    assert wordpress.get_option("blog_public") == '"1"'


def test_seo_viewer_cannot_run_a_scan(connected, wordpress, bridge):
    role = bridge.api(
        "POST",
        "/roles",
        {"name": "SEO viewer", "permissions": {"seo": {"level": "view"}}},
    )
    use_role(bridge, wordpress, role["id"])
    sam = wordpress.login(SAM[0], SAM[1])
    seo = page(sam, wordpress, "seo")
    assert seo.status_code == 200
    assert "billing-bridge-run-scan" not in seo.text and "billing-bridge-configure" not in seo.text
    assert "Latest scan" in text_of(seo.text)  # the report itself is there
    before = len(bridge.site_api_requests)
    refused = post_action(sam, wordpress, {"action": "billing_bridge_seo_scan", "_wpnonce": "x"})
    assert refused.status_code == 403
    assert "does not allow this action" in refused.text
    assert not [r for r in bridge.site_api_requests[before:] if r.startswith("POST")]
    assert page(sam, wordpress, "billing").status_code == 403
    assert page(sam, wordpress, "hosting").status_code == 403


def test_a_wordpress_user_unknown_to_the_bridge_sees_nothing(connected, wordpress, bridge):
    nobody = wordpress.login(NOBODY[0], NOBODY[1])
    dashboard = nobody.get(f"{wordpress.url}/wp-admin/", timeout=20)
    assert dashboard.status_code == 200
    assert "admin.php?page=billing-bridge" not in dashboard.text  # no menu at all
    for name in SLUGS:
        assert page(nobody, wordpress, name).status_code == 403, name


def test_a_warm_cache_asks_the_bridge_nothing(connected, wordpress, bridge):
    use_role(bridge, wordpress, system_role(bridge, "billing_only"))
    jane = wordpress.login(JANE[0], JANE[1])
    admin = connected.admin
    before = len(bridge.site_api_requests)
    assert page(admin, wordpress, "billing").status_code == 200
    # Cold: the summary, once, and (on Billing) whether the administrator's
    # email has a role that opens My account.
    assert len(bridge.site_api_requests) - before == 2
    assert page(jane, wordpress, "billing").status_code == 200
    assert bridge.site_api_requests[before + 2 :] == [
        "GET /api/v1/site/access"  # the summary is shared; jane's access is per email
    ]
    before = len(bridge.site_api_requests)
    for session in (admin, jane, admin, jane):
        assert page(session, wordpress, "billing").status_code == 200
    assert page(admin, wordpress, "hosting").status_code == 200
    assert admin.get(f"{wordpress.url}/wp-admin/", timeout=20).status_code == 200
    assert bridge.site_api_requests[before:] == []


def refreshed(wordpress) -> None:
    """Waits for the plugin's background refresh of the summary, if one runs."""
    deadline = time.monotonic() + 10
    running = "echo get_transient('billing_bridge_refreshing') === false ? 0 : 1;"
    while wordpress.php(running) != "0":
        assert time.monotonic() < deadline, "the background refresh never ended"
        time.sleep(0.2)


def test_a_cold_page_asks_the_bridge_once(connected, wordpress, bridge):
    admin = connected.admin
    summary = "GET /api/v1/site/summary"
    # The page's own answer, then, for a page that did not read the summary,
    # the background refresh that the badge and the overdue notice read.
    expected = {
        # Billing also asks whether the administrator's role opens My account.
        "billing": ["GET /api/v1/site/access", summary],
        "hosting": [summary],
        "seo": ["GET /api/v1/site/seo-scans/latest", summary],
        "settings": [summary],
    }
    for name, calls in expected.items():
        wordpress.flush_plugin_cache()
        before = len(bridge.site_api_requests)
        assert page(admin, wordpress, name).status_code == 200
        refreshed(wordpress)
        assert bridge.site_api_requests[before:] == calls, name
    wordpress.flush_plugin_cache()
    before = len(bridge.site_api_requests)
    assert admin.get(f"{wordpress.url}/wp-admin/", timeout=20).status_code == 200
    refreshed(wordpress)
    assert bridge.site_api_requests[before:] == [summary]  # in the background


def test_an_invoice_paid_in_the_bridge_shows_paid_once_the_cache_expires(
    connected, wordpress, bridge
):
    wordpress.php(r"(new \BillingBridge\Settings())->save(['cache_ttl' => 2]);")
    wordpress.flush_plugin_cache()
    try:
        admin = connected.admin
        invoice_id = bridge.shop.open_invoice_id
        marker = f'id="bb-invoice-{invoice_id}"'

        def status() -> str:
            html = page(admin, wordpress, "billing").text
            return html.split(marker)[1].split('data-status="')[1].split('"')[0]

        assert status() == "open"
        with bridge.db.session() as s:
            invoice = s.get(Invoice, invoice_id)
            invoices.record_offline_payment(
                s, invoice, amount=invoice.amount_due, method=PaymentMethod.BANK_TRANSFER
            )
        assert status() == "open"  # still the cached answer
        time.sleep(3.1)
        assert status() == "paid"
        html = page(admin, wordpress, "billing").text
        assert 'billing-bridge-unpaid"' not in html  # no unpaid invoice left: no badge
        assert "bb-pay" not in html
    finally:
        wordpress.php(r"(new \BillingBridge\Settings())->save(['cache_ttl' => 60]);")


def test_an_invoice_shows_its_own_issue_date_whatever_the_site_time_zone(
    connected, wordpress, bridge
):
    """The date printed on the invoice is a calendar date, shown as it is: a
    site in another time zone must not move it to the day before or after."""
    invoice = invoice_row(bridge.db, bridge.shop.open_invoice_id)
    # A zone where the instant the invoice was issued falls on another day
    # (UTC+14 from 10:00 UTC on, UTC-11 before 11:00 UTC).
    far = "Pacific/Kiritimati" if invoice.issued_at.hour >= 10 else "Pacific/Pago_Pago"
    wordpress.set_option("timezone_string", far)
    wordpress.flush_plugin_cache()
    try:
        html = page(connected.admin, wordpress, "billing").text
        row = html.split(f'id="bb-invoice-{invoice.id}"')[1].split("</tr>")[0]
        day = invoice.issue_date
        assert f"{day:%B} {day.day}, {day.year}" in text_of(row)  # WordPress's "F j, Y"
    finally:
        wordpress.set_option("timezone_string", "")
        wordpress.flush_plugin_cache()


def test_bridge_down_shows_a_notice_and_the_saved_data_quickly(connected, wordpress, bridge):
    wordpress.php(r"(new \BillingBridge\Settings())->save(['cache_ttl' => 1]);")
    admin = connected.admin
    jane = wordpress.login(JANE[0], JANE[1])
    sam = wordpress.login(SAM[0], SAM[1])
    wordpress.flush_plugin_cache()  # no saved answer about sam's access
    assert bridge.shop.open_invoice_number in text_of(page(admin, wordpress, "billing").text)
    assert page(jane, wordpress, "billing").status_code == 200
    assert "Latest scan" in text_of(page(admin, wordpress, "seo").text)
    bridge.stop()
    try:
        time.sleep(2.1)  # the cached answers expire
        for session, name in (
            (admin, "billing"),
            (jane, "billing"),
            (admin, "hosting"),
            (admin, "seo"),
        ):
            started = time.monotonic()
            answer = page(session, wordpress, name)
            elapsed = time.monotonic() - started
            assert answer.status_code == 200, (name, answer.text[:1000])
            assert elapsed < 4, (name, elapsed)
            text = text_of(answer.text)
            if session is admin:  # the network error, for administrators only
                assert "Could not get up-to-date information from the billing service" in text
                assert "Showing the data saved on" in text, name
            else:  # a client user: a plain sentence, without the bridge's address
                assert "The billing service cannot be reached right now." in text, name
                assert "Showing the information saved on" in text, name
                assert "127.0.0.1" not in text and "Could not" not in text, name
        text = text_of(page(jane, wordpress, "billing").text)
        assert bridge.shop.open_invoice_number in text  # the last good copy
        # Someone whose access the plugin never learnt: told why, not "forbidden".
        started = time.monotonic()
        unknown = page(sam, wordpress, "billing")
        assert unknown.status_code == 503 and time.monotonic() - started < 4
        assert "cannot be reached to check what your role allows" in unknown.text
        assert "Pro monthly" in text_of(page(admin, wordpress, "hosting").text)
        # An action that needs the bridge fails politely.
        seo = page(admin, wordpress, "seo").text
        answer = post_action(admin, wordpress, nonce_form(seo, "billing_bridge_seo_scan"))
        assert answer.status_code == 200
        assert "could not be sent to the billing service" in text_of(answer.text)
    finally:
        bridge.start()
        wordpress.php(r"(new \BillingBridge\Settings())->save(['cache_ttl' => 60]);")


def test_no_php_warnings_from_the_plugin(connected, wordpress):
    lines = [line for line in wordpress.debug_lines() if "billing-bridge" in line]
    assert lines == []
