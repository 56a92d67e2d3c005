<?php

namespace BillingBridge\Tests;

use BillingBridge\Bridge;
use BillingBridge\Cache;
use BillingBridge\Settings;
use PHPUnit\Framework\TestCase;
use WpStub;

/** The bridge's answers in the reader's language: one cached summary per language. */
final class BridgeTest extends TestCase
{
    private Cache $cache;
    private Bridge $bridge;

    protected function setUp(): void
    {
        WpStub::reset();
        $this->cache = new Cache(60, static fn (): int => WpStub::$now);
        $settings = new Settings(['bridge_url' => 'https://bridge.example', 'site_id' => 'site_1', 'secret' => 's']);
        $this->bridge = new Bridge($settings, $this->cache);
    }

    public function testTheSitesLanguageHasTheSummaryKeyOthersTheirOwn(): void
    {
        WpStub::$locale = 'fr_FR';
        self::assertSame('summary', Bridge::summaryKey('fr_FR'));
        self::assertSame('summary_de_de', Bridge::summaryKey('de_DE'));
        self::assertNotSame(Bridge::accountKey('a@b.example', 1, 'de_DE'), Bridge::accountKey('a@b.example', 1, 'fr_FR'));
        self::assertNotSame(Bridge::accountKey('a@b.example', 1, 'de_DE'), Bridge::accountKey('a@b.example', 2, 'de_DE'));
        self::assertSame(Bridge::accountKey('A@B.example ', 1, 'de_DE'), Bridge::accountKey('a@b.example', 1, 'de_DE'));
    }

    public function testTheReaderLanguageIsSentOnlyWhenWellFormed(): void
    {
        self::assertSame('en_US', Bridge::locale()); // nobody logged in: the site's
        WpStub::$userLocale = 'de_DE_formal';
        self::assertSame('de_DE_formal', Bridge::locale());
        WpStub::$userLocale = 'de DE';
        self::assertSame('en_US', Bridge::locale());
    }

    public function testPeekingPrefersTheReadersFreshCopyElseTheSitesOne(): void
    {
        WpStub::$userLocale = 'de_DE';
        self::assertNull($this->bridge->peekSummary());
        $this->cache->put('summary', ['unpaid_count' => 1, 'amount_due_display' => '€49.00']);
        self::assertSame('€49.00', $this->bridge->peekSummary()->arrayData()['amount_due_display']);
        $this->cache->put('summary_de_de', ['unpaid_count' => 1, 'amount_due_display' => '49,00 €']);
        self::assertSame('49,00 €', $this->bridge->peekSummary()->arrayData()['amount_due_display']);
        // The reader's copy grows old while the background refresh keeps the
        // site's fresh (the invoice was paid): the fresh one is shown.
        WpStub::$now += 61;
        $this->cache->put('summary', ['unpaid_count' => 0, 'amount_due_display' => '€0.00']);
        self::assertSame(0, $this->bridge->peekSummary()->arrayData()['unpaid_count']);
    }
}
