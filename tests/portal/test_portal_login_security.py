"""The portal's login from an attacker's side: limits on guessing (shared
with the Hub's login), one answer and about one time for every kind of
email, a fresh session at login, the cookie's flags, CSRF on every public
form, logging out, the password reset link, and people whose login ended."""

from __future__ import annotations

import re
import statistics
import time
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from bridge.billing import clients as client_book
from bridge.core import clock
from bridge.models import Client, ClientStatus, OutboxMessage, User, UserKind
from tests.conftest import snapshot
from tests.hub.conftest import STAFF_EMAIL, Hub, add_staff, csrf_token
from tests.portal.conftest import PERSON_EMAIL, PERSON_PASSWORD, Portal, add_person
from tests.shop import add_client

NEW_PASSWORD = "violet harbour gravel tundra"
WRONG = "not the password at all"
INVITED_EMAIL = "invited@martin-bakery.example"


def normalised(page: bytes, typed_email: str = "") -> str:
    """A page without what differs from one answer to the next by design:
    the CSRF token, the CSP nonce, and the email the visitor typed."""
    text = page.decode()
    text = re.sub(r'(name="csrf_token" type="hidden" value=")[^"]+', r"\1", text)
    text = re.sub(r'nonce="[^"]+"', "", text)
    return text.replace(typed_email, "EMAIL") if typed_email else text


def ask_for_link(client, email: str = PERSON_EMAIL):
    token = csrf_token(client.get("/portal/password-reset").data)
    return client.post("/portal/password-reset", data={"email": email, "csrf_token": token})


def queued(db, trigger: str | None = None) -> list[OutboxMessage]:
    with db.session() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if trigger:
            query = query.where(OutboxMessage.trigger == trigger)
        rows = list(session.scalars(query))
        session.expunge_all()
        return rows


def link_in(message: OutboxMessage) -> str:
    return re.search(r"https?://[^/\s]+(/portal/password-reset/[^\s\"<]+)", message.body_text)[1]


def choose(client, path: str, password: str = NEW_PASSWORD, confirm: str | None = None):
    token = csrf_token(client.get(path).data)
    return client.post(
        path, data={"password": password, "confirm": confirm or password, "csrf_token": token}
    )


def add_invited(db, client_id: int) -> int:
    """A person invited but who has not accepted yet: no password."""
    with db.session() as session:
        user = User(
            kind=UserKind.CLIENT,
            email=INVITED_EMAIL,
            email_key=INVITED_EMAIL,
            name="Ivy Invited",
            password_hash=None,
            is_active=False,
            client_id=client_id,
            created_at=clock.now(),
        )
        session.add(user)
        session.flush()
        return user.id


# Limits on guessing -------------------------------------------------------------


def test_login_attempts_per_account_are_limited_and_counted_with_the_hubs(
    app, client, db, shop, person
):
    app.config["HUB_LOGIN_LIMIT_PER_ACCOUNT"] = "3 per minute"
    portal = Portal(client)
    assert portal.login(password=WRONG).status_code == 200
    assert portal.login(password=WRONG).status_code == 200
    # The Hub's login counts for the same account.
    assert Hub(app.test_client()).login(email=PERSON_EMAIL, password=WRONG).status_code == 200
    refused = portal.login()  # even the right password, once over the limit
    assert refused.status_code == 429
    assert b"Too many attempts" in refused.data
    assert client.get("/portal/").status_code == 302  # not logged in
    hub_refused = Hub(app.test_client()).login(email=PERSON_EMAIL, password=PERSON_PASSWORD)
    assert hub_refused.status_code == 429
    # Another account is not held up by this one's counter.
    add_person(db, shop.client_id, email="carol@martin-bakery.example", name="Carol")
    assert portal.login(email="carol@martin-bakery.example").status_code == 302


def test_login_attempts_per_address_are_limited_and_counted_with_the_hubs(app, client, person):
    app.config["HUB_LOGIN_LIMIT_PER_ADDRESS"] = "4 per minute"
    portal = Portal(client)
    for number in range(2):
        assert portal.login(email=f"guess{number}@example.com").status_code == 200
    hub = Hub(app.test_client())
    for number in range(2, 4):
        assert hub.login(email=f"guess{number}@example.com").status_code == 200
    refused = portal.login()
    assert refused.status_code == 429
    assert b"Too many attempts" in refused.data
    assert hub.login(email=STAFF_EMAIL).status_code == 429


# One answer for every email ---------------------------------------------------------


@pytest.fixture
def accounts(app, db, shop, person):
    """Four emails a guesser might try: a person (wrong password), nobody,
    staff (wrong password), a person invited who has not accepted yet."""
    add_staff(db)
    add_invited(db, shop.client_id)
    app.config["HUB_LOGIN_LIMIT_PER_ACCOUNT"] = "100 per minute"
    app.config["HUB_LOGIN_LIMIT_PER_ADDRESS"] = "100 per minute"
    return {
        "person": PERSON_EMAIL,
        "unknown": "nobody@nowhere.example",
        "staff": STAFF_EMAIL,
        "invited": INVITED_EMAIL,
    }


