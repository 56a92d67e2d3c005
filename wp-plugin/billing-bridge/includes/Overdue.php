<?php

namespace BillingBridge;

defined('ABSPATH') || exit;

/**
 * The site's overdue state in wp-admin (the bridge's `standing`, part of the
 * site summary): a notice on every screen, the Dashboard widget *Billing*,
 * and the background refresh that keeps the cached summary fresh.
 *
 * No screen asks the bridge for these: they read the cache. When the cached
 * summary is older than the TTL, the page view that notices it starts a
 * refresh in the background (a non-blocking loopback request to
 * admin-ajax.php, carrying a one-time token, and a single cron event for
 * sites whose loopback requests are blocked) and carries on with what the
 * cache holds (at the end of the page, once the page itself has read what
 * it needed). A bridge that hangs delays only that background request.
 */
final class Overdue
{
    public const REFRESH_HOOK = Cleanup::REFRESH_HOOK;
    public const LOCK = 'billing_bridge_refreshing';
    public const TOKEN_OPTION = 'billing_bridge_refresh_token';
    public const DISMISSED_META = Cleanup::DISMISSED_META;
    /** How long a refresh may take before another may start (seconds). */
    public const LOCK_SECONDS = 30;
    public const RANK = ['ok' => 0, 'overdue' => 1, 'grace' => 2, 'restricted' => 3];

    public function __construct(private Bridge $bridge, private Admin $admin)
    {
    }

    public function register(): void
    {
        add_action('admin_notices', [$this, 'notice']);
        add_action('admin_post_billing_bridge_dismiss', [$this, 'dismiss']);
        add_action('wp_dashboard_setup', [$this, 'dashboard']);
        add_action('wp_ajax_' . self::REFRESH_HOOK, [$this, 'ajaxRefresh']);
        add_action('wp_ajax_nopriv_' . self::REFRESH_HOOK, [$this, 'ajaxRefresh']);
        add_action('admin_footer', [$this, 'maybeRefresh']);
    }

    // The background refresh -----------------------------------------------------

    /** On a page view: starts a refresh when the cached summary is old and none is running. */
    public function maybeRefresh(): void
    {
        if (wp_doing_ajax() || wp_doing_cron() || !is_user_logged_in() || !$this->bridge->isConnected()) {
            return;
        }
        $cache = $this->bridge->cache();
        $cached = $cache->peek('summary');
        if (($cached !== null && !$cached->stale) || $cache->isDown() || get_transient(self::LOCK) !== false) {
            return;
        }
        self::spawn();
    }

    /** Starts a refresh without waiting for it. */
    public static function spawn(): void
    {
        set_transient(self::LOCK, time(), self::LOCK_SECONDS);
        $token = wp_generate_password(32, false);
        update_option(self::TOKEN_OPTION, $token, false);
        if (!wp_next_scheduled(self::REFRESH_HOOK)) {
            wp_schedule_single_event(time() + 60, self::REFRESH_HOOK);
        }
        wp_remote_post(
            admin_url('admin-ajax.php'),
            [
                'timeout' => 0.5,
                'blocking' => false,
                'sslverify' => apply_filters('https_local_ssl_verify', false), // phpcs:ignore -- WordPress core's own filter
                'body' => ['action' => self::REFRESH_HOOK, 'token' => $token],
            ]
        );
    }

    /** The loopback request: answers at once, then asks the bridge. */
    public function ajaxRefresh(): void
    {
        $token = isset($_POST['token']) ? sanitize_text_field(wp_unslash($_POST['token'])) : ''; // phpcs:ignore -- the one-time token is the check
        $expected = (string) get_option(self::TOKEN_OPTION, '');
        if ($expected === '' || !hash_equals($expected, $token)) {
            wp_die('', '', ['response' => 403]);
        }
        delete_option(self::TOKEN_OPTION);
        ignore_user_abort(true);
        if (!headers_sent()) {
            header('Content-Type: text/plain; charset=utf-8');
            header('Content-Length: 2');
            header('Connection: close');
        }
        echo 'ok';
        while (ob_get_level() > 0) {
            ob_end_flush();
        }
        flush();
        if (function_exists('fastcgi_finish_request')) {
            fastcgi_finish_request();
        }
        self::refresh(true);
        exit;
    }

