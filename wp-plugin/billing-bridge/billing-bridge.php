<?php

/**
 * Plugin Name:       Billing Bridge
 * Plugin URI:        https://github.com/billing-bridge/billing-bridge
 * Description:       Shows this site's billing, hosting plan and SEO report from your agency's Billing Bridge, inside wp-admin.
 * Version:           1.0.0
 * Requires at least: 6.1
 * Requires PHP:      8.1
 * Author:            Billing Bridge
 * License:           GPL-2.0-or-later
 * License URI:       https://www.gnu.org/licenses/gpl-2.0.html
 * Text Domain:       billing-bridge
 * Domain Path:       /languages
 * Update URI:        https://github.com/billing-bridge/billing-bridge
 *
 * @package BillingBridge
 */

defined('ABSPATH') || exit;

define('BILLING_BRIDGE_VERSION', '1.0.0');
define('BILLING_BRIDGE_FILE', __FILE__);

spl_autoload_register(
    static function (string $class): void {
        $prefix = 'BillingBridge\\';
        if (strncmp($class, $prefix, strlen($prefix)) !== 0) {
            return;
        }
        $relative = str_replace('\\', '/', substr($class, strlen($prefix)));
        $file = __DIR__ . '/includes/' . $relative . '.php';
        if (is_readable($file)) {
            require $file;
        }
    }
);

register_activation_hook(__FILE__, [BillingBridge\Plugin::class, 'activate']);
add_action('plugins_loaded', [BillingBridge\Plugin::class, 'boot']);
