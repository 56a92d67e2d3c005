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

    public function summary(): CacheResult
    {
        return $this->read('summary', fn (): array => $this->client()->get('/api/v1/site/summary'));
    }

    public function peekSummary(): ?CacheResult
    {
        return $this->isConnected() ? $this->cache->peek('summary') : null;
    }

    public function access(string $email): CacheResult
    {
        $email = strtolower(trim($email));
        return $this->read(
            self::accessKey($email),
            fn (): array => $this->client()->get('/api/v1/site/access?email=' . rawurlencode($email))
        );
    }

    public static function accessKey(string $email): string
    {
        return 'access_' . md5(strtolower(trim($email)));
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
        $summary = $this->client()->get('/api/v1/site/summary');
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
