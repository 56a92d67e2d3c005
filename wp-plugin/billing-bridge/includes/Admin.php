<?php

namespace BillingBridge;

defined('ABSPATH') || exit;

/**
 * The wp-admin side: menus (with the unpaid badge), the permission check on
 * every page load and every action, the admin notices and the actions
 * (connect, test connection, SEO scan and configuration, invoice links).
 */
final class Admin
{
    public const SLUGS = [
        'billing' => 'billing-bridge',
        'account' => 'billing-bridge-account',
        'hosting' => 'billing-bridge-hosting',
        'seo' => 'billing-bridge-seo',
        'settings' => 'billing-bridge-settings',
    ];

    /** The plugin's Hosting and SEO actions: off while the bridge says the site is restricted. */
    public const RESTRICTED_ACTIONS = ['seo_scan', 'seo_configure'];

    private ?Permissions $permissions = null;

    /** Whether the current user's role grants billing, the client's whole account (null: not asked yet). */
    private ?bool $readsAccount = null;

    /** The bridge's answer about the current user's access (not for administrators). */
    private ?CacheResult $access = null;

    /** @var list<CacheResult> answers of the bridge shown on this page view */
    private array $shown = [];

    /** @var array<string, mixed> what the current page renders */
    private array $view = [];

    public function __construct(private Bridge $bridge)
    {
    }

    public function register(): void
    {
        add_action('admin_menu', [$this, 'menus']);
        add_action('admin_notices', [$this, 'notices']);
        add_action('admin_notices', [$this, 'activationNotice']);
        add_action('admin_enqueue_scripts', [$this, 'styles']);
        add_filter('plugin_action_links_' . plugin_basename(BILLING_BRIDGE_FILE), [$this, 'actionLinks']);
        foreach (['settings', 'test', 'disconnect', 'invoice', 'seo_scan', 'seo_configure'] as $action) {
            add_action('admin_post_billing_bridge_' . $action, [$this, 'action' . str_replace('_', '', ucwords($action, '_'))]);
        }
    }

    /** What the current user may see and do (one access call per email per TTL). */
    public function permissions(): Permissions
    {
        if ($this->permissions !== null) {
            return $this->permissions;
        }
        $user = wp_get_current_user();
        if (!$user->exists()) {
            return $this->permissions = Permissions::none();
        }
        if (current_user_can('manage_options')) {
            return $this->permissions = Permissions::administrator();
        }
        if (!$this->bridge->isConnected() || !is_email($user->user_email)) {
            return $this->permissions = Permissions::none();
        }
        $this->access = $this->bridge->access($user->user_email);
        return $this->permissions = Permissions::fromAccess($this->access->data);
    }

    /**
     * Whether the current user sees *My account*, the client's whole
     * account: only when the bridge says their role grants billing (view).
     * Unlike the other pages, being an administrator of the site is not
     * enough: an administrator without that role sees this site only.
     *
     * Other users' access is read anyway (it decides every page). An
     * administrator's is asked of the bridge only on Billing, My account
     * and their actions; elsewhere the cached answer decides, so no other
     * screen of an administrator waits on the bridge for it.
     */
    public function mayReadAccount(): bool
    {
        if ($this->readsAccount !== null) {
            return $this->readsAccount;
        }
        $user = wp_get_current_user();
        if (!$user->exists() || !$this->bridge->isConnected() || !is_email($user->user_email)) {
            return $this->readsAccount = false;
        }
        if ($this->access === null && $this->permissions()->isAdministrator()) {
            // phpcs:ignore -- which screen this is, read only
            $page = isset($_GET['page']) ? sanitize_key(wp_unslash($_GET['page'])) : '';
            $asks = in_array($page, [self::SLUGS['billing'], self::SLUGS['account']], true) || doing_action('admin_post_billing_bridge_invoice');
            $known = $asks ? ($this->access = $this->bridge->access($user->user_email)) : $this->bridge->peekAccess($user->user_email);
            return $this->readsAccount = $known !== null && Permissions::fromAccess($known->data)->grants('billing', 'view');
        }
        $this->access ??= $this->bridge->access($user->user_email);
        return $this->readsAccount = Permissions::fromAccess($this->access->data)->grants('billing', 'view');
    }

    /** Whether the current user's role grants $action of the client-wide `billing` area. */
    private function accountGrants(string $action): bool
    {
        return $this->mayReadAccount() && $this->access !== null
            && Permissions::fromAccess($this->access->data)->grants('billing', $action);
    }

    /**
     * Whether the bridge said (in the cached summary) that this site's
     * Hosting and SEO actions are off for overdue invoices.
     */
    public function restricted(): bool
    {
        $summary = $this->bridge->peekSummary();
        $standing = $summary !== null ? ($summary->arrayData()['standing'] ?? null) : null;
        return is_array($standing) && ($standing['state'] ?? '') === 'restricted';
    }

    private function restrictedNote(): void
    {
        if ($this->restricted()) {
            printf(
                '<p class="bb-warn" id="billing-bridge-restricted">%s</p>',
                esc_html__('The Hosting and SEO tools are off until the overdue invoices are paid. The site and its content are untouched.', 'billing-bridge')
            );
        }
    }

    // Menus and page loads ------------------------------------------------------

    public function menus(): void
    {
        $permissions = $this->permissions();
        $visible = $permissions->pages();
        $badge = in_array('billing', $visible, true) ? $this->badge($this->unpaidCount()) : '';
        $titles = [
            'billing' => __('Billing', 'billing-bridge'),
            'account' => __('My account', 'billing-bridge'),
            'hosting' => __('Hosting', 'billing-bridge'),
            'seo' => __('SEO', 'billing-bridge'),
            'settings' => __('Settings', 'billing-bridge'),
        ];
        $parent = $visible === [] ? null : self::SLUGS[$visible[0]];
        $brand = $this->agencyName();
        if ($parent !== null) {
            add_menu_page(
                esc_html($brand),
                // WordPress prints menu titles as HTML: the agency's name is escaped here.
                esc_html($brand) . $badge,
                $this->capability($visible[0]),
                $parent,
                [$this, 'render' . ucfirst($visible[0])],
                'dashicons-money-alt',
                3
            );
        }
        foreach (self::SLUGS as $page => $slug) {
            $shown = $page === 'account' ? $this->mayReadAccount() : in_array($page, $visible, true);
            // Pages the user may not see are still registered, hidden, so a
            // direct URL reaches the permission check below and gets a 403.
            $hook = add_submenu_page(
                $shown ? (string) $parent : 'options.php',
                $titles[$page] . ' ‹ ' . esc_html($brand),
                $titles[$page] . ($page === 'billing' ? $badge : ''),
                $this->capability($page),
                $slug,
                [$this, 'render' . ucfirst($page)]
            );
            if (is_string($hook)) {
                add_action('load-' . $hook, [$this, 'load' . ucfirst($page)]);
            }
        }
    }

    /**
     * The agency's branding from the cached summary (never asks the bridge):
     * name, brand colour, logo URL; empty when unknown.
     *
     * @return array<string, mixed>
     */
    public function agency(): array
    {
        $summary = $this->bridge->peekSummary();
        $agency = $summary !== null ? ($summary->arrayData()['agency'] ?? null) : null;
        return is_array($agency) ? $agency : [];
    }

