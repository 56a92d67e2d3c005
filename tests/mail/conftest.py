"""Fixtures of the email tests: a business with a client, plans and invoices."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bridge.models import OutboxMessage


@pytest.fixture
def shop(api_eur):
    """A business (with an email), a client, a one-time and a monthly plan."""
    api = api_eur
    response = api.patch(
        "/settings",
        json={"company_name": "Pixel & Press", "email": "agency@agency.example"},
    )
    assert response.status_code == 200, response.get_json()
    product = api.post("/products", json={"name": "Hosting"}).get_json()
    monthly = api.post(
        f"/products/{product['id']}/plans",
        json={"name": "Monthly", "kind": "recurring", "amount": 2900, "interval_unit": "month"},
    ).get_json()
    setup = api.post(
        f"/products/{product['id']}/plans",
        json={"name": "Setup", "kind": "one_time", "amount": 15000},
    ).get_json()
    client = api.post(
        "/clients", json={"name": "Alice <Admin> & Co", "email": "alice@example.com"}
    ).get_json()
    return {"api": api, "monthly": monthly, "setup": setup, "client": client}


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
