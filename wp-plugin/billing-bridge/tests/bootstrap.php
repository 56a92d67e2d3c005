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

    /** @var array<int, array{options: array<string, mixed>, transients: array<string, mixed>}>|null sites of a network, or null */
    public static ?array $sites = null;
    public static int $site = 1;
    /** @var list<string> what the cleanup did besides options: calls, in order */
    public static array $calls = [];
    /** The site's language (get_locale) and the logged-in user's (null: nobody is logged in). */
    public static string $locale = 'en_US';
    public static ?string $userLocale = null;

    public static function reset(): void
    {
        self::$sites = null;
        self::$site = 1;
        self::$calls = [];
        self::$now = 1764064800;
        self::$options = [];
        self::$transients = [];
        self::$requests = [];
        self::$responses = [];
        self::$locale = 'en_US';
        self::$userLocale = null;
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

function is_multisite(): bool
{
    return WpStub::$sites !== null;
}

function get_sites(array $args = []): array
{
    return array_keys(WpStub::$sites ?? []);
}

/** Each site keeps its own options and transients; switching swaps them in. */
function switch_to_blog(int $site): bool
{
    WpStub::$sites[WpStub::$site] = ['options' => WpStub::$options, 'transients' => WpStub::$transients];
    WpStub::$site = $site;
    WpStub::$options = WpStub::$sites[$site]['options'];
    WpStub::$transients = WpStub::$sites[$site]['transients'];
    WpStub::$calls[] = 'switch_to_blog ' . $site;
    return true;
}

function restore_current_blog(): bool
{
    switch_to_blog(1);
    array_pop(WpStub::$calls);
    return true;
}

function wp_clear_scheduled_hook(string $hook): int
{
    WpStub::$calls[] = 'wp_clear_scheduled_hook ' . $hook . ' on ' . WpStub::$site;
    return 0;
}

function delete_metadata(string $type, int $objectId, string $key, $value = '', bool $all = false): bool
{
    WpStub::$calls[] = "delete_metadata $type $key";
    return true;
}

/** WordPress's rewrite object, as far as Apply configuration uses it. */
final class WpRewriteStub
{
    public string $permalinkStructure = '';

    public function set_permalink_structure(string $structure): void
    {
        $this->permalinkStructure = $structure;
        WpStub::$calls[] = 'set_permalink_structure ' . $structure;
    }
}

$GLOBALS['wp_rewrite'] = new WpRewriteStub();

function flush_rewrite_rules(bool $hard = true): void
{
    WpStub::$calls[] = 'flush_rewrite_rules ' . ($hard ? 'hard' : 'soft');
}

function get_locale(): string
{
    return WpStub::$locale;
}

function get_user_locale($user = 0): string
{
    return WpStub::$userLocale ?? WpStub::$locale;
}

function is_user_logged_in(): bool
{
    return WpStub::$userLocale !== null;
}

function sanitize_key(string $key): string
{
    return preg_replace('/[^a-z0-9_\-]/', '', strtolower($key));
}

function wp_using_ext_object_cache(): bool
{
    return false;
}

function wp_cache_flush(): bool
{
    WpStub::$calls[] = 'wp_cache_flush';
    return true;
}

/** The options table of the current site: options, and transients as `_transient_` rows. */
final class WpdbStub
{
    public string $options = 'wp_options';

    public function esc_like(string $text): string
    {
        return addcslashes($text, '_%\\');
    }

    public function prepare(string $query, ...$args): array
    {
        return $args;
    }

    /** @param array<int, string> $likes the prepared LIKE patterns */
    public function get_col(array $likes): array
    {
        $rows = array_keys(WpStub::$options);
        foreach (array_keys(WpStub::$transients) as $name) {
            $rows[] = '_transient_' . $name;
            $rows[] = '_transient_timeout_' . $name;
        }
        $regexes = array_map(
            static fn (string $like): string => '/^' . str_replace(['\\_', '%'], ['_', '.*'], $like) . '$/',
            $likes
        );
        return array_values(array_filter(
            $rows,
            static fn (string $row): bool => array_filter($regexes, static fn (string $r): bool => preg_match($r, $row) === 1) !== []
        ));
    }
}

$GLOBALS['wpdb'] = new WpdbStub();
