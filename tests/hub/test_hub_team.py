"""Setup > Team through the test client: the staff users, someone added (they
choose their password from the emailed link), full or read-only access,
deactivate and reactivate; and what a read-only staff user gets: every page
without a write button, a 403 on every Hub POST, read-only API tokens."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bridge.auth import accounts
from bridge.core.errors import Conflict
from bridge.models import AuditEntry, User
from tests.conftest import make_token, snapshot
from tests.e2e.conftest import make_invoice, make_shop
from tests.hub.conftest import STAFF_EMAIL, Hub, add_staff
from tests.hub.test_hub_password_reset import NEW_PASSWORD, choose, link_in, queued

READER = "reader@agency.example"
FORM = re.compile(r"<form\b[^>]*>", re.S)


def text_of(response) -> str:
    return response.data.decode()


def staff_form(**fields) -> dict:
    return {"name": "Nina New", "email": "nina@agency.example", "access": "full"} | fields


def user(db, email: str) -> User:
    with db.session() as s:
        found = s.scalar(select(User).where(User.email_key == email.lower()))
        s.expunge(found)
        return found


def write_forms(page: str) -> list[str]:
    """The POST forms of a page, but the logout button's."""
    forms = [tag for tag in FORM.findall(page) if 'method="post"' in tag]
    return [tag for tag in forms if 'action="/logout"' not in tag]


@pytest.fixture
def reader_id(db) -> int:
    return add_staff(db, email=READER, name="Rita Reader", read_only=True)


@pytest.fixture
def reader(client, staff, reader_id) -> Hub:
    """Logged in as a read-only staff user (the owner, full access, exists)."""
    hub = Hub(client)
    assert hub.login(email=READER).status_code == 302
    return hub


def test_the_team_lists_staff_with_their_access_and_last_login(hub, db, reader_id, staff):
    page = text_of(hub.client.get("/setup/team"))
    assert '<a href="/setup/team" aria-current="page">Team</a>' in page
    assert '<a href="/setup" aria-current="page">Setup</a>' in page
    assert "Olivia Owner" in page and "(you)" in page and STAFF_EMAIL in page
    assert "Rita Reader" in page and "Read only" in page and "Full access" in page
    assert "Last login:" in page  # the owner logged in to see this
    assert "Never logged in" in page  # Rita has not
    assert f'action="/setup/team/{staff}/deactivate"' not in page  # never oneself
    assert f'action="/setup/team/{reader_id}/deactivate"' in page
    assert f'action="/setup/team/{reader_id}/access"' in page


def test_someone_added_chooses_their_password_from_the_email_and_logs_in(hub, client, db):
    response = hub.post("/setup/team", staff_form(access="read_only"), page="/setup/team")
    assert response.status_code == 303, response.data
    nina = user(db, "nina@agency.example")
    assert (nina.name, nina.read_only, nina.is_active) == ("Nina New", True, True)
    assert nina.password_hash is None
    page = text_of(hub.client.get(response.headers["Location"]))
    assert "They were added and got an email to choose their password." in page
    assert "Invited" in page
    (message,) = queued(db)
    assert message.to_address == "nina@agency.example"
    with db.session() as s:
        entry = s.scalar(
            select(AuditEntry).where(
                AuditEntry.action == "user.created", AuditEntry.object_id == nina.id
            )
        )
        assert entry.actor_kind == "staff"

    client.post("/logout")
    assert choose(client, link_in(message)).status_code == 302
    nina_hub = Hub(client)
    assert nina_hub.login(email="nina@agency.example", password=NEW_PASSWORD).status_code == 302
    assert 'id="new-role"' not in text_of(client.get("/roles"))  # read-only


def test_a_new_password_link_can_be_sent_again(hub, db, reader_id):
    assert hub.post(f"/setup/team/{reader_id}/password-link", page="/setup/team").status_code == 303
    (message,) = queued(db)
    assert message.to_address == READER


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"email": ""}, "email", "Required."),
        ({"email": "not an email"}, "email", "Enter a valid email address."),
        ({"email": STAFF_EMAIL.upper()}, "email", "Someone already logs in with this email."),
        ({"name": "x" * 201}, "name", "Too long."),
        ({"access": "admin"}, "access", "Choose an access level."),
    ],
)
def test_bad_input_comes_back_next_to_its_field_and_changes_nothing(
    hub, db, fields, field, message
):
    before = snapshot(db)
    response = hub.post("/setup/team", staff_form(**fields), page="/setup/team")
    assert response.status_code == 422
    page = text_of(response)
    assert f'<p class="field-error" id="{field}-error">{message}</p>' in page
    assert 'id="form-error"' in page
    assert snapshot(db) == before


