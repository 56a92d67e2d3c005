<?php

namespace BillingBridge\Tests;

use BillingBridge\SiteConfiguration;
use PHPUnit\Framework\TestCase;
use WpStub;

/** Apply configuration: written as Settings > Permalinks writes it, by whom the site allows. */
final class SiteConfigurationTest extends TestCase
{
    protected function setUp(): void
    {
        WpStub::reset();
    }

    public function testItAllowsIndexingAndWritesPermalinksWithAHardFlush(): void
    {
        SiteConfiguration::apply();
        self::assertSame('1', WpStub::$options['blog_public']);
        // The permalinks first, then a hard flush (rules and .htaccess), as Settings > Permalinks.
        self::assertSame(['set_permalink_structure /%postname%/', 'flush_rewrite_rules hard'], WpStub::$calls);
    }

    public function testOnlyAnAdministratorUnlessTheAgencyDelegatesIt(): void
    {
        self::assertTrue(SiteConfiguration::mayChange(true, false));
        self::assertFalse(SiteConfiguration::mayChange(false, false));
        self::assertTrue(SiteConfiguration::mayChange(false, true));
    }
}
