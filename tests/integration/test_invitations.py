"""Client invitations (SPEC 3): the domain, the API route and the public
acceptance page, with the emails they queue."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from bridge.auth.passwords import verify_password
from bridge.billing import audit, business, invitations
from bridge.billing import clients as client_book
from bridge.billing.business import get_settings
from bridge.core import clock, events
from bridge.core.errors import Conflict
from bridge.models import AuditEntry, Client, ClientStatus, Invitation, OutboxMessage, User
from tests.conftest import snapshot
from tests.e2e.test_hosted_page import PNG
from tests.hub.conftest import csrf_token

GOOD_PASSWORD = "plum orbit lantern cactus"
ALICE = {"name": "Alice Martin", "email": "alice@client.example", "company": "Martin & Co"}
LINK = re.compile(r"https?://[^\s\"<>]+/invitations/([A-Za-z0-9_-]+)")


def add_client(db, **fields) -> int:
    with db.session() as session:
        return client_book.create_client(session, **{**ALICE, **fields}).id


def invite(db, client_id: int, days: int = 7) -> str:
    with db.session() as session:
        _, token = invitations.invite(session, session.get(Client, client_id), days=days)
        return token


def mails(db, trigger: str) -> list[OutboxMessage]:
    with db.session() as session:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.trigger == trigger).order_by(OutboxMessage.id)
        ).all()
        session.expunge_all()
        return list(rows)


def link_token(message: OutboxMessage) -> str:
    """The token of the link in the email (text and HTML agree)."""
    tokens = {m.group(1) for m in LINK.finditer(message.body_text + message.body_html)}
    assert len(tokens) == 1, tokens
    return tokens.pop()


def without_nonce(page: bytes) -> bytes:
    return re.sub(rb'nonce="[^"]+"', b"", page)


def status_of(db, client_id: int) -> ClientStatus:
    with db.session() as session:
        return session.get(Client, client_id).status


def accept(client, token: str, name="Alice M.", password=GOOD_PASSWORD, **extra):
    page = client.get(f"/invitations/{token}")
    assert page.status_code == 200, page.data
    return client.post(
        f"/invitations/{token}",
        data={"csrf_token": csrf_token(page.data), "name": name, "password": password, **extra},
    )


# The domain ----------------------------------------------------------------------


def test_invite_makes_the_client_pending_and_queues_a_working_link(app, client, db, event_log):
    client_id = add_client(db)
    token = invite(db, client_id)
    assert status_of(db, client_id) == ClientStatus.PENDING
    [event] = [e for e in event_log.take() if isinstance(e, events.ClientInvited)]
    assert event.client_id == client_id and event.token == token
    [message] = mails(db, "client_invitation")
    assert message.to_address == ALICE["email"]
    assert link_token(message) == token
    assert f"/invitations/{token}" in message.body_text
    with db.session() as session:
        row = session.scalar(select(Invitation))
        # Only the hash is kept, and the link lasts seven days.
        assert row.token_hash == invitations.hash_token(token) and token not in row.token_hash
        assert row.expires_at - row.created_at == timedelta(days=7)
        person = session.get(User, row.user_id)
        assert (person.email, person.client_id, person.password_hash) == (
            ALICE["email"],
            client_id,
            None,
        )
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.client_id == client_id)
        ).all()
        assert "client.invited" in actions
        assert audit.LABELS["client.invited"]


def test_reinvite_kills_the_old_link_and_sends_a_new_one(client, db):
    client_id = add_client(db)
    first = invite(db, client_id)
    second = invite(db, client_id)
    assert first != second
    assert [link_token(m) for m in mails(db, "client_invitation")] == [first, second]
    assert client.get(f"/invitations/{first}").status_code == 410
    assert client.get(f"/invitations/{second}").status_code == 200
    with db.session() as session:  # one person, however many invitations
        assert len(session.scalars(select(User).where(User.client_id == client_id)).all()) == 1


def test_an_active_client_is_not_invited_again(client, db):
    client_id = add_client(db)
    accept(client, invite(db, client_id))
    with db.session() as session, pytest.raises(Conflict) as caught:
        invitations.invite(session, session.get(Client, client_id))
    assert caught.value.code == "client_already_active"


def test_an_email_that_is_another_login_is_refused(db):
    other = add_client(db, email="bob@client.example", name="Bob")
    invite(db, other)
    client_id = add_client(db, email="carol@client.example", name="Carol")
    with db.session() as session:  # the client's email now names Bob's login
        target = session.get(Client, client_id)
        person = session.scalar(select(User).where(User.client_id == other))
        target.email, target.email_key = person.email, "x-" + person.email_key
    with db.session() as session, pytest.raises(Conflict) as caught:
        invitations.invite(session, session.get(Client, client_id))
    assert caught.value.code == "duplicate_email"
    assert status_of(db, client_id) == ClientStatus.INACTIVE


# The API -------------------------------------------------------------------------------


def test_api_invite_answers_the_pending_client(api, db):
    client_id = add_client(db)
    response = api.post(f"/clients/{client_id}/invite")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "pending"
    assert len(mails(db, "client_invitation")) == 1


def test_api_invite_with_an_idempotency_key_sends_once(api, db):
    client_id = add_client(db)
    headers = {"Idempotency-Key": "invite-alice-1"}
    first = api.post(f"/clients/{client_id}/invite", headers=headers)
    again = api.post(f"/clients/{client_id}/invite", headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert len(mails(db, "client_invitation")) == 1


def test_api_invite_refusals(api, api_read_only, client, db):
    client_id = add_client(db)
    assert api.post("/clients/9999/invite").status_code == 404
    assert api_read_only.post(f"/clients/{client_id}/invite").status_code == 403
    accept(client, invite(db, client_id))
    response = api.post(f"/clients/{client_id}/invite")
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "client_already_active"


def test_the_route_is_documented(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/clients/{client_id}/invite"]["post"]
    assert "BRIDGE_INVITATION_DAYS" in operation["description"]


# The acceptance page -------------------------------------------------------------------


def test_accepting_sets_the_password_activates_and_tells_the_agency(client, db, event_log):
    with db.session() as session:
        get_settings(session).email = "office@agency.example"
    client_id = add_client(db)
    invite(db, client_id)
    [message] = mails(db, "client_invitation")
    token = link_token(message)  # the link of the email itself
    page = client.get(f"/invitations/{token}")
    assert page.status_code == 200
    assert "Content-Security-Policy" in page.headers
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert b"alice@client.example" in page.data
    response = accept(client, token, name="Alice Martin")
    # Accepted: logged in, on the portal's home.
    assert response.status_code == 302
    assert response.headers["Location"] == "/portal/"
    home = client.get("/portal/")
    assert home.status_code == 200
    assert b"Alice Martin" in home.data
    assert status_of(db, client_id) == ClientStatus.ACTIVE
    with db.session() as session:
        person = session.scalar(select(User).where(User.client_id == client_id))
        assert person.name == "Alice Martin" and person.is_active
        assert verify_password(person.password_hash, GOOD_PASSWORD)
        assert session.scalar(select(Invitation.used_at)) is not None
        actor = session.scalar(
            select(AuditEntry.actor_kind).where(AuditEntry.action == "client.invitation_accepted")
        )
        assert actor == "client"
    assert any(isinstance(e, events.InvitationAccepted) for e in event_log.take())
    [note] = mails(db, "agency_invitation_accepted")
    assert note.to_address == "office@agency.example"
    assert "Alice Martin" in note.subject
    # Used: the same link is dead, with the neutral page.
    again = client.get(f"/invitations/{token}")
    assert again.status_code == 410
    assert b"no longer valid" in again.data


def test_an_expired_link_is_refused(client, db):
    client_id = add_client(db)
    start = clock.now()
    with time_machine.travel(start, tick=False):
        token = invite(db, client_id, days=7)
    with time_machine.travel(start + timedelta(days=7, seconds=-1), tick=False):
        assert client.get(f"/invitations/{token}").status_code == 200
    with time_machine.travel(start + timedelta(days=7, seconds=1), tick=False):
        response = client.get(f"/invitations/{token}")
        assert response.status_code == 410
        assert b"no longer valid" in response.data
    assert status_of(db, client_id) == ClientStatus.PENDING


def test_a_link_expiring_while_the_form_is_open_is_refused(client, db):
    client_id = add_client(db)
    start = clock.now()
    with time_machine.travel(start, tick=False):
        token = invite(db, client_id, days=1)
        page = client.get(f"/invitations/{token}")
    with time_machine.travel(start + timedelta(days=2), tick=False):
        response = client.post(
            f"/invitations/{token}",
            data={"csrf_token": csrf_token(page.data), "name": "A", "password": GOOD_PASSWORD},
        )
    assert response.status_code == 410
    assert status_of(db, client_id) == ClientStatus.PENDING


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # tampered
        lambda t: "x" * 43,  # unknown
        lambda t: t + "!",  # not a token at all
        lambda t: t[:10],  # too short
    ],
)
def test_tampered_and_unknown_links_get_the_same_neutral_page(client, db, mangle):
    token = invite(db, add_client(db))
    neutral = client.get("/invitations/" + "y" * 43)
    response = client.get("/invitations/" + mangle(token))
    assert response.status_code == neutral.status_code == 410
    assert without_nonce(response.data) == without_nonce(neutral.data)
    assert b"alice" not in response.data.lower()


def test_a_deleted_person_s_link_is_refused(client, db):
    client_id = add_client(db)
    token = invite(db, client_id)
    with db.session() as session:
        session.delete(session.scalar(select(User).where(User.client_id == client_id)))
    assert client.get(f"/invitations/{token}").status_code == 410


def test_a_deleted_client_s_link_is_refused(client, db):
    client_id = add_client(db)
    token = invite(db, client_id)
    with db.session() as session:
        client_book.delete_client(session, session.get(Client, client_id))
    assert client.get(f"/invitations/{token}").status_code == 410


def test_a_used_link_is_refused_and_logs_nobody_in(app, client, db):
    token = invite(db, add_client(db))
    assert accept(client, token).status_code == 302
    other = app.test_client()
    assert other.get(f"/invitations/{token}").status_code == 410
    assert other.get("/portal/").status_code == 302


def test_the_form_needs_its_csrf_token(client, db):
    client_id = add_client(db)
    token = invite(db, client_id)
    before = snapshot(db)
    response = client.post(
        f"/invitations/{token}", data={"name": "Alice", "password": GOOD_PASSWORD}
    )
    assert response.status_code == 400
    assert snapshot(db) == before


@pytest.mark.parametrize(
    "name, password, field, words",
    [
        ("", GOOD_PASSWORD, "name", b"enter your name"),
        ("A" * 201, GOOD_PASSWORD, "name", b"too long"),
        ("Alice", "short", "password", b"at least 10"),
        ("Alice", "password1234", "password", b"too easy to guess"),
        ("Alice", "alicemartin1", "password", b"too easy to guess"),
    ],
)
def test_a_bad_name_or_password_is_said_next_to_its_field_and_changes_nothing(
    client, db, name, password, field, words
):
    token = invite(db, add_client(db))
    before = snapshot(db)
    response = accept(client, token, name=name, password=password)
    assert response.status_code == 422
    assert words in response.data
    assert f'id="{field}-error"'.encode() in response.data
    assert f'aria-describedby="{field}'.encode() in response.data
    assert snapshot(db) == before
    # The link still works.
    assert accept(client, token).status_code == 302


def test_the_form_is_rate_limited(app, client, db):
    app.config["INVITATION_LIMIT_PER_ADDRESS"] = "3 per minute"
    token = invite(db, add_client(db))
    codes = [accept(client, token, password="short").status_code for _ in range(4)]
    assert codes == [422, 422, 422, 429]


def test_the_pages_carry_the_agency_s_name_and_acceptance_opens_its_portal(client, db):
    with db.session() as session:
        get_settings(session).company_name = "Acme Studio"
    token = invite(db, add_client(db))
    assert b"Acme Studio invites you" in client.get(f"/invitations/{token}").data
    response = accept(client, token)
    assert response.headers["Location"] == "/portal/"
    assert b"Acme Studio" in client.get("/portal/").data


def test_a_link_used_by_another_request_meanwhile_is_refused(db):
    """Two answers of one link: the one that loaded it first but commits
    second finds it used (the claim is one conditional UPDATE)."""
    token = invite(db, add_client(db))
    with db.session() as late:
        invitation = invitations.live_invitation(late, token)
        late.commit()  # SQLite has one writer: the read's transaction ends here
        with db.session() as early:
            invitations.accept(
                early, invitations.live_invitation(early, token), name="A", password=GOOD_PASSWORD
            )
        with pytest.raises(invitations.Expired):
            invitations.accept(late, invitation, name="B", password=GOOD_PASSWORD)
        late.rollback()
    with db.session() as session:
        assert session.scalar(select(User.name).where(User.password_hash.is_not(None))) == "A"


def test_the_page_shows_the_agency_s_logo_while_the_link_is_live(app, client, db):
    with db.session() as session:
        business.set_logo(session, PNG, app.config["MAX_IMAGE_BYTES"])
    token = invite(db, add_client(db))
    assert f'src="/invitations/{token}/logo"' in client.get(f"/invitations/{token}").data.decode()
    logo = client.get(f"/invitations/{token}/logo")
    assert logo.status_code == 200 and logo.data == PNG
    assert "sandbox" in logo.headers["Content-Security-Policy"]
    assert client.get("/invitations/" + "C" * 43 + "/logo").status_code == 404
    accept(client, token)
    assert client.get(f"/invitations/{token}/logo").status_code == 404