    /** The name the menu and the pages carry: the agency's, else the plugin's. */
    public function agencyName(): string
    {
        $name = trim((string) ($this->agency()['name'] ?? ''));
        return $name !== '' ? $name : __('Billing Bridge', 'billing-bridge');
    }

    /** The agency's logo and name above a page's title. */
    private function brandHeader(): void
    {
        $agency = $this->agency();
        $logo = (string) ($agency['logo_url'] ?? '');
        $color = (string) ($agency['brand_color'] ?? '');
        printf(
            '<div class="bb-brand" id="billing-bridge-brand"%1$s>%2$s<span class="bb-brand-name">%3$s</span></div>',
            preg_match('/^#[0-9a-fA-F]{6}$/', $color) === 1 ? ' style="border-color:' . esc_attr($color) . '"' : '',
            $logo !== '' && $this->isBridgeUrl($logo)
                ? sprintf('<img class="bb-brand-logo" src="%1$s" alt="" height="32">', esc_url($logo))
                : '',
            esc_html($this->agencyName())
        );
    }

    private function capability(string $page): string
    {
        return $page === 'settings' ? 'manage_options' : 'read';
    }

    /**
     * Unpaid invoices for the badge: what the cache knows (never asks the
     * bridge; the background refresh keeps the cache fresh, see Overdue).
     */
    private function unpaidCount(): int
    {
        if (!$this->bridge->isConnected()) {
            return 0;
        }
        $result = $this->bridge->peekSummary();
        return $result !== null ? max(0, (int) ($result->arrayData()['unpaid_count'] ?? 0)) : 0;
    }

    private function badge(int $count): string
    {
        if ($count <= 0) {
            return '';
        }
        return sprintf(
            ' <span class="awaiting-mod count-%1$d billing-bridge-unpaid"><span class="pending-count">%1$d</span></span>',
            $count
        );
    }

    public function loadBilling(): void
    {
        $this->guardPage('billing');
        $this->view['summary'] = $this->show($this->bridge->summary());
    }

    public function loadAccount(): void
    {
        if (!$this->mayReadAccount()) {
            $this->unknownAccess();
            $this->forbidden(__('Sorry, your role does not give access to the client\'s account.', 'billing-bridge'));
        }
        $this->view['paged'] = $this->pagedArg();
        $this->view['account'] = $this->show($this->bridge->account(wp_get_current_user()->user_email, $this->view['paged']));
    }

    private function pagedArg(): int
    {
        return max(1, min(1000000, absint($_GET['paged'] ?? 1))); // phpcs:ignore -- a page number to read
    }

    public function loadHosting(): void
    {
        $this->guardPage('hosting');
        $this->view['summary'] = $this->show($this->bridge->summary());
        $this->view['facts'] = (new HostingFacts())->collect();
    }

    public function loadSeo(): void
    {
        $this->guardPage('seo');
        $this->view['seo'] = $this->show($this->bridge->seoLatest());
    }

    public function loadSettings(): void
    {
        $this->guardPage('settings');
    }

    private function guardPage(string $page): void
    {
        if (!$this->permissions()->canSee($page)) {
            $this->unknownAccess();
            $this->forbidden(__('Sorry, your role does not give access to this page.', 'billing-bridge'));
        }
    }

    private function guardAction(string $action): void
    {
        if (in_array($action, self::RESTRICTED_ACTIONS, true) && $this->restricted()) {
            $this->forbidden(__('The Hosting and SEO tools are off until this site\'s overdue invoices are paid.', 'billing-bridge'));
        }
        if (!$this->permissions()->canDo($action)) {
            $this->unknownAccess();
            $this->forbidden(__('Sorry, your role does not allow this action.', 'billing-bridge'));
        }
    }

    /** When the bridge could not say what the user may do (and never did before): 503, not 403. */
    private function unknownAccess(): void
    {
        if ($this->access !== null && $this->access->stale && !$this->access->hasData()) {
            wp_die(
                esc_html__('The billing service cannot be reached to check what your role allows. Please try again in a minute.', 'billing-bridge'),
                esc_html__('Billing service unavailable', 'billing-bridge'),
                ['response' => 503, 'back_link' => true]
            );
        }
    }

    private function forbidden(string $message): void
    {
        wp_die(esc_html($message), esc_html__('Not allowed', 'billing-bridge'), ['response' => 403, 'back_link' => true]);
    }

    private function show(CacheResult $result): CacheResult
    {
        $this->shown[] = $result;
        return $result;
    }

    // Notices --------------------------------------------------------------------

    public function notices(): void
    {
        $screen = function_exists('get_current_screen') ? get_current_screen() : null;
        if ($screen === null || !str_contains((string) $screen->id, 'billing-bridge')) {
            return;
        }
        foreach ($this->takeFlash() as [$type, $message]) {
            printf(
                '<div class="notice notice-%1$s is-dismissible billing-bridge-flash"><p>%2$s</p></div>',
                esc_attr($type === 'success' ? 'success' : 'error'),
                esc_html($message)
            );
        }
        if (!$this->bridge->isConnected()) {
            $message = current_user_can('manage_options')
                ? __('Billing Bridge is not connected yet: enter the bridge URL and a connect code in Settings.', 'billing-bridge')
                : __('Billing Bridge is not connected yet: ask the site administrator to connect it.', 'billing-bridge');
            printf('<div class="notice notice-warning billing-bridge-notice"><p>%s</p></div>', esc_html($message));
            return;
        }
        foreach ($this->shown as $result) {
            if (!$result->stale || $result->error === null) {
                continue;
            }
            if (!current_user_can('manage_options')) {
                // The network error names the bridge's address: administrators only.
                $message = $result->fetchedAt !== null
                    ? sprintf(
                        /* translators: %s: a date and time */
                        __('The billing service cannot be reached right now. Showing the information saved on %s.', 'billing-bridge'),
                        $this->dateTime($result->fetchedAt)
                    )
                    : __('The billing service cannot be reached right now. Please try again later.', 'billing-bridge');
            } elseif ($result->fetchedAt !== null) {
                $message = sprintf(
                    /* translators: 1: the error, 2: a date and time */
                    __('Could not get up-to-date information from the billing service (%1$s). Showing the data saved on %2$s.', 'billing-bridge'),
                    $result->error,
                    $this->dateTime($result->fetchedAt)
                );
            } else {
                $message = sprintf(
                    /* translators: %s: the error */
                    __('Could not get information from the billing service (%s), and no saved data is available yet.', 'billing-bridge'),
                    $result->error
                );
            }
            printf('<div class="notice notice-warning billing-bridge-notice" id="billing-bridge-offline"><p>%s</p></div>', esc_html($message));
            break;
        }
    }

    /** Once, after the plugin is activated: where its settings are (administrators). */
    public function activationNotice(): void
    {
        if (get_option(Plugin::ACTIVATED_OPTION) === false || !current_user_can('manage_options')) {
            return;
        }
        delete_option(Plugin::ACTIVATED_OPTION);
        printf(
            '<div class="notice notice-info is-dismissible" id="billing-bridge-activated"><p>%1$s <a href="%2$s">%3$s</a></p></div>',
            esc_html__(
                'Billing Bridge is active. Connect this site to your agency\'s billing service with the bridge URL and a connect code.',
                'billing-bridge'
            ),
            esc_url($this->settingsUrl()),
            esc_html__('Open the settings', 'billing-bridge')
        );
    }

