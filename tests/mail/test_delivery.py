"""Delivery to a real SMTP server (aiosmtpd on loopback): what arrives,
branding, retries with backoff while the server is down, never twice,
leases of crashed deliverers, STARTTLS and implicit TLS with login, the
folder transport."""

from __future__ import annotations

import base64
import threading
from datetime import timedelta
from email import message_from_bytes
from email.policy import default

import pytest
from sqlalchemy import select

from bridge.core import clock
from bridge.mail import delivery
from bridge.mail.delivery import (
    MAX_ATTEMPTS,
    FolderTransport,
    SmtpTransport,
    deliver_due,
    transport_from_config,
)
from bridge.models import OutboxMessage
from tests.mail.conftest import issue, outbox
from tests.mail.smtp_server import Accounts, SmtpServer, free_port, self_signed

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
SENDER = "billing@agency.example"


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


def transport(server: SmtpServer, **options) -> SmtpTransport:
    options.setdefault("security", "none")
    return SmtpTransport("127.0.0.1", server.port, sender=SENDER, **options)


def parts(message):
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = message.get_body(("html",)).get_content().replace("\r\n", "\n")
    return text, html


def test_an_invoice_email_arrives_filled_escaped_branded_with_a_text_alternative(shop, db, smtp):
    api = shop["api"]
    api.put("/settings/logo", json={"data": base64.b64encode(PNG).decode()})
    api.patch("/settings", json={"brand_color": "#ff0066"})
    api.patch("/settings/email", json={"email_footer": "Pixel & Press — 1 Main St\nParis"})
    invoice = issue(shop)

    report = deliver_due(db, transport(smtp), now=clock.now())
    assert (report.sent, report.failed, report.deferred) == (1, 0, 0)
    ((recipients, message),) = smtp.handler.received
    assert recipients == ["alice@example.com"]
    assert message["Subject"] == f"Invoice {invoice['number']} from Pixel & Press"
    assert message["From"].addresses[0].display_name == "Pixel & Press"
    assert message["From"].addresses[0].addr_spec == SENDER
    assert message["Reply-To"] == "agency@agency.example"
    assert message["Message-ID"].endswith("@agency.example>")
    text, html = parts(message)
    # Placeholders filled; the client's name escaped in HTML, as is in text.
    assert "Hello Alice <Admin> & Co," in text
    assert "Hello Alice &lt;Admin&gt; &amp; Co," in html and "<Admin>" not in html
    assert "€150.00" in text and "€150.00" in html
    assert "/i/" in text and 'href="http://127.0.0.1:5000/i/' in html
    # Branded: the colour, the logo inline (cid:), the footer note.
    assert "#ff0066" in html
    assert 'src="cid:logo@billing-bridge"' in html
    (logo,) = [p for p in message.walk() if p.get_content_type() == "image/png"]
    assert logo["Content-ID"] == "<logo@billing-bridge>"
    assert logo.get_payload(decode=True) == PNG
    assert "Pixel &amp; Press — 1 Main St<br>Paris" in html
    assert text.rstrip().endswith("-- \nPixel & Press — 1 Main St\nParis")
    (row,) = outbox(db)
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
    assert row.sent_at is not None
    # Nothing left to send.
    assert deliver_due(db, transport(smtp), now=clock.now()).sent == 0
    assert len(smtp.messages) == 1


def test_branding_off_no_logo_no_colour(shop, db, smtp):
    api = shop["api"]
    api.put("/settings/logo", json={"data": base64.b64encode(PNG).decode()})
    api.patch("/settings", json={"brand_color": "#ff0066"})
    api.patch("/settings/email", json={"email_branding": False})
    issue(shop)
    deliver_due(db, transport(smtp), now=clock.now())
    (message,) = smtp.messages
    _, html = parts(message)
    assert "#ff0066" not in html and "cid:" not in html
    assert not [p for p in message.walk() if p.get_content_maintype() == "image"]


def test_a_replaced_logo_is_left_out_rather_than_broken(shop, db, smtp):
    api = shop["api"]
    api.put("/settings/logo", json={"data": base64.b64encode(PNG).decode()})
    issue(shop)
    api.delete("/settings/logo")  # before the scheduler got to it
    deliver_due(db, transport(smtp), now=clock.now())
    (message,) = smtp.messages
    assert "cid:" not in parts(message)[1]


