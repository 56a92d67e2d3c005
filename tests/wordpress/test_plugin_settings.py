"""The plugin's place in wp-admin: the *Settings* link on the Plugins screen
and the notice after activation, its style sheet on its own screens only,
*Disconnect* (and connecting again), the warning for a plain-http bridge,
and Pay / PDF redirects that lead only to the bridge's host."""

from __future__ import annotations

import re

import pytest

from tests.wordpress.conftest import JANE, text_of
from tests.wordpress.harness import PLUGIN_FILE, nonce_form

pytestmark = pytest.mark.slow  # WordPress on PHP with MariaDB

SETTINGS = "billing-bridge-settings"

COUNT = r"""
global $wpdb;
echo $wpdb->get_var($wpdb->prepare(
    "SELECT COUNT(*) FROM {$wpdb->options} WHERE option_name LIKE %s",
    '%' . $wpdb->esc_like('billing_bridge_') . '%'
));
"""


def post(session, wordpress, fields: dict):
    return session.post(f"{wordpress.url}/wp-admin/admin-post.php", data=fields, timeout=30)


def test_the_plugins_row_links_to_the_settings_and_activation_says_where_they_are(
    connected, wordpress
):
    admin = connected.admin
    wordpress.php(
        "require_once ABSPATH . 'wp-admin/includes/plugin.php';"
        f"deactivate_plugins('{PLUGIN_FILE}'); activate_plugin('{PLUGIN_FILE}');"
    )
    settings_url = f"{wordpress.url}/wp-admin/admin.php?page={SETTINGS}"
    plugins = admin.get(f"{wordpress.url}/wp-admin/plugins.php", timeout=20).text
    link = re.search(r'<a href="([^"]+)" id="billing-bridge-settings-link">Settings</a>', plugins)
    assert link and link.group(1) == settings_url
    notice = plugins.split('id="billing-bridge-activated"')[1].split("</div>")[0]
    assert "Billing Bridge is active." in notice and f'href="{settings_url}"' in notice
    # Once only.
    again = admin.get(f"{wordpress.url}/wp-admin/plugins.php", timeout=20).text
    assert "billing-bridge-activated" not in again and "billing-bridge-settings-link" in again
    # The style sheet: on the plugin's screens, not elsewhere, and no inline <style>.
    assert "billing-bridge-admin-css" not in again
    settings_page = admin.get(settings_url, timeout=20).text
    sheet = re.search(
        r"<link rel='stylesheet' id='billing-bridge-admin-css' href='([^']+)'", settings_page
    )
    assert sheet, "the plugin's style sheet is not enqueued on its settings page"
    css = admin.get(sheet.group(1).replace("&#038;", "&"), timeout=20)
    assert css.status_code == 200 and ".billing-bridge .bb-warn" in css.text
    assert "<style>.billing-bridge" not in settings_page


def test_pay_and_pdf_redirect_only_to_the_bridge_host(connected, wordpress, bridge):
    admin = connected.admin
    # A summary whose invoice links lead elsewhere (a bridge that was tampered with).
    wordpress.php(
        r"""
        $bridge = \BillingBridge\Plugin::bridge();
        $summary = $bridge->summary()->arrayData();
        $summary['invoices'][] = ['id' => 999999, 'number' => 'X-1', 'status' => 'open',
            'amount_due' => 100, 'pay_url' => 'https://elsewhere.example/i/x',
            'pdf_url' => 'https://elsewhere.example/i/x/pdf'];
        $bridge->cache()->put('summary', $summary);
        """
    )
    try:
        html = admin.get(wordpress.admin_page("billing-bridge"), timeout=20).text
        row = html.split('id="bb-invoice-999999"')[1].split("</tr>")[0]
        for kind in ("bb-pay", "bb-pdf"):
            link = re.search(kind + r'"[^>]*href="([^"]+)"', row).group(1).replace("&#038;", "&")
            refused = admin.get(link, allow_redirects=False, timeout=20)
            assert refused.status_code == 404, (kind, refused.status_code)
            assert "Location" not in refused.headers
            assert "This invoice cannot be opened right now." in refused.text
        # The bridge's own links still lead to the bridge (the first invoice's PDF).
        link = re.search(r'bb-pdf"[^>]*href="([^"]+)"', html).group(1).replace("&#038;", "&")
        to_pdf = admin.get(link, allow_redirects=False, timeout=20)
        assert to_pdf.status_code == 303
        assert to_pdf.headers["Location"].startswith(f"{bridge.url}/i/")
    finally:
        wordpress.flush_plugin_cache()


def test_disconnect_forgets_the_bridge_and_the_site_connects_again(connected, wordpress, bridge):
    admin = connected.admin
    settings_url = wordpress.admin_page(SETTINGS)
    page = admin.get(settings_url, timeout=20).text
    form = nonce_form(page, "billing_bridge_disconnect")
    assert "return window.confirm('Disconnect this site from the billing service?" in page
    assert "billing-bridge-insecure" not in page  # http:// on loopback is fine
    # Without the nonce, or as a client user, nothing happens.
    assert post(admin, wordpress, {"action": "billing_bridge_disconnect"}).status_code == 403
    jane = wordpress.login(JANE[0], JANE[1])
    assert post(jane, wordpress, {**form, "action": "billing_bridge_disconnect"}).status_code == 403
    assert wordpress.get_option("billing_bridge_settings") != "false"
    wordpress.php("update_user_meta(1, 'billing_bridge_overdue_dismissed', time());")

    try:
        done = post(admin, wordpress, form)
        assert done.status_code == 200
        shown = text_of(done.text)
        assert (
            "Disconnected: the bridge URL, the site id and secret and the saved answers"
            " are deleted." in shown
        )
        assert "Not connected." in shown and 'id="billing-bridge-disconnect"' not in done.text
        assert wordpress.get_option("billing_bridge_settings") == "false"
        assert int(wordpress.php(COUNT)) == 0  # settings, cached answers, flags
        assert (
            wordpress.php("echo count(get_user_meta(1, 'billing_bridge_overdue_dismissed'));")
            == "0"
        )
        assert (
            "billing-bridge-unpaid" not in admin.get(f"{wordpress.url}/wp-admin/", timeout=20).text
        )

        # A plain-http bridge on another machine gets a warning.
        form = nonce_form(done.text, "billing_bridge_settings")
        fields = {
            "bridge_url": "http://billing.agency.example",
            "connect_code": "",
            "site_id": "x",
            "secret": "",
        }
        warned = post(admin, wordpress, {**form, **fields, "cache_ttl": "60"})
        assert (
            "unencrypted" in warned.text.split('id="billing-bridge-insecure"')[1].split("</div>")[0]
        )
    finally:
        # Connect again (the tests after these need the connected site).
        code = bridge.api(
            "POST", f"/clients/{bridge.shop.client_id}/sites/{bridge.shop.site_id}/connect-codes"
        )["code"]
        form = nonce_form(admin.get(settings_url, timeout=20).text, "billing_bridge_settings")
        fields = {"bridge_url": bridge.url, "connect_code": code, "site_id": "", "secret": ""}
        again = post(admin, wordpress, {**form, **fields, "cache_ttl": "60"})
        assert "Connected. This site belongs to Alice Martin." in text_of(again.text)
        tested = post(admin, wordpress, nonce_form(again.text, "billing_bridge_test"))
        assert "The connection works." in text_of(tested.text)
    assert "billing-bridge-insecure" not in tested.text
