<?php

namespace BillingBridge\Tests;

use BillingBridge\Cleanup;
use PHPUnit\Framework\TestCase;
use WpStub;

/** Which stored names Disconnect, a new connection and uninstalling delete. */
final class CleanupTest extends TestCase
{
    private const NAMES = [
        'billing_bridge_settings',
        'billing_bridge_last_summary',
        'billing_bridge_refresh_token',
        '_transient_billing_bridge_c_summary',
        '_transient_timeout_billing_bridge_c_summary',
        '_transient_billing_bridge_c_access_0123abcd',
        '_transient_billing_bridge_down',
        '_transient_billing_bridge_fail_seo_latest',
        '_transient_billing_bridge_refreshing',
        '_transient_billing_bridge_flash_1',
        '_transient_billing_bridge_disk',
        'billing_bridge_activated',
        'billing_bridgex',
        'blogname',
        '_transient_other_plugin_billing_bridge_c_x',
        '_site_transient_billing_bridge_c_x',
    ];

    /** The transients holding the bridge's answers, failures and refresh lock. */
    private const FROM_THE_BRIDGE = [
        'billing_bridge_c_summary',
        'billing_bridge_c_access_0123abcd',
        'billing_bridge_down',
        'billing_bridge_fail_seo_latest',
        'billing_bridge_refreshing',
    ];

    public function testANewConnectionForgetsOnlyWhatTheBridgeSaid(): void
    {
        [$options, $transients] = Cleanup::select(self::NAMES, false);
        self::assertSame(['billing_bridge_last_summary'], $options);
        self::assertSame(self::FROM_THE_BRIDGE, $transients);
    }

    public function testEverythingMeansEveryOptionAndTransientOfThePluginAndNothingElse(): void
    {
        [$options, $transients] = Cleanup::select(self::NAMES, true);
        self::assertSame([
            'billing_bridge_settings',
            'billing_bridge_last_summary',
            'billing_bridge_refresh_token',
            'billing_bridge_activated',
        ], $options);
        self::assertSame([
            ...self::FROM_THE_BRIDGE,
            'billing_bridge_flash_1',
            'billing_bridge_disk',
        ], $transients);
    }

    protected function setUp(): void
    {
        WpStub::reset();
    }

    /** @return array{options: array<string, mixed>, transients: array<string, mixed>} */
    private static function storedBy(string $site): array
    {
        return [
            'options' => ['blogname' => $site, 'billing_bridge_settings' => ['bridge_url' => 'https://b.example'], 'billing_bridge_last_summary' => []],
            'transients' => ['billing_bridge_c_summary' => ['value' => 1, 'expires' => 0], 'other_plugin' => ['value' => 2, 'expires' => 0]],
        ];
    }

    public function testUninstallingCleansEverySiteOfANetworkAndFlushesNoCache(): void
    {
        WpStub::$sites = [1 => self::storedBy('one'), 2 => self::storedBy('two'), 5 => self::storedBy('five')];
        ['options' => WpStub::$options, 'transients' => WpStub::$transients] = WpStub::$sites[1];

        Cleanup::everywhere();

        foreach ([1, 2, 5] as $site) {
            switch_to_blog($site);
            self::assertSame(['blogname'], array_keys(WpStub::$options), "site $site");
            self::assertSame(['other_plugin'], array_keys(WpStub::$transients), "site $site");
        }
        self::assertNotContains('wp_cache_flush', WpStub::$calls);
        self::assertContains('wp_clear_scheduled_hook billing_bridge_refresh on 5', WpStub::$calls);
    }

    public function testANewConnectionKeepsTheSettings(): void
    {
        ['options' => WpStub::$options, 'transients' => WpStub::$transients] = self::storedBy('one');
        Cleanup::bridgeData();
        self::assertSame(['blogname', 'billing_bridge_settings'], array_keys(WpStub::$options));
        self::assertSame(['other_plugin'], array_keys(WpStub::$transients));
        self::assertSame([], WpStub::$calls);
    }
}
