"""The Hub's fixtures: a staff user and a test client logged in as them."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from bridge.billing import business
from bridge.core import clock
from bridge.models import User, UserKind
from tests.conftest import STAFF_PASSWORD, staff_password_hash

STAFF_EMAIL = "owner@agency.example"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token(page: bytes | str) -> str:
    """The CSRF token of the (first) form on a page."""
    text = page.decode() if isinstance(page, bytes) else page
    match = CSRF.search(text)
    assert match, "no CSRF token on the page"
    return match.group(1)


def add_staff(db, email: str = STAFF_EMAIL, name: str = "Olivia Owner", **fields) -> int:
    with db.session() as session:
        values = {
            "kind": UserKind.STAFF,
            "email": email,
            "email_key": email.lower(),
            "name": name,
            "password_hash": staff_password_hash(),
            "is_active": True,
            "created_at": clock.now(),
        }
        user = User(**(values | fields))
        session.add(user)
        session.flush()
        return user.id


@dataclass
class Hub:
    """A browser-like test client of the Hub."""

    client: object

    def login(self, email: str = STAFF_EMAIL, password: str = STAFF_PASSWORD, **extra):
        token = csrf_token(self.client.get("/login").data)
        return self.client.post(
            "/login",
            data={"email": email, "password": password, "csrf_token": token, **extra},
        )

    def post(self, path: str, data: dict | None = None, page: str = "/"):
        """A POST carrying the CSRF token of ``page``'s forms."""
        token = csrf_token(self.client.get(page).data)
        return self.client.post(path, data={"csrf_token": token, **(data or {})})


@pytest.fixture
def staff(db) -> int:
    """A staff user of a business past Getting started."""
    finish_getting_started(db)
    return add_staff(db)


def finish_getting_started(db) -> None:
    """The business is past Getting started, so the Overview shows (the
    flow itself is tested in test_hub_getting_started.py)."""
    with db.session() as session:
        business.finish_getting_started(session)


@pytest.fixture
def hub(client, staff) -> Hub:
    """Logged in as the staff user."""
    hub = Hub(client)
    response = hub.login()
    assert response.status_code == 302, response.data
    return hub
