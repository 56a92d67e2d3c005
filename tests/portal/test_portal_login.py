"""Logging in to the portal: one login system with the Hub, each side
refusing the other's sessions."""

from __future__ import annotations

from tests.conftest import STAFF_PASSWORD
from tests.hub.conftest import STAFF_EMAIL, Hub, add_staff
from tests.portal.conftest import PERSON_EMAIL, Portal


def test_a_person_logs_in_and_lands_on_their_home(client, person):
    portal = Portal(client)
    response = portal.login()
    assert response.status_code == 302
    assert response.headers["Location"] == "/portal/"
    home = client.get("/portal/")
    assert home.status_code == 200
    assert b"Alice Martin" in home.data
    assert b"Pixel &amp; Pine Studio" in home.data


def test_without_a_session_the_portal_asks_to_log_in(client, shop):
    response = client.get("/portal/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/portal/login?next=/portal/")


def test_a_wrong_password_and_an_unknown_email_get_one_answer(client, person):
    portal = Portal(client)
    wrong = portal.login(password="not the password at all")
    unknown = portal.login(email="nobody@nowhere.example")
    assert wrong.status_code == unknown.status_code == 200
    assert b"Wrong email or password." in wrong.data
    assert b"Wrong email or password." in unknown.data
    assert PERSON_EMAIL.encode() not in wrong.data.replace(b'value="' + PERSON_EMAIL.encode(), b"")


def test_the_hub_login_takes_a_client_person_to_the_portal(client, person):
    response = Hub(client).login(email=PERSON_EMAIL, password="plum orbit lantern cactus")
    assert response.status_code == 302
    assert response.headers["Location"] == "/portal/"


def test_a_client_session_never_opens_a_hub_page(portal):
    assert portal.get("/clients").headers["Location"] == "/portal/"
    assert portal.get("/").headers["Location"] == "/portal/"
    # A write by a client session is refused, whatever its token.
    assert portal.post("/clients/new", {"name": "X"}).status_code == 403


def test_staff_logging_in_on_the_portal_go_to_the_hub(client, db, shop):
    add_staff(db)
    portal = Portal(client)
    response = portal.login(email=STAFF_EMAIL, password=STAFF_PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get("/portal/").headers["Location"] == "/"
