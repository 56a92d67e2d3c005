"""Signed requests of the WordPress plugin (ARCHITECTURE decision 8).

The plugin signs every request with its site's secret::

    X-Bridge-Site:      the site's public_id
    X-Bridge-Timestamp: Unix time in whole seconds
    X-Bridge-Nonce:     a fresh random id of 16 to 64 characters [A-Za-z0-9_-]
    X-Bridge-Signature: hex HMAC-SHA256(secret, message)

where ``message`` is four lines joined by ``\\n`` (no trailing newline): the
timestamp, the upper-case method, the path with its query string exactly as
sent, and the hex SHA-256 of the raw body (of b"" when there is none); when
the nonce is sent, it is a fifth line, so it cannot be changed either. The
bridge refuses a wrong signature, a timestamp more than ``WINDOW_SECONDS``
behind its clock or more than ``FUTURE_SKEW_SECONDS`` ahead of it, and a
write (any method but GET, HEAD, OPTIONS) whose request id it has already
seen from that site: the nonce, or the signature itself for a plugin that
sends none (an older plugin keeps working; two identical writes of the same
second are then one). Request ids are kept until their timestamp leaves the
window (``site_request_nonces``). ``docs/site-api.md`` is the contract;
``tests/fixtures/site-signature-vectors.json`` holds test vectors that the
Python and the PHP tests both check.

The first half of this module is pure functions; ``authenticate_request``
applies them to a Flask request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, load_only

from bridge.auth.policy import SitePlugin
from bridge.auth.secrets import SecretBox
from bridge.billing import business
from bridge.core import clock
from bridge.models import Client, Site, SiteRequestNonce

SITE_HEADER = "X-Bridge-Site"
TIMESTAMP_HEADER = "X-Bridge-Timestamp"
SIGNATURE_HEADER = "X-Bridge-Signature"
NONCE_HEADER = "X-Bridge-Nonce"
WINDOW_SECONDS = 300
"""How old a request's timestamp may be."""
FUTURE_SKEW_SECONDS = 30
"""How far ahead of the bridge's clock a request's timestamp may be (the
site's clock running a little fast)."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Reads: replaying one only reads again what its sender saw; every other
method is a write whose request id is remembered."""

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
# Compared against when the site is unknown, so that an unknown site takes
# as long to refuse as a wrong signature.
_DUMMY_SECRET = "bbs_no-such-site"  # noqa: S105  (never accepted: see verify)


class SignatureError(Exception):
    """A request that is not correctly signed. ``status`` and ``code`` are
    the HTTP answer (401 ``bad_signature`` / ``stale_request`` /
    ``replayed_request``, 403 ``site_disabled``); ``message`` is safe to show."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def message(
    timestamp: str | int, method: str, path: str, body: bytes, nonce: str | None = None
) -> str:
    """The signed message: timestamp, METHOD, path?query, the body's hash,
    and the nonce when there is one."""
    lines = [str(timestamp), method.upper(), path, body_sha256(body)]
    if nonce is not None:
        lines.append(nonce)
    return "\n".join(lines)


def sign(
    secret: str,
    timestamp: str | int,
    method: str,
    path: str,
    body: bytes = b"",
    nonce: str | None = None,
) -> str:
    """The lower-case hex signature of a request."""
    if not secret:
        raise ValueError("a site secret cannot be empty")
    return hmac.new(
        secret.encode(), message(timestamp, method, path, body, nonce).encode(), hashlib.sha256
    ).hexdigest()


def new_nonce() -> str:
    """A fresh request id (32 hex characters), as the plugin makes one."""
    return secrets.token_hex(16)


def signed_headers(
    site_id: str,
    secret: str,
    method: str,
    path: str,
    body: bytes = b"",
    timestamp: int | None = None,
    nonce: str | bool = True,
) -> dict[str, str]:
    """The headers of a signed request, as the plugin sends them: with a
    fresh nonce (``nonce=True``), a given one, or none (``False``: how
    plugins before the nonce signed)."""
    if timestamp is None:
        timestamp = int(clock.now().timestamp())
    if nonce is True:
        nonce = new_nonce()
    headers = {SITE_HEADER: site_id, TIMESTAMP_HEADER: str(timestamp)}
    if nonce:
        headers[NONCE_HEADER] = nonce
    headers[SIGNATURE_HEADER] = sign(secret, timestamp, method, path, body, nonce or None)
    return headers


def verify(
    secret: str,
    timestamp: str | None,
    method: str,
    paths: str | list[str],
    body: bytes,
    signature: str | None,
    now: datetime | None = None,
    nonce: str | None = None,
) -> None:
    """Raise ``SignatureError`` unless ``signature`` signs this request with
    ``secret`` (for any of ``paths``, the ways the request's path may have
    been written, and with ``nonce`` when one was sent) and ``timestamp`` is
    at most ``WINDOW_SECONDS`` behind ``now`` and ``FUTURE_SKEW_SECONDS``
    ahead of it.

    The signature is checked first (in constant time), so only an authentic
    request learns that its clock is off."""
    if isinstance(paths, str):
        paths = [paths]
    timestamp = timestamp or ""
    signature = (signature or "").strip()
    well_formed = bool(_TIMESTAMP.fullmatch(timestamp)) and bool(_SIGNATURE.fullmatch(signature))
    if nonce is not None and not _NONCE.fullmatch(nonce):
        well_formed = False
    matched = False
    for path in paths:
        expected = sign(secret or _DUMMY_SECRET, timestamp, method, path, body, nonce)
        # Every candidate is compared, whatever the outcome, in constant time.
        matched |= hmac.compare_digest(expected, signature)
    if not (well_formed and matched and secret):
        raise SignatureError(401, "bad_signature", "The request signature is missing or wrong.")
    now = now or clock.now()
    age = now.timestamp() - int(timestamp)
    if age > WINDOW_SECONDS or -age > FUTURE_SKEW_SECONDS:
        raise SignatureError(
            401,
            "stale_request",
            f"The request timestamp is more than {WINDOW_SECONDS} seconds behind or "
            f"{FUTURE_SKEW_SECONDS} seconds ahead of the bridge's clock: check the site's clock.",
        )


# Flask requests --------------------------------------------------------------

# The signing site with its client (every signed call reads it), built once,
# with the columns that the signed calls' answers use only: a client row is
# some thirty columns (its address, custom fields, search text, figures),
# and psycopg and the ORM pay for each column of each row. Another column
# would still load when read, in a statement of its own. The client's role
# comes with it (``Client.role`` is joined): the access answer reads it.
SIGNING_SITE_COLUMNS = (
    Site.public_id,
    Site.client_id,
    Site.name,
    Site.url,
    Site.secret_encrypted,
    Site.disabled,
)
SIGNING_CLIENT_COLUMNS = (
    Client.name,
    Client.email,
    Client.role_id,
    Client.stripe_customer_id,
    Client.default_payment_method_id,
    Client.card_brand,
    Client.card_last4,
    Client.card_exp_month,
    Client.card_exp_year,
)
_SIGNING_SITE = (
    select(Site)
    .options(
        load_only(*SIGNING_SITE_COLUMNS),
        joinedload(Site.client).load_only(*SIGNING_CLIENT_COLUMNS),
    )
    .where(Site.public_id == bindparam("public_id"))
)
# The same with the business settings' version (PostgreSQL), so that the
# answer can use the settings its process keeps: no statement of its own
# for them (bridge.billing.business.reading_settings).
_SIGNING_SITE_AND_SETTINGS_VERSION = _SIGNING_SITE.add_columns(business.SETTINGS_VERSION_QUERY)


@dataclass(frozen=True)
class AuthenticatedSite:
    site: Site
    principal: SitePlugin


def request_paths(request) -> list[str]:
    """How the client may have written the request's path and query: as the
    server received it (``RAW_URI``/``REQUEST_URI``), and rebuilt from the
    application's root path (a proxy that strips a prefix sets it)."""
    query = request.environ.get("QUERY_STRING", "")
    rebuilt = quote(request.script_root + request.path, safe="/:@!$&'()*+,;=-._~%")
    if query:
        rebuilt += "?" + query
    paths = [rebuilt]
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        if "://" in raw:  # absolute form: keep the path and query only
            raw = "/" + raw.split("://", 1)[1].partition("/")[2]
        if raw not in paths:
            paths.append(raw)
    return paths