    /**
     * The *Settings* link on the Plugins screen's row of the plugin.
     *
     * @param array<int|string, string> $links
     * @return array<int|string, string>
     */
    public function actionLinks(array $links): array
    {
        if (!current_user_can('manage_options')) {
            return $links;
        }
        $settings = sprintf(
            '<a href="%1$s" id="billing-bridge-settings-link">%2$s</a>',
            esc_url($this->settingsUrl()),
            esc_html__('Settings', 'billing-bridge')
        );
        return ['settings' => $settings] + $links;
    }

    private function settingsUrl(): string
    {
        return admin_url('admin.php?page=' . self::SLUGS['settings']);
    }

    /** The plugin's style sheet, on its own screens only. */
    public function styles(string $hook = ''): void
    {
        if (!str_contains($hook, 'billing-bridge')) {
            return;
        }
        wp_enqueue_style('billing-bridge-admin', plugins_url('assets/admin.css', BILLING_BRIDGE_FILE), [], BILLING_BRIDGE_VERSION);
    }

    /** @param list<array{0: string, 1: string}> $messages */
    private function flash(array $messages): void
    {
        set_transient('billing_bridge_flash_' . get_current_user_id(), $messages, 120);
    }

    /** @return list<array{0: string, 1: string}> */
    private function takeFlash(): array
    {
        $key = 'billing_bridge_flash_' . get_current_user_id();
        $messages = get_transient($key);
        if ($messages === false) {
            return [];
        }
        delete_transient($key);
        return is_array($messages) ? $messages : [];
    }

    // Pages ----------------------------------------------------------------------

    public function renderBilling(): void
    {
        $result = $this->view['summary'] ?? $this->bridge->summary();
        $summary = $result->arrayData();
        echo '<div class="wrap billing-bridge" id="billing-bridge-billing">';
        $this->brandHeader();
        printf('<h1>%s</h1>', esc_html__('Billing', 'billing-bridge'));
        if (!$result->hasData()) {
            printf('<p>%s</p></div>', esc_html__('No billing information is available yet.', 'billing-bridge'));
            return;
        }
        $client = is_array($summary['client'] ?? null) ? $summary['client'] : [];
        $unpaid = (int) ($summary['unpaid_count'] ?? 0);
        printf(
            '<p>%1$s <strong>%2$s</strong>. <span id="billing-bridge-unpaid-count" data-count="%3$d">%4$s</span></p>',
            esc_html__('Client:', 'billing-bridge'),
            esc_html((string) ($client['name'] ?? '')),
            $unpaid,
            esc_html(sprintf(
                /* translators: %d: number of unpaid invoices */
                _n('%d unpaid invoice.', '%d unpaid invoices.', $unpaid, 'billing-bridge'),
                $unpaid
            ))
        );

        if ($this->mayReadAccount()) {
            printf(
                '<p><a href="%1$s" id="billing-bridge-account-link">%2$s</a></p>',
                esc_url(admin_url('admin.php?page=' . self::SLUGS['account'])),
                esc_html__('See the whole account: every site\'s invoices, auto-pay and the card', 'billing-bridge')
            );
        }

        printf('<h2>%s</h2>', esc_html__('Subscriptions', 'billing-bridge'));
        $subscriptions = is_array($summary['subscriptions'] ?? null) ? $summary['subscriptions'] : [];
        if ($subscriptions === []) {
            printf('<p>%s</p>', esc_html__('No subscriptions.', 'billing-bridge'));
        } else {
            $this->tableStart('billing-bridge-subscriptions', [
                __('Product', 'billing-bridge'),
                __('Plan', 'billing-bridge'),
                __('Status', 'billing-bridge'),
                __('Amount', 'billing-bridge'),
                __('Next renewal', 'billing-bridge'),
            ]);
            foreach ($subscriptions as $subscription) {
                if (!is_array($subscription)) {
                    continue;
                }
                $status = (string) ($subscription['status'] ?? '');
                $renewal = $this->shownDate($subscription, 'next_renewal_at');
                if (!empty($subscription['cancel_at_period_end'])) {
                    $ends = isset($subscription['current_period_end']) ? 'current_period_end' : 'next_renewal_at';
                    /* translators: %s: a date */
                    $renewal = sprintf(__('Ends on %s', 'billing-bridge'), $this->shownDate($subscription, $ends));
                }
                printf(
                    '<tr id="bb-subscription-%1$d"><td>%2$s</td><td>%3$s</td>'
                    . '<td class="bb-status bb-status-%4$s" data-status="%4$s">%5$s</td><td>%6$s</td><td>%7$s</td></tr>',
                    absint($subscription['id'] ?? 0),
                    esc_html((string) ($subscription['product'] ?? '')),
                    esc_html((string) ($subscription['plan'] ?? '')),
                    esc_attr($status),
                    esc_html($this->subscriptionStatus($status)),
                    esc_html($this->amount($subscription)),
                    esc_html($renewal)
                );
            }
            echo '</tbody></table>';
        }

        printf('<h2>%s</h2>', esc_html__('Invoices', 'billing-bridge'));
        $invoices = is_array($summary['invoices'] ?? null) ? $summary['invoices'] : [];
        if ($invoices === []) {
            printf('<p>%s</p>', esc_html__('No invoices.', 'billing-bridge'));
        } else {
            $this->invoiceTable('billing-bridge-invoices', $invoices, false, [], $this->permissions()->canDo('invoice_pay'));
        }
        $this->freshness($result);
        echo '</div>';
    }

