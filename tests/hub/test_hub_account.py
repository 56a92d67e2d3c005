"""My account through the test client: a staff user changes their name and
email (unique across every login) and their password (the current one
first; other sessions end, this one goes on); read-only staff too; bad
input comes back next to its field with nothing changed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bridge.models import User
from tests.conftest import STAFF_PASSWORD
from tests.hub.conftest import STAFF_EMAIL, Hub, add_staff

NEW_PASSWORD = "a much longer secret"


def user_row(db, email: str = STAFF_EMAIL) -> tuple:
    with db.session() as s:
        user = s.scalars(select(User).where(User.email_key == email.lower())).one()
        return user.name, user.email, user.password_hash


def test_the_header_links_to_my_account(hub):
    page = hub.client.get("/").data.decode()
    assert 'href="/account"' in page
    account = hub.client.get("/account").data.decode()
    assert 'value="Olivia Owner"' in account and f'value="{STAFF_EMAIL}"' in account
    assert 'autocomplete="current-password"' in account


def test_a_staff_user_changes_their_name_and_email(hub, db):
    response = hub.post(
        "/account", {"name": "Olivia O.", "email": "Olivia@Agency.example"}, page="/account"
    )
    assert response.status_code == 302 and response.headers["Location"] == "/account?saved=profile"
    assert user_row(db, "olivia@agency.example")[:2] == ("Olivia O.", "Olivia@Agency.example")
    assert "Your name and email are saved." in hub.client.get("/account?saved=profile").text
    # Still logged in, and the new email logs in.
    assert hub.client.get("/").status_code == 200


def test_a_new_password_ends_the_other_sessions_but_not_this_one(hub, app, db):
    other = Hub(app.test_client())
    other.login()
    assert other.client.get("/").status_code == 200
    response = hub.post(
        "/account/password",
        {"current_password": STAFF_PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        page="/account",
    )
    assert response.headers["Location"] == "/account?saved=password"
    assert hub.client.get("/").status_code == 200
    assert other.client.get("/").status_code == 302
    assert Hub(app.test_client()).login(password=STAFF_PASSWORD).status_code == 200
    assert Hub(app.test_client()).login(password=NEW_PASSWORD).status_code == 302


def test_staff_who_may_only_read_may_change_their_own_account(hub, db, monkeypatch):
    monkeypatch.setattr("bridge.auth.logins.read_only", lambda user: True)
    assert hub.post("/clients/new", {"name": "X"}, page="/account").status_code == 403
    response = hub.post("/account", {"name": "Reader", "email": STAFF_EMAIL}, page="/account")
    assert response.status_code == 302
    assert user_row(db)[0] == "Reader"
    response = hub.post(
        "/account/password",
        {"current_password": STAFF_PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        page="/account",
    )
    assert response.status_code == 302 and hub.client.get("/account").status_code == 200


@pytest.mark.parametrize(
    ("path", "data", "field", "status"),
    [
        ("/account", {"name": "Olivia", "email": "not an email"}, "email", 422),
        ("/account", {"name": "Olivia", "email": ""}, "email", 422),
        ("/account", {"name": "O" * 201, "email": STAFF_EMAIL}, "name", 422),
        ("/account", {"name": "Olivia", "email": "TAKEN@agency.example"}, "email", 409),
        (
            "/account/password",
            {"current_password": "wrong one!", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
            "current_password",
            422,
        ),
        (
            "/account/password",
            {"current_password": STAFF_PASSWORD, "password": "short", "confirm": "short"},
            "password",
            422,
        ),
        (
            "/account/password",
            {"current_password": STAFF_PASSWORD, "password": NEW_PASSWORD, "confirm": "other"},
            "confirm",
            422,
        ),
    ],
)
def test_bad_input_comes_back_next_to_its_field_and_changes_nothing(
    hub, db, path, data, field, status
):
    add_staff(db, email="taken@agency.example", name="Tom Taken")
    before = user_row(db)
    response = hub.post(path, data, page="/account")
    assert response.status_code == status
    page = response.text
    assert f'id="{field}-error"' in page and f'aria-describedby="{field}-error' in page
    assert user_row(db) == before
    assert hub.client.get("/").status_code == 200  # still logged in


def test_a_form_without_its_token_is_refused(hub, db):
    before = user_row(db)
    assert hub.client.post("/account", data={"name": "X", "email": STAFF_EMAIL}).status_code == 400
    assert user_row(db) == before
