<?php

namespace BillingBridge;

defined('ABSPATH') || exit;

/**
 * Scans the home page and the latest posts and pages (at most MAX_PAGES in
 * all) by fetching them from this site over loopback and parsing the HTML:
 * title, meta description, H1 count, images without alt text; plus the
 * site-wide facts search engines care about.
 */
final class SeoScanner
{
    public const MAX_PAGES = 10;
    public const TIMEOUT = 3;
    public const MAX_SECONDS = 20;

    /** @return array<string, mixed> the scan, shaped for POST /api/v1/site/seo-scans */
    public function scan(): array
    {
        $deadline = microtime(true) + self::MAX_SECONDS;
        $pages = [];
        foreach ($this->urls() as $url) {
            if (microtime(true) > $deadline) {
                break;
            }
            $pages[] = $this->scanPage($url);
        }
        return [
            'scanned_at' => gmdate('Y-m-d\TH:i:s\Z'),
            'site' => [
                'blog_public' => (string) get_option('blog_public') === '1',
                'sitemap' => $this->hasSitemap(),
                'permalink_structure' => (string) get_option('permalink_structure'),
            ],
            'pages' => $pages,
        ];
    }

    /** @return list<string> the home page, then the latest published posts and pages */
    public function urls(): array
    {
        $urls = [home_url('/')];
        $ids = get_posts([
            'post_type' => ['post', 'page'],
            'post_status' => 'publish',
            'has_password' => false,
            'numberposts' => self::MAX_PAGES - 1,
            'orderby' => 'date',
            'order' => 'DESC',
            'fields' => 'ids',
            'suppress_filters' => false,
        ]);
        foreach ($ids as $id) {
            $link = get_permalink($id);
            if (is_string($link) && !in_array($link, $urls, true)) {
                $urls[] = $link;
            }
        }
        return array_slice($urls, 0, self::MAX_PAGES);
    }

    /** @return array<string, mixed> */
    private function scanPage(string $url): array
    {
        $response = wp_remote_get($url, $this->requestArgs());
        if (is_wp_error($response) || (int) wp_remote_retrieve_response_code($response) >= 400) {
            // Counted as a page without title, description or heading.
            return self::analyze('', $url);
        }
        return self::analyze((string) wp_remote_retrieve_body($response), $url);
    }

    /**
     * The SEO facts of one page's HTML.
     *
     * @return array{url: string, title: string, title_length: int, meta_description: string,
     *               h1_count: int, images_without_alt: int}
     */
    public static function analyze(string $html, string $url): array
    {
        $facts = [
            'url' => mb_substr($url, 0, 500),
            'title' => '',
            'title_length' => 0,
            'meta_description' => '',
            'h1_count' => 0,
            'images_without_alt' => 0,
        ];
        if (trim($html) === '') {
            return $facts;
        }
        $document = new \DOMDocument();
        $previous = libxml_use_internal_errors(true);
        $document->loadHTML('<?xml encoding="UTF-8">' . $html, LIBXML_NONET | LIBXML_NOWARNING | LIBXML_NOERROR);
        libxml_clear_errors();
        libxml_use_internal_errors($previous);

        $titles = $document->getElementsByTagName('title');
        if ($titles->length > 0) {
            $title = trim(preg_replace('/\s+/u', ' ', (string) $titles->item(0)->textContent) ?? '');
            $facts['title'] = mb_substr($title, 0, 300);
            $facts['title_length'] = mb_strlen($title);
        }
        foreach ($document->getElementsByTagName('meta') as $meta) {
            if (strtolower($meta->getAttribute('name')) === 'description') {
                $facts['meta_description'] = mb_substr(trim($meta->getAttribute('content')), 0, 500);
                break;
            }
        }
        $facts['h1_count'] = $document->getElementsByTagName('h1')->length;
        foreach ($document->getElementsByTagName('img') as $image) {
            if (!$image->hasAttribute('alt')) {
                ++$facts['images_without_alt'];
            }
        }
        return $facts;
    }

    private function hasSitemap(): bool
    {
        $url = function_exists('get_sitemap_url') ? get_sitemap_url('index') : false;
        if (!is_string($url) || $url === '') {
            return false;
        }
        $response = wp_remote_get($url, $this->requestArgs());
        return !is_wp_error($response)
            && (int) wp_remote_retrieve_response_code($response) === 200
            && str_contains((string) wp_remote_retrieve_body($response), 'sitemapindex');
    }

    /** @return array<string, mixed> */
    private function requestArgs(): array
    {
        return [
            'timeout' => self::TIMEOUT,
            'redirection' => 3,
            // A loopback request: WordPress core does the same for its own checks.
            'sslverify' => apply_filters('https_local_ssl_verify', false),
            'user-agent' => 'BillingBridge-SEO-Scan/' . (defined('BILLING_BRIDGE_VERSION') ? BILLING_BRIDGE_VERSION : '1'),
        ];
    }
}
