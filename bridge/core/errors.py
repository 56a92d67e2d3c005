"""Errors the domain raises. The HTTP layers map them to responses in one
place (``bridge.api.errors``); the CLI maps them to exit status 2."""

from __future__ import annotations


class DomainError(Exception):
    """A request the business rules refuse. ``code`` is stable (clients of
    the API may branch on it); ``message`` is for people."""

    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}


class Invalid(DomainError):
    """The input breaks a rule (HTTP 422)."""

    code = "validation_error"


class NotFound(DomainError):
    """No such object, or not one the caller may know about (HTTP 404)."""

    code = "not_found"


class Unavailable(DomainError):
    """A service the bridge depends on (Stripe) cannot be reached: nothing
    changed, try again later (HTTP 503)."""

    code = "unavailable"


class Conflict(DomainError):
    """The object's state forbids this (HTTP 409): a second currency choice,
    editing a system role, a duplicate email..."""

    code = "conflict"