    /**
     * *My account*: the client's whole account as the bridge gives it to a
     * person whose role grants billing: what is due, auto-pay and the card,
     * the client's sites, and every invoice (this site's, the other sites',
     * those billed on no site), paged.
     */
    public function renderAccount(): void
    {
        $result = $this->view['account'] ?? $this->bridge->account(wp_get_current_user()->user_email, $this->pagedArg());
        $account = $result->arrayData();
        echo '<div class="wrap billing-bridge" id="billing-bridge-account">';
        $this->brandHeader();
        printf('<h1>%s</h1>', esc_html__('My account', 'billing-bridge'));
        if (!$result->hasData()) {
            printf('<p>%s</p></div>', esc_html__('The account is not available right now.', 'billing-bridge'));
            return;
        }
        $client = is_array($account['client'] ?? null) ? $account['client'] : [];
        printf(
            '<p class="bb-lead">%1$s <strong id="billing-bridge-client">%2$s</strong></p>',
            esc_html__('Billing account of', 'billing-bridge'),
            esc_html((string) ($client['name'] ?? ''))
        );

        $due = (int) ($account['amount_due'] ?? 0);
        $unpaid = (int) ($account['unpaid_count'] ?? 0);
        $card = is_array($account['card'] ?? null) ? $account['card'] : null;
        $autoPay = !empty($account['auto_pay']);
        $cardText = '';
        if ($card !== null) {
            $cardText = sprintf(
                /* translators: 1: a card brand such as Visa, 2: its last four digits, 3: month/year it expires */
                __('%1$s ending in %2$s, expires %3$s', 'billing-bridge'),
                ucfirst((string) ($card['brand'] ?? '')),
                (string) ($card['last4'] ?? ''),
                sprintf('%02d/%d', (int) ($card['exp_month'] ?? 0), (int) ($card['exp_year'] ?? 0))
            );
            if (($card['expiry'] ?? null) === 'expired') {
                $cardText .= ' ' . __('(expired)', 'billing-bridge');
            } elseif (($card['expiry'] ?? null) === 'expires_soon') {
                $cardText .= ' ' . __('(expires soon)', 'billing-bridge');
            }
        }
        echo '<div class="bb-cards">';
        printf(
            '<div class="bb-card" id="billing-bridge-due"><h2>%1$s</h2><p class="bb-figure%2$s">%3$s</p><p>%4$s</p></div>',
            esc_html__('Amount due', 'billing-bridge'),
            $due > 0 ? ' bb-warn' : '',
            esc_html($due > 0 ? (string) ($account['amount_due_display'] ?? '') : __('Nothing', 'billing-bridge')),
            esc_html(sprintf(
                /* translators: %d: number of unpaid invoices */
                _n('%d unpaid invoice on the account.', '%d unpaid invoices on the account.', $unpaid, 'billing-bridge'),
                $unpaid
            ))
        );
        $links = [];
        $updateCard = (string) ($account['update_card_url'] ?? '');
        if ($updateCard !== '' && $this->accountGrants('pay') && $this->isBridgeUrl($updateCard)) {
            $links[] = sprintf(
                '<a class="button" id="billing-bridge-update-card" target="_blank" rel="noopener" href="%1$s">%2$s</a>',
                esc_url($updateCard),
                esc_html($card !== null ? __('Update card', 'billing-bridge') : __('Add a card', 'billing-bridge'))
            );
        }
        printf(
            '<div class="bb-card" id="billing-bridge-auto-pay" data-auto-pay="%1$d"><h2>%2$s</h2><p class="bb-figure">%3$s</p><p>%4$s</p>%5$s</div>',
            $autoPay ? 1 : 0,
            esc_html__('Auto-pay', 'billing-bridge'),
            esc_html($autoPay ? __('On', 'billing-bridge') : __('Off', 'billing-bridge')),
            esc_html($autoPay
                ? ($cardText !== '' ? $cardText : __('Renewals are charged to the saved card.', 'billing-bridge'))
                : __('Invoices are sent to be paid.', 'billing-bridge')),
            $links !== [] ? '<p>' . implode(' ', $links) . '</p>' : '' // Built above from escaped parts.
        );
        $portal = (string) ($account['portal_url'] ?? '');
        if ($portal !== '' && $this->isBridgeUrl($portal)) {
            printf(
                '<div class="bb-card" id="billing-bridge-portal"><h2>%1$s</h2><p>%2$s</p>'
                . '<p><a class="button" target="_blank" rel="noopener" href="%3$s">%4$s</a></p></div>',
                esc_html__('Client portal', 'billing-bridge'),
                esc_html__('Subscriptions, payments, credit notes and your details.', 'billing-bridge'),
                esc_url($portal),
                esc_html__('Open the client portal', 'billing-bridge')
            );
        }
        echo '</div>';

        $sites = array_values(array_filter((array) ($account['sites'] ?? []), 'is_array'));
        printf('<h2>%s</h2>', esc_html__('Sites', 'billing-bridge'));
        echo '<ul class="bb-sites" id="billing-bridge-sites">';
        foreach ($sites as $site) {
            $url = esc_url((string) ($site['url'] ?? ''), ['http', 'https']);
            $name = esc_html((string) ($site['name'] ?? ''));
            printf(
                '<li%1$s>%2$s%3$s</li>',
                !empty($site['this_site']) ? ' class="bb-this-site"' : '',
                $url !== '' ? sprintf('<a href="%1$s" target="_blank" rel="noopener">%2$s</a>', $url, $name) : $name,
                !empty($site['this_site']) ? ' <span class="bb-tag">' . esc_html__('this site', 'billing-bridge') . '</span>' : ''
            );
        }
        echo '</ul>';

        $invoices = is_array($account['invoices'] ?? null) ? $account['invoices'] : [];
        $rows = is_array($invoices['data'] ?? null) ? $invoices['data'] : [];
        $paged = max(1, (int) ($invoices['page'] ?? 1));
        $pages = max(1, (int) ($invoices['pages'] ?? 1));
        $total = (int) ($invoices['total'] ?? count($rows));
        printf('<h2>%s</h2>', esc_html__('Invoices', 'billing-bridge'));
        if ($rows === []) {
            printf('<p>%s</p>', esc_html($total > 0 ? __('No invoices on this page.', 'billing-bridge') : __('No invoices.', 'billing-bridge')));
        } else {
            $this->invoiceTable('billing-bridge-account-invoices', $rows, true, ['from' => 'account', 'paged' => $paged], $this->accountGrants('pay'));
        }
        if ($pages > 1) {
            $links = paginate_links([
                'base' => add_query_arg('paged', '%#%', admin_url('admin.php?page=' . self::SLUGS['account'])),
                'format' => '',
                'current' => $paged,
                'total' => $pages,
                'prev_text' => '&laquo; ' . esc_html__('Newer', 'billing-bridge'),
                'next_text' => esc_html__('Older', 'billing-bridge') . ' &raquo;',
            ]);
            printf(
                '<nav class="bb-pages" id="billing-bridge-pages" aria-label="%1$s"><span class="displaying-num">%2$s</span> %3$s</nav>',
                esc_attr__('Invoice pages', 'billing-bridge'),
                esc_html(sprintf(
                    /* translators: 1: page number, 2: number of pages, 3: number of invoices */
                    _n('Page %1$d of %2$d (%3$d invoice)', 'Page %1$d of %2$d (%3$d invoices)', $total, 'billing-bridge'),
                    $paged,
                    $pages,
                    $total
                )),
                wp_kses_post((string) $links)
            );
        }
        $this->freshness($result);
        echo '</div>';
    }

    /** Whether $url leads to the bridge's own host (links the bridge built, shown as they are). */
    private function isBridgeUrl(string $url): bool
    {
        $host = Settings::hostOf(esc_url_raw($url, ['http', 'https']));
        return $host !== '' && $host === $this->bridge->settings()->bridgeHost();
    }

