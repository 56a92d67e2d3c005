<?php

namespace BillingBridge;

defined('ABSPATH') || exit;

/**
 * The plugin's settings, kept in one option: the bridge URL, this site's id
 * and secret (never printed back), and the cache lifetime.
 */
final class Settings
{
    public const OPTION = 'billing_bridge_settings';
    public const DEFAULT_TTL = 60;
    public const MAX_TTL = 3600;

    /** @var array<string, mixed> */
    private array $values;

    /** @param array<string, mixed>|null $values */
    public function __construct(?array $values = null)
    {
        $stored = $values ?? get_option(self::OPTION, []);
        $this->values = (is_array($stored) ? $stored : []) + [
            'bridge_url' => '',
            'site_id' => '',
            'secret' => '',
            'cache_ttl' => self::DEFAULT_TTL,
            'client_name' => '',
            'connected_at' => 0,
        ];
    }

    public function bridgeUrl(): string
    {
        return untrailingslashit((string) $this->values['bridge_url']);
    }

    public function siteId(): string
    {
        return (string) $this->values['site_id'];
    }

    public function secret(): string
    {
        return (string) $this->values['secret'];
    }

    public function hasSecret(): bool
    {
        return $this->secret() !== '';
    }

    public function clientName(): string
    {
        return (string) $this->values['client_name'];
    }

    public function isConnected(): bool
    {
        return $this->bridgeUrl() !== '' && $this->siteId() !== '' && $this->secret() !== '';
    }

    /** Seconds an answer of the bridge is reused: the constant wins, then the option. */
    public function ttl(): int
    {
        if (defined('BILLING_BRIDGE_CACHE_TTL')) {
            return self::clampTtl((int) constant('BILLING_BRIDGE_CACHE_TTL'));
        }
        return self::clampTtl((int) $this->values['cache_ttl']);
    }

    /** 1 to MAX_TTL seconds; anything not positive means the default. */
    public static function clampTtl(int $ttl): int
    {
        return $ttl <= 0 ? self::DEFAULT_TTL : min(self::MAX_TTL, $ttl);
    }

    /** @param array<string, mixed> $changes */
    public function save(array $changes): void
    {
        $this->values = array_merge($this->values, $changes);
        update_option(self::OPTION, $this->values, true);
    }

    /** The bridge's host name (lower case), the only host Pay and PDF links may lead to; '' when none is set. */
    public function bridgeHost(): string
    {
        return self::hostOf($this->bridgeUrl());
    }

    public static function hostOf(string $url): string
    {
        $host = wp_parse_url($url, PHP_URL_HOST);
        return is_string($host) ? strtolower($host) : '';
    }

    /**
     * Whether requests to $url travel in the clear over a network: http://
     * to anything but this machine (localhost, 127.0.0.0/8, ::1).
     */
    public static function isInsecureUrl(string $url): bool
    {
        if (strtolower((string) wp_parse_url($url, PHP_URL_SCHEME)) !== 'http') {
            return false;
        }
        $host = self::hostOf($url);
        $loopback = $host === 'localhost' || str_ends_with($host, '.localhost') || $host === '[::1]'
            || preg_match('/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/', $host) === 1;
        return !$loopback;
    }

    /** A bridge URL as typed by an administrator: http(s) only, no trailing slash. */
    public static function sanitizeUrl(string $url): string
    {
        $url = esc_url_raw(trim($url), ['http', 'https']);
        return untrailingslashit($url);
    }
}
