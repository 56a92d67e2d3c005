<?php

namespace BillingBridge;

defined('ABSPATH') || exit;

/** Wires the plugin into WordPress. */
final class Plugin
{
    /** Set on activation; the next wp-admin screen of an administrator says where the settings are. */
    public const ACTIVATED_OPTION = 'billing_bridge_activated';

    private static ?Bridge $bridge = null;

    public static function activate(): void
    {
        update_option(self::ACTIVATED_OPTION, 1, true);
    }

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
        Cleanup::bridgeData();
    }
}