def test_agency_emails_are_plain(shop, db, smtp):
    api = shop["api"]
    api.patch("/settings", json={"brand_color": "#ff0066"})
    invoice = issue(shop)
    api.post(f"/invoices/{invoice['id']}/payments", json={"amount": 15000, "method": "cash"})
    deliver_due(db, transport(smtp), now=clock.now())
    by_recipient = {tuple(r): m for r, m in smtp.handler.received}
    note = by_recipient[("agency@agency.example",)]
    assert note["Subject"] == f"Payment received: Alice <Admin> & Co, invoice {invoice['number']}"
    text, html = parts(note)
    assert "#ff0066" not in html and "Alice &lt;Admin&gt; &amp; Co" in html
    assert "paid €150.00" in text and "by cash" in text


def test_server_down_mail_stays_queued_with_backoff_then_is_delivered_once(shop, db):
    server = SmtpServer()  # not started: connections are refused
    issue(shop)
    now = clock.now()
    report = deliver_due(db, transport(server), now=now)
    assert (report.sent, report.failed, report.deferred) == (0, 0, 1)
    (row,) = outbox(db)
    assert (row.status, row.attempts) == ("queued", 1)
    assert "Connection refused" in row.last_error or "ConnectionRefused" in row.last_error
    assert row.next_attempt_at == now + timedelta(minutes=1)
    # Not due yet: nothing is tried.
    assert deliver_due(db, transport(server), now=now + timedelta(seconds=30)).deferred == 0
    report = deliver_due(db, transport(server), now=now + timedelta(minutes=1))
    assert report.deferred == 1
    (row,) = outbox(db)
    assert row.attempts == 2
    assert row.next_attempt_at == now + timedelta(minutes=1) + timedelta(minutes=5)

    server.start()
    try:
        later = now + timedelta(minutes=7)
        assert deliver_due(db, transport(server), now=later).sent == 1
        assert deliver_due(db, transport(server), now=later + timedelta(hours=1)).sent == 0
        assert len(server.messages) == 1
        (row,) = outbox(db)
        assert (row.status, row.attempts, row.last_error) == ("sent", 3, None)
    finally:
        server.stop()


def test_given_up_after_the_last_attempt_with_the_error_kept(shop, db):
    server = SmtpServer()
    issue(shop)
    now = clock.now()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = deliver_due(db, transport(server), now=now)
        expected = (0, 1) if attempt == MAX_ATTEMPTS else (1, 0)
        assert (report.deferred, report.failed) == expected, attempt
        now += timedelta(hours=13)
    (row,) = outbox(db)
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)
    assert row.last_error
    assert deliver_due(db, transport(server), now=now + timedelta(days=30)).failed == 0


def test_a_refused_recipient_fails_at_once(shop, db, smtp):
    smtp.handler.refuse.add("alice@example.com")
    issue(shop)
    report = deliver_due(db, transport(smtp), now=clock.now())
    assert (report.sent, report.failed, report.deferred) == (0, 1, 0)
    (row,) = outbox(db)
    assert row.status == "failed" and "No such user" in row.last_error


def test_a_deliverer_that_died_leaves_its_lease_to_run_out(shop, db, smtp):
    issue(shop)
    now = clock.now()
    claimed, _ = delivery._claim(db, now, 10)  # ... and the process dies here
    assert len(claimed) == 1
    assert outbox(db)[0].status == "sending"
    assert deliver_due(db, transport(smtp), now=now + timedelta(minutes=5)).sent == 0
    report = deliver_due(db, transport(smtp), now=now + delivery.LEASE)
    assert report.sent == 1 and len(smtp.messages) == 1
    (row,) = outbox(db)
    assert (row.status, row.attempts) == ("sent", 2)


def test_a_late_deliverer_does_not_overwrite_the_one_that_took_over(shop, db, smtp):
    issue(shop)
    now = clock.now()
    (stale,), _ = delivery._claim(db, now, 10)
    assert deliver_due(db, transport(smtp), now=now + delivery.LEASE).sent == 1
    # The first deliverer wakes up and records a failure: ignored.
    assert delivery._record(db, stale, now, "TimeoutError", False) is None
    assert outbox(db)[0].status == "sent"


