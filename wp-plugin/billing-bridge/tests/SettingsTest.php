<?php

namespace BillingBridge\Tests;

use BillingBridge\Settings;
use PHPUnit\Framework\TestCase;
use WpStub;

/** The stored settings: defaults, the cache lifetime's bounds, connected or not. */
final class SettingsTest extends TestCase
{
    protected function setUp(): void
    {
        WpStub::reset();
    }

    public function testDefaults(): void
    {
        $settings = new Settings();
        self::assertSame(60, $settings->ttl());
        self::assertFalse($settings->isConnected());
        self::assertFalse($settings->hasSecret());
    }

    public function testConnectedNeedsUrlSiteAndSecret(): void
    {
        $settings = new Settings(['bridge_url' => 'https://bridge.example/', 'site_id' => 'site_1']);
        self::assertFalse($settings->isConnected());
        $settings->save(['secret' => 'bbs_x']);
        self::assertTrue($settings->isConnected());
        self::assertSame('https://bridge.example', $settings->bridgeUrl());
        self::assertSame('bbs_x', WpStub::$options[Settings::OPTION]['secret']);
        self::assertTrue((new Settings())->isConnected(), 'saved in the option');
    }

    public function testTheCacheLifetimeStaysWithinBounds(): void
    {
        self::assertSame(1, (new Settings(['cache_ttl' => 1]))->ttl());
        self::assertSame(2, (new Settings(['cache_ttl' => '2']))->ttl());
        self::assertSame(3600, (new Settings(['cache_ttl' => 999999]))->ttl());
        self::assertSame(60, (new Settings(['cache_ttl' => 0]))->ttl());
        self::assertSame(60, (new Settings(['cache_ttl' => -5]))->ttl());
        self::assertSame(60, (new Settings(['cache_ttl' => 'x']))->ttl());
    }

    public function testAStoredValueThatIsNotAnArrayIsIgnored(): void
    {
        WpStub::$options[Settings::OPTION] = 'garbage';
        $settings = new Settings();
        self::assertSame('', $settings->bridgeUrl());
        self::assertSame(60, $settings->ttl());
    }

    public function testTheBridgeHostIsThatOfTheBridgeUrl(): void
    {
        self::assertSame('billing.agency.example', (new Settings(['bridge_url' => 'https://Billing.Agency.example:8443/']))->bridgeHost());
        self::assertSame('[::1]', (new Settings(['bridge_url' => 'http://[::1]:5000']))->bridgeHost());
        self::assertSame('', (new Settings())->bridgeHost());
    }

    public function testPlainHttpIsInsecureUnlessTheBridgeIsOnThisMachine(): void
    {
        self::assertTrue(Settings::isInsecureUrl('http://billing.agency.example'));
        self::assertTrue(Settings::isInsecureUrl('HTTP://10.0.0.5:5000'));
        self::assertTrue(Settings::isInsecureUrl('http://127.0.0.1.evil.example'));
        self::assertFalse(Settings::isInsecureUrl('https://billing.agency.example'));
        self::assertFalse(Settings::isInsecureUrl('http://127.0.0.1:5000'));
        self::assertFalse(Settings::isInsecureUrl('http://127.8.9.10'));
        self::assertFalse(Settings::isInsecureUrl('http://localhost:5000'));
        self::assertFalse(Settings::isInsecureUrl('http://bridge.localhost'));
        self::assertFalse(Settings::isInsecureUrl('http://[::1]:5000'));
        self::assertFalse(Settings::isInsecureUrl(''));
    }
}