    /**
     * The invoices table of Billing and My account (with the Site column).
     *
     * @param array<int|string, mixed> $invoices
     * @param array<string, int|string> $linkArgs where Pay and PDF find the invoice again
     * @param bool $mayPay whether the user's role allows paying these invoices
     */
    private function invoiceTable(string $id, array $invoices, bool $withSite, array $linkArgs, bool $mayPay): void
    {
        $headings = [__('Number', 'billing-bridge')];
        if ($withSite) {
            $headings[] = __('Site', 'billing-bridge');
        }
        array_push(
            $headings,
            __('Status', 'billing-bridge'),
            __('Issued', 'billing-bridge'),
            __('Due', 'billing-bridge'),
            __('Total', 'billing-bridge'),
            __('Amount due', 'billing-bridge'),
            __('Actions', 'billing-bridge')
        );
        $this->tableStart($id, $headings);
        foreach ($invoices as $invoice) {
            if (!is_array($invoice)) {
                continue;
            }
            $invoiceId = absint($invoice['id'] ?? 0);
            $status = (string) ($invoice['status'] ?? '');
            $actions = [];
            $payable = $status === 'open' && !empty($invoice['pay_url']) && (int) ($invoice['amount_due'] ?? 0) > 0;
            if ($payable && $mayPay) {
                $actions[] = sprintf(
                    '<a class="button button-primary bb-pay" target="_blank" rel="noopener" href="%1$s">%2$s</a>',
                    esc_url($this->invoiceLink($invoiceId, 'pay', $linkArgs)),
                    esc_html__('Pay', 'billing-bridge')
                );
            }
            if (!empty($invoice['pdf_url'])) {
                $actions[] = sprintf(
                    '<a class="button bb-pdf" href="%1$s">%2$s</a>',
                    esc_url($this->invoiceLink($invoiceId, 'pdf', $linkArgs)),
                    esc_html__('Download PDF', 'billing-bridge')
                );
            }
            $siteCell = '';
            if ($withSite) {
                $site = is_array($invoice['site'] ?? null) ? $invoice['site'] : null;
                $siteCell = sprintf(
                    '<td class="bb-site%1$s" data-label="%2$s">%3$s</td>',
                    !empty($invoice['this_site']) ? ' bb-this-site' : '',
                    esc_attr__('Site', 'billing-bridge'),
                    esc_html($site !== null ? (string) ($site['name'] ?? '') : __('No site (one-off work)', 'billing-bridge'))
                );
            }
            printf(
                '<tr id="bb-invoice-%1$d" data-invoice-id="%1$d"><td class="bb-number" data-label="%10$s">%2$s</td>%3$s'
                . '<td class="bb-status bb-status-%4$s" data-status="%4$s" data-label="%11$s">%5$s</td>'
                . '<td data-label="%12$s">%6$s</td><td data-label="%13$s">%7$s</td>'
                . '<td class="bb-total" data-label="%14$s">%8$s</td><td class="bb-amount-due" data-label="%15$s">%9$s</td>'
                . '<td class="bb-actions">%16$s</td></tr>',
                $invoiceId,
                esc_html((string) ($invoice['number'] ?? '')),
                $siteCell, // Built above from escaped parts.
                esc_attr($status),
                esc_html($this->invoiceStatus($status)),
                esc_html($this->invoiceDate($invoice)),
                esc_html($this->shownDate($invoice, 'due_at')),
                esc_html((string) ($invoice['total_display'] ?? '')),
                esc_html((string) ($invoice['amount_due_display'] ?? '')),
                esc_attr__('Number', 'billing-bridge'),
                esc_attr__('Status', 'billing-bridge'),
                esc_attr__('Issued', 'billing-bridge'),
                esc_attr__('Due', 'billing-bridge'),
                esc_attr__('Total', 'billing-bridge'),
                esc_attr__('Amount due', 'billing-bridge'),
                implode(' ', $actions) // Built above from escaped parts.
            );
        }
        echo '</tbody></table>';
    }

    public function renderHosting(): void
    {
        $result = $this->view['summary'] ?? $this->bridge->summary();
        $plan = $result->arrayData()['hosting_plan'] ?? null;
        echo '<div class="wrap billing-bridge" id="billing-bridge-hosting">';
        $this->brandHeader();
        printf('<h1>%s</h1>', esc_html__('Hosting', 'billing-bridge'));
        $this->restrictedNote();
        printf('<h2>%s</h2>', esc_html__('Hosting plan', 'billing-bridge'));
        if (is_array($plan)) {
            $this->tableStart('billing-bridge-hosting-plan', [
                __('Product', 'billing-bridge'),
                __('Plan', 'billing-bridge'),
                __('Status', 'billing-bridge'),
                __('Amount', 'billing-bridge'),
                __('Current period ends', 'billing-bridge'),
            ]);
            $status = (string) ($plan['status'] ?? '');
            printf(
                '<tr><td>%1$s</td><td class="bb-plan">%2$s</td><td class="bb-status bb-status-%3$s" data-status="%3$s">%4$s</td>'
                . '<td>%5$s</td><td>%6$s</td></tr></tbody></table>',
                esc_html((string) ($plan['product'] ?? '')),
                esc_html((string) ($plan['plan'] ?? '')),
                esc_attr($status),
                esc_html($this->subscriptionStatus($status)),
                esc_html($this->amount($plan)),
                esc_html($this->shownDate($plan, 'current_period_end'))
            );
            if (!empty($plan['cancel_at_period_end'])) {
                /* translators: %s: a date */
                $ending = __('This plan is ending: it stops on %s and will not renew.', 'billing-bridge');
                printf(
                    '<p class="bb-warn" id="billing-bridge-plan-ending">%s</p>',
                    esc_html(sprintf($ending, $this->shownDate($plan, 'current_period_end')))
                );
            }
        } elseif ($result->hasData()) {
            printf('<p id="billing-bridge-no-plan">%s</p>', esc_html__('This site has no hosting plan.', 'billing-bridge'));
        } else {
            printf('<p>%s</p>', esc_html__('The hosting plan is not available right now.', 'billing-bridge'));
        }
        printf('<h2>%s</h2>', esc_html__('This site right now', 'billing-bridge'));
        $this->tableStart('billing-bridge-facts', [__('Fact', 'billing-bridge'), __('Value', 'billing-bridge')]);
        foreach ($this->view['facts'] ?? [] as $fact) {
            printf(
                '<tr data-fact="%1$s"><th scope="row">%2$s</th><td>%3$s</td></tr>',
                esc_attr($fact['key']),
                esc_html($fact['label']),
                esc_html($fact['value'])
            );
        }
        echo '</tbody></table>';
        $this->freshness($result);
        echo '</div>';
    }

