"""Stripe objects in the shapes of Stripe's API reference (API version
2024-06-20: ``current_period_*`` on the subscription), for ``responses``
fixtures of what localstripe lacks: prices, tax ids, subscriptions, and
lists paged with ``has_more``. Shapes: docs.stripe.com/api/prices/object,
/api/customer_tax_ids/object, /api/subscriptions/object,
/api/pagination."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import responses

API = "https://api.stripe.com"
CREATED = 1679431181


def customer(cid: str, email: str | None, name: str = "", **extra) -> dict:
    body = {
        "id": cid,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": CREATED,
        "currency": "eur",
        "default_source": None,
        "delinquent": False,
        "description": None,
        "email": email,
        "invoice_prefix": "0822CFA",
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": name or None,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
        "tax_ids": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/customers/{cid}/tax_ids",
        },
    }
    body.update(extra)
    return body


def tax_id(cid: str, value: str, kind: str = "eu_vat", country: str = "DE") -> dict:
    return {
        "id": f"txi_{cid[4:]}",
        "object": "tax_id",
        "country": country,
        "created": CREATED,
        "customer": cid,
        "livemode": False,
        "type": kind,
        "value": value,
        "verification": {"status": "pending", "verified_address": None, "verified_name": None},
    }


def card_method(pm: str, cid: str, last4: str = "4242") -> dict:
    return {
        "id": pm,
        "object": "payment_method",
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "card": {
            "brand": "visa",
            "country": "US",
            "exp_month": 8,
            "exp_year": 2030,
            "funding": "credit",
            "last4": last4,
        },
        "created": CREATED,
        "customer": cid,
        "livemode": False,
        "metadata": {},
        "type": "card",
    }


def product(pid: str, name: str, active: bool = True) -> dict:
    return {
        "id": pid,
        "object": "product",
        "active": active,
        "created": CREATED,
        "default_price": None,
        "description": None,
        "images": [],
        "livemode": False,
        "metadata": {},
        "name": name,
        "tax_code": None,
        "type": "service",
        "updated": CREATED,
        "url": None,
    }


def price(
    pid: str,
    product_id: str,
    amount: int | None,
    *,
    currency: str = "eur",
    interval: str | None = "month",
    interval_count: int = 1,
    active: bool = True,
    nickname: str | None = None,
    **extra,
) -> dict:
    body = {
        "id": pid,
        "object": "price",
        "active": active,
        "billing_scheme": "per_unit",
        "created": CREATED,
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": nickname,
        "product": product_id,
        "recurring": (
            {
                "aggregate_usage": None,
                "interval": interval,
                "interval_count": interval_count,
                "trial_period_days": None,
                "usage_type": "licensed",
            }
            if interval
            else None
        ),
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if interval else "one_time",
        "unit_amount": amount,
        "unit_amount_decimal": None if amount is None else str(amount),
    }
    body.update(extra)
    return body


def subscription(
    sid: str,
    cid: str,
    the_price: dict,
    *,
    status: str = "active",
    start: int,
    end: int,
    cancel_at_period_end: bool = False,
    quantity: int = 1,
) -> dict:
    return {
        "id": sid,
        "object": "subscription",
        "billing_cycle_anchor": start,
        "cancel_at": None,
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": None,
        "collection_method": "charge_automatically",
        "created": start,
        "currency": the_price["currency"],
        "current_period_end": end,
        "current_period_start": start,
        "customer": cid,
        "default_payment_method": None,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{sid[4:]}",
                    "object": "subscription_item",
                    "created": start,
                    "metadata": {},
                    "price": the_price,
                    "quantity": quantity,
                    "subscription": sid,
                    "tax_rates": [],
                }
            ],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/subscription_items?subscription={sid}",
        },
        "latest_invoice": None,
        "livemode": False,
        "metadata": {},
        "start_date": start,
        "status": status,
        "trial_end": None,
        "trial_start": None,
    }


class FakeStripe:
    """Stripe's list endpoints over ``responses``: each answers its objects
    ``limit`` at a time with ``has_more`` and ``starting_after`` cursors, as
    Stripe does. ``rate_limited`` pages answer 429 once first. Records the
    requests (path and query)."""

    def __init__(self, mock: responses.RequestsMock):
        self.mock = mock
        self.lists: dict[str, list[dict]] = {
            "customers": [],
            "products": [],
            "prices": [],
            "subscriptions": [],
        }
        self.throttle_once: set[tuple[str, str | None]] = set()
        self.calls: list[tuple[str, str, dict]] = []
        self.updates: list[tuple[str, dict]] = []
        pattern = re.compile(rf"{re.escape(API)}/v1/(customers|products|prices|subscriptions)")
        mock.add_callback(responses.GET, pattern, callback=self._list)
        mock.add_callback(
            responses.POST,
            re.compile(rf"{re.escape(API)}/v1/subscriptions/sub_\w+"),
            callback=self._update_subscription,
        )

    def _list(self, request):
        parts = urlsplit(request.url)
        path = parts.path.removeprefix("/v1/")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.calls.append(("GET", path, query))
        if "/" in path:  # retrieve one customer
            kind, _, object_id = path.partition("/")
            for item in self.lists[kind]:
                if item["id"] == object_id:
                    return 200, {}, json.dumps(item)
            error = {
                "error": {
                    "type": "invalid_request_error",
                    "code": "resource_missing",
                    "message": f"No such customer: '{object_id}'",
                }
            }
            return 404, {}, json.dumps(error)
        key = (path, query.get("starting_after"))
        if key in self.throttle_once:
            self.throttle_once.discard(key)
            error = {
                "error": {
                    "type": "invalid_request_error",
                    "code": "rate_limit",
                    "message": "Too many requests.",
                }
            }
            return 429, {}, json.dumps(error)
        items = self.lists[path]
        limit = int(query.get("limit", 10))
        start = 0
        if "starting_after" in query:
            start = next(i for i, o in enumerate(items) if o["id"] == query["starting_after"]) + 1
        page = items[start : start + limit]
        body = {
            "object": "list",
            "url": f"/v1/{path}",
            "has_more": start + limit < len(items),
            "data": page,
        }
        return 200, {}, json.dumps(body)

    def _update_subscription(self, request):
        sid = urlsplit(request.url).path.rsplit("/", 1)[-1]
        params = {k: v[-1] for k, v in parse_qs(request.body or "").items()}
        self.updates.append((sid, params))
        for item in self.lists["subscriptions"]:
            if item["id"] == sid:
                item["cancel_at_period_end"] = params.get("cancel_at_period_end") == "true"
                return 200, {}, json.dumps(item)
        return 404, {}, json.dumps({"error": {"type": "invalid_request_error"}})

    def pages(self, kind: str) -> int:
        return sum(1 for method, path, _ in self.calls if method == "GET" and path == kind)
