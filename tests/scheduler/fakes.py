"""An in-process stand-in for the Stripe gateway, for the scheduler's
time-travel and dunning tests: it answers at once, records every charge it
receives by idempotency key (a repeated key is a replay, as at Stripe), and
plays a script of outcomes (succeed, decline, authentication required).

Stripe's HTTP behaviour itself is covered against localstripe in
tests/payments and in the concurrency and crash tests here.
"""

from __future__ import annotations

import itertools
import threading

import stripe

from bridge.core import clock
from bridge.payments.stripe.gateway import StripeFlows


class RecordingGateway(StripeFlows):
    """A Stripe gateway whose API calls are answered here."""

    livemode = False

    def __init__(self, script: list[str] | None = None, default: str = "succeed"):
        self.script = list(script or [])
        self.default = default
        self.intents: dict[str, dict] = {}  # by id
        self.by_key: dict[str, dict] = {}  # idempotency key -> intent
        self.requests = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # What the tests read -----------------------------------------------------

    @property
    def charges(self) -> list[dict]:
        """Every distinct charge received (replays of a key not counted)."""
        return list(self.by_key.values())

    def succeeded_for(self, invoice_id: int) -> list[dict]:
        return [
            i
            for i in self.intents.values()
            if i["metadata"]["bb_invoice_id"] == str(invoice_id) and i["status"] == "succeeded"
        ]

    # The Stripe API, as the charges use it ------------------------------------------

    def create_payment_intent(self, params: dict, idempotency_key: str) -> dict:
        with self._lock:
            self.requests += 1
            if idempotency_key in self.by_key:
                intent = self.by_key[idempotency_key]
            else:
                outcome = self.script.pop(0) if self.script else self.default
                intent = self._intent(params, outcome)
                self.by_key[idempotency_key] = intent
                self.intents[intent["id"]] = intent
        if intent["status"] == "requires_payment_method":
            error = intent["last_payment_error"]
            raise stripe.CardError(
                error["message"],
                None,
                error["code"],
                json_body={"error": {**error, "payment_intent": intent}},
            )
        return dict(intent)

    def _intent(self, params: dict, outcome: str) -> dict:
        intent = {
            "id": f"pi_fake_{next(self._ids)}",
            "object": "payment_intent",
            "amount": params["amount"],
            "currency": params["currency"],
            "customer": params["customer"],
            "payment_method": params["payment_method"],
            "metadata": dict(params["metadata"]),
            "statement_descriptor_suffix": params.get("statement_descriptor_suffix"),
            "client_secret": "pi_secret_fake",
            "created": 0,
            # When the charge reached "Stripe" (the tests' clock).
            "received_at": clock.now(),
        }
        if outcome == "succeed":
            intent["status"] = "succeeded"
        elif outcome == "decline":
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {
                "code": "card_declined",
                "decline_code": "insufficient_funds",
                "message": "Your card has insufficient funds.",
            }
        elif outcome == "authenticate":
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {
                "code": "authentication_required",
                "decline_code": "authentication_required",
                "message": "This payment requires authentication.",
            }
        else:
            raise ValueError(outcome)
        return intent

    def retrieve_payment_intent(self, payment_intent_id: str) -> dict:
        return dict(self.intents[payment_intent_id])

    def payment_intents_of(self, customer: str, created_since: int) -> list[dict]:
        return [dict(i) for i in self.intents.values() if i["customer"] == customer]

    def cancel_payment_intent(self, payment_intent_id: str, idempotency_key: str) -> dict:
        intent = self.intents[payment_intent_id]
        intent["status"] = "canceled"
        return dict(intent)

    def retrieve_charge(self, charge_id: str) -> dict:  # pragma: no cover
        raise stripe.InvalidRequestError("no charges here", None)