def test_concurrent_deliverers_send_each_message_once(shop, db, smtp):
    api = shop["api"]
    for _ in range(12):
        api.post("/email-templates/invoice_sent/test", json={"to": "me@agency.example"})
    now = clock.now()
    reports = []

    def run():
        reports.append(deliver_due(db, transport(smtp), now=now, batch=4))

    while outbox(db) and any(m.status == "queued" for m in outbox(db)):
        threads = [threading.Thread(target=run) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sum(r.sent for r in reports) == 12
    ids = [m["Message-ID"] for m in smtp.messages]
    assert len(ids) == len(set(ids)) == 12


def test_starttls_and_login(shop, db, tmp_path):
    server_context, client_context = self_signed(tmp_path)
    accounts = Accounts("agency", "s3cret")
    server = SmtpServer(
        tls_context=server_context,
        require_starttls=True,
        authenticator=accounts,
        auth_required=True,
    ).start()
    try:
        issue(shop)
        options = {"security": "starttls", "username": "agency", "ssl_context": client_context}
        wrong = transport(server, **{**options, "password": "nope"})
        assert deliver_due(db, wrong, now=clock.now()).deferred == 1
        assert "Authentication" in outbox(db)[0].last_error or "535" in outbox(db)[0].last_error
        right = transport(server, **{**options, "password": "s3cret"})
        assert deliver_due(db, right, now=clock.now() + timedelta(minutes=2)).sent == 1
        assert accounts.logins == ["agency"] and len(server.messages) == 1
    finally:
        server.stop()


def test_implicit_tls(shop, db, tmp_path):
    server_context, client_context = self_signed(tmp_path)
    server = SmtpServer(ssl_context=server_context).start()
    try:
        issue(shop)
        tls = transport(server, security="tls", ssl_context=client_context)
        assert deliver_due(db, tls, now=clock.now()).sent == 1
        # A client that does not trust the certificate never sends.
        issue(shop)
        untrusting = transport(server, security="tls")
        assert deliver_due(db, untrusting, now=clock.now()).deferred == 1
        assert "CERTIFICATE_VERIFY_FAILED" in outbox(db)[1].last_error
        assert len(server.messages) == 1
    finally:
        server.stop()


def test_folder_transport_writes_eml_files(shop, db, tmp_path):
    issue(shop)
    folder = tmp_path / "mail"
    report = deliver_due(db, FolderTransport(folder, sender=SENDER), now=clock.now())
    assert report.sent == 1
    (path,) = folder.glob("*.eml")
    message = message_from_bytes(path.read_bytes(), policy=default)
    assert message["To"] == "alice@example.com"
    assert "Hello Alice <Admin> & Co," in parts(message)[0]


def test_transport_from_config(app):
    config = app.config
    assert config["MAIL_TRANSPORT"] == "folder"
    folder = transport_from_config(config)
    assert isinstance(folder, FolderTransport)
    assert str(folder.folder).endswith("mail")
    smtp = transport_from_config(
        {
            "MAIL_TRANSPORT": "smtp",
            "SMTP_HOST": "smtp.example.com",
            "SMTP_PORT": 465,
            "SMTP_SECURITY": "tls",
            "SMTP_USERNAME": "user",
            "SMTP_PASSWORD": 123456,  # BRIDGE_SMTP_PASSWORD=123456 parses as a number
            "MAIL_FROM": "billing@agency.example",
        }
    )
    assert (smtp.host, smtp.port, smtp.security, smtp.password) == (
        "smtp.example.com",
        465,
        "tls",
        "123456",
    )
    assert smtp.timeout == 10 and smtp.sender == "billing@agency.example"
    with pytest.raises(ValueError, match="SMTP_HOST"):
        transport_from_config({"MAIL_TRANSPORT": "smtp"})
    assert free_port() > 0


def test_outbox_rows_name_their_objects(shop, db):
    invoice = issue(shop)
    with db.session() as session:
        row = session.scalars(select(OutboxMessage)).one()
        assert (row.invoice_id, row.client_id, row.subscription_id) == (
            invoice["id"],
            shop["client"]["id"],
            None,
        )


def test_any_object_with_send_is_a_transport(shop, db):
    class Recorder:
        def __init__(self):
            self.sent = []

        def send(self, message):
            self.sent.append(message)

    issue(shop)
    recorder = Recorder()
    assert deliver_due(db, recorder, now=clock.now()).sent == 1
    (message,) = recorder.sent
    assert message["From"].addresses[0].addr_spec == delivery.DEFAULT_SENDER


def test_an_address_that_is_not_one_recipient_fails_and_is_never_split(shop, db, smtp):
    issue(shop)
    with db.session() as session:
        row = session.scalars(select(OutboxMessage)).one()
        row.to_address = "alice@example.com,mallory@example.net"
        row.reply_to = "a;b@agency.example"
    report = deliver_due(db, transport(smtp), now=clock.now())
    assert (report.sent, report.failed) == (0, 1)
    assert smtp.messages == []
    assert "Not a single deliverable address" in outbox(db)[0].last_error


def test_a_reply_to_that_is_not_one_address_is_left_out(shop, db, smtp):
    issue(shop)
    with db.session() as session:
        session.scalars(select(OutboxMessage)).one().reply_to = "a;b@agency.example"
    assert deliver_due(db, transport(smtp), now=clock.now()).sent == 1
    (message,) = smtp.messages
    assert message["Reply-To"] is None