    public function renderSeo(): void
    {
        $result = $this->view['seo'] ?? $this->bridge->seoLatest();
        $scan = $result->arrayData()['scan'] ?? null;
        $permissions = $this->permissions();
        echo '<div class="wrap billing-bridge" id="billing-bridge-seo">';
        $this->brandHeader();
        printf('<h1>%s</h1>', esc_html__('SEO', 'billing-bridge'));
        $this->restrictedNote();
        $restricted = $this->restricted();
        echo '<div class="bb-actions">';
        if ($permissions->canDo('seo_scan') && !$restricted) {
            $this->actionButton('seo_scan', __('Run a new scan', 'billing-bridge'), 'billing-bridge-run-scan');
        }
        $configures = $permissions->canDo('seo_configure') && !$restricted;
        if ($configures && $this->mayChangeSiteSettings()) {
            $this->actionButton('seo_configure', __('Apply configuration', 'billing-bridge'), 'billing-bridge-configure');
        }
        echo '</div>';
        if ($configures && $this->mayChangeSiteSettings()) {
            printf(
                '<p class="description">%s</p>',
                esc_html__('Apply configuration lets search engines index the site and sets pretty permalinks (/%postname%/).', 'billing-bridge')
            );
        } elseif ($configures) {
            printf(
                '<p class="description" id="billing-bridge-configure-admin">%s</p>',
                esc_html__(
                    'Search-engine visibility and permalinks are changed by an administrator of this site (Settings > Reading and Settings > Permalinks).',
                    'billing-bridge'
                )
            );
        }
        if (!is_array($scan)) {
            printf('<p id="billing-bridge-no-scan">%s</p></div>', esc_html__('No SEO scan yet.', 'billing-bridge'));
            return;
        }
        $when = $scan['scanned_at'] ?? ($scan['received_at'] ?? null);
        /* translators: %s: a date and time */
        printf('<p>%s</p>', esc_html(sprintf(__('Latest scan: %s.', 'billing-bridge'), $this->date($when, true))));
        $site = is_array($scan['site'] ?? null) ? $scan['site'] : [];
        $permalinks = (string) ($site['permalink_structure'] ?? '');
        $this->tableStart('billing-bridge-seo-site', [__('Check', 'billing-bridge'), __('Result', 'billing-bridge')]);
        $this->check('blog_public', __('Search engines may index the site', 'billing-bridge'), !empty($site['blog_public']));
        $this->check('sitemap', __('Sitemap (wp-sitemap.xml)', 'billing-bridge'), !empty($site['sitemap']));
        printf(
            '<tr data-check="permalink_structure"><th scope="row">%1$s</th><td class="%2$s">%3$s</td></tr>',
            esc_html__('Permalink structure', 'billing-bridge'),
            $permalinks === '' ? 'bb-warn' : 'bb-ok',
            esc_html($permalinks === '' ? __('Plain (?p=123): not search-friendly', 'billing-bridge') : $permalinks)
        );
        echo '</tbody></table>';

        $pages = is_array($scan['pages'] ?? null) ? $scan['pages'] : [];
        $this->tableStart('billing-bridge-seo-pages', [
            __('Page', 'billing-bridge'),
            __('Title', 'billing-bridge'),
            __('Title length', 'billing-bridge'),
            __('Meta description', 'billing-bridge'),
            __('H1 headings', 'billing-bridge'),
            __('Images without alt text', 'billing-bridge'),
        ]);
        foreach ($pages as $page) {
            if (!is_array($page)) {
                continue;
            }
            $length = (int) ($page['title_length'] ?? 0);
            $h1 = (int) ($page['h1_count'] ?? 0);
            $images = (int) ($page['images_without_alt'] ?? 0);
            $description = (string) ($page['meta_description'] ?? '');
            printf(
                '<tr class="bb-seo-page"><td>%1$s</td><td>%2$s</td><td class="%3$s">%4$d</td><td class="%5$s">%6$s</td>'
                . '<td class="%7$s">%8$d</td><td class="%9$s">%10$d</td></tr>',
                esc_html((string) ($page['url'] ?? '')),
                esc_html((string) ($page['title'] ?? '')),
                $length >= 10 && $length <= 60 ? 'bb-ok' : 'bb-warn',
                $length,
                $description === '' ? 'bb-warn' : 'bb-ok',
                esc_html($description === '' ? __('Missing', 'billing-bridge') : $description),
                $h1 === 1 ? 'bb-ok' : 'bb-warn',
                $h1,
                $images === 0 ? 'bb-ok' : 'bb-warn',
                $images
            );
        }
        echo '</tbody></table>';
        $this->freshness($result);
        echo '</div>';
    }

    public function renderSettings(): void
    {
        $settings = $this->bridge->settings();
        echo '<div class="wrap billing-bridge" id="billing-bridge-settings">';
        printf('<h1>%s</h1>', esc_html__('Billing Bridge settings', 'billing-bridge'));
        if (Settings::isInsecureUrl($settings->bridgeUrl())) {
            printf(
                '<div class="notice notice-warning inline" id="billing-bridge-insecure"><p>%s</p></div>',
                esc_html__(
                    'The bridge URL uses http:// to another machine: requests and billing data travel unencrypted. Use the bridge\'s https:// address.',
                    'billing-bridge'
                )
            );
        }
        if ($settings->isConnected()) {
            printf(
                '<p id="billing-bridge-status">%s</p>',
                esc_html(sprintf(
                    /* translators: 1: site id, 2: client name */
                    __('Connected as site %1$s (client: %2$s).', 'billing-bridge'),
                    $settings->siteId(),
                    $settings->clientName() !== '' ? $settings->clientName() : __('unknown', 'billing-bridge')
                ))
            );
        } else {
            printf('<p id="billing-bridge-status">%s</p>', esc_html__('Not connected.', 'billing-bridge'));
        }
        printf('<form method="post" action="%s">', esc_url(admin_url('admin-post.php')));
        echo '<input type="hidden" name="action" value="billing_bridge_settings">';
        wp_nonce_field('billing_bridge_settings');
        echo '<table class="form-table" role="presentation"><tbody>';
        $this->field(
            'bridge_url',
            __('Bridge URL', 'billing-bridge'),
            'url',
            $settings->bridgeUrl(),
            __('The address of your agency\'s Billing Bridge, e.g. https://billing.agency.example', 'billing-bridge')
        );
        $this->field(
            'connect_code',
            __('Connect code', 'billing-bridge'),
            'text',
            '',
            __('A one-time code from the Hub (BBC-...). It replaces the site id and secret below.', 'billing-bridge')
        );
        $this->field('site_id', __('Site id', 'billing-bridge'), 'text', $settings->siteId(), __('Or enter the site id and secret by hand.', 'billing-bridge'));
        $this->field(
            'secret',
            __('Site secret', 'billing-bridge'),
            'password',
            '',
            $settings->hasSecret()
                ? __('A secret is saved; it is never shown. Leave empty to keep it.', 'billing-bridge')
                : __('No secret saved yet.', 'billing-bridge')
        );
        $this->field(
            'cache_ttl',
            __('Cache lifetime (seconds)', 'billing-bridge'),
            'number',
            (string) $settings->ttl(),
            __('How long answers of the bridge are reused before asking again.', 'billing-bridge')
        );
        echo '</tbody></table>';
        submit_button(__('Save and connect', 'billing-bridge'), 'primary', 'submit', true, ['id' => 'billing-bridge-save']);
        echo '</form>';
        if ($settings->isConnected()) {
            printf('<h2>%s</h2>', esc_html__('Test the connection', 'billing-bridge'));
            $this->actionButton('test', __('Test connection', 'billing-bridge'), 'billing-bridge-test');
        }
        if ($settings->bridgeUrl() !== '' || $settings->siteId() !== '' || $settings->hasSecret()) {
            printf('<h2>%s</h2>', esc_html__('Disconnect', 'billing-bridge'));
            printf(
                '<p class="description">%s</p>',
                esc_html__(
                    'Deletes the bridge URL, this site\'s id and secret and every saved answer of the billing service. Connect again with a new connect code.',
                    'billing-bridge'
                )
            );
            printf(
                '<form method="post" action="%1$s" onsubmit="return window.confirm(\'%2$s\');">',
                esc_url(admin_url('admin-post.php')),
                esc_attr(esc_js(__('Disconnect this site from the billing service? Its saved information is deleted.', 'billing-bridge')))
            );
            echo '<input type="hidden" name="action" value="billing_bridge_disconnect">';
            wp_nonce_field('billing_bridge_disconnect');
            printf(
                '<button type="submit" class="button button-link-delete" id="billing-bridge-disconnect">%s</button></form>',
                esc_html__('Disconnect', 'billing-bridge')
            );
        }
        echo '</div>';
    }

    // Actions (admin-post.php) ----------------------------------------------------

