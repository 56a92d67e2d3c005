<?php

namespace BillingBridge\Tests;

use BillingBridge\BridgeException;
use BillingBridge\Cache;
use PHPUnit\Framework\TestCase;
use WpStub;

/** Transients for one TTL, a last good copy, and one failure per TTL at most. */
final class CacheTest extends TestCase
{
    private Cache $cache;
    private int $calls = 0;

    protected function setUp(): void
    {
        WpStub::reset();
        $this->calls = 0;
        $this->cache = new Cache(60, static fn (): int => WpStub::$now);
    }

    private function answer(array $data): callable
    {
        return function () use ($data): array {
            ++$this->calls;
            return $data;
        };
    }

    private function failure(): callable
    {
        return function (): array {
            ++$this->calls;
            throw new BridgeException('Connection refused');
        };
    }

    public function testAColdReadAsksTheBridgeAndAWarmOneDoesNot(): void
    {
        $first = $this->cache->remember('summary', $this->answer(['unpaid_count' => 1]));
        self::assertSame(['unpaid_count' => 1], $first->data);
        self::assertTrue($first->fetched);
        self::assertFalse($first->stale);
        self::assertSame(WpStub::$now, $first->fetchedAt);

        WpStub::$now += 59;
        $second = $this->cache->remember('summary', $this->answer(['unpaid_count' => 2]));
        self::assertSame(['unpaid_count' => 1], $second->data);
        self::assertFalse($second->fetched);
        self::assertSame(1, $this->calls);
        self::assertSame(1, $this->cache->fetches());
    }

    public function testTheAnswerIsAskedAgainOnceTheTtlIsOver(): void
    {
        $this->cache->remember('summary', $this->answer(['unpaid_count' => 1]));
        WpStub::$now += 61;
        $result = $this->cache->remember('summary', $this->answer(['unpaid_count' => 0]));
        self::assertSame(['unpaid_count' => 0], $result->data);
        self::assertSame(2, $this->calls);
    }

    public function testKeysAreSeparate(): void
    {
        $this->cache->remember('access_a', $this->answer(['client_user' => true]));
        $other = $this->cache->remember('access_b', $this->answer(['client_user' => false]));
        self::assertSame(['client_user' => false], $other->data);
        self::assertSame(2, $this->calls);
    }

    public function testWhenTheBridgeFailsTheLastGoodCopyIsShownWithItsTime(): void
    {
        $saved = WpStub::$now;
        $this->cache->remember('summary', $this->answer(['unpaid_count' => 1]));
        WpStub::$now += 3600; // the transient is long gone; the last good copy is not
        $result = $this->cache->remember('summary', $this->failure());
        self::assertTrue($result->stale);
        self::assertSame('Connection refused', $result->error);
        self::assertSame(['unpaid_count' => 1], $result->data);
        self::assertSame($saved, $result->fetchedAt);
        self::assertTrue($this->cache->isDown());
    }

    public function testAFailureIsNotRetriedBeforeTheTtlIsOver(): void
    {
        $this->cache->remember('summary', $this->failure());
        WpStub::$now += 30;
        $again = $this->cache->remember('summary', $this->failure());
        $other = $this->cache->remember('seo_latest', $this->failure());
        self::assertSame(1, $this->calls, 'a bridge that is down costs one timeout per TTL');
        self::assertTrue($again->stale);
        self::assertSame('Connection refused', $other->error);
        self::assertNull($other->data);
        self::assertNull($other->fetchedAt);

        WpStub::$now += 31;
        $back = $this->cache->remember('summary', $this->answer(['unpaid_count' => 3]));
        self::assertFalse($back->stale);
        self::assertSame(['unpaid_count' => 3], $back->data);
        self::assertSame(2, $this->calls);
    }

    public function testARefusalOfOneQuestionDoesNotStopTheOthers(): void
    {
        $refused = function (): array {
            ++$this->calls;
            throw new BridgeException('Not a valid email address.', 'validation_error', 400);
        };
        $first = $this->cache->remember('access_x', $refused);
        self::assertTrue($first->stale);
        self::assertFalse($this->cache->isDown());
        $this->cache->remember('access_x', $refused); // remembered for one TTL
        self::assertSame(1, $this->calls);
        $summary = $this->cache->remember('summary', $this->answer(['unpaid_count' => 0]));
        self::assertFalse($summary->stale);
        self::assertSame(2, $this->calls);
    }

    /** @return array<string, array{0: BridgeException, 1: bool}> */
    public static function failures(): array
    {
        return [
            'unreachable' => [new BridgeException('Connection refused'), true],
            'server error' => [new BridgeException('Internal error', 'http_500', 500), true],
            'bad signature' => [new BridgeException('Wrong signature', 'bad_signature', 401), true],
            'site disabled' => [new BridgeException('Disabled', 'site_disabled', 403), true],
            'not json' => [new BridgeException('Not JSON', 'bad_answer', 200), true],
            'redirect' => [new BridgeException('Moved', 'redirect', 301), true],
            'too many requests' => [new BridgeException('Slow down', 'rate_limited', 429), false],
            'bad request' => [new BridgeException('Bad email', 'validation_error', 400), false],
            'not found' => [new BridgeException('Not found', 'not_found', 404), false],
        ];
    }

    /** @dataProvider failures */
    public function testWhichFailuresConcernTheWholeBridge(BridgeException $e, bool $siteWide): void
    {
        self::assertSame($siteWide, Cache::isSiteWide($e));
    }

    public function testPeekNeverAsks(): void
    {
        self::assertNull($this->cache->peek('summary'));
        $this->cache->remember('summary', $this->answer(['unpaid_count' => 2]));
        self::assertSame(['unpaid_count' => 2], $this->cache->peek('summary')->data);
        self::assertFalse($this->cache->peek('summary')->stale);
        WpStub::$now += 61;
        $old = $this->cache->peek('summary');
        self::assertSame(['unpaid_count' => 2], $old->data);
        self::assertTrue($old->stale);
        self::assertSame(1, $this->calls);
    }

    public function testForgetDropsTheFreshCopyOnly(): void
    {
        $this->cache->remember('seo_latest', $this->answer(['scan' => null]));
        $this->cache->forget('seo_latest');
        $result = $this->cache->remember('seo_latest', $this->answer(['scan' => ['id' => 7]]));
        self::assertSame(['scan' => ['id' => 7]], $result->data);
        self::assertSame(2, $this->calls);
    }

    public function testClearDownAllowsTheNextCall(): void
    {
        $this->cache->remember('summary', $this->failure());
        $this->cache->clearDown();
        $this->cache->remember('summary', $this->answer(['unpaid_count' => 0]));
        self::assertSame(2, $this->calls);
    }

    public function testTheLastGoodCopyDoesNotExpire(): void
    {
        $this->cache->remember('summary', $this->answer(['unpaid_count' => 1]));
        self::assertArrayHasKey('billing_bridge_last_summary', WpStub::$options);
        self::assertSame(
            WpStub::$now + 60,
            WpStub::$transients['billing_bridge_c_summary']['expires']
        );
    }
}
