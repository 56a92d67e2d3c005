<?php

namespace BillingBridge;

defined('ABSPATH') || exit;

/**
 * The bridge's answers the pages need, each read through the cache: the
 * site summary (billing, hosting plan, unpaid count), a user's access (per
 * email) and the latest SEO scan.
 */
final class Bridge
{
    private ?BridgeClient $client = null;

    public function __construct(private Settings $settings, private Cache $cache)
    {
    }

    public function settings(): Settings
    {
        return $this->settings;
    }

    public function cache(): Cache
    {
        return $this->cache;
    }

    public function isConnected(): bool
    {
        return $this->settings->isConnected();
    }

    public function client(): BridgeClient
    {
        return $this->client ??= BridgeClient::fromSettings($this->settings);
    }

    /** The site summary in the reader's language (cached per language). */
    public function summary(): CacheResult
    {
        $locale = self::locale();
        return $this->read(self::summaryKey($locale), fn (): array => $this->client()->get(self::summaryPath($locale)));
    }

    /**
     * The summary the cache holds, never asking the bridge: the reader's
     * language's copy while it is fresh, else the site language's one, which
     * the background refresh keeps fresh (so a paid invoice's notice goes
     * for everyone at the next refresh).
     */
    public function peekSummary(): ?CacheResult
    {
        if (!$this->isConnected()) {
            return null;
        }
        $key = self::summaryKey(self::locale());
        $own = $key !== 'summary' ? $this->cache->peek($key) : null;
        if ($own !== null && !$own->stale) {
            return $own;
        }
        return $this->cache->peek('summary') ?? $own;
    }

    /** 'summary' for the site's language (what the background refresh keeps), else one key per language. */
    public static function summaryKey(string $locale): string
    {
        return $locale === self::siteLocale() ? 'summary' : 'summary_' . sanitize_key($locale);
    }

    private static function summaryPath(string $locale): string
    {
        return '/api/v1/site/summary?locale=' . rawurlencode($locale);
    }

    public function access(string $email): CacheResult
    {
        $email = strtolower(trim($email));
        return $this->read(
            self::accessKey($email),
            fn (): array => $this->client()->get('/api/v1/site/access?email=' . rawurlencode($email))
        );
    }

    /** What the cache knows about the access of $email, without asking the bridge (or null). */
    public function peekAccess(string $email): ?CacheResult
    {
        return $this->isConnected() ? $this->cache->peek(self::accessKey($email)) : null;
    }

    public static function accessKey(string $email): string
    {
        return 'access_' . md5(strtolower(trim($email)));
    }

    /**
     * One page of the client's whole account (every site's invoices), for
     * the user with $email: the bridge answers 403 unless their role grants
     * billing. Cached per user, page and locale.
     */
    public function account(string $email, int $page): CacheResult
    {
        $email = strtolower(trim($email));
        $page = max(1, $page);
        $locale = self::locale();
        $path = '/api/v1/site/account?' . http_build_query(
            ['email' => $email, 'page' => $page, 'locale' => $locale],
            '',
            '&',
            PHP_QUERY_RFC3986
        );
        return $this->read(self::accountKey($email, $page, $locale), fn (): array => $this->client()->get($path));
    }

    public static function accountKey(string $email, int $page, string $locale): string
    {
        return 'account_' . md5(strtolower(trim($email)) . '|' . $locale) . '_p' . $page;
    }

    /** The reader's language, sent to the bridge, which writes amounts and dates for it. */
    public static function locale(): string
    {
        return self::validLocale(is_user_logged_in() ? get_user_locale() : get_locale());
    }

    /** The site's language: the background refresh's (it has no user). */
    public static function siteLocale(): string
    {
        return self::validLocale(get_locale());
    }

    private static function validLocale(mixed $locale): string
    {
        return is_string($locale) && preg_match('/^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8}){0,3}$/', $locale) === 1 ? $locale : 'en_US';
    }

    public function seoLatest(): CacheResult
    {
        return $this->read('seo_latest', fn (): array => $this->client()->get('/api/v1/site/seo-scans/latest'));
    }

    /**
     * Sends a scan to the bridge; the next SEO page view reads it back.
     *
     * @param array<string, mixed> $scan
     * @return array<string, mixed>
     */
    public function postScan(array $scan): array
    {
        $answer = $this->client()->post('/api/v1/site/seo-scans', $scan);
        $this->cache->forget('seo_latest');
        return $answer;
    }

    /**
     * The summary straight from the bridge (test connection); refreshes the cache.
     *
     * @return array<string, mixed>
     */
    public function freshSummary(): array
    {
        $summary = $this->client()->get(self::summaryPath(self::siteLocale()));
        $this->cache->put('summary', $summary);
        $this->cache->clearDown();
        return $summary;
    }

    private function read(string $key, callable $fetch): CacheResult
    {
        if (!$this->isConnected()) {
            return new CacheResult(null, null, true, __('This site is not connected to a bridge yet.', 'billing-bridge'));
        }
        return $this->cache->remember($key, $fetch);
    }
}
