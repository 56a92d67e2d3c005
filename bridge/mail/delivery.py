"""Delivering the outbox: claim due messages, send them, record the outcome.

``deliver_due`` is what the scheduler runs every minute or so, from any
number of processes at once:

1. *Claim*, in a short transaction: the queued messages whose
   ``next_attempt_at`` has come (on PostgreSQL ``FOR UPDATE SKIP LOCKED``, so
   concurrent deliverers take different rows; SQLite has one writer anyway)
   become ``sending``, their attempt is counted, and ``next_attempt_at``
   becomes the end of a lease. Commit.
2. *Send* each one outside any transaction.
3. *Record*, one short transaction per message, right after its send:
   ``sent``; or back to ``queued`` with an exponential backoff (1, 5, 15, 60
   minutes, then 3, 6, 12 hours); or ``failed`` after ``MAX_ATTEMPTS``
   attempts, or at once when the server refuses the recipient for good
   (5xx). ``last_error`` keeps the reason.

A deliverer that dies between 1 and 3 leaves its messages ``sending``: when
the lease runs out another deliverer claims them again. A deliverer that
loses the *database* at 3 stops sending; what it sent and could not record
is recorded, and what it claimed and did not send is given back (queued,
due now), as soon as the database answers again (that moment, or at its
next run), rather than when the lease runs out. Only a crash between
the server accepting a message and the record being committed can send it
twice; the Message-ID stays the same across attempts, so mail systems see one
message.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import smtplib
import ssl
import tempfile
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import select, update

from bridge.core.outages import is_database_unavailable
from bridge.db import Database
from bridge.mail.render import LOGO_CID, without_logo
from bridge.models import OutboxMessage, OutboxStatus, StoredFile

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
BACKOFF = tuple(timedelta(minutes=m) for m in (1, 5, 15, 60, 180, 360, 720))  # after attempts 1..7
MAX_ATTEMPTS = 8
SMTP_TIMEOUT = 10
DEFAULT_SENDER = "billing@localhost"


class PermanentError(Exception):
    """The message can never be delivered as it is: no retry."""


class Transport(Protocol):
    """Anything with ``send(EmailMessage)``; ``sender`` (the From address) and
    ``close()`` (after each batch) are optional."""

    sender: str

    def send(self, message: EmailMessage) -> None: ...

    def close(self) -> None: ...


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0  # given up (attempts used up, or refused for good)
    deferred: int = 0  # failed this time, retried later


@dataclass(frozen=True)
class Outgoing:
    """A claimed message, detached from the database."""

    id: int
    attempts: int
    dedupe_key: str
    to: str
    from_name: str
    reply_to: str
    subject: str
    html: str
    text: str
    logo: tuple[bytes, str] | None  # data, content type


def backoff(attempts: int) -> timedelta:
    """The wait after failed attempt number ``attempts`` (1-based)."""
    return BACKOFF[min(attempts, len(BACKOFF)) - 1]


def deliver_due(database: Database, transport: Transport, *, now: datetime, batch: int = 50):
    """Send up to ``batch`` due messages through ``transport``; a
    ``DeliveryReport`` of what happened."""
    report = DeliveryReport()
    _settle_unrecorded(database)
    claimed, report.failed = _claim(database, now, batch)
    sender = getattr(transport, "sender", None) or DEFAULT_SENDER
    try:
        for index, item in enumerate(claimed):
            error, permanent = None, False
            try:
                transport.send(build_message(item, sender, now))
            except PermanentError as exc:
                error, permanent = str(exc), True
            except Exception as exc:  # any failure to send is retried
                error = f"{type(exc).__name__}: {exc}"
                log.warning("mail %s to %s not sent: %s", item.id, item.to, error)
            values = _outcome(item, now, error, permanent)
            try:
                outcome = _apply(database, item, values)
            except Exception as exc:
                if not is_database_unavailable(exc):
                    raise
                # Nothing more is sent while outcomes cannot be recorded.
                _keep_unrecorded(
                    database,
                    [(item, values)]
                    + [(rest, _given_back(rest, now)) for rest in claimed[index + 1 :]],
                )
                with contextlib.suppress(Exception):  # still away: the next run does it
                    _settle_unrecorded(database)
                raise
            if outcome == OutboxStatus.SENT:
                report.sent += 1
            elif outcome == OutboxStatus.FAILED:
                report.failed += 1
            elif outcome == OutboxStatus.QUEUED:
                report.deferred += 1
    finally:
        close = getattr(transport, "close", None)
        if close is not None:
            close()
    return report


# Outcomes a deliverer could not record because the database went away, per
# Database (the scheduler keeps one per process): recorded at the next chance.
_unrecorded: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_unrecorded_lock = threading.Lock()


def _keep_unrecorded(database: Database, outcomes: list[tuple[Outgoing, dict]]) -> None:
    with _unrecorded_lock:
        _unrecorded.setdefault(database, []).extend(outcomes)


def _settle_unrecorded(database: Database) -> None:
    """Record what an earlier batch could not; raises while the database is
    still away (the outcomes are kept for the next try)."""
    with _unrecorded_lock:
        outcomes = _unrecorded.pop(database, [])
    while outcomes:
        item, values = outcomes[0]
        try:
            _apply(database, item, values)
        except BaseException:
            _keep_unrecorded(database, outcomes)
            raise
        outcomes.pop(0)


def _given_back(item: Outgoing, now: datetime) -> dict:
    """A claimed message that was not sent: queued again, due now, its
    attempt not counted."""
    return {
        "status": OutboxStatus.QUEUED,
        "attempts": item.attempts - 1,
        "next_attempt_at": now,
    }


def _claim(database: Database, now: datetime, batch: int) -> tuple[list[Outgoing], int]:
    given_up = 0
    claimed: list[Outgoing] = []
    with database.session() as session:
        query = (
            select(OutboxMessage)
            .where(
                OutboxMessage.status.in_([OutboxStatus.QUEUED, OutboxStatus.SENDING]),
                OutboxMessage.next_attempt_at <= now,
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(batch)
        )
        if not database.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        rows = list(session.scalars(query))
        logo_ids = {row.logo_id for row in rows if row.logo_id}
        logos = {
            file.id: (file.data, file.content_type)
            for file in (
                session.scalars(select(StoredFile).where(StoredFile.id.in_(logo_ids)))
                if logo_ids
                else []
            )
        }
        for row in rows:
            if row.status == OutboxStatus.SENDING and row.attempts >= MAX_ATTEMPTS:
                # Its deliverer died during the last attempt: give up.
                row.status = OutboxStatus.FAILED
                row.last_error = (row.last_error or "") + " (the last attempt was interrupted)"
                given_up += 1
                continue
            row.status = OutboxStatus.SENDING
            row.attempts += 1
            row.next_attempt_at = now + LEASE
            claimed.append(
                Outgoing(
                    id=row.id,
                    attempts=row.attempts,
                    dedupe_key=row.dedupe_key,
                    to=row.to_address,
                    from_name=row.from_name,
                    reply_to=row.reply_to,
                    subject=row.subject,
                    html=row.body_html,
                    text=row.body_text,
                    logo=logos.get(row.logo_id) if row.logo_id else None,
                )
            )
    return claimed, given_up


def _outcome(item: Outgoing, now: datetime, error: str | None, permanent: bool) -> dict:
    if error is None:
        return {"status": OutboxStatus.SENT, "sent_at": now, "last_error": None}
    if permanent or item.attempts >= MAX_ATTEMPTS:
        return {"status": OutboxStatus.FAILED, "last_error": error[:2000]}
    return {
        "status": OutboxStatus.QUEUED,
        "next_attempt_at": now + backoff(item.attempts),
        "last_error": error[:2000],
    }


def _record(
    database: Database, item: Outgoing, now: datetime, error: str | None, permanent: bool
) -> OutboxStatus | None:
    return _apply(database, item, _outcome(item, now, error, permanent))


def _apply(database: Database, item: Outgoing, values: dict) -> OutboxStatus | None:
    with database.session() as session:
        result = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == item.id,
                OutboxMessage.status == OutboxStatus.SENDING,
                OutboxMessage.attempts == item.attempts,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    # 0 rows: our lease ran out and another deliverer took the message over.
    return values["status"] if result.rowcount == 1 else None


def build_message(item: Outgoing, sender: str, now: datetime) -> EmailMessage:
    """The MIME message: text and HTML alternatives, the logo inline."""
    message = EmailMessage(policy=SMTP_POLICY)
    try:
        message["Subject"] = item.subject
        message["From"] = Address(display_name=item.from_name, addr_spec=sender)
        message["To"] = item.to
        if not _is_one_address(message["To"], item.to):
            raise PermanentError(f"Not a single deliverable address: {item.to!r}")
        if item.reply_to:
            message["Reply-To"] = item.reply_to
            if not _is_one_address(message["Reply-To"], item.reply_to):
                del message["Reply-To"]  # better no Reply-To than a wrong one
        domain = sender.rpartition("@")[2] or "billing-bridge.invalid"
        digest = hashlib.sha256(item.dedupe_key.encode()).hexdigest()[:16]
        message["Message-ID"] = f"<outbox.{item.id}.{digest}@{domain}>"
        message["Date"] = format_datetime(now)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(item.text)
        html = item.html
        if "cid:" + LOGO_CID in html and item.logo is None:
            html = without_logo(html)
        message.add_alternative(html, subtype="html")
        if item.logo is not None and "cid:" + LOGO_CID in html:
            data, content_type = item.logo
            maintype, _, subtype = content_type.partition("/")
            message.get_payload()[1].add_related(
                data,
                maintype=maintype,
                subtype=subtype,
                cid=f"<{LOGO_CID}>",
                disposition="inline",
                filename="logo." + {"svg+xml": "svg", "jpeg": "jpg"}.get(subtype, subtype),
            )
    except (ValueError, TypeError, IndexError) as exc:
        raise PermanentError(f"The message cannot be built: {exc}") from exc
    return message


def _is_one_address(header, expected: str) -> bool:
    """Whether the parsed header is exactly ``expected`` (one address): a
    stored address like "a,b@x.com" must not become two recipients."""
    addresses = header.addresses
    return len(addresses) == 1 and addresses[0].addr_spec == expected.strip()


# Transports ------------------------------------------------------------------------


class SmtpTransport:
    """Any SMTP server: ``security`` none, starttls or tls (implicit TLS,
    usually port 465); login when a username is given. One connection serves
    a whole batch."""

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        security: str = "starttls",
        username: str = "",
        password: str = "",
        sender: str,
        timeout: float = SMTP_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
    ):
        if security not in ("none", "starttls", "tls"):
            raise ValueError(f"SMTP security is none, starttls or tls, not {security!r}")
        self.host, self.port, self.security = host, int(port), security
        self.username, self.password = username, password
        self.sender = sender
        self.timeout = timeout
        self.ssl_context = ssl_context
        self._smtp: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            smtp = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._context()
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if self.security == "starttls":
                smtp.starttls(context=self._context())
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password)
        except BaseException:
            _quietly_close(smtp)
            raise
        return smtp

    def send(self, message: EmailMessage) -> None:
        reused = self._smtp is not None
        try:
            self._send_once(message)
        except smtplib.SMTPServerDisconnected:
            if not reused:
                raise
            # An idle connection the server dropped: once more on a fresh one.
            self._send_once(message)

    def _send_once(self, message: EmailMessage) -> None:
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(code >= 500 for code in codes):
                raise PermanentError(f"Recipient refused: {exc.recipients}") from exc
            raise
        except smtplib.SMTPDataError as exc:
            if exc.smtp_code >= 500:
                raise PermanentError(f"Message refused: {exc.smtp_code} {exc.smtp_error}") from exc
            raise
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self._smtp is not None:
            smtp, self._smtp = self._smtp, None
            try:
                smtp.quit()
            except Exception:  # already gone: nothing to close
                _quietly_close(smtp)


def _quietly_close(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(Exception):  # closing a broken socket
        smtp.close()


class FolderTransport:
    """Writes each message as an ``.eml`` file (local use, ``make run``):
    open them with any mail program."""

    def __init__(self, folder: str | os.PathLike, *, sender: str):
        self.folder = Path(folder)
        self.sender = sender

    def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9.@-]", "", str(message["Message-ID"])) or "message"
        fd, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(message.as_bytes(policy=SMTP_POLICY))
        os.replace(temporary, self.folder / f"{name}.eml")

    def close(self) -> None:
        pass


def transport_from_config(config) -> SmtpTransport | FolderTransport:
    """The transport the settings ask for (``BRIDGE_MAIL_TRANSPORT``...)."""
    kind = str(config.get("MAIL_TRANSPORT") or "folder")
    sender = str(config.get("MAIL_FROM") or DEFAULT_SENDER)
    if kind == "folder":
        return FolderTransport(config.get("MAIL_FOLDER") or "instance/mail", sender=sender)
    if kind == "smtp":
        if not config.get("SMTP_HOST"):
            raise ValueError("BRIDGE_SMTP_HOST must be set to send mail over SMTP")
        return SmtpTransport(
            str(config["SMTP_HOST"]),
            int(config.get("SMTP_PORT") or 587),
            security=str(config.get("SMTP_SECURITY") or "starttls"),
            username=str(config.get("SMTP_USERNAME") or ""),
            password=str(config.get("SMTP_PASSWORD") or ""),
            sender=sender,
        )
    raise ValueError(f"BRIDGE_MAIL_TRANSPORT is folder or smtp, not {kind!r}")
