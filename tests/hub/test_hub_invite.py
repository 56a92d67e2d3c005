"""Inviting a client from its page in the Hub: the button's states, the
double-submit guard, and the refusals."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from bridge.billing import clients as client_book
from bridge.models import Client, ClientStatus, Invitation, OutboxMessage
from tests.hub.conftest import Hub, add_staff
from tests.hub.test_hub_client_page import VALID, form_key, text_of
from tests.integration.test_invitations import GOOD_PASSWORD, accept, link_token


def add_client(db, email="dana@client.example") -> int:
    with db.session() as session:
        return client_book.create_client(session, name="Dana Doe", email=email).id


def invitation_emails(db) -> list[OutboxMessage]:
    with db.session() as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.trigger == "client_invitation")
            .order_by(OutboxMessage.id)
        ).all()
        session.expunge_all()
        return list(rows)


def status_of(db, client_id: int) -> ClientStatus:
    with db.session() as session:
        return session.get(Client, client_id).status


def button(page: str, action: str) -> str | None:
    match = re.search(
        rf'action="{re.escape(action)}" class="inline-form">.*?<button[^>]*>([^<]+)</button>',
        page,
        re.S,
    )
    return match.group(1).strip() if match else None


def test_invite_then_invite_again_then_active_since(hub, app, db):
    # The invited person's browser is not the staff user's.
    client = app.test_client()
    client_id = add_client(db)
    base = f"/clients/{client_id}"
    action = f"{base}/invite"
    page = text_of(hub.client.get(base))
    assert button(page, action) == "Invite"
    assert "Not invited yet" in page

    response = hub.post(action, {"key": form_key(page, action)}, page=base)
    assert response.status_code == 302
    page = text_of(hub.client.get(response.headers["Location"]))
    assert "Invitation sent to dana@client.example" in page
    assert button(page, action) == "Invite again"
    assert "the link expires after 7 days" in page
    assert status_of(db, client_id) == ClientStatus.PENDING
    assert "Not set yet" in text_of(hub.client.get(base + "?tab=people"))

    hub.post(action, {"key": form_key(page, action)}, page=base)
    first, second = invitation_emails(db)
    # The first email's link is dead, the second one's works.
    assert client.get(f"/invitations/{link_token(first)}").status_code == 410
    assert accept(client, link_token(second), password=GOOD_PASSWORD).status_code == 302

    page = text_of(hub.client.get(base))
    assert button(page, action) is None
    assert "Active since" in page
    people = text_of(hub.client.get(base + "?tab=people"))
    assert "dana@client.example" in people and "Not set yet" not in people
    assert hub.post(action, {"key": "k" * 32}, page=base).status_code == 409


def test_the_same_form_sent_twice_invites_once(hub, db):
    client_id = add_client(db)
    base = f"/clients/{client_id}"
    action = f"{base}/invite"
    key = form_key(text_of(hub.client.get(base)), action)
    first = hub.post(action, {"key": key}, page=base)
    again = hub.post(action, {"key": key}, page=base)
    assert first.status_code == again.status_code == 302
    assert again.headers["Location"] == first.headers["Location"]
    assert len(invitation_emails(db)) == 1
    assert hub.post(action, page=base).status_code == 400  # no key: refused
    assert len(invitation_emails(db)) == 1


def test_an_email_taken_by_another_login_is_a_notice_and_changes_nothing(hub, db):
    client_id = add_client(db, email="owner@agency.example")  # the staff user's email
    base = f"/clients/{client_id}"
    action = f"{base}/invite"
    response = hub.post(action, {"key": form_key(text_of(hub.client.get(base)), action)}, page=base)
    assert response.status_code == 409
    assert "already another login" in text_of(response)
    assert status_of(db, client_id) == ClientStatus.INACTIVE
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Invitation)) == 0


def test_a_read_only_user_sees_no_invite_button_and_gets_403(client, staff, db):
    client_id = add_client(db)
    add_staff(db, email="reader@agency.example", name="Rita Reader", read_only=True)
    hub = Hub(client)
    assert hub.login(email="reader@agency.example").status_code == 302
    base = f"/clients/{client_id}"
    page = text_of(hub.client.get(base))
    assert button(page, f"{base}/invite") is None
    assert hub.post(f"{base}/invite", {"key": "a" * 32}, page=base).status_code == 403
    assert invitation_emails(db) == []
    assert status_of(db, client_id) == ClientStatus.INACTIVE


def test_an_unknown_client_is_a_404(hub):
    assert hub.post("/clients/9999/invite", {"key": "a" * 32}, page="/clients").status_code == 404


def test_a_new_client_can_be_invited_at_once(hub, db):
    page = text_of(hub.client.get("/clients/new"))
    assert 'name="invite"' in page
    response = hub.post("/clients/new", {**VALID, "invite": "y"}, page="/clients/new")
    assert response.status_code == 302 and "invited=1" in response.headers["Location"]
    with db.session() as session:
        client = session.scalar(select(Client).where(Client.email == VALID["email"]))
        assert client.status == ClientStatus.PENDING
    [message] = invitation_emails(db)
    assert message.to_address == VALID["email"]
    # Without the box: added, not invited.
    hub.post("/clients/new", {**VALID, "email": "other@noor.example"}, page="/clients/new")
    assert len(invitation_emails(db)) == 1


def test_inviting_at_creation_an_email_of_another_login_adds_nothing(hub, db):
    response = hub.post(
        "/clients/new",
        {**VALID, "email": "owner@agency.example", "invite": "y"},
        page="/clients/new",
    )
    assert response.status_code == 409
    page = text_of(response)
    assert "already another login" in page
    assert 'id="invite" name="invite" value="y" checked' in page
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Client)) == 0
