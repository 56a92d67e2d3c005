<?php

namespace BillingBridge;

defined('ABSPATH') || exit;

/** An answer of the bridge as the cache hands it out. */
final class CacheResult
{
    /**
     * @param mixed       $data      the answer (null when there is none at all)
     * @param int|null    $fetchedAt when the bridge gave it (Unix time)
     * @param bool        $stale     true when the bridge failed and this is the last good copy
     * @param string|null $error     why the bridge failed
     * @param bool        $fetched   true when this page view asked the bridge
     */
    public function __construct(
        public readonly mixed $data,
        public readonly ?int $fetchedAt,
        public readonly bool $stale = false,
        public readonly ?string $error = null,
        public readonly bool $fetched = false
    ) {
    }

    public function hasData(): bool
    {
        return is_array($this->data);
    }

    /** @return array<string|int, mixed> */
    public function arrayData(): array
    {
        return is_array($this->data) ? $this->data : [];
    }
}
