"""Fixtures of the email tests: a business with a client, plans and invoices."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bridge.models import OutboxMessage
from tests import shop as shops


@pytest.fixture
def shop(api_eur):
    """A business (with an email), a client, a one-time and a monthly plan."""
    api = api_eur
    shops.api_profile(api, company_name="Pixel & Press", email="agency@agency.example")
    plans = shops.api_product(api, "Hosting", {"monthly": shops.MONTHLY, "setup": shops.SETUP})
    client = shops.api_client(api, name="Alice <Admin> & Co")
    return {"api": api, **plans, "client": client}


def issue(shop, *, recurring: bool = False, finalize: bool = True) -> dict:
    """A draft invoice for the client, finalized unless told otherwise."""
    api = shop["api"]
    plan = shop["monthly"] if recurring else shop["setup"]
    response = api.post(
        "/invoices", json={"client_id": shop["client"]["id"], "items": [{"plan_id": plan["id"]}]}
    )
    assert response.status_code == 201, response.get_json()
    invoice = response.get_json()
    if finalize:
        response = api.post(f"/invoices/{invoice['id']}/finalize")
        assert response.status_code == 200, response.get_json()
        invoice = response.get_json()
    return invoice


def outbox(db, trigger: str | None = None) -> list[OutboxMessage]:
    with db.session() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if trigger is not None:
            query = query.where(OutboxMessage.trigger == trigger)
        return list(session.scalars(query))