    /**
     * Asks the bridge for the summary and caches it (or remembers the
     * failure for one TTL). From cron, only when the cache is old.
     */
    public static function refresh(bool $force = false): void
    {
        $bridge = Plugin::bridge();
        if (!$bridge->isConnected()) {
            return;
        }
        $cached = $bridge->cache()->peek('summary');
        if (!$force && $cached !== null && !$cached->stale) {
            return;
        }
        try {
            $bridge->freshSummary();
        } catch (BridgeException $e) {
            $bridge->cache()->failed('summary', $e);
        }
        delete_transient(self::LOCK);
    }

    // The notice -----------------------------------------------------------------

    /** @return array<string, mixed>|null the cached standing when something is overdue */
    public function standing(): ?array
    {
        $summary = $this->bridge->peekSummary();
        $standing = $summary !== null ? ($summary->arrayData()['standing'] ?? null) : null;
        if (!is_array($standing)) {
            return null;
        }
        $state = (string) ($standing['state'] ?? 'ok');
        return isset(self::RANK[$state]) && $state !== 'ok' ? $standing : null;
    }

    public function notice(): void
    {
        $standing = $this->standing();
        if ($standing === null || !is_user_logged_in()) {
            return;
        }
        $state = (string) $standing['state'];
        $permissions = $this->admin->permissions();
        $billing = $permissions->canSee('billing');
        if (!$billing && empty($standing['banner'])) {
            return;
        }
        $restricted = $state === 'restricted';
        if (!$restricted && $this->dismissed($state)) {
            return;
        }
        $invoices = array_values(array_filter((array) ($standing['invoices'] ?? []), 'is_array'));
        $parts = [];
        if ($billing) {
            $count = count($invoices);
            $parts[] = sprintf(
                /* translators: 1: number of invoices, 2: an amount */
                _n('%1$d invoice of this site is overdue (%2$s).', '%1$d invoices of this site are overdue (%2$s in all).', $count, 'billing-bridge'),
                $count,
                (string) ($standing['amount_due_display'] ?? '')
            );
        } else {
            $parts[] = __('This site has overdue invoices. Please let the person who pays for it know.', 'billing-bridge');
        }
        if ($state === 'grace') {
            $until = $this->admin->shownDate($standing, 'grace_until');
            $after = 'banner';
            foreach ($invoices as $invoice) {
                if (($invoice['grace_until'] ?? null) === ($standing['grace_until'] ?? null)) {
                    $after = (string) ($invoice['after_grace'] ?? 'banner');
                    break;
                }
            }
            $parts[] = $after === 'restricted'
                /* translators: %s: a date */
                ? sprintf(__('Unless it is paid by %s, the Hosting and SEO tools of this dashboard will be turned off.', 'billing-bridge'), $until)
                /* translators: %s: a date */
                : sprintf(__('Unless it is paid by %s, every user of this dashboard will see this notice.', 'billing-bridge'), $until);
        } elseif ($restricted) {
            $parts[] = sprintf(
                /* translators: %s: a date */
                __('The Hosting and SEO tools are off since %s. The site, its content and your access are not affected.', 'billing-bridge'),
                $this->admin->shownDate($standing, 'restricted_since')
            );
        }
        $actions = [];
        $first = $invoices[0] ?? null;
        if (is_array($first) && $permissions->canDo('invoice_pay') && !empty($first['pay_url'])) {
            $actions[] = sprintf(
                '<a class="button button-primary" id="billing-bridge-pay-now" target="_blank" rel="noopener" href="%1$s">%2$s</a>',
                esc_url($this->admin->invoiceLink(absint($first['id'] ?? 0), 'pay')),
                esc_html__('Pay now', 'billing-bridge')
            );
        }
        if ($billing && count($invoices) > 1) {
            $actions[] = sprintf(
                '<a class="button" href="%1$s">%2$s</a>',
                esc_url(admin_url('admin.php?page=' . Admin::SLUGS['billing'])),
                esc_html__('See the invoices', 'billing-bridge')
            );
        }
        if (!$restricted) {
            $dismiss = wp_nonce_url(
                add_query_arg(['action' => 'billing_bridge_dismiss', 'state' => $state], admin_url('admin-post.php')),
                'billing_bridge_dismiss'
            );
            $actions[] = sprintf(
                '<a class="button-link" id="billing-bridge-dismiss" href="%1$s">%2$s</a>',
                esc_url($dismiss),
                esc_html__('Hide for a day', 'billing-bridge')
            );
        }
        printf(
            '<div class="notice %1$s billing-bridge-overdue" id="billing-bridge-overdue" data-state="%2$s"><p><strong>%3$s</strong> %4$s</p>%5$s</div>',
            esc_attr($restricted ? 'notice-error' : 'notice-warning'),
            esc_attr($state),
            esc_html($restricted ? __('Billing: tools turned off.', 'billing-bridge') : __('Billing: payment overdue.', 'billing-bridge')),
            esc_html(implode(' ', $parts)),
            $actions !== [] ? '<p>' . implode(' ', $actions) . '</p>' : '' // Built above from escaped parts.
        );
    }

