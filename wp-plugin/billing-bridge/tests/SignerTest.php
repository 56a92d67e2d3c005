<?php

namespace BillingBridge\Tests;

use BillingBridge\BridgeClient;
use BillingBridge\BridgeException;
use BillingBridge\Signer;
use PHPUnit\Framework\TestCase;
use WpStub;

/** The signer against the vectors the bridge's Python tests check too. */
final class SignerTest extends TestCase
{
    /** The shared file, at the repository root (two levels above the plugin). */
    private const VECTORS = __DIR__ . '/../../../tests/fixtures/site-signature-vectors.json';

    /** @return array<string, array{0: array<string, mixed>}> */
    public static function vectors(): array
    {
        $file = json_decode((string) file_get_contents(self::VECTORS), true, 512, JSON_THROW_ON_ERROR);
        $cases = [];
        foreach ($file['vectors'] as $i => $vector) {
            $cases[sprintf('%d: %s', $i, $vector['description'] ?? '')] = [$vector];
        }
        return $cases;
    }

    public function testTheSharedVectorsFileIsThere(): void
    {
        self::assertFileExists(self::VECTORS);
        self::assertGreaterThanOrEqual(3, count(self::vectors()));
    }

    /**
     * @dataProvider vectors
     * @param array<string, mixed> $v
     */
    public function testEveryVector(array $v): void
    {
        $nonce = $v['nonce'] ?? null;
        self::assertSame($v['body_sha256'], Signer::bodyHash($v['body']));
        self::assertSame($v['message'], Signer::message($v['timestamp'], $v['method'], $v['path'], $v['body'], $nonce));
        self::assertSame(
            $v['signature'],
            Signer::signature($v['secret'], $v['timestamp'], $v['method'], $v['path'], $v['body'], $nonce)
        );
        $headers = Signer::headers('site_abc', $v['secret'], $v['timestamp'], $v['method'], $v['path'], $v['body'], $nonce);
        $expected = ['X-Bridge-Site' => 'site_abc', 'X-Bridge-Timestamp' => (string) $v['timestamp']];
        if ($nonce !== null) {
            $expected['X-Bridge-Nonce'] = $nonce;
        }
        $expected['X-Bridge-Signature'] = $v['signature'];
        self::assertSame($expected, $headers);
    }

    public function testTheVectorsIncludeASignedNonce(): void
    {
        $withNonce = array_filter(array_column(self::vectors(), 0), static fn (array $v): bool => isset($v['nonce']));
        self::assertNotEmpty($withNonce);
    }

    public function testTheNonceIsSignedAndFreshEachTime(): void
    {
        $first = Signer::nonce();
        self::assertMatchesRegularExpression('/^[0-9a-f]{32}$/', $first);
        self::assertNotSame($first, Signer::nonce());
        self::assertNotSame(
            Signer::signature('s', 1, 'POST', '/api/v1/site/seo-scans', '{}', $first),
            Signer::signature('s', 1, 'POST', '/api/v1/site/seo-scans', '{}', Signer::nonce())
        );
        self::assertNotSame(
            Signer::signature('s', 1, 'POST', '/api/v1/site/seo-scans', '{}', $first),
            Signer::signature('s', 1, 'POST', '/api/v1/site/seo-scans', '{}')
        );
    }

    public function testTheMethodIsUpperCased(): void
    {
        self::assertSame(
            Signer::signature('s', 1, 'GET', '/api/v1/site/summary', ''),
            Signer::signature('s', 1, 'get', '/api/v1/site/summary', '')
        );
    }

    public function testTheClientSignsThePathAndBodyItSends(): void
    {
        WpStub::reset();
        WpStub::$responses[] = ['response' => ['code' => 200], 'body' => '{"email":"a+b@x.example"}'];
        WpStub::$responses[] = ['response' => ['code' => 201], 'body' => '{"id":7}'];
        $client = new BridgeClient('https://bridge.example/billing/', 'site_1', 'bbs_secret');

        self::assertSame(['email' => 'a+b@x.example'], $client->get('/api/v1/site/access?email=' . rawurlencode('a+b@x.example')));
        self::assertSame(['id' => 7], $client->post('/api/v1/site/seo-scans', ['pages' => [['title' => 'Café']]]));

        [$get, $post] = WpStub::$requests;
        self::assertSame('https://bridge.example/billing/api/v1/site/access?email=a%2Bb%40x.example', $get['url']);
        self::assertSame('GET', $get['args']['method']);
        self::assertSame(3, $get['args']['timeout']);
        $timestamp = (int) $get['args']['headers']['X-Bridge-Timestamp'];
        self::assertEqualsWithDelta(time(), $timestamp, 5);
        $getNonce = $get['args']['headers']['X-Bridge-Nonce'];
        self::assertMatchesRegularExpression('/^[0-9a-f]{32}$/', $getNonce);
        self::assertSame(
            Signer::signature('bbs_secret', $timestamp, 'GET', '/billing/api/v1/site/access?email=a%2Bb%40x.example', '', $getNonce),
            $get['args']['headers']['X-Bridge-Signature']
        );
        self::assertSame('site_1', $post['args']['headers']['X-Bridge-Site']);
        self::assertSame('{"pages":[{"title":"Café"}]}', $post['args']['body']);
        self::assertSame(
            Signer::signature(
                'bbs_secret',
                (int) $post['args']['headers']['X-Bridge-Timestamp'],
                'POST',
                '/billing/api/v1/site/seo-scans',
                $post['args']['body'],
                $post['args']['headers']['X-Bridge-Nonce']
            ),
            $post['args']['headers']['X-Bridge-Signature']
        );
        // Each request has its own nonce, so two identical writes are two requests.
        self::assertNotSame($getNonce, $post['args']['headers']['X-Bridge-Nonce']);
    }