    public function actionSettings(): void
    {
        $this->guardAction('settings');
        check_admin_referer('billing_bridge_settings');
        $settings = $this->bridge->settings();
        // phpcs:disable -- nonce checked above; each value is sanitized here.
        $url = Settings::sanitizeUrl((string) wp_unslash($_POST['bridge_url'] ?? ''));
        $code = sanitize_text_field((string) wp_unslash($_POST['connect_code'] ?? ''));
        $siteId = sanitize_text_field((string) wp_unslash($_POST['site_id'] ?? ''));
        $secret = sanitize_text_field((string) wp_unslash($_POST['secret'] ?? ''));
        $ttl = Settings::clampTtl(absint($_POST['cache_ttl'] ?? Settings::DEFAULT_TTL));
        // phpcs:enable
        if ($url === '') {
            $this->flash([['error', __('Enter the bridge URL (http:// or https://).', 'billing-bridge')]]);
            $this->redirectTo('settings');
        }
        if ($code !== '') {
            try {
                $answer = (new BridgeClient($url))->connect($code);
            } catch (BridgeException $e) {
                /* translators: %s: the error */
                $this->flash([['error', sprintf(__('Connecting failed: %s', 'billing-bridge'), $e->getMessage())]]);
                $this->redirectTo('settings');
            }
            if (!is_string($answer['site_id'] ?? null) || !is_string($answer['secret'] ?? null)) {
                $this->flash([['error', __('Connecting failed: the bridge did not send credentials.', 'billing-bridge')]]);
                $this->redirectTo('settings');
            }
            $client = is_array($answer['client'] ?? null) ? (string) ($answer['client']['name'] ?? '') : '';
            $settings->save([
                'bridge_url' => $url,
                'site_id' => sanitize_text_field($answer['site_id']),
                'secret' => $answer['secret'],
                'client_name' => sanitize_text_field($client),
                'cache_ttl' => $ttl,
                'connected_at' => time(),
            ]);
            Plugin::flushCache();
            /* translators: %s: client name */
            $this->flash([['success', sprintf(__('Connected. This site belongs to %s.', 'billing-bridge'), $client)]]);
            $this->redirectTo('settings');
        }
        $changes = ['bridge_url' => $url, 'site_id' => $siteId, 'cache_ttl' => $ttl];
        if ($secret !== '') {
            $changes['secret'] = $secret;
        }
        $moved = $url !== $settings->bridgeUrl() || $siteId !== $settings->siteId() || $secret !== '';
        if ($moved) {
            $changes['client_name'] = '';
        }
        $settings->save($changes);
        if ($moved) {
            Plugin::flushCache();
        }
        $this->flash([['success', __('Settings saved.', 'billing-bridge')]]);
        $this->redirectTo('settings');
    }

    public function actionTest(): void
    {
        $this->guardAction('settings');
        check_admin_referer('billing_bridge_test');
        try {
            $summary = $this->bridge->freshSummary();
        } catch (BridgeException $e) {
            /* translators: %s: the error */
            $this->flash([['error', sprintf(__('The connection failed: %s', 'billing-bridge'), $e->getMessage())]]);
            $this->redirectTo('settings');
        }
        $client = (string) ($summary['client']['name'] ?? '');
        $hosting = is_array($summary['hosting_plan'] ?? null) ? $summary['hosting_plan'] : [];
        $names = array_filter([(string) ($hosting['product'] ?? ''), (string) ($hosting['plan'] ?? '')], 'strlen');
        $plan = $names !== [] ? implode(' – ', $names) : __('none', 'billing-bridge');
        $this->bridge->settings()->save(['client_name' => sanitize_text_field($client)]);
        $this->flash([[
            'success',
            /* translators: 1: client name, 2: hosting plan */
            sprintf(__('The connection works. Client: %1$s. Hosting plan: %2$s.', 'billing-bridge'), $client, $plan),
        ]]);
        $this->redirectTo('settings');
    }

    /** Forgets the bridge: its URL, this site's id and secret, every cached answer (administrators). */
    public function actionDisconnect(): void
    {
        $this->guardAction('settings'); // manage_options: Permissions grants settings to administrators only
        check_admin_referer('billing_bridge_disconnect');
        Cleanup::site();
        Plugin::reset();
        $this->flash([[
            'success',
            __('Disconnected: the bridge URL, the site id and secret and the saved answers are deleted.', 'billing-bridge'),
        ]]);
        $this->redirectTo('settings');
    }

    public function actionInvoice(): void
    {
        // phpcs:disable -- read-only redirect; nonce checked below.
        $do = isset($_GET['do']) && $_GET['do'] === 'pay' ? 'pay' : 'pdf';
        $id = absint($_GET['invoice'] ?? 0);
        // phpcs:enable
        $this->guardAction($do === 'pay' ? 'invoice_pay' : 'invoice_pdf');
        check_admin_referer('billing_bridge_invoice_' . $do . '_' . $id);
        if (isset($_GET['from']) && $_GET['from'] === 'account') { // phpcs:ignore -- nonce checked above
            // Another site's invoice, or one billed on no site, from My account's
            // page: the client-wide billing grant decides, not the site's.
            if (!$this->mayReadAccount() || !$this->accountGrants($do === 'pay' ? 'pay' : 'view')) {
                $this->forbidden(__('Sorry, your role does not allow this action.', 'billing-bridge'));
            }
            $account = $this->bridge->account(wp_get_current_user()->user_email, $this->pagedArg())->arrayData();
            $invoices = (array) ($account['invoices']['data'] ?? []);
        } else {
            $invoices = (array) ($this->bridge->summary()->arrayData()['invoices'] ?? []);
        }
        foreach ($invoices as $invoice) {
            if (is_array($invoice) && (int) ($invoice['id'] ?? 0) === $id) {
                // A link the bridge built (http or https only), to the bridge's own host
                // only; not wp_http_validate_url, which refuses a bridge on a private
                // address or another port.
                $url = esc_url_raw((string) ($invoice[$do . '_url'] ?? ''), ['http', 'https']);
                $host = (string) wp_parse_url($url, PHP_URL_HOST);
                $bridgeHost = $this->bridge->settings()->bridgeHost();
                if ($host !== '' && strtolower($host) === $bridgeHost) {
                    add_filter('allowed_redirect_hosts', static fn (array $hosts): array => array_merge($hosts, [$host]));
                    wp_safe_redirect($url, 303, 'Billing Bridge');
                    exit;
                }
            }
        }
        wp_die(
            esc_html__('This invoice cannot be opened right now.', 'billing-bridge'),
            esc_html__('Not found', 'billing-bridge'),
            ['response' => 404, 'back_link' => true]
        );
    }

    public function actionSeoScan(): void
    {
        $this->guardAction('seo_scan');
        check_admin_referer('billing_bridge_seo_scan');
        $scan = (new SeoScanner())->scan();
        try {
            $this->bridge->postScan($scan);
            $this->flash([[
                'success',
                /* translators: %d: number of pages */
                sprintf(_n('Scan done: %d page checked.', 'Scan done: %d pages checked.', count($scan['pages']), 'billing-bridge'), count($scan['pages'])),
            ]]);
        } catch (BridgeException $e) {
            /* translators: %s: the error */
            $this->flash([['error', sprintf(__('The scan could not be sent to the billing service: %s', 'billing-bridge'), $e->getMessage())]]);
        }
        $this->redirectTo('seo');
    }

