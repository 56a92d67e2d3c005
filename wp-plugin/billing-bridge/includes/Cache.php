<?php

namespace BillingBridge;

defined('ABSPATH') || exit;

/**
 * Answers of the bridge, kept in transients for a short time (the TTL) and,
 * besides, as a non-expiring "last good" copy in an option that is shown
 * with its time when the bridge is down.
 *
 * A failure is remembered for one TTL too (the "down" flag), so a bridge
 * that is down or slow costs one timeout per TTL, not one per page view.
 */
final class Cache
{
    public const PREFIX = 'billing_bridge_';

    /** @var callable(): int */
    private $now;

    private int $fetches = 0;

    public function __construct(private int $ttl, ?callable $now = null)
    {
        $this->now = $now ?? static fn (): int => time();
    }

    /**
     * The fresh cached answer for $key, else $fetch()'s answer (cached), else
     * the last good copy marked stale.
     *
     * @param callable(): array<string|int, mixed> $fetch
     */
    public function remember(string $key, callable $fetch): CacheResult
    {
        $hit = get_transient(self::PREFIX . 'c_' . $key);
        if (is_array($hit) && array_key_exists('data', $hit)) {
            return new CacheResult($hit['data'], (int) $hit['at']);
        }
        foreach ([self::PREFIX . 'down', self::PREFIX . 'fail_' . $key] as $flag) {
            $failure = get_transient($flag);
            if (is_array($failure)) {
                return $this->lastGood($key, (string) ($failure['error'] ?? ''), false);
            }
        }
        ++$this->fetches;
        try {
            $data = $fetch();
        } catch (BridgeException $e) {
            $this->failed($key, $e);
            return $this->lastGood($key, $e->getMessage(), true);
        }
        $this->put($key, $data);
        return new CacheResult($data, ($this->now)(), false, null, true);
    }

    /**
     * Remembers for one TTL that asking $key failed: the bridge as a whole
     * (unreachable, failing, refusing this site) or only this question
     * (e.g. a 400 about one email address).
     */
    public function failed(string $key, BridgeException $e): void
    {
        $flag = self::isSiteWide($e) ? 'down' : 'fail_' . $key;
        set_transient(self::PREFIX . $flag, ['error' => $e->getMessage(), 'at' => ($this->now)()], $this->ttl);
    }

    /**
     * Whether a failure concerns every question to the bridge (unreachable,
     * failing, redirecting, refusing this site), not just this one (another
     * 4xx, e.g. a 400 about one email address).
     */
    public static function isSiteWide(BridgeException $e): bool
    {
        $status = $e->status();
        $aboutTheQuestion = $status >= 400 && $status < 500 && $status !== 401 && $status !== 403;
        return !$aboutTheQuestion;
    }

    /** Stores a fresh answer (transient for one TTL, and the last good copy). */
    public function put(string $key, mixed $data): void
    {
        $entry = ['data' => $data, 'at' => ($this->now)()];
        set_transient(self::PREFIX . 'c_' . $key, $entry, $this->ttl);
        update_option(self::PREFIX . 'last_' . $key, $entry, false);
    }

    /** What is known about $key without asking the bridge (fresh, else last good), or null. */
    public function peek(string $key): ?CacheResult
    {
        $hit = get_transient(self::PREFIX . 'c_' . $key);
        if (is_array($hit) && array_key_exists('data', $hit)) {
            return new CacheResult($hit['data'], (int) $hit['at']);
        }
        $last = get_option(self::PREFIX . 'last_' . $key);
        if (is_array($last) && array_key_exists('data', $last)) {
            return new CacheResult($last['data'], (int) $last['at'], true);
        }
        return null;
    }

    /** Drops the fresh copy of $key: the next read asks the bridge (the last good copy stays). */
    public function forget(string $key): void
    {
        delete_transient(self::PREFIX . 'c_' . $key);
        delete_transient(self::PREFIX . 'fail_' . $key);
    }

    /** Forgets that the bridge failed (after a successful call made outside the cache). */
    public function clearDown(): void
    {
        delete_transient(self::PREFIX . 'down');
    }

    public function isDown(): bool
    {
        return is_array(get_transient(self::PREFIX . 'down'));
    }

    /** How many times this object asked the bridge. */
    public function fetches(): int
    {
        return $this->fetches;
    }

    public function ttl(): int
    {
        return $this->ttl;
    }

    private function lastGood(string $key, string $error, bool $fetched): CacheResult
    {
        $last = get_option(self::PREFIX . 'last_' . $key);
        if (is_array($last) && array_key_exists('data', $last)) {
            return new CacheResult($last['data'], (int) $last['at'], true, $error, $fetched);
        }
        return new CacheResult(null, null, true, $error, $fetched);
    }
}
