<?php

namespace BillingBridge\Tests;

use BillingBridge\SeoScanner;
use PHPUnit\Framework\TestCase;

/** The HTML facts of one page. */
final class SeoScannerTest extends TestCase
{
    public function testAnalyze(): void
    {
        $html = '<!doctype html><html><head><title> Café  &amp; croissants </title>'
            . '<meta name="Description" content=" Fresh bread in Lyon "></head><body>'
            . '<h1>One</h1><h1>Two</h1><img src="a.png"><img src="b.png" alt=""><img src="c.png" alt="C">'
            . '<p>unclosed <b>tags</body></html>';
        self::assertSame([
            'url' => 'https://acme.example/',
            'title' => 'Café & croissants',
            'title_length' => 17,
            'meta_description' => 'Fresh bread in Lyon',
            'h1_count' => 2,
            'images_without_alt' => 1,
        ], SeoScanner::analyze($html, 'https://acme.example/'));
    }

    public function testAnEmptyPageHasNothing(): void
    {
        $facts = SeoScanner::analyze('', 'https://acme.example/x');
        self::assertSame(0, $facts['title_length']);
        self::assertSame('', $facts['meta_description']);
        self::assertSame(0, $facts['h1_count']);
    }
}
