"""The shop the tests bill from, built here rather than in every module: a
business with its currency and profile, a product with its plans, a VAT rate
and a client.

Two ways to build it, with the same plans: through the billing domain
(``open_business``, ``add_product``, ``add_vat``, ``add_client``: each takes
an open session and gives ids) for the tests that work below HTTP, and
through the API (``api_*``: each gives the API's JSON) for the tests that
work over it. Each module's ``shop`` fixture composes these and keeps the
shape its tests read (a dict, a dataclass).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from bridge.billing import business, catalog, clients
from bridge.models import BusinessSettings, IntervalUnit, PlanKind

CURRENCY = "EUR"


@dataclass(frozen=True)
class PlanSpec:
    """A plan to create: one-time when ``interval_unit`` is None."""

    name: str
    amount: int
    interval_unit: IntervalUnit | None = None
    interval_count: int = 1
    billing_cycles: int | None = None

    @property
    def kind(self) -> PlanKind:
        return PlanKind.ONE_TIME if self.interval_unit is None else PlanKind.RECURRING

    def domain_kwargs(self) -> dict:
        """The keyword arguments of ``catalog.create_plan``."""
        kwargs: dict = {"name": self.name, "kind": self.kind, "amount": self.amount}
        if self.interval_unit is not None:
            kwargs.update(
                interval_unit=self.interval_unit,
                interval_count=self.interval_count,
                billing_cycles=self.billing_cycles,
            )
        return kwargs

    def json(self) -> dict:
        """The body of ``POST /products/<id>/plans``."""
        body: dict = {"name": self.name, "kind": self.kind.value, "amount": self.amount}
        if self.interval_unit is not None:
            body.update(interval_unit=self.interval_unit.value, interval_count=self.interval_count)
            if self.billing_cycles is not None:
                body["billing_cycles"] = self.billing_cycles
        return body


def one_time(name: str, amount: int) -> PlanSpec:
    return PlanSpec(name, amount)


def recurring(
    name: str,
    amount: int,
    unit: IntervalUnit = IntervalUnit.MONTH,
    count: int = 1,
    cycles: int | None = None,
) -> PlanSpec:
    return PlanSpec(name, amount, unit, count, cycles)


# The plans most tests bill: a set-up fee and monthly hosting.
SETUP = one_time("Setup", 15000)
MONTHLY = recurring("Monthly", 2900)

ALICE = {"name": "Alice", "email": "alice@example.com"}

# What an invoice of a French seller to a business in France must print
# besides the name, address and VAT number (bridge.billing.legal).
FRENCH_LEGAL_DETAILS = {
    "legal_form": "SAS",
    "share_capital": 1_000_000,
    "siren": "123456782",
    "siret": "12345678200010",
    "rcs_city": "Paris",
}


# Through the billing domain ----------------------------------------------------


def open_business(session: Session, currency: str = CURRENCY, **settings) -> BusinessSettings:
    """The business settles on ``currency``; ``settings`` are stored as given
    (columns of BusinessSettings, unchecked: the profile the test needs)."""
    business.set_currency(session, currency, confirm=True)
    stored = business.get_settings(session)
    for key, value in settings.items():
        if not hasattr(stored, key):
            raise AttributeError(f"BusinessSettings has no {key!r}")
        setattr(stored, key, value)
    return stored


def add_product(
    session: Session, name: str, plans: dict[str, PlanSpec], **product
) -> dict[str, int]:
    """A product with ``plans``: their ids by the keys of ``plans``."""
    created = catalog.create_product(session, name=name, **product)
    return {
        key: catalog.create_plan(session, created, **spec.domain_kwargs()).id
        for key, spec in plans.items()
    }


def add_vat(session: Session, percentage: str = "20", *, name: str = "VAT") -> int:
    """A VAT rate added on top of prices (not included): its id."""
    return catalog.create_tax_rate(session, name=name, percentage=percentage, inclusive=False).id


def add_client(session: Session, **details) -> int:
    """A client (Alice unless ``details`` say otherwise): its id."""
    return clients.create_client(session, **{**ALICE, **details}).id


# Through the API ---------------------------------------------------------------


def _ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.get_json()
    return response.get_json()


def api_profile(api, **settings) -> dict:
    """``PATCH /settings`` with ``settings``: the settings."""
    return _ok(api.patch("/settings", json=settings))


def api_product(api, name: str, plans: dict[str, PlanSpec], **product) -> dict[str, dict]:
    """A product with ``plans``: the plans' JSON by the keys of ``plans``."""
    created = _ok(api.post("/products", json={"name": name, **product}), 201)
    return {
        key: _ok(api.post(f"/products/{created['id']}/plans", json=spec.json()), 201)
        for key, spec in plans.items()
    }


def api_vat(api, percentage: str = "20", *, name: str = "VAT") -> dict:
    return _ok(api.post("/tax-rates", json={"name": name, "percentage": percentage}), 201)


def api_client(api, **details) -> dict:
    return _ok(api.post("/clients", json={**ALICE, **details}), 201)


def api_site(api, client_id: int, name: str, url: str) -> dict:
    return _ok(api.post(f"/clients/{client_id}/sites", json={"name": name, "url": url}), 201)
