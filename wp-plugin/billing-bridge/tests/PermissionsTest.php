<?php

namespace BillingBridge\Tests;

use BillingBridge\Permissions;
use PHPUnit\Framework\TestCase;

/** From the bridge's access answer to pages and actions. */
final class PermissionsTest extends TestCase
{
    /** @param array<string, list<string>> $areas */
    private static function access(array $areas, bool $clientUser = true, string $role = 'Custom'): array
    {
        return [
            'email' => 'jane@acme.example',
            'client_user' => $clientUser,
            'role' => $clientUser ? ['id' => 9, 'name' => $role] : null,
            'areas' => $areas + ['sites' => [], 'hosting' => [], 'seo' => [], 'site_billing' => [], 'billing' => []],
        ];
    }

    public function testAdministratorsSeeAndDoEverything(): void
    {
        $admin = Permissions::administrator();
        self::assertSame(['billing', 'hosting', 'seo', 'settings'], $admin->pages());
        foreach (array_keys(Permissions::ACTIONS) as $action) {
            self::assertTrue($admin->canDo($action), $action);
        }
    }

    public function testBillingOnlySeesBillingAndPaysButNothingElse(): void
    {
        $user = Permissions::fromAccess(self::access(
            ['site_billing' => ['view', 'pay'], 'billing' => ['view', 'pay']],
            true,
            'Billing only'
        ));
        self::assertSame(['billing'], $user->pages());
        self::assertTrue($user->canDo('invoice_pay'));
        self::assertTrue($user->canDo('invoice_pdf'));
        self::assertFalse($user->canSee('hosting'));
        self::assertFalse($user->canSee('seo'));
        self::assertFalse($user->canSee('settings'));
        self::assertFalse($user->canDo('seo_scan'));
        self::assertFalse($user->canDo('settings'));
        self::assertSame('Billing only', $user->roleName());
    }

    public function testSeoViewWithoutScanOrConfigure(): void
    {
        $user = Permissions::fromAccess(self::access(['seo' => ['view']]));
        self::assertSame(['seo'], $user->pages());
        self::assertFalse($user->canDo('seo_scan'));
        self::assertFalse($user->canDo('seo_configure'));
        self::assertFalse($user->canSee('billing'));
    }

    public function testCustomSeoActions(): void
    {
        $user = Permissions::fromAccess(self::access(['seo' => ['scan', 'view'], 'hosting' => ['view', 'logs']]));
        self::assertSame(['hosting', 'seo'], $user->pages());
        self::assertTrue($user->canDo('seo_scan'));
        self::assertFalse($user->canDo('seo_configure'));
    }

    public function testViewWithoutPayShowsInvoicesButNoPayment(): void
    {
        $user = Permissions::fromAccess(self::access(['billing' => ['view']]));
        self::assertTrue($user->canSee('billing'));
        self::assertTrue($user->canDo('invoice_pdf'));
        self::assertFalse($user->canDo('invoice_pay'));
    }

    public function testSiteBillingAloneOpensTheBillingPage(): void
    {
        $user = Permissions::fromAccess(self::access(['site_billing' => ['view', 'pay']]));
        self::assertSame(['billing'], $user->pages());
        self::assertTrue($user->canDo('invoice_pay'));
    }

    /** @return array<string, array{0: mixed}> */
    public static function nothingAnswers(): array
    {
        return [
            'not a client user' => [self::access(['billing' => ['view']], false)],
            'no answer' => [null],
            'not an array' => ['{"client_user": true}'],
            'client_user is a string' => [['client_user' => 'true', 'areas' => ['billing' => ['view']]]],
            'areas missing' => [['client_user' => true]],
            'areas malformed' => [['client_user' => true, 'areas' => ['billing' => 'view', 'seo' => [1, null]]]],
            'unknown area' => [['client_user' => true, 'areas' => ['settings' => ['view']]]],
        ];
    }

    /**
     * @dataProvider nothingAnswers
     * @param mixed $answer
     */
    public function testAnythingElseGrantsNothing($answer): void
    {
        $user = Permissions::fromAccess($answer);
        self::assertSame([], $user->pages());
        foreach (array_keys(Permissions::ACTIONS) as $action) {
            self::assertFalse($user->canDo($action), $action);
        }
        self::assertFalse(Permissions::none()->canSee('billing'));
    }

    public function testUnknownPagesAndActionsAreRefused(): void
    {
        self::assertFalse(Permissions::administrator()->canSee('nope'));
        self::assertFalse(Permissions::administrator()->canDo('nope'));
    }
}
