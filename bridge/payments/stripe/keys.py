"""Stripe settings: the keys' formats and modes, verified with Stripe, stored
encrypted with the account's facts; and the gateway of the stored key."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

import stripe
from sqlalchemy.orm import Session

from bridge.auth.secrets import SecretBox
from bridge.billing import audit
from bridge.billing.business import get_settings
from bridge.core import clock
from bridge.core.errors import Invalid
from bridge.payments.stripe.client import (
    DEFAULT_API_BASE,
    DEFAULT_MAX_NETWORK_RETRIES,
    StripeApi,
    is_live_key,
    translated,
)
from bridge.payments.stripe.gateway import StripeGateway

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccountInfo:
    """What Stripe says about the account a secret key belongs to.
    ``limited``: the server has no account endpoint (localstripe), so only
    the key was checked and ``id``, ``name`` and ``email`` are unknown."""

    id: str | None
    name: str | None
    email: str | None
    livemode: bool
    limited: bool = False


@dataclass(frozen=True)
class StripeSettings:
    """The stored Stripe configuration, secrets decrypted. Never serialize
    this whole: show ``secret_key_hint`` instead of the keys."""

    secret_key: str | None = field(repr=False)
    publishable_key: str | None
    webhook_secret: str | None = field(repr=False)
    account_id: str | None
    account_name: str | None
    account_email: str | None
    livemode: bool | None
    connected_at: datetime | None

    @property
    def configured(self) -> bool:
        """Card payments are possible (a secret key is stored)."""
        return self.secret_key is not None

    @property
    def secret_key_hint(self) -> str | None:
        """``sk_test_…a1b2``: enough to recognise a key, not to use it."""
        if not self.secret_key:
            return None
        prefix = self.secret_key[: self.secret_key.find("_", 3) + 1]
        return f"{prefix}…{self.secret_key[-4:]}"


SECRET_PREFIXES = ("sk_test_", "sk_live_", "rk_test_", "rk_live_")
PUBLISHABLE_PREFIXES = ("pk_test_", "pk_live_")


def _check_key_formats(secret_key: str, publishable_key: str) -> None:
    errors: dict[str, list[str]] = {}
    if not secret_key.startswith(SECRET_PREFIXES) or len(secret_key) > 200:
        errors["secret_key"] = ["A Stripe secret key starts with sk_test_ or sk_live_."]
    if not publishable_key.startswith(PUBLISHABLE_PREFIXES) or len(publishable_key) > 200:
        errors["publishable_key"] = ["A publishable key starts with pk_test_ or pk_live_."]
    if not errors and is_live_key(secret_key) != is_live_key(publishable_key):
        errors["publishable_key"] = ["Both keys must be test keys, or both live keys."]
    if errors:
        raise Invalid("These are not Stripe keys of one mode.", fields=errors)


def verify_keys(
    secret_key: str,
    publishable_key: str,
    api_base: str | None = None,
    *,
    max_network_retries: int = 1,
) -> AccountInfo:
    """Check the keys' formats and modes, then ask Stripe for the account
    the secret key belongs to (``GET /v1/account``).

    Raises ``Invalid`` for malformed or mismatched keys, ``StripeRefused``
    (code ``stripe_key_refused``) for a key Stripe does not accept,
    ``StripeUnavailable`` when Stripe cannot be reached. A server other than
    Stripe's that has no account endpoint (localstripe) answers with
    ``limited=True`` after a cheap authenticated read instead.
    """
    secret_key, publishable_key = secret_key.strip(), publishable_key.strip()
    _check_key_formats(secret_key, publishable_key)
    api = StripeApi(secret_key, api_base=api_base, max_network_retries=max_network_retries)
    livemode = is_live_key(secret_key)
    with translated():
        try:
            account = api.retrieve_account()
        except stripe.StripeError as exc:
            # localstripe answers 404 with a plain-text body (an APIError to the SDK).
            if exc.http_status != 404 or api.api_base == DEFAULT_API_BASE:
                raise
            log.warning(
                "%s has no /v1/account (a Stripe stand-in such as localstripe): "
                "checked the key only",
                api.api_base,
            )
            api.ping()
            return AccountInfo(id=None, name=None, email=None, livemode=livemode, limited=True)
    profile = account.get("business_profile") or {}
    dashboard = (account.get("settings") or {}).get("dashboard") or {}
    name = profile.get("name") or dashboard.get("display_name")
    return AccountInfo(
        id=account.get("id"),
        name=name or None,
        email=account.get("email") or None,
        livemode=livemode,
    )


def save_stripe_settings(
    session: Session,
    box: SecretBox,
    secret_key: str,
    publishable_key: str,
    webhook_secret: str,
    api_base: str | None = None,
) -> StripeSettings:
    """Verify the keys with Stripe, then store them (the secret key and the
    webhook secret encrypted) with the account's facts and the time of
    connection. Commits. Raises as ``verify_keys`` does, and ``Invalid``
    for a webhook secret that is not one (``whsec_...``)."""
    webhook_secret = webhook_secret.strip()
    if not webhook_secret.startswith("whsec_") or len(webhook_secret) > 200:
        raise Invalid(
            "The webhook signing secret starts with whsec_ (Stripe shows it on the "
            "webhook endpoint's page).",
            fields={"webhook_secret": ["Not a webhook signing secret."]},
        )
    info = verify_keys(secret_key, publishable_key, api_base)
    settings = get_settings(session)
    audit.name_action(session, settings, "settings.stripe_connected")
    settings.stripe_secret_key_encrypted = box.encrypt(secret_key.strip())
    settings.stripe_publishable_key = publishable_key.strip()
    settings.stripe_webhook_secret_encrypted = box.encrypt(webhook_secret)
    settings.stripe_account_id = info.id
    settings.stripe_account_name = (info.name or "")[:200] or None
    settings.stripe_account_email = (info.email or "")[:254] or None
    settings.stripe_livemode = info.livemode
    settings.stripe_connected_at = settings.updated_at = clock.now()
    session.commit()
    return stripe_settings(session, box)


def disconnect_stripe(session: Session) -> None:
    """Forget the keys and the account: the bridge goes back to offline
    payments. Saved cards stay on the clients (they are Stripe's ids). Commits."""
    settings = get_settings(session)
    audit.name_action(session, settings, "settings.stripe_disconnected")
    for column in (
        "stripe_secret_key_encrypted",
        "stripe_publishable_key",
        "stripe_webhook_secret_encrypted",
        "stripe_account_id",
        "stripe_account_name",
        "stripe_account_email",
        "stripe_livemode",
        "stripe_connected_at",
    ):
        setattr(settings, column, None)
    settings.updated_at = clock.now()
    session.commit()


def stripe_settings(session: Session, box: SecretBox) -> StripeSettings:
    """The stored configuration with its secrets decrypted (``ValueError``
    when they cannot be: the encryption key changed since they were saved)."""
    settings = get_settings(session)

    def decrypt(token: str | None) -> str | None:
        return box.decrypt(token) if token else None

    return StripeSettings(
        secret_key=decrypt(settings.stripe_secret_key_encrypted),
        publishable_key=settings.stripe_publishable_key,
        webhook_secret=decrypt(settings.stripe_webhook_secret_encrypted),
        account_id=settings.stripe_account_id,
        account_name=settings.stripe_account_name,
        account_email=settings.stripe_account_email,
        livemode=settings.stripe_livemode,
        connected_at=settings.stripe_connected_at,
    )


def gateway_for(
    session: Session,
    box: SecretBox,
    api_base: str | None = None,
    *,
    max_network_retries: int = DEFAULT_MAX_NETWORK_RETRIES,
    rate_limit: float | None = None,
) -> StripeGateway | None:
    """The Stripe gateway of the stored key, or None when there is none
    (offline payments only). ``rate_limit``: requests per second (default
    80 live, 20 test; 0 for none)."""
    token = get_settings(session).stripe_secret_key_encrypted
    if not token:
        return None
    return StripeGateway(
        box.decrypt(token),
        api_base=api_base,
        max_network_retries=max_network_retries,
        rate_limit=rate_limit,
    )
