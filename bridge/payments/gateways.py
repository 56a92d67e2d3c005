"""The payment gateway in use: Stripe's when a secret key is stored, else
the offline one."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bridge.auth.secrets import SecretBox
from bridge.billing.gateway import PaymentGateway
from bridge.payments.offline import OfflineGateway
from bridge.payments.stripe.client import DEFAULT_MAX_NETWORK_RETRIES
from bridge.payments.stripe.keys import gateway_for


def payment_gateway(
    session: Session,
    box: SecretBox,
    api_base: str | None = None,
    *,
    max_network_retries: int = DEFAULT_MAX_NETWORK_RETRIES,
    rate_limit: float | None = None,
) -> PaymentGateway:
    """The gateway of the stored settings (``ValueError`` when the stored
    key cannot be decrypted). ``rate_limit``: Stripe requests per second
    (default 80 live, 20 test; 0 for none)."""
    card_gateway = gateway_for(
        session, box, api_base, max_network_retries=max_network_retries, rate_limit=rate_limit
    )
    return card_gateway if card_gateway is not None else OfflineGateway()