    /** Hides the notice for this user for a day (until it gets worse). */
    public function dismiss(): void
    {
        check_admin_referer('billing_bridge_dismiss');
        $state = isset($_GET['state']) ? sanitize_key(wp_unslash($_GET['state'])) : ''; // phpcs:ignore -- nonce checked above
        if (isset(self::RANK[$state])) {
            update_user_meta(get_current_user_id(), self::DISMISSED_META, ['state' => $state, 'until' => time() + DAY_IN_SECONDS]);
        }
        $back = wp_get_referer();
        wp_safe_redirect($back !== false ? $back : admin_url());
        exit;
    }

    private function dismissed(string $state): bool
    {
        $meta = get_user_meta(get_current_user_id(), self::DISMISSED_META, true);
        if (!is_array($meta) || (int) ($meta['until'] ?? 0) <= time()) {
            return false;
        }
        return (self::RANK[(string) ($meta['state'] ?? '')] ?? -1) >= self::RANK[$state];
    }

    // The Dashboard widget -----------------------------------------------------------

    public function dashboard(): void
    {
        if (!$this->bridge->isConnected() || !$this->admin->permissions()->canSee('billing')) {
            return;
        }
        wp_add_dashboard_widget('billing_bridge_billing', __('Billing', 'billing-bridge'), [$this, 'widget']);
    }

    public function widget(): void
    {
        $summary = $this->bridge->peekSummary();
        if ($summary === null || !$summary->hasData()) {
            $wait = __('The billing information is on its way: reload this page in a moment.', 'billing-bridge');
            printf('<p id="billing-bridge-widget-empty">%s</p>', esc_html($wait));
            return;
        }
        $data = $summary->arrayData();
        $next = null;
        foreach ((array) ($data['subscriptions'] ?? []) as $subscription) {
            $at = is_array($subscription) ? ($subscription['next_renewal_at'] ?? null) : null;
            if (is_string($at) && ($next === null || strcmp($at, (string) $next['next_renewal_at']) < 0)) {
                $next = $subscription;
            }
        }
        $due = (int) ($data['amount_due'] ?? 0);
        $rows = [
            'next' => [
                __('Next invoice', 'billing-bridge'),
                $next !== null
                    /* translators: 1: an amount, 2: a date */
                    ? sprintf(__('%1$s on %2$s', 'billing-bridge'), (string) ($next['amount_display'] ?? ''), $this->admin->shownDate($next, 'next_renewal_at'))
                    : __('None scheduled', 'billing-bridge'),
            ],
            'due' => [
                __('Amount due', 'billing-bridge'),
                $due > 0 ? (string) ($data['amount_due_display'] ?? '') : __('Nothing', 'billing-bridge'),
            ],
            'auto_pay' => [
                __('Auto-pay', 'billing-bridge'),
                !empty($data['auto_pay'])
                    ? __('On: renewals are charged to the saved card', 'billing-bridge')
                    : __('Off: invoices are sent to be paid', 'billing-bridge'),
            ],
        ];
        echo '<table class="widefat striped" id="billing-bridge-widget"><tbody>';
        foreach ($rows as $key => [$label, $value]) {
            printf('<tr data-row="%1$s"><th scope="row">%2$s</th><td>%3$s</td></tr>', esc_attr($key), esc_html($label), esc_html($value));
        }
        echo '</tbody></table>';
        printf(
            '<p><a href="%1$s">%2$s</a></p>',
            esc_url(admin_url('admin.php?page=' . Admin::SLUGS['billing'])),
            esc_html__('See invoices and subscriptions', 'billing-bridge')
        );
    }
}