def test_access_changes_take_effect_on_the_next_request(hub, client, app, db, reader_id):
    other = app.test_client()
    assert Hub(other).login(email=READER).status_code == 302
    assert other.get("/roles/new").status_code == 403
    answer = hub.post(f"/setup/team/{reader_id}/access", {"access": "full"}, page="/setup/team")
    assert answer.status_code == 303
    assert not user(db, READER).read_only
    assert other.get("/roles/new").status_code == 200
    hub.post(f"/setup/team/{reader_id}/access", {"access": "read_only"}, page="/setup/team")
    assert user(db, READER).read_only
    assert other.get("/roles/new").status_code == 403


def test_a_deactivated_user_is_logged_out_and_can_be_reactivated(hub, app, db, reader_id):
    other = app.test_client()
    assert Hub(other).login(email=READER).status_code == 302
    answer = hub.post(f"/setup/team/{reader_id}/deactivate", page="/setup/team")
    assert answer.status_code == 303
    assert not user(db, READER).is_active
    assert other.get("/roles").status_code == 302  # back to the login page
    page = text_of(hub.client.get("/setup/team"))
    assert "Deactivated" in page and f'action="/setup/team/{reader_id}/reactivate"' in page
    hub.post(f"/setup/team/{reader_id}/reactivate", page="/setup/team")
    assert user(db, READER).is_active
    assert other.get("/roles").status_code == 200


def test_nobody_changes_their_own_access(hub, db, staff):
    before = snapshot(db)
    for path, data in [("deactivate", {}), ("access", {"access": "read_only"})]:
        answer = hub.post(f"/setup/team/{staff}/{path}", data, page="/setup/team")
        assert answer.status_code == 409
        assert "You cannot change your own access" in text_of(answer)
    assert snapshot(db) == before


def test_the_last_user_with_full_access_keeps_it(db, staff, reader_id):
    """The Hub's own user always has full access, so this rule guards the
    domain (a second session, a script) rather than the page."""
    second = add_staff(db, email="second@agency.example")
    with db.session() as s:
        owner = accounts.get_staff(s, staff)
        s.get(User, second).is_active = False
        for change in (
            lambda: accounts.deactivate_staff(s, owner, acting_user_id=reader_id),
            lambda: accounts.set_read_only(s, owner, True, acting_user_id=reader_id),
        ):
            with pytest.raises(Conflict) as refused:
                change()
            assert refused.value.code == "last_full_access"
        accounts.reactivate_staff(s, s.get(User, second))
        accounts.deactivate_staff(s, owner, acting_user_id=second)
        assert not owner.is_active


def test_a_read_only_user_sees_no_write_button_anywhere(reader, db, reader_id):
    shop = make_shop(db)
    invoice = make_invoice(db, shop, "open")
    pages = [
        "/",
        "/roles",
        "/setup/team",
        "/clients",
        f"/clients/{shop.client_id}",
        "/invoices",
        f"/invoices/{invoice.id}",
        "/products",
        "/tax-rates",
        "/subscriptions",
    ]
    for path in pages:
        response = reader.client.get(path)
        assert response.status_code == 200, path
        page = text_of(response)
        assert write_forms(page) == [], path
        for link in ("/bill", "/clients/new", "/roles/new", "/products/new"):
            assert f'href="{link}"' not in page, (path, link)
    assert "Rita Reader" in text_of(reader.client.get("/setup/team"))


def test_a_read_only_users_api_tokens_are_read_only(client, db, reader_id):
    token = make_token(db, email=READER)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/roles", headers=headers).status_code == 200
    answer = client.post("/api/v1/roles", json={"name": "x", "permissions": {}}, headers=headers)
    assert answer.status_code == 403
