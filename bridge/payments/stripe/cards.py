"""Customers and saved cards: the client's Stripe customer, and a card saved
for off-session charges through a SetupIntent (Stripe.js confirms it in the
browser; no card number reaches the bridge)."""

from __future__ import annotations

import logging
import secrets

import stripe
from sqlalchemy.orm import Session

from bridge.billing import audit
from bridge.core import clock
from bridge.core.errors import Conflict, NotFound
from bridge.models import Client
from bridge.payments.stripe.client import StripeApi, id_of, release, retrieve, translated

log = logging.getLogger(__name__)


def ensure_customer(session: Session, api: StripeApi, client: Client) -> str:
    """The client's Stripe customer id, creating the customer the first time
    (idempotency key ``bb-customer-{client.id}``). Commits."""
    if client.stripe_customer_id:
        return client.stripe_customer_id
    params: dict = {
        "name": client.name,
        "email": client.email,
        "metadata": {"bb_client_id": str(client.id)},
    }
    address = {
        key: value
        for key, value in (
            ("line1", client.address_line1),
            ("line2", client.address_line2),
            ("city", client.city),
            ("postal_code", client.postal_code),
            ("state", client.state),
            ("country", client.country),
        )
        if value
    }
    if address:
        params["address"] = address
    client_id = client.id
    release(session)
    with translated():
        customer = api.create_customer(params, f"bb-customer-{client_id}")
    client = session.get(Client, client_id)
    if client.stripe_customer_id is None:
        client.stripe_customer_id = customer["id"]
        client.updated_at = clock.now()
    session.commit()
    return client.stripe_customer_id


def start_card_setup(session: Session, api: StripeApi, client: Client) -> dict:
    """A SetupIntent to save a card for off-session charges: ``{"id",
    "client_secret"}`` for Stripe.js ``confirmCardSetup`` in the browser.
    Creates the customer if needed. Commits."""
    customer = ensure_customer(session, api, client)
    params = {
        "customer": customer,
        "usage": "off_session",
        "payment_method_types": ["card"],
        "metadata": {"bb_client_id": str(client.id)},
    }
    # A SetupIntent costs nothing until confirmed, so each call may make a
    # new one; the key still makes the SDK's retries of this call safe.
    key = f"bb-setup-{client.id}-{secrets.token_hex(8)}"
    with translated():
        intent = api.create_setup_intent(params, key)
    return {"id": intent["id"], "client_secret": intent["client_secret"]}


def complete_card_setup(
    session: Session,
    api: StripeApi,
    client: Client,
    setup_intent_id: str,
    *,
    action: str = "client.card_saved",
) -> None:
    """Make the card of a succeeded SetupIntent the client's default card
    (its brand, last 4 digits and expiry are stored for display), recorded
    in the audit log as ``action`` (the portal's *Replace card* names its
    own), and the customer's default card at Stripe too, so that Stripe's
    dashboard and the reconciliation agree with the bridge on which card is
    current. Raises
    ``NotFound`` for a SetupIntent of another customer, ``Conflict``
    (``card_setup_incomplete``) for one that has not succeeded. Commits."""
    client_id, customer = client.id, client.stripe_customer_id
    release(session)
    with translated():
        intent = retrieve(api.retrieve_setup_intent, setup_intent_id, "No such card setup.")
        if customer is None or id_of(intent.get("customer")) != customer:
            raise NotFound("No such card setup.")
        if intent.get("status") != "succeeded":
            raise Conflict(
                f"The card was not saved (the setup is {intent.get('status')}).",
                code="card_setup_incomplete",
            )
        payment_method_id = id_of(intent.get("payment_method"))
        if not payment_method_id:
            raise Conflict("The card setup has no card.", code="card_setup_incomplete")
        method = api.retrieve_payment_method(payment_method_id)
    card = method.get("card") or {}
    client = session.get(Client, client_id)
    audit.name_action(session, client, action)
    client.default_payment_method_id = payment_method_id
    client.card_brand = (card.get("brand") or "")[:20] or None
    client.card_last4 = (card.get("last4") or "")[:4] or None
    client.card_exp_month = card.get("exp_month")
    client.card_exp_year = card.get("exp_year")
    client.updated_at = clock.now()
    session.commit()
    # The bridge charges the card it saved, whatever Stripe's default is, so
    # a failure here loses nothing: it is logged, and the reconciliation
    # names the difference for a person to settle.
    try:
        api.set_default_card(customer, payment_method_id)
    except stripe.StripeError as exc:
        log.warning(
            "client %s: card %s saved, but not made the default at Stripe: %s",
            client_id,
            payment_method_id,
            exc,
        )
