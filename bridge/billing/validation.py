"""Small rules shared by the domain: emails, URLs, colours, images, countries."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as defused_etree

from bridge.core.errors import Invalid
from bridge.core.l10n import COUNTRIES

HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
# Deliberately simple: one @, a dot in the domain, no spaces. Deliverability is
# proven by the invitation email, not by a regular expression.
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

IMAGE_TYPES = {"image/png", "image/jpeg", "image/svg+xml"}


def email_key(email: str) -> str:
    """The form of an email address used for uniqueness and lookups."""
    return email.strip().lower()


def check_country(country: str, field: str = "country") -> str:
    """An ISO 3166-1 alpha-2 code (upper-cased), or "" for none."""
    country = country.strip().upper()
    if country and country not in COUNTRIES:
        raise Invalid(
            "A country is a two-letter ISO 3166 code such as FR or US.",
            fields={field: ["Not an ISO 3166-1 alpha-2 country code."]},
        )
    return country


def check_email(email: str, field: str = "email") -> str:
    email = email.strip()
    if not EMAIL.match(email):
        raise Invalid("Enter a valid email address.", fields={field: ["Not a valid email."]})
    if len(email_key(email)) > 254:  # lower-casing can lengthen text ("İ" -> "i̇")
        raise Invalid("The email address is too long.", fields={field: ["Too long."]})
    return email


def check_url(url: str, field: str = "url") -> str:
    """An absolute http(s) URL with a host; returned without surrounding blanks."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:  # e.g. "https://[::1" (unbalanced IPv6 bracket)
        scheme, host = "", None
    if scheme not in ("http", "https") or not host or any(c.isspace() for c in url):
        raise Invalid(
            "Enter a full web address such as https://example.com.",
            fields={field: ["Not a valid http(s) URL."]},
        )
    return url


def check_hex_color(value: str, field: str = "brand_color") -> str:
    if not HEX_COLOR.match(value):
        raise Invalid(
            "A colour is written #RRGGBB, for example #2563eb.",
            fields={field: ["Not a hex colour (#RRGGBB)."]},
        )
    return value.lower()


def sniff_image_type(data: bytes) -> str | None:
    """The image type from the bytes themselves; the declared type is not trusted."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    head = data[:1024].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "image/svg+xml"
    return None


def check_image(data: bytes, max_bytes: int, field: str = "image") -> str:
    """Validate an uploaded image; return its content type."""
    if not data:
        raise Invalid("The image is empty.", fields={field: ["Empty file."]})
    if len(data) > max_bytes:
        raise Invalid(
            f"The image is too large: at most {max_bytes // 1024} KiB.",
            fields={field: [f"Larger than {max_bytes} bytes."]},
        )
    kind = sniff_image_type(data)
    if kind not in IMAGE_TYPES:
        raise Invalid(
            "Upload a PNG, JPEG or SVG image.", fields={field: ["Not a PNG, JPEG or SVG image."]}
        )
    if kind == "image/svg+xml":
        problem = svg_problem(data)
        if problem:
            raise Invalid(
                "SVG images with scripts or external content are not accepted.",
                fields={field: [problem]},
            )
    return kind


# Elements that run script or pull in other documents; a logo needs none.
SVG_FORBIDDEN_ELEMENTS = {
    "script",
    "foreignobject",
    "iframe",
    "embed",
    "object",
    "handler",
    "listener",
    "animate",
    "set",
    "animatemotion",
    "animatetransform",
}


def svg_problem(data: bytes) -> str | None:
    """Why an SVG cannot be a logo, or None. The SVG is parsed (entities and
    DTDs refused by defusedxml), so encodings and namespaces cannot disguise
    a script: every element and attribute is checked by its local name and
    decoded value."""
    try:
        root = defused_etree.fromstring(data)
    except (defused_etree.ParseError, DefusedXmlException, ValueError):
        return "Not well-formed SVG (or it declares entities)."
    if _local(root.tag) != "svg":
        return "The document is not an SVG image."
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if _local(element.tag) in SVG_FORBIDDEN_ELEMENTS:
            return f"<{_local(element.tag)}> is not allowed."
        for name, value in element.attrib.items():
            attribute = _local(name)
            if attribute.startswith("on"):
                return f"Event attribute {attribute} is not allowed."
            if attribute == "href" and not value.strip().startswith("#"):
                return "Links to other documents are not allowed."
            if attribute == "style" and re.search(r"url\s*\(|expression|javascript", value, re.I):
                return "Style with external references is not allowed."
    return None


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1].lower()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
