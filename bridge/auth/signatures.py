"""Signed requests of the WordPress plugin (ARCHITECTURE decision 8).

The plugin signs every request with its site's secret::

    X-Bridge-Site:      the site's public_id
    X-Bridge-Timestamp: Unix time in whole seconds
    X-Bridge-Signature: hex HMAC-SHA256(secret, message)

where ``message`` is four lines joined by ``\\n`` (no trailing newline): the
timestamp, the upper-case method, the path with its query string exactly as
sent, and the hex SHA-256 of the raw body (of b"" when there is none). The
bridge refuses a wrong signature and a timestamp more than ``WINDOW_SECONDS``
away from its clock. ``docs/site-api.md`` is the contract;
``tests/fixtures/site-signature-vectors.json`` holds test vectors that the
Python and the PHP tests both check.

The first half of this module is pure functions; ``authenticate_request``
applies them to a Flask request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.auth.policy import SitePlugin
from bridge.auth.secrets import SecretBox
from bridge.core import clock
from bridge.models import Site

SITE_HEADER = "X-Bridge-Site"
TIMESTAMP_HEADER = "X-Bridge-Timestamp"
SIGNATURE_HEADER = "X-Bridge-Signature"
WINDOW_SECONDS = 300

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
# Compared against when the site is unknown, so that an unknown site takes
# as long to refuse as a wrong signature.
_DUMMY_SECRET = "bbs_no-such-site"  # noqa: S105  (never accepted: see verify)


class SignatureError(Exception):
    """A request that is not correctly signed. ``status`` and ``code`` are
    the HTTP answer (401 ``bad_signature`` / ``stale_request``, 403
    ``site_disabled``); ``message`` is safe to show."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def message(timestamp: str | int, method: str, path: str, body: bytes) -> str:
    """The signed message: timestamp, METHOD, path?query and the body's hash."""
    return "\n".join((str(timestamp), method.upper(), path, body_sha256(body)))


def sign(secret: str, timestamp: str | int, method: str, path: str, body: bytes = b"") -> str:
    """The lower-case hex signature of a request."""
    if not secret:
        raise ValueError("a site secret cannot be empty")
    return hmac.new(
        secret.encode(), message(timestamp, method, path, body).encode(), hashlib.sha256
    ).hexdigest()


def signed_headers(
    site_id: str,
    secret: str,
    method: str,
    path: str,
    body: bytes = b"",
    timestamp: int | None = None,
) -> dict[str, str]:
    """The three headers of a signed request (what the plugin sends)."""
    if timestamp is None:
        timestamp = int(clock.now().timestamp())
    return {
        SITE_HEADER: site_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, method, path, body),
    }


def verify(
    secret: str,
    timestamp: str | None,
    method: str,
    paths: str | list[str],
    body: bytes,
    signature: str | None,
    now: datetime | None = None,
) -> None:
    """Raise ``SignatureError`` unless ``signature`` signs this request with
    ``secret`` (for any of ``paths``, the ways the request's path may have
    been written) and ``timestamp`` is within ``WINDOW_SECONDS`` of ``now``.

    The signature is checked first (in constant time), so only an authentic
    request learns that its clock is off."""
    if isinstance(paths, str):
        paths = [paths]
    timestamp = timestamp or ""
    signature = (signature or "").strip()
    well_formed = bool(_TIMESTAMP.fullmatch(timestamp)) and bool(_SIGNATURE.fullmatch(signature))
    matched = False
    for path in paths:
        expected = sign(secret or _DUMMY_SECRET, timestamp, method, path, body)
        # Every candidate is compared, whatever the outcome, in constant time.
        matched |= hmac.compare_digest(expected, signature)
    if not (well_formed and matched and secret):
        raise SignatureError(401, "bad_signature", "The request signature is missing or wrong.")
    now = now or clock.now()
    if abs(now.timestamp() - int(timestamp)) > WINDOW_SECONDS:
        raise SignatureError(
            401,
            "stale_request",
            f"The request timestamp is more than {WINDOW_SECONDS} seconds away from "
            "the bridge's clock: check the site's clock.",
        )


# Flask requests --------------------------------------------------------------


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
        site = session.scalar(select(Site).where(Site.public_id == public_id))
    secret = box.decrypt(site.secret_encrypted) if site is not None else ""
    verify(
        secret,
        request.headers.get(TIMESTAMP_HEADER),
        request.method,
        request_paths(request),
        request.get_data(cache=True),
        request.headers.get(SIGNATURE_HEADER),
    )
    if site.disabled:
        raise SignatureError(403, "site_disabled", "This site is disabled in the bridge.")
    return AuthenticatedSite(site, SitePlugin(site_id=site.id, client_id=site.client_id))
