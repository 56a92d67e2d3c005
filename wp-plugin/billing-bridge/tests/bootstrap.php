<?php

/**
 * Stand-ins for the few WordPress functions the unit-tested classes touch:
 * options and transients in memory (transients expire on a clock the tests
 * move), i18n pass-through, and an HTTP function that records requests and
 * answers what a test queued.
 */

// phpcs:disable PSR1.Files.SideEffects, Squiz.Functions.GlobalFunction, PSR1.Classes.ClassDeclaration

define('ABSPATH', __DIR__ . '/');
define('BILLING_BRIDGE_VERSION', 'test');

spl_autoload_register(static function (string $class): void {
    $prefix = 'BillingBridge\\';
    if (strncmp($class, $prefix, strlen($prefix)) === 0) {
        require dirname(__DIR__) . '/includes/' . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
    }
});

final class WpStub
{
    public static int $now = 1764064800;
    /** @var array<string, mixed> */
    public static array $options = [];
    /** @var array<string, array{value: mixed, expires: int}> */
    public static array $transients = [];
    /** @var list<array{url: string, args: array<string, mixed>}> */
    public static array $requests = [];
    /** @var list<mixed> answers for wp_remote_request, in order */
    public static array $responses = [];

    public static function reset(): void
    {
        self::$now = 1764064800;
        self::$options = [];
        self::$transients = [];
        self::$requests = [];
        self::$responses = [];
    }
}

final class WP_Error
{
    public function __construct(private string $code = '', private string $message = '')
    {
    }

    public function get_error_message(): string
    {
        return $this->message;
    }
}

function get_option(string $name, $default = false)
{
    return array_key_exists($name, WpStub::$options) ? WpStub::$options[$name] : $default;
}

function update_option(string $name, $value, $autoload = null): bool
{
    WpStub::$options[$name] = $value;
    return true;
}

function delete_option(string $name): bool
{
    unset(WpStub::$options[$name]);
    return true;
}

function get_transient(string $name)
{
    $entry = WpStub::$transients[$name] ?? null;
    // WordPress: a transient is gone once its timeout is in the past.
    if ($entry === null || ($entry['expires'] !== 0 && $entry['expires'] < WpStub::$now)) {
        unset(WpStub::$transients[$name]);
        return false;
    }
    return $entry['value'];
}

function set_transient(string $name, $value, int $expiration = 0): bool
{
    WpStub::$transients[$name] = ['value' => $value, 'expires' => $expiration ? WpStub::$now + $expiration : 0];
    return true;
}

function delete_transient(string $name): bool
{
    unset(WpStub::$transients[$name]);
    return true;
}

function __(string $text, string $domain = 'default'): string
{
    return $text;
}

function _n(string $single, string $plural, int $number, string $domain = 'default'): string
{
    return $number === 1 ? $single : $plural;
}

function untrailingslashit(string $value): string
{
    return rtrim($value, '/\\');
}

function wp_json_encode($data)
{
    return json_encode($data, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
}

function wp_parse_url(string $url, int $component = -1)
{
    return parse_url($url, $component);
}

function is_wp_error($thing): bool
{
    return $thing instanceof WP_Error;
}

function wp_remote_request(string $url, array $args = [])
{
    WpStub::$requests[] = ['url' => $url, 'args' => $args];
    return array_shift(WpStub::$responses) ?? new WP_Error('http_request_failed', 'cURL error 7: Failed to connect');
}

function wp_remote_retrieve_response_code($response)
{
    return $response['response']['code'] ?? '';
}

function wp_remote_retrieve_header($response, string $header): string
{
    return $response['headers'][strtolower($header)] ?? '';
}

function wp_remote_retrieve_body($response): string
{
    return $response['body'] ?? '';
}
