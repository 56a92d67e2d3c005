<?php

namespace BillingBridge;

defined('ABSPATH') || exit;

/**
 * What one WordPress user may see and do in the plugin.
 *
 * Administrators of the site (manage_options) get everything. Anyone else
 * gets what the bridge's access answer grants their client role, area by
 * area (sites, hosting, seo, site_billing, billing); an email the bridge does
 * not know, or no answer at all, gets nothing.
 */
final class Permissions
{
    public const AREAS = ['sites', 'hosting', 'seo', 'site_billing', 'billing'];

    /** Each plugin page and the grants that open it (any one is enough). */
    public const PAGES = [
        'billing' => [['site_billing', 'view'], ['billing', 'view']],
        'hosting' => [['hosting', 'view']],
        'seo' => [['seo', 'view']],
        'settings' => [],
    ];

    /** Each action and the grants that allow it (any one is enough). */
    public const ACTIONS = [
        'invoice_pdf' => [['site_billing', 'view'], ['billing', 'view']],
        'invoice_pay' => [['site_billing', 'pay'], ['billing', 'pay']],
        'seo_scan' => [['seo', 'scan']],
        'seo_configure' => [['seo', 'configure']],
        'settings' => [],
    ];

    /** @param array<string, list<string>> $areas */
    private function __construct(private array $areas, private bool $administrator, private ?string $roleName)
    {
    }

    public static function administrator(): self
    {
        return new self([], true, null);
    }

    public static function none(): self
    {
        return new self([], false, null);
    }

    /**
     * From the bridge's answer to GET /api/v1/site/access; anything that is
     * not a well-formed answer for a client user grants nothing.
     *
     * @param mixed $answer
     */
    public static function fromAccess($answer): self
    {
        if (!is_array($answer) || ($answer['client_user'] ?? false) !== true) {
            return self::none();
        }
        $areas = [];
        $given = is_array($answer['areas'] ?? null) ? $answer['areas'] : [];
        foreach (self::AREAS as $area) {
            $actions = $given[$area] ?? [];
            $areas[$area] = is_array($actions) ? array_values(array_filter($actions, 'is_string')) : [];
        }
        $role = is_array($answer['role'] ?? null) && is_string($answer['role']['name'] ?? null)
            ? $answer['role']['name']
            : null;
        return new self($areas, false, $role);
    }

    public function isAdministrator(): bool
    {
        return $this->administrator;
    }

    public function roleName(): ?string
    {
        return $this->roleName;
    }

    /** Whether the role grants $action in $area. */
    public function grants(string $area, string $action): bool
    {
        return $this->administrator || in_array($action, $this->areas[$area] ?? [], true);
    }

    public function canSee(string $page): bool
    {
        return $this->allowed(self::PAGES[$page] ?? null);
    }

    public function canDo(string $action): bool
    {
        return $this->allowed(self::ACTIONS[$action] ?? null);
    }

    /** @return list<string> the pages this user sees, in menu order */
    public function pages(): array
    {
        return array_values(array_filter(array_keys(self::PAGES), fn (string $page): bool => $this->canSee($page)));
    }

    /** @param list<array{0: string, 1: string}>|null $grants */
    private function allowed(?array $grants): bool
    {
        if ($grants === null) {
            return false;
        }
        if ($this->administrator) {
            return true;
        }
        foreach ($grants as [$area, $action]) {
            if ($this->grants($area, $action)) {
                return true;
            }
        }
        return false;
    }
}
