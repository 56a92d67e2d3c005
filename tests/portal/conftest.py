"""The portal's fixtures: a shop (``tests.e2e.conftest.make_shop``: the
agency Pixel & Pine Studio and its client Alice Martin of Martin Bakery),
a person of that client with a password, and a test client logged in as
them. ``second_client`` is another client with a person of its own, for the
cross-client checks."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from bridge.auth.passwords import hash_password
from bridge.billing import business
from bridge.core import clock
from bridge.models import Client, ClientStatus, Role, User, UserKind
from tests.e2e.conftest import Shop, make_shop
from tests.hub.conftest import csrf_token
from tests.shop import add_client

PERSON_EMAIL = "alice@martin-bakery.example"
PERSON_PASSWORD = "plum orbit lantern cactus"
OTHER_EMAIL = "bob@other-client.example"


def add_person(
    db, client_id: int, email: str = PERSON_EMAIL, name: str = "Alice Martin", **fields
) -> int:
    """A person of ``client_id`` who accepted their invitation (a password,
    the client active)."""
    with db.session() as session:
        user = User(
            kind=UserKind.CLIENT,
            email=email,
            email_key=email.lower(),
            name=name,
            password_hash=hash_password(PERSON_PASSWORD),
            is_active=True,
            client_id=client_id,
            created_at=clock.now(),
            **fields,
        )
        session.add(user)
        session.get(Client, client_id).status = ClientStatus.ACTIVE
        session.flush()
        return user.id


def set_role(db, client_id: int, system_key: str) -> None:
    """Give the client one of the system roles (view_all, edit_all,
    billing_only)."""
    with db.session() as session:
        role = session.scalar(select(Role).where(Role.system_key == system_key))
        session.get(Client, client_id).role_id = role.id


@dataclass
class Portal:
    """A browser-like test client of the portal."""

    client: object

    def login(self, email: str = PERSON_EMAIL, password: str = PERSON_PASSWORD, **extra):
        token = csrf_token(self.client.get("/portal/login").data)
        return self.client.post(
            "/portal/login",
            data={"email": email, "password": password, "csrf_token": token, **extra},
        )

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict | None = None, page: str = "/portal/"):
        """A POST carrying the CSRF token of ``page``'s forms."""
        token = csrf_token(self.client.get(page).data)
        return self.client.post(path, data={"csrf_token": token, **(data or {})})


@pytest.fixture
def shop(db) -> Shop:
    shop = make_shop(db)
    with db.session() as session:
        business.finish_getting_started(session)
    return shop


@pytest.fixture
def person(db, shop) -> int:
    """Alice Martin, the shop's client's person (role: the client's, by
    default *Billing only*)."""
    return add_person(db, shop.client_id)


@pytest.fixture
def portal(client, person) -> Portal:
    """Logged in as Alice Martin."""
    portal = Portal(client)
    response = portal.login()
    assert response.status_code == 302, response.data
    return portal


@pytest.fixture
def second_client(db, shop) -> int:
    """Another client of the same agency, with a person (Bob) of its own."""
    with db.session() as session:
        client_id = add_client(session, name="Bob Other", email="bob@other-client.example")
    add_person(db, client_id, email=OTHER_EMAIL, name="Bob Other")
    return client_id


@pytest.fixture
def other_portal(app, second_client) -> Portal:
    """Logged in as Bob, the person of the other client."""
    portal = Portal(app.test_client())
    response = portal.login(email=OTHER_EMAIL)
    assert response.status_code == 302, response.data
    return portal
