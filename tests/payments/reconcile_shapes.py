"""Stripe objects for the reconciliation tests, in the shapes of Stripe's API
reference (version 2024-06-20): PaymentIntents, refunds, disputes
(docs.stripe.com/api/payment_intents/object, /api/refunds/object,
/api/disputes/object), and ``StripeLists``: Stripe's list endpoints over
``responses``, paged with ``has_more`` and filtered by ``created[gte]``,
for what localstripe lacks (disputes, subscriptions in Stripe's shape) and
for the tests that need no stateful Stripe at all."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import responses

API = "https://api.stripe.com"
RESOURCES = ("payment_intents", "refunds", "disputes", "customers", "subscriptions")


def payment_intent(
    pid: str,
    customer: str | None,
    amount: int,
    *,
    currency: str = "eur",
    status: str = "succeeded",
    metadata: dict | None = None,
    created: int | None = None,
) -> dict:
    return {
        "id": pid,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": amount if status == "succeeded" else 0,
        "capture_method": "automatic",
        "client_secret": f"{pid}_secret_x",
        "confirmation_method": "automatic",
        "created": created or int(time.time()),
        "currency": currency,
        "customer": customer,
        "description": None,
        "last_payment_error": None,
        "latest_charge": f"ch_{pid[3:]}",
        "livemode": False,
        "metadata": metadata or {},
        "payment_method": "pm_card_visa",
        "payment_method_types": ["card"],
        "status": status,
    }


def refund(rid: str, intent: str, amount: int, *, currency: str = "eur", **extra) -> dict:
    body = {
        "id": rid,
        "object": "refund",
        "amount": amount,
        "balance_transaction": f"txn_{rid[3:]}",
        "charge": f"ch_{intent[3:]}",
        "created": int(time.time()),
        "currency": currency,
        "metadata": {},
        "payment_intent": intent,
        "reason": None,
        "status": "succeeded",
    }
    body.update(extra)
    return body


def dispute(did: str, intent: str, amount: int, *, status: str = "needs_response") -> dict:
    return {
        "id": did,
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": f"ch_{intent[3:]}",
        "created": int(time.time()),
        "currency": "eur",
        "evidence_details": {
            "due_by": int(time.time()) + 7 * 86400,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": intent,
        "reason": "fraudulent",
        "status": status,
    }


class StripeLists:
    """Stripe's list endpoints of ``RESOURCES`` at ``base`` over
    ``responses``: ``limit`` objects a page with ``has_more`` and
    ``starting_after``, ``created[gte]`` honoured; and PaymentIntents
    retrieved by id (404 ``resource_missing`` for an unknown one)."""

    def __init__(self, mock: responses.RequestsMock, base: str = API, only=RESOURCES):
        self.lists: dict[str, list[dict]] = {name: [] for name in only}
        self.calls: list[tuple[str, dict]] = []
        names = "|".join(only)
        mock.add_callback(
            responses.GET,
            re.compile(rf"{re.escape(base)}/v1/({names})(/\w+)?(\?.*)?$"),
            callback=self._get,
        )

    def _get(self, request):
        parts = urlsplit(request.url)
        path = parts.path.removeprefix("/v1/")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.calls.append((path, query))
        if "/" in path:
            kind, _, object_id = path.partition("/")
            for item in self.lists[kind]:
                if item["id"] == object_id:
                    return 200, {}, json.dumps(item)
            error = {
                "error": {
                    "type": "invalid_request_error",
                    "code": "resource_missing",
                    "message": f"No such {kind[:-1]}: '{object_id}'",
                }
            }
            return 404, {}, json.dumps(error)
        items = self.lists[path]
        if "created[gte]" in query:
            items = [i for i in items if i.get("created", 0) >= int(query["created[gte]"])]
        limit = int(query.get("limit", 10))
        start = 0
        if "starting_after" in query:
            start = next(i for i, o in enumerate(items) if o["id"] == query["starting_after"]) + 1
        body = {
            "object": "list",
            "url": f"/v1/{path}",
            "has_more": start + limit < len(items),
            "data": items[start : start + limit],
        }
        return 200, {}, json.dumps(body)


def subscription_of(sid: str, customer: str, *, status: str = "active") -> dict:
    """A monthly Stripe subscription of ``customer`` in its current period."""
    from tests.payments import stripe_shapes

    now = int(time.time())
    monthly = stripe_shapes.price("price_monthly", "prod_hosting", 2900)
    return stripe_shapes.subscription(
        sid, customer, monthly, status=status, start=now - 86400, end=now + 29 * 86400
    )