    public function testAWriteIsRetriedOnceWithItsIdempotencyKeyWhenItsAnswerIsLost(): void
    {
        WpStub::reset();
        WpStub::$responses[] = [
            'response' => ['code' => 503],
            'body' => '{"error":{"code":"database_unavailable","message":"Try again."}}',
        ];
        WpStub::$responses[] = ['response' => ['code' => 201], 'body' => '{"id":7}'];
        $client = new BridgeClient('https://bridge.example', 'site_1', 'bbs_secret');

        self::assertSame(['id' => 7], $client->post('/api/v1/site/seo-scans', ['pages' => []]));

        [$first, $retry] = WpStub::$requests;
        $key = $first['args']['headers']['Idempotency-Key'];
        self::assertMatchesRegularExpression('/^[0-9a-f]{32}$/', $key);
        self::assertSame($key, $retry['args']['headers']['Idempotency-Key']);
        // A fresh nonce: the bridge refuses a signed request it has seen.
        self::assertNotSame($first['args']['headers']['X-Bridge-Nonce'], $retry['args']['headers']['X-Bridge-Nonce']);
    }

    public function testARefusedWriteIsNotRetried(): void
    {
        WpStub::reset();
        WpStub::$responses[] = [
            'response' => ['code' => 422],
            'body' => '{"error":{"code":"validation_error","message":"No."}}',
        ];
        try {
            (new BridgeClient('https://bridge.example', 'site_1', 'bbs_secret'))->post('/api/v1/site/seo-scans', []);
            self::fail('A refusal is an exception.');
        } catch (BridgeException $e) {
            self::assertSame('validation_error', $e->errorCode());
        }
        self::assertCount(1, WpStub::$requests);
    }

    public function testTheConnectCallIsNotSigned(): void
    {
        WpStub::reset();
        WpStub::$responses[] = ['response' => ['code' => 200], 'body' => '{"site_id":"site_1","secret":"s"}'];
        (new BridgeClient('http://127.0.0.1:5000'))->connect('BBC-AAAA');
        self::assertArrayNotHasKey('X-Bridge-Signature', WpStub::$requests[0]['args']['headers']);
        self::assertSame('{"code":"BBC-AAAA"}', WpStub::$requests[0]['args']['body']);
    }

    public function testErrorsOfTheBridgeBecomeExceptions(): void
    {
        WpStub::reset();
        WpStub::$responses[] = [
            'response' => ['code' => 401],
            'body' => '{"error":{"code":"bad_signature","message":"The request signature is missing or wrong."}}',
        ];
        try {
            (new BridgeClient('http://bridge.example', 'site_1', 'wrong'))->get('/api/v1/site/summary');
            self::fail('no exception');
        } catch (\BillingBridge\BridgeException $e) {
            self::assertSame('bad_signature', $e->errorCode());
            self::assertSame(401, $e->status());
        }
        WpStub::$responses[] = [
            'response' => ['code' => 301],
            'headers' => ['location' => 'https://bridge.example/api/v1/site/summary'],
            'body' => '<html>Moved</html>',
        ];
        try {
            (new BridgeClient('http://bridge.example', 'site_1', 's'))->get('/api/v1/site/summary');
            self::fail('no exception');
        } catch (\BillingBridge\BridgeException $e) {
            self::assertSame('redirect', $e->errorCode());
            self::assertStringContainsString('https://bridge.example/api/v1/site/summary', $e->getMessage());
        }
        WpStub::$responses[] = ['response' => ['code' => 200], 'body' => '<html>a login page</html>'];
        try {
            (new BridgeClient('http://bridge.example', 'site_1', 's'))->get('/api/v1/site/summary');
            self::fail('no exception');
        } catch (\BillingBridge\BridgeException $e) {
            self::assertSame('bad_answer', $e->errorCode());
        }
        $this->expectException(\BillingBridge\BridgeException::class);
        (new BridgeClient('http://bridge.example', 'site_1', 's'))->get('/api/v1/site/summary'); // no answer queued: refused
    }
}
