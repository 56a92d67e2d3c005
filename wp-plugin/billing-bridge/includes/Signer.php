<?php

namespace BillingBridge;

/**
 * Signs requests to the bridge (docs/site-api.md): HMAC-SHA256, keyed by the
 * site secret, over four lines: timestamp, method, path with query string,
 * SHA-256 of the body.
 */
final class Signer
{
    public static function bodyHash(string $body): string
    {
        return hash('sha256', $body);
    }

    public static function message(int $timestamp, string $method, string $path, string $body): string
    {
        return implode("\n", [(string) $timestamp, strtoupper($method), $path, self::bodyHash($body)]);
    }

    public static function signature(string $secret, int $timestamp, string $method, string $path, string $body): string
    {
        return hash_hmac('sha256', self::message($timestamp, $method, $path, $body), $secret);
    }

    /** @return array<string, string> the three headers of a signed request */
    public static function headers(
        string $siteId,
        string $secret,
        int $timestamp,
        string $method,
        string $path,
        string $body
    ): array {
        return [
            'X-Bridge-Site' => $siteId,
            'X-Bridge-Timestamp' => (string) $timestamp,
            'X-Bridge-Signature' => self::signature($secret, $timestamp, $method, $path, $body),
        ];
    }
}
