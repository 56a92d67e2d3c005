<?php

namespace BillingBridge;

defined('ABSPATH') || exit;

/**
 * The bridge's site API over HTTP (wp_remote_request, short timeout), every
 * request signed except the one-time connect call.
 */
final class BridgeClient
{
    public const TIMEOUT = 3;

    /** Requests sent during this PHP request (the cache keeps it to one per page view). */
    public static int $sent = 0;

    public function __construct(
        private string $baseUrl,
        private string $siteId = '',
        private string $secret = ''
    ) {
        $this->baseUrl = untrailingslashit($baseUrl);
    }

    public static function fromSettings(Settings $settings): self
    {
        return new self($settings->bridgeUrl(), $settings->siteId(), $settings->secret());
    }

    /** @return array<string, mixed> */
    public function get(string $path): array
    {
        return $this->request('GET', $path, '', true);
    }

    /**
     * @param array<string, mixed> $body
     * @return array<string, mixed>
     */
    public function post(string $path, array $body): array
    {
        // One Idempotency-Key for the write and its retry: when the answer
        // was lost (the network, or a 503 after a commit that went through),
        // the bridge replays the first answer instead of writing twice.
        $key = Signer::nonce();
        $json = (string) wp_json_encode($body);
        try {
            return $this->request('POST', $path, $json, true, $key);
        } catch (BridgeException $e) {
            if ($e->status() !== 503 && $e->errorCode() !== 'unreachable') {
                throw $e;
            }
            return $this->request('POST', $path, $json, true, $key);
        }
    }

    /**
     * Trades a one-time connect code for this site's id and secret (unsigned).
     *
     * @return array<string, mixed>
     */
    public function connect(string $code): array
    {
        return $this->request('POST', '/api/v1/site/connect', (string) wp_json_encode(['code' => $code]), false);
    }

    /** @return array<string, mixed> */
    private function request(string $method, string $path, string $body, bool $signed, string $idempotencyKey = ''): array
    {
        $url = $this->baseUrl . $path;
        $headers = ['Accept' => 'application/json'];
        if ($idempotencyKey !== '') {
            $headers['Idempotency-Key'] = $idempotencyKey;
        }
        if ($body !== '') {
            $headers['Content-Type'] = 'application/json';
        }
        if ($signed) {
            // The path exactly as sent, including any folder the bridge lives under.
            $prefix = (string) wp_parse_url($this->baseUrl, PHP_URL_PATH);
            // A fresh nonce per request: the bridge refuses a signed write it has already seen.
            $headers += Signer::headers($this->siteId, $this->secret, time(), $method, $prefix . $path, $body, Signer::nonce());
        }
        ++self::$sent;
        $response = wp_remote_request($url, [
            'method' => $method,
            'timeout' => self::TIMEOUT,
            'redirection' => 0,
            'headers' => $headers,
            'body' => $body === '' ? null : $body,
            'user-agent' => 'BillingBridge/' . (defined('BILLING_BRIDGE_VERSION') ? BILLING_BRIDGE_VERSION : '1'),
        ]);
        if (is_wp_error($response)) {
            throw new BridgeException($response->get_error_message(), 'unreachable');
        }
        $status = (int) wp_remote_retrieve_response_code($response);
        $data = json_decode((string) wp_remote_retrieve_body($response), true);
        if ($status >= 400) {
            $error = is_array($data) && isset($data['error']) && is_array($data['error']) ? $data['error'] : [];
            $code = isset($error['code']) && is_string($error['code']) ? $error['code'] : 'http_' . $status;
            $message = isset($error['message']) && is_string($error['message'])
                ? $error['message']
                /* translators: %d: an HTTP status code */
                : sprintf(__('The bridge answered with HTTP status %d.', 'billing-bridge'), $status);
            throw new BridgeException($message, $code, $status);
        }
        if ($status >= 300 && $status < 400) {
            $location = (string) wp_remote_retrieve_header($response, 'location');
            throw new BridgeException(
                sprintf(
                    /* translators: %s: the address the bridge redirects to */
                    __('The bridge URL redirects to %s: enter the address it redirects to in the settings.', 'billing-bridge'),
                    $location
                ),
                'redirect',
                $status
            );
        }
        if (!is_array($data)) {
            throw new BridgeException(__('The bridge sent an answer that is not JSON.', 'billing-bridge'), 'bad_answer', $status);
        }
        return $data;
    }
}
