"""Uninstalling removes every option and transient the plugin wrote (run
last: it wipes the connected site's settings)."""

from __future__ import annotations

import pytest

from tests.wordpress.harness import PLUGIN_FILE

pytestmark = pytest.mark.slow  # WordPress on PHP with MariaDB

COUNT = r"""
global $wpdb;
echo $wpdb->get_var($wpdb->prepare(
    "SELECT COUNT(*) FROM {$wpdb->options} WHERE option_name LIKE %s",
    '%' . $wpdb->esc_like('billing_bridge_') . '%'
));
"""


def test_uninstall_removes_the_options_and_transients(connected, wordpress):
    assert int(wordpress.php(COUNT)) >= 3  # settings, last good copies, transients
    wordpress.php("update_user_meta(1, 'billing_bridge_overdue_dismissed', time());")
    kept = wordpress.php(
        "require_once ABSPATH . 'wp-admin/includes/plugin.php';"
        "wp_cache_set('probe', 'kept', 'another-plugin');"
        f"deactivate_plugins('{PLUGIN_FILE}'); uninstall_plugin('{PLUGIN_FILE}');"
        "echo wp_cache_get('probe', 'another-plugin');"
    )
    assert kept == "kept"  # its own keys deleted by name, the object cache not flushed
    assert int(wordpress.php(COUNT)) == 0
    assert wordpress.php("echo count(get_user_meta(1, 'billing_bridge_overdue_dismissed'));") == "0"
    assert wordpress.get_option("billing_bridge_settings") == "false"
    assert wordpress.get_option("blogname") == '"Acme shop"'  # nothing else touched