    public function actionSeoConfigure(): void
    {
        $this->guardAction('seo_configure');
        check_admin_referer('billing_bridge_seo_configure');
        if (!$this->mayChangeSiteSettings()) {
            $this->forbidden(__('Changing search-engine visibility and permalinks needs an administrator of this site.', 'billing-bridge'));
        }
        SiteConfiguration::apply();
        $this->flash([[
            'success',
            __('Configuration applied: search engines may index the site and permalinks are /%postname%/. Scan again to update the report.', 'billing-bridge'),
        ]]);
        $this->redirectTo('seo');
    }

    /**
     * Whether the current user may change the site's search-engine
     * visibility and permalinks: an administrator of the site (manage_options,
     * as Settings > Reading and > Permalinks ask), or anyone whose role grants
     * SEO configure when the agency delegates it (from the cached summary).
     */
    private function mayChangeSiteSettings(): bool
    {
        $summary = $this->bridge->peekSummary();
        $delegated = $summary !== null && ($summary->arrayData()['seo_configure_delegated'] ?? false) === true;
        return SiteConfiguration::mayChange(current_user_can('manage_options'), $delegated);
    }

    /** @return never */
    private function redirectTo(string $page): void
    {
        wp_safe_redirect(admin_url('admin.php?page=' . self::SLUGS[$page]));
        exit;
    }

    // Small renderers -------------------------------------------------------------

    /** @param array<string, int|string> $args where to find the invoice (My account's page) */
    public function invoiceLink(int $id, string $do, array $args = []): string
    {
        $url = add_query_arg(
            ['action' => 'billing_bridge_invoice', 'invoice' => $id, 'do' => $do] + $args,
            admin_url('admin-post.php')
        );
        return wp_nonce_url($url, 'billing_bridge_invoice_' . $do . '_' . $id);
    }

    private function actionButton(string $action, string $label, string $id): void
    {
        printf('<form method="post" action="%s">', esc_url(admin_url('admin-post.php')));
        printf('<input type="hidden" name="action" value="%s">', esc_attr('billing_bridge_' . $action));
        wp_nonce_field('billing_bridge_' . $action);
        printf('<button type="submit" class="button" id="%1$s">%2$s</button></form>', esc_attr($id), esc_html($label));
    }

    private function field(string $name, string $label, string $type, string $value, string $help): void
    {
        printf(
            '<tr><th scope="row"><label for="billing-bridge-%1$s">%2$s</label></th><td>'
            . '<input class="regular-text" type="%3$s" id="billing-bridge-%1$s" name="%1$s" value="%4$s" autocomplete="off">'
            . '<p class="description">%5$s</p></td></tr>',
            esc_attr($name),
            esc_html($label),
            esc_attr($type),
            esc_attr($value),
            esc_html($help)
        );
    }

    /** @param list<string> $headings */
    private function tableStart(string $id, array $headings): void
    {
        printf('<table class="widefat striped" id="%s"><thead><tr>', esc_attr($id));
        foreach ($headings as $heading) {
            printf('<th scope="col">%s</th>', esc_html($heading));
        }
        echo '</tr></thead><tbody>';
    }

    private function check(string $key, string $label, bool $ok): void
    {
        printf(
            '<tr data-check="%1$s" data-ok="%2$d"><th scope="row">%3$s</th><td class="%4$s">%5$s</td></tr>',
            esc_attr($key),
            $ok ? 1 : 0,
            esc_html($label),
            $ok ? 'bb-ok' : 'bb-warn',
            esc_html($ok ? __('Yes', 'billing-bridge') : __('No', 'billing-bridge'))
        );
    }

    private function freshness(CacheResult $result): void
    {
        if ($result->fetchedAt === null) {
            return;
        }
        printf(
            '<p class="description" id="billing-bridge-freshness" data-fetched-at="%1$d">%2$s</p>',
            $result->fetchedAt,
            /* translators: %s: a date and time */
            esc_html(sprintf(__('Information from the billing service as of %s.', 'billing-bridge'), $this->dateTime($result->fetchedAt)))
        );
    }

    /** @param array<string, mixed> $row */
    private function amount(array $row): string
    {
        $amount = (string) ($row['amount_display'] ?? '');
        $interval = (string) ($row['interval'] ?? '');
        /* translators: 1: an amount, 2: an interval such as "1 month" */
        return $interval !== '' ? sprintf(__('%1$s / %2$s', 'billing-bridge'), $amount, $interval) : $amount;
    }

    /** @param mixed $iso */
    public function date($iso, bool $withTime = false): string
    {
        $timestamp = is_string($iso) && $iso !== '' ? strtotime($iso) : false;
        if ($timestamp === false) {
            return '—';
        }
        return $withTime ? $this->dateTime($timestamp) : wp_date((string) get_option('date_format'), $timestamp);
    }

    /**
     * The date $row[$key] as the bridge wrote it for the reader's language
     * ($key . '_display'), else (older bridges) formatted here.
     *
     * @param array<string, mixed> $row
     */
    public function shownDate(array $row, string $key): string
    {
        $shown = $row[$key . '_display'] ?? null;
        return is_string($shown) && $shown !== '' ? $shown : $this->date($row[$key] ?? null);
    }

    /**
     * The invoice's issue date as printed on it: a calendar date the bridge
     * fixed in the agency's time zone, shown as is (never shifted into the
     * site's zone, which could move it a day). Older bridges send only the
     * instant it was issued.
     */
    private function invoiceDate(array $invoice): string
    {
        if (is_string($invoice['issue_date_display'] ?? null) && $invoice['issue_date_display'] !== '') {
            return $invoice['issue_date_display'];
        }
        $day = $invoice['issue_date'] ?? null;
        if (is_string($day) && preg_match('/^\d{4}-\d{2}-\d{2}$/', $day)) {
            $utc = new \DateTimeZone('UTC');
            $midnight = \DateTimeImmutable::createFromFormat('!Y-m-d', $day, $utc);
            if ($midnight !== false) {
                return wp_date((string) get_option('date_format'), $midnight->getTimestamp(), $utc);
            }
        }
        return $this->date($invoice['issued_at'] ?? null);
    }

    private function dateTime(int $timestamp): string
    {
        return wp_date(get_option('date_format') . ' ' . get_option('time_format'), $timestamp);
    }

    private function invoiceStatus(string $status): string
    {
        $labels = [
            'open' => __('Unpaid', 'billing-bridge'),
            'paid' => __('Paid', 'billing-bridge'),
            'void' => __('Void', 'billing-bridge'),
            'uncollectible' => __('Uncollectible', 'billing-bridge'),
            'draft' => __('Draft', 'billing-bridge'),
        ];
        return $labels[$status] ?? $status;
    }

    private function subscriptionStatus(string $status): string
    {
        $labels = [
            'pending' => __('Pending', 'billing-bridge'),
            'active' => __('Active', 'billing-bridge'),
            'past_due' => __('Past due', 'billing-bridge'),
            'cancelled' => __('Cancelled', 'billing-bridge'),
            'expired' => __('Expired', 'billing-bridge'),
        ];
        return $labels[$status] ?? $status;
    }
}
