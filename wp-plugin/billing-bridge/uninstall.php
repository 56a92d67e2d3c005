<?php

/**
 * Removes everything the plugin stored, in every site of a network: its
 * settings, the cached answers of the bridge (transients and last good
 * copies), the disk-use cache, the background refresh and the users' hidden
 * notices. Each key is deleted by name: the object cache is not flushed.
 *
 * @package BillingBridge
 */

if (!defined('WP_UNINSTALL_PLUGIN')) {
    exit;
}

require_once __DIR__ . '/includes/Cleanup.php';

BillingBridge\Cleanup::everywhere();
