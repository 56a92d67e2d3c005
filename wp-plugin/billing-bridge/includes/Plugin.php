<?php

namespace BillingBridge;

defined('ABSPATH') || exit;

/** Wires the plugin into WordPress. */
final class Plugin
{
    private static ?Bridge $bridge = null;

    public static function boot(): void
    {
        load_plugin_textdomain('billing-bridge', false, dirname(plugin_basename(BILLING_BRIDGE_FILE)) . '/languages');
        // The background refresh of the cached summary (wp-cron's fallback).
        add_action(Overdue::REFRESH_HOOK, [Overdue::class, 'refresh']);
        if (is_admin()) {
            $admin = new Admin(self::bridge());
            $admin->register();
            (new Overdue(self::bridge(), $admin))->register();
        }
    }

    public static function bridge(): Bridge
    {
        if (self::$bridge === null) {
            $settings = new Settings();
            self::$bridge = new Bridge($settings, new Cache($settings->ttl()));
        }
        return self::$bridge;
    }

    /** Forgets the settings object (after they change) so the next read sees the new values. */
    public static function reset(): void
    {
        self::$bridge = null;
    }

    /**
     * Deletes every cached answer of the bridge (transients and last good
     * copies): after connecting to another site, they belong to someone else.
     */
    public static function flushCache(): void
    {
        global $wpdb;
        $patterns = [
            $wpdb->esc_like('_transient_billing_bridge_c_') . '%',
            $wpdb->esc_like('_transient_timeout_billing_bridge_c_') . '%',
            $wpdb->esc_like('_transient_billing_bridge_down') . '%',
            $wpdb->esc_like('_transient_timeout_billing_bridge_down') . '%',
            $wpdb->esc_like('_transient_billing_bridge_fail_') . '%',
            $wpdb->esc_like('_transient_timeout_billing_bridge_fail_') . '%',
            $wpdb->esc_like('billing_bridge_last_') . '%',
            $wpdb->esc_like('_transient_' . Overdue::LOCK) . '%',
            $wpdb->esc_like('_transient_timeout_' . Overdue::LOCK) . '%',
        ];
        foreach ($patterns as $pattern) {
            $wpdb->query($wpdb->prepare("DELETE FROM {$wpdb->options} WHERE option_name LIKE %s", $pattern));
        }
        wp_cache_flush();
    }
}