def test_every_kind_of_email_gets_the_same_answer(client, accounts):
    portal = Portal(client)
    answers = {}
    for kind, email in accounts.items():
        response = portal.login(email=email, password=WRONG)
        answers[kind] = (response.status_code, normalised(response.data, email))
    assert len(set(answers.values())) == 1, answers.keys()
    assert answers["person"][0] == 200
    assert "Wrong email or password." in answers["person"][1]


@pytest.mark.real_password_hashing
def test_every_kind_of_email_takes_about_the_same_time(client, accounts):
    # Every refusal runs one Argon2 verification (an unknown email or a
    # person without a password verifies against a stand-in hash), some
    # tens of milliseconds; skipping it would answer ten times faster or
    # more. The machine is shared with other work, so the tries are
    # interleaved (a busy moment slows every kind alike) and the medians
    # compared with a generous ratio: 3 still catches a skipped hash
    # without failing on a busy neighbour.
    portal = Portal(client)
    took: dict[str, list[float]] = {kind: [] for kind in accounts}
    for _ in range(7):
        for kind, email in accounts.items():
            start = time.perf_counter()
            portal.login(email=email, password=WRONG)
            took[kind].append(time.perf_counter() - start)
    medians = {kind: statistics.median(times[1:]) for kind, times in took.items()}
    assert max(medians.values()) / min(medians.values()) < 3, medians


# The session ------------------------------------------------------------------------


def test_logging_in_starts_a_fresh_session(client, person):
    client.get("/portal/login")
    with client.session_transaction() as planted:
        planted["planted"] = "by someone else"
        planted["_user_id"] = "999:forged"
    before = client.get_cookie("session").value
    assert Portal(client).login().status_code == 302
    after = client.get_cookie("session").value
    assert after != before
    with client.session_transaction() as fresh:
        assert "planted" not in fresh
        assert fresh["_user_id"].startswith(f"{person}:")


def test_the_session_cookie_is_http_only_and_same_site_lax(client, person):
    cookie = Portal(client).login().headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # development and tests serve plain http


def test_the_session_cookie_is_secure_in_production(database_url, tmp_path):
    from bridge import create_app

    app = create_app(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret-key",
            "ENV": "production",
            "TESTING": True,
        }
    )
    try:
        assert app.config["SESSION_COOKIE_SECURE"] is True
        assert app.config["SESSION_COOKIE_HTTPONLY"] is True
        assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    finally:
        app.extensions["bridge.db"].dispose()


def test_every_public_form_needs_its_csrf_token(client, db, person):
    before = snapshot(db)
    login = client.post("/portal/login", data={"email": PERSON_EMAIL, "password": PERSON_PASSWORD})
    assert login.status_code == 400
    assert client.get("/portal/").status_code == 302  # not logged in
    reset = client.post("/portal/password-reset", data={"email": PERSON_EMAIL})
    assert reset.status_code == 400
    language = client.post("/portal/language", data={"language": "de"})
    assert language.status_code == 400
    assert snapshot(db) == before
    assert 'lang="de"' not in client.get("/portal/login").get_data(as_text=True)

    portal = Portal(client)
    assert portal.login().status_code == 302
    assert client.post("/portal/logout").status_code == 400
    assert client.get("/portal/").status_code == 200  # still logged in


def test_logout_is_a_post_and_ends_the_session(portal):
    assert portal.get("/portal/logout").status_code == 405
    assert portal.get("/portal/").status_code == 200
    response = portal.post("/portal/logout")
    assert response.status_code == 302
    assert response.location.endswith("/portal/login")
    assert portal.get("/portal/").status_code == 302
    with portal.client.session_transaction() as cookie:
        assert "_user_id" not in cookie


def test_logout_ends_a_copy_of_the_cookie_kept_from_before_and_other_devices(app, portal):
    """The session lives in a signed cookie: logging out moves the person's
    session epoch on, so a copy (stolen, or another device's) stops too."""
    copy = app.test_client()
    copy.set_cookie("session", portal.client.get_cookie("session").value)
    assert copy.get("/portal/").status_code == 200
    laptop = Portal(app.test_client())
    assert laptop.login().status_code == 302
    assert portal.post("/portal/logout").status_code == 302
    assert copy.get("/portal/").status_code == 302
    assert laptop.get("/portal/").status_code == 302
    assert laptop.login().status_code == 302  # logging in again works
    assert laptop.get("/portal/").status_code == 200


# The password reset -------------------------------------------------------------------


