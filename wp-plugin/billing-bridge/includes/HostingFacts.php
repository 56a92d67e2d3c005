<?php

namespace BillingBridge;

defined('ABSPATH') || exit;

/**
 * Live facts read from this WordPress: versions, limits, disk use, HTTPS,
 * theme, plugins and WP-Cron. Disk use walks at most MAX_ENTRIES files per
 * folder within MAX_SECONDS and is cached for DISK_TTL seconds.
 */
final class HostingFacts
{
    public const DISK_TRANSIENT = 'billing_bridge_disk';
    public const DISK_TTL = 6 * 3600;
    public const MAX_ENTRIES = 20000;
    public const MAX_SECONDS = 1.0;

    /** @return list<array{key: string, label: string, value: string}> */
    public function collect(): array
    {
        global $wpdb, $wp_version;

        $rows = [];
        $add = static function (string $key, string $label, string $value) use (&$rows): void {
            $rows[] = ['key' => $key, 'label' => $label, 'value' => $value];
        };
        $add('php', __('PHP version', 'billing-bridge'), PHP_VERSION);
        $add('wordpress', __('WordPress version', 'billing-bridge'), (string) $wp_version);
        $database = is_object($wpdb) && method_exists($wpdb, 'db_server_info') ? (string) $wpdb->db_server_info() : '';
        $add('database', __('Database version', 'billing-bridge'), $database !== '' ? $database : __('Unknown', 'billing-bridge'));
        $add(
            'memory_limit',
            __('Memory limit', 'billing-bridge'),
            sprintf(
                /* translators: 1: PHP memory_limit, 2: WP_MEMORY_LIMIT */
                __('PHP %1$s, WordPress %2$s', 'billing-bridge'),
                ini_get('memory_limit') === '-1' ? __('unlimited', 'billing-bridge') : (string) ini_get('memory_limit'),
                defined('WP_MEMORY_LIMIT') ? (string) WP_MEMORY_LIMIT : '-'
            )
        );
        $disk = $this->diskUsage();
        $labels = [
            'uploads' => __('Disk used by uploads', 'billing-bridge'),
            'plugins' => __('Disk used by plugins', 'billing-bridge'),
            'themes' => __('Disk used by themes', 'billing-bridge'),
        ];
        foreach ($labels as $folder => $label) {
            $entry = $disk['folders'][$folder] ?? ['bytes' => 0, 'complete' => true];
            $bytes = (int) $entry['bytes'];
            $value = (string) size_format($bytes, $bytes >= 1024 ? 1 : 0);
            if (!$entry['complete']) {
                /* translators: %s: a size such as "12 MB" */
                $value = sprintf(__('more than %s (too many files to count)', 'billing-bridge'), $value);
            }
            $add('disk_' . $folder, $label, $value);
        }
        $add(
            'disk_measured',
            __('Disk use measured', 'billing-bridge'),
            wp_date(get_option('date_format') . ' ' . get_option('time_format'), (int) $disk['at'])
        );
        $https = function_exists('wp_is_using_https') ? wp_is_using_https() : is_ssl();
        $add('https', __('HTTPS', 'billing-bridge'), $https ? __('Yes', 'billing-bridge') : __('No', 'billing-bridge'));
        $theme = wp_get_theme();
        $add('theme', __('Active theme', 'billing-bridge'), $theme->get('Name') . ' ' . $theme->get('Version'));
        $active = (array) get_option('active_plugins', []);
        $add('plugins', __('Active plugins', 'billing-bridge'), (string) count($active));
        $add('cron', __('WP-Cron', 'billing-bridge'), $this->cronStatus());
        return $rows;
    }

    /** @return array{at: int, folders: array<string, array{bytes: int, complete: bool}>} */
    public function diskUsage(): array
    {
        $cached = get_transient(self::DISK_TRANSIENT);
        if (is_array($cached) && isset($cached['folders'], $cached['at'])) {
            return $cached;
        }
        $uploads = wp_upload_dir(null, false);
        $folders = [
            'uploads' => (string) ($uploads['basedir'] ?? ''),
            'plugins' => WP_PLUGIN_DIR,
            'themes' => wp_get_theme()->get_theme_root(),
        ];
        $result = ['at' => time(), 'folders' => []];
        foreach ($folders as $key => $path) {
            $result['folders'][$key] = self::folderSize($path, self::MAX_ENTRIES, self::MAX_SECONDS);
        }
        set_transient(self::DISK_TRANSIENT, $result, self::DISK_TTL);
        return $result;
    }

    /**
     * Bytes of the files under $path, walking at most $maxEntries entries
     * within $maxSeconds (symbolic links are followed: a plugin may be a
     * link to elsewhere; the bounds stop any loop).
     *
     * @return array{bytes: int, complete: bool}
     */
    public static function folderSize(string $path, int $maxEntries, float $maxSeconds): array
    {
        if ($path === '' || !is_dir($path)) {
            return ['bytes' => 0, 'complete' => true];
        }
        $bytes = 0;
        $seen = 0;
        $deadline = microtime(true) + $maxSeconds;
        try {
            $files = new \RecursiveIteratorIterator(
                new \RecursiveDirectoryIterator($path, \FilesystemIterator::SKIP_DOTS | \FilesystemIterator::FOLLOW_SYMLINKS),
                \RecursiveIteratorIterator::LEAVES_ONLY,
                \RecursiveIteratorIterator::CATCH_GET_CHILD
            );
            foreach ($files as $file) {
                if (++$seen > $maxEntries || ($seen % 500 === 0 && microtime(true) > $deadline)) {
                    return ['bytes' => $bytes, 'complete' => false];
                }
                if ($file->isFile()) {
                    $bytes += (int) $file->getSize();
                }
            }
        } catch (\UnexpectedValueException $e) {
            return ['bytes' => $bytes, 'complete' => false];
        }
        return ['bytes' => $bytes, 'complete' => true];
    }

    private function cronStatus(): string
    {
        $events = function_exists('_get_cron_array') ? (array) _get_cron_array() : [];
        $overdue = 0;
        $now = time();
        foreach (array_keys($events) as $timestamp) {
            if ((int) $timestamp < $now - 60) {
                $overdue += count((array) $events[$timestamp]);
            }
        }
        $disabled = defined('DISABLE_WP_CRON') && DISABLE_WP_CRON;
        $status = $disabled
            ? __('Disabled in wp-config.php (DISABLE_WP_CRON): a system cron job must run wp-cron.php.', 'billing-bridge')
            : __('Enabled (runs on page views).', 'billing-bridge');
        if ($overdue > 0) {
            $status .= ' ' . sprintf(
                /* translators: %d: number of scheduled tasks */
                _n('%d scheduled task is overdue.', '%d scheduled tasks are overdue.', $overdue, 'billing-bridge'),
                $overdue
            );
        }
        return $status;
    }
}
