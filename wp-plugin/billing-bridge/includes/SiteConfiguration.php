<?php

namespace BillingBridge;

defined('ABSPATH') || exit;

/**
 * *Apply configuration* of the SEO page: search engines may index the site
 * and pretty permalinks, written the way Settings > Permalinks writes them.
 *
 * These are WordPress settings of the site administrator (Settings > Reading
 * and > Permalinks): a client role's SEO configure is not enough on its own,
 * unless the agency delegates them to the role (the bridge's
 * `seo_configure_delegated`, in the site summary).
 */
final class SiteConfiguration
{
    public const PERMALINKS = '/%postname%/';

    /** Whether a user whose role grants SEO configure may also change these settings. */
    public static function mayChange(bool $administrator, bool $delegated): bool
    {
        return $administrator || $delegated;
    }

    public static function apply(): void
    {
        global $wp_rewrite;
        update_option('blog_public', '1');
        $wp_rewrite->set_permalink_structure(self::PERMALINKS);
        // A hard flush, as Settings > Permalinks does: the rewrite rules, and
        // .htaccess where Apache serves the site and the file is writable.
        flush_rewrite_rules(true);
    }
}
