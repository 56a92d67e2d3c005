<?php

namespace BillingBridge;

defined('ABSPATH') || exit;

/**
 * Signs requests to the bridge (docs/site-api.md): HMAC-SHA256, keyed by the
 * site secret, over four lines: timestamp, method, path with query string,
 * SHA-256 of the body; and a fifth, the nonce, when one is sent. The bridge
 * applies a signed write once: every request carries a fresh nonce
 * (X-Bridge-Nonce), so two identical writes are two requests and a replayed
 * one is refused.
 */
final class Signer
{
    public static function bodyHash(string $body): string
    {
        return hash('sha256', $body);
    }

    public static function message(int $timestamp, string $method, string $path, string $body, ?string $nonce = null): string
    {
        $lines = [(string) $timestamp, strtoupper($method), $path, self::bodyHash($body)];
        if ($nonce !== null) {
            $lines[] = $nonce;
        }
        return implode("\n", $lines);
    }

    public static function signature(string $secret, int $timestamp, string $method, string $path, string $body, ?string $nonce = null): string
    {
        return hash_hmac('sha256', self::message($timestamp, $method, $path, $body, $nonce), $secret);
    }

    /** A fresh request id: 32 hexadecimal characters. */
    public static function nonce(): string
    {
        return bin2hex(random_bytes(16));
    }

    /** @return array<string, string> the headers of a signed request (the nonce's only when given) */
    public static function headers(
        string $siteId,
        string $secret,
        int $timestamp,
        string $method,
        string $path,
        string $body,
        ?string $nonce = null
    ): array {
        $headers = [
            'X-Bridge-Site' => $siteId,
            'X-Bridge-Timestamp' => (string) $timestamp,
        ];
        if ($nonce !== null) {
            $headers['X-Bridge-Nonce'] = $nonce;
        }
        $headers['X-Bridge-Signature'] = self::signature($secret, $timestamp, $method, $path, $body, $nonce);
        return $headers;
    }
}
