<?php

/**
 * Removes everything the plugin stored: its settings, the cached answers of
 * the bridge (transients and last good copies) and the disk-use cache.
 *
 * @package BillingBridge
 */

if (!defined('WP_UNINSTALL_PLUGIN')) {
    exit;
}

global $wpdb;

delete_option('billing_bridge_settings');
foreach (['billing_bridge_', '_transient_billing_bridge_', '_transient_timeout_billing_bridge_'] as $billing_bridge_prefix) {
    $wpdb->query(
        $wpdb->prepare(
            "DELETE FROM {$wpdb->options} WHERE option_name LIKE %s",
            $wpdb->esc_like($billing_bridge_prefix) . '%'
        )
    );
}
delete_metadata('user', 0, 'billing_bridge_overdue_dismissed', '', true);
wp_clear_scheduled_hook('billing_bridge_refresh');
wp_cache_flush();
