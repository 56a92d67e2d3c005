<?php

namespace BillingBridge;

defined('ABSPATH') || exit;

/** The bridge could not be reached, or it refused or failed the request. */
final class BridgeException extends \RuntimeException
{
    public function __construct(string $message, private string $errorCode = 'unreachable', private int $status = 0)
    {
        parent::__construct($message);
    }

    /** The bridge's error code (e.g. bad_signature), or "unreachable" / "bad_answer". */
    public function errorCode(): string
    {
        return $this->errorCode;
    }

    /** The HTTP status of the answer; 0 when there was none. */
    public function status(): int
    {
        return $this->status;
    }
}
