"""A staff user who forgot their password gets a link by email (through
the outbox); the link expires after an hour and works once."""

from __future__ import annotations

import re
from datetime import timedelta

import time_machine
from sqlalchemy import select

from bridge.core import clock
from bridge.models import OutboxMessage
from tests.hub.conftest import STAFF_EMAIL, Hub, add_staff, csrf_token

NEW_PASSWORD = "a brand new passphrase"


def ask_for_link(client, email: str = STAFF_EMAIL):
    token = csrf_token(client.get("/password-reset").data)
    return client.post("/password-reset", data={"email": email, "csrf_token": token})


def queued(db) -> list[OutboxMessage]:
    with db.session() as session:
        return list(
            session.scalars(
                select(OutboxMessage).where(OutboxMessage.trigger == "staff_password_reset")
            )
        )


def link_in(message: OutboxMessage) -> str:
    return re.search(r"http://127\.0\.0\.1:5000(/password-reset/\S+)", message.body_text).group(1)


def choose(client, path: str, password: str = NEW_PASSWORD, confirm: str | None = None):
    token = csrf_token(client.get(path).data)
    return client.post(
        path,
        data={"password": password, "confirm": confirm or password, "csrf_token": token},
    )


def test_a_forgotten_password_is_reset_with_the_emailed_link_once(client, db, staff):
    hub = Hub(client)
    answer = ask_for_link(client)
    assert b"a link to choose a new password is on its way" in answer.data
    (message,) = queued(db)
    assert message.to_address == STAFF_EMAIL
    assert message.subject == "Olivia Owner, reset your Billing Bridge password"
    assert "Olivia Owner" in message.body_text
    path = link_in(message)

    done = choose(client, path)
    assert done.status_code == 302
    assert done.headers["Location"] == "/login?changed=1"
    assert b"Your password is changed" in client.get("/login?changed=1").data
    assert hub.login().status_code == 200  # the old password no longer opens
    client.post("/logout")
    assert hub.login(password=NEW_PASSWORD).status_code == 302

    # The same link again: used up.
    again = client.get(path)
    assert b"This link has expired or was already used." in again.data


def test_the_link_expires_after_an_hour(client, db, staff):
    ask_for_link(client)
    path = link_in(queued(db)[0])
    with time_machine.travel(clock.now() + timedelta(minutes=61)):
        page = client.get(path)
        assert b"This link has expired or was already used." in page.data
        assert b'name="password"' not in page.data


def test_a_tampered_link_opens_nothing(client, db, staff):
    ask_for_link(client)
    path = link_in(queued(db)[0])
    page = client.get(path[:-3] + "abc")
    assert b"This link has expired or was already used." in page.data


def test_an_unknown_email_gets_the_same_answer_and_no_email(client, db, staff):
    add_staff(db, "gone@agency.example", is_active=False)
    for email in ("nobody@agency.example", "gone@agency.example"):
        answer = ask_for_link(client, email)
        assert b"a link to choose a new password is on its way" in answer.data
    assert queued(db) == []


def test_the_new_password_must_be_long_enough_and_typed_twice(client, db, staff):
    ask_for_link(client)
    path = link_in(queued(db)[0])
    short = choose(client, path, "short")
    assert b"at least 10 characters" in short.data
    differ = choose(client, path, NEW_PASSWORD, "something else entirely")
    assert b"The two passwords differ." in differ.data
    # Nothing changed: the link still works.
    assert choose(client, path).status_code == 302


def test_a_new_password_ends_the_sessions_opened_with_the_old_one(client, app, db, staff):
    other = app.test_client()
    assert Hub(other).login().status_code == 302
    ask_for_link(client)
    choose(client, link_in(queued(db)[0]))
    assert other.get("/").status_code == 302


def test_asking_for_links_is_limited_like_logging_in(app, client, staff):
    app.config["HUB_LOGIN_LIMIT_PER_ACCOUNT"] = "2 per minute"
    assert ask_for_link(client).status_code == 200
    assert ask_for_link(client).status_code == 200
    refused = ask_for_link(client)
    assert refused.status_code == 429
    assert b"Too many attempts" in refused.data


def test_a_reset_request_without_the_csrf_token_is_refused(client, db, staff):
    response = client.post("/password-reset", data={"email": STAFF_EMAIL})
    assert response.status_code == 400
    assert queued(db) == []