def test_a_person_resets_their_password_with_the_emailed_link_once(app, client, db, person):
    other = Portal(app.test_client())
    assert other.login().status_code == 302
    assert b"on its way" in ask_for_link(client).data
    (message,) = queued(db, "client_password_reset")
    assert message.to_address == PERSON_EMAIL
    path = link_in(message)

    weak = choose(client, path, "password123456")
    assert weak.status_code == 422
    assert b"This password is too easy to guess" in weak.data
    short = choose(client, path, "short")
    assert short.status_code == 422
    assert b"at least 10 characters" in short.data

    done = choose(client, path)
    assert done.status_code == 302
    assert done.location.endswith("/portal/login?changed=1")
    # The other session (opened with the old password) has ended.
    assert other.get("/portal/").status_code == 302
    assert Portal(client).login().status_code == 200  # the old password is refused
    assert Portal(client).login(password=NEW_PASSWORD).status_code == 302
    # The link again: used up.
    again = client.get(path)
    assert again.status_code == 410
    assert b"This link has expired or was already used." in again.data


def test_the_link_expires_after_an_hour(client, db, person):
    ask_for_link(client)
    path = link_in(queued(db, "client_password_reset")[0])
    with time_machine.travel(clock.now() + timedelta(minutes=59)):
        assert client.get(path).status_code == 200
    with time_machine.travel(clock.now() + timedelta(minutes=61)):
        page = client.get(path)
        assert page.status_code == 410
        assert b'name="password"' not in page.data


def test_a_staff_email_on_the_portal_queues_nothing(client, db, person):
    add_staff(db)
    for email in (STAFF_EMAIL, "nobody@nowhere.example", INVITED_EMAIL):
        answer = ask_for_link(client, email)
        assert answer.status_code == 200
        assert b"on its way" in answer.data
    assert queued(db) == []


def test_a_portal_link_does_not_open_the_hubs_page_nor_the_other_way(app, client, db, person):
    add_staff(db)
    ask_for_link(client)
    portal_path = link_in(queued(db, "client_password_reset")[0])
    token = portal_path.rsplit("/", 1)[1]
    hub_page = client.get(f"/password-reset/{token}")
    assert b"This link has expired or was already used." in hub_page.data
    assert b'name="password"' not in hub_page.data

    hub_token = csrf_token(client.get("/password-reset").data)
    client.post("/password-reset", data={"email": STAFF_EMAIL, "csrf_token": hub_token})
    (staff_message,) = queued(db, "staff_password_reset")
    staff_token = re.search(r"/password-reset/(\S+)", staff_message.body_text)[1]
    portal_page = client.get(f"/portal/password-reset/{staff_token}")
    assert portal_page.status_code == 410
    assert b'name="password"' not in portal_page.data


# People whose login ended ----------------------------------------------------------------


def test_a_deactivated_person_cannot_log_in_and_their_session_ends(db, person, portal, app):
    with db.session() as session:
        session.get(User, person).is_active = False
    assert portal.get("/portal/").status_code == 302
    answer = Portal(app.test_client()).login()
    assert answer.status_code == 200
    assert b"Wrong email or password." in answer.data


def test_a_person_of_a_deleted_client_cannot_log_in_and_their_session_ends(app, db, shop):
    with db.session() as session:
        client_id = add_client(session, name="Short Lived", email="gone@short-lived.example")
    add_person(db, client_id, email="gone@short-lived.example", name="Gone")
    portal = Portal(app.test_client())
    assert portal.login(email="gone@short-lived.example").status_code == 302
    with db.session() as session:
        client_book.delete_client(session, session.get(Client, client_id))
    assert portal.get("/portal/").status_code == 302
    assert portal.get("/portal/sites").status_code == 302
    answer = Portal(app.test_client()).login(email="gone@short-lived.example")
    assert answer.status_code == 200
    assert b"Wrong email or password." in answer.data


def test_an_invited_person_who_has_not_accepted_cannot_log_in(client, db, shop):
    add_invited(db, shop.client_id)
    with db.session() as session:
        session.get(Client, shop.client_id).status = ClientStatus.PENDING
    for password in ("", PERSON_PASSWORD):
        answer = Portal(client).login(email=INVITED_EMAIL, password=password)
        assert answer.status_code == 200
    assert client.get("/portal/").status_code == 302


def test_asking_for_reset_links_is_limited_and_counted_with_the_hubs(app, client, person):
    app.config["HUB_LOGIN_LIMIT_PER_ACCOUNT"] = "2 per minute"
    assert ask_for_link(client).status_code == 200
    hub_token = csrf_token(client.get("/password-reset").data)
    hub = client.post("/password-reset", data={"email": PERSON_EMAIL, "csrf_token": hub_token})
    assert hub.status_code == 200
    refused = ask_for_link(client)
    assert refused.status_code == 429
    assert b"Too many attempts" in refused.data
    # Logging in keeps its own count.
    assert Portal(client).login().status_code == 302


def test_choosing_the_new_password_needs_the_csrf_token(client, db, person):
    ask_for_link(client)
    path = link_in(queued(db, "client_password_reset")[0])
    before = snapshot(db)
    response = client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 400
    assert snapshot(db) == before
    assert client.get(path).status_code == 200  # the link still works
