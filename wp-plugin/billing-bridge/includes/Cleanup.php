<?php

namespace BillingBridge;

defined('ABSPATH') || exit;

/**
 * Deletes what the plugin stored: on connecting to another bridge (its
 * cached answers), on *Disconnect* and on uninstall (everything).
 *
 * Each entry is deleted by name through delete_option() / delete_transient(),
 * so a persistent object cache forgets exactly those keys: the site's (and
 * the network's) other cached data are left alone. Loaded on its own by
 * uninstall.php, so it needs no other class of the plugin.
 */
final class Cleanup
{
    public const PREFIX = 'billing_bridge_';
    public const SETTINGS_OPTION = 'billing_bridge_settings';
    public const DISMISSED_META = 'billing_bridge_overdue_dismissed';
    public const REFRESH_HOOK = 'billing_bridge_refresh';

    /** Transients holding what the bridge said (answers, failure flags, the refresh lock), by prefix. */
    private const BRIDGE_TRANSIENTS = ['c_', 'down', 'fail_', 'refreshing'];
    /** Options holding what the bridge said (the last good copies), by prefix. */
    private const BRIDGE_OPTIONS = ['last_'];
    /** Transients kept in a persistent object cache only (never in the options table): known names. */
    private const KNOWN_TRANSIENTS = ['c_summary', 'c_seo_latest', 'down', 'fail_summary', 'fail_seo_latest', 'refreshing', 'disk'];

    /**
     * Which of the options table's names to delete, as [options, transients]
     * (transients by their name without `_transient_`): the bridge's
     * answers only, or, with $everything, every option and transient of the
     * plugin (its settings, flash messages, the disk-use cache too).
     *
     * @param list<string> $names
     * @return array{0: list<string>, 1: list<string>}
     */
    public static function select(array $names, bool $everything): array
    {
        $options = [];
        $transients = [];
        foreach ($names as $name) {
            if (str_starts_with($name, '_transient_timeout_')) {
                continue; // deleted with its transient
            }
            $transient = str_starts_with($name, '_transient_');
            $key = $transient ? substr($name, strlen('_transient_')) : $name;
            if (!str_starts_with($key, self::PREFIX)) {
                continue;
            }
            $rest = substr($key, strlen(self::PREFIX));
            $ours = $everything || self::startsWithAny($rest, $transient ? self::BRIDGE_TRANSIENTS : self::BRIDGE_OPTIONS);
            if (!$ours) {
                continue;
            }
            if ($transient) {
                $transients[] = $key;
            } else {
                $options[] = $key;
            }
        }
        return [$options, $transients];
    }

    /** Deletes the bridge's cached answers in the current site (on connecting to another bridge). */
    public static function bridgeData(): void
    {
        self::deleteStored(false);
    }

    /**
     * Deletes everything of the plugin in the current site: its settings
     * (the bridge URL, site id and secret), the cached answers, the
     * background refresh, and the users' hidden notices.
     */
    public static function site(): void
    {
        self::deleteStored(true);
        wp_clear_scheduled_hook(self::REFRESH_HOOK);
        delete_metadata('user', 0, self::DISMISSED_META, '', true);
    }

    /** site() in every site of the network (or in the only site). */
    public static function everywhere(): void
    {
        if (!is_multisite()) {
            self::site();
            return;
        }
        foreach (get_sites(['fields' => 'ids', 'number' => 0]) as $siteId) {
            switch_to_blog((int) $siteId);
            self::site();
            restore_current_blog();
        }
    }

    private static function deleteStored(bool $everything): void
    {
        global $wpdb;
        $names = $wpdb->get_col(
            $wpdb->prepare(
                "SELECT option_name FROM {$wpdb->options} WHERE option_name LIKE %s OR option_name LIKE %s",
                $wpdb->esc_like(self::PREFIX) . '%',
                $wpdb->esc_like('_transient_' . self::PREFIX) . '%'
            )
        );
        [$options, $transients] = self::select(array_map('strval', (array) $names), $everything);
        foreach ($options as $option) {
            delete_option($option);
        }
        if (wp_using_ext_object_cache()) {
            $transients = array_merge($transients, self::cachedTransients($everything));
        }
        foreach (array_unique($transients) as $transient) {
            delete_transient($transient);
        }
    }

    /**
     * Transients a persistent object cache holds instead of the options
     * table: the fixed names, each user's access answer and account, their flash message.
     *
     * @return list<string>
     */
    private static function cachedTransients(bool $everything): array
    {
        $names = [];
        foreach (self::KNOWN_TRANSIENTS as $name) {
            $names[] = self::PREFIX . $name;
        }
        foreach (get_users(['fields' => ['ID', 'user_email']]) as $user) {
            $names[] = self::PREFIX . 'c_access_' . md5(strtolower(trim((string) $user->user_email)));
            $names[] = self::PREFIX . 'fail_access_' . md5(strtolower(trim((string) $user->user_email)));
            // The summary in the user's language (Bridge::summaryKey; the site's is a known name).
            $names[] = self::PREFIX . 'c_summary_' . sanitize_key(get_user_locale((int) $user->ID));
            $names[] = self::PREFIX . 'fail_summary_' . sanitize_key(get_user_locale((int) $user->ID));
            // My account's first page in the user's language (Bridge::accountKey); later pages expire.
            $account = 'account_' . md5(strtolower(trim((string) $user->user_email)) . '|' . get_user_locale((int) $user->ID)) . '_p1';
            $names[] = self::PREFIX . 'c_' . $account;
            $names[] = self::PREFIX . 'fail_' . $account;
            if ($everything) {
                $names[] = self::PREFIX . 'flash_' . (int) $user->ID;
            }
        }
        [, $transients] = self::select(array_map(static fn (string $n): string => '_transient_' . $n, $names), $everything);
        return $transients;
    }

    /** @param list<string> $prefixes */
    private static function startsWithAny(string $value, array $prefixes): bool
    {
        foreach ($prefixes as $prefix) {
            if (str_starts_with($value, $prefix)) {
                return true;
            }
        }
        return false;
    }
}