def authenticate_request(session: Session, box: SecretBox, request) -> AuthenticatedSite:
    """The site that signed this Flask request, or ``SignatureError``.

    Reads the raw body (cached for the view to parse afterwards); a disabled
    site is told so (403) only when its signature is right."""
    public_id = request.headers.get(SITE_HEADER, "").strip()
    site = None
    if _PUBLIC_ID.fullmatch(public_id):
        if not business.settings_versioned(session):
            site = session.scalar(_SIGNING_SITE, {"public_id": public_id})
        else:
            row = session.execute(
                _SIGNING_SITE_AND_SETTINGS_VERSION, {"public_id": public_id}
            ).first()
            if row is not None:
                site, version = row
                business.note_settings_version(session, version)
    secret = box.decrypt_kept(site.secret_encrypted) if site is not None else ""
    nonce = request.headers.get(NONCE_HEADER)
    timestamp = request.headers.get(TIMESTAMP_HEADER)
    verify(
        secret,
        timestamp,
        request.method,
        request_paths(request),
        request.get_data(cache=True),
        request.headers.get(SIGNATURE_HEADER),
        nonce=nonce,
    )
    if site.disabled:
        raise SignatureError(403, "site_disabled", "This site is disabled in the bridge.")
    if request.method.upper() not in SAFE_METHODS:
        request_id = nonce or request.headers[SIGNATURE_HEADER].strip()
        remember_request(session, site, request_id, int(timestamp))
    return AuthenticatedSite(site, SitePlugin(site_id=site.id, client_id=site.client_id))


def remember_request(session: Session, site: Site, request_id: str, timestamp: int) -> None:
    """Store a signed write's request id until its timestamp leaves the
    window, or ``SignatureError`` (401 ``replayed_request``) when the site
    already sent it. The row is part of the request's transaction: a write
    that fails and rolls back may be sent again. Two copies at once meet on
    the primary key: the second waits for the first and is refused once it
    commits. The site's expired ids are deleted on the way."""
    now = clock.now()
    session.execute(
        delete(SiteRequestNonce).where(
            SiteRequestNonce.site_id == site.id, SiteRequestNonce.expires_at < now
        )
    )
    expires_at = datetime.fromtimestamp(timestamp, now.tzinfo) + timedelta(seconds=WINDOW_SECONDS)
    session.add(SiteRequestNonce(site_id=site.id, nonce=request_id, expires_at=expires_at))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise SignatureError(
            401,
            "replayed_request",
            "This signed request was already received: send each write with a new "
            f"{NONCE_HEADER} and signature.",
        ) from None
