"""Turn a template (the agency's edit, or the default) and placeholder values
into a message: subject, HTML (the body in the layout) and text alternative.

Client emails use the branded layout (``templates/emails/layout.html``):
with branding on, a bar in the brand colour and the logo as an inline
image (``cid:``), else the company name; the footer note under it. Agency
emails use the plain layout. Values are escaped in the HTML part
(``bridge.mail.placeholders``); the agency's own HTML is theirs, unchanged.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from html.parser import HTMLParser

import jinja2
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.billing.business import get_settings
from bridge.core.errors import NotFound
from bridge.mail import placeholders
from bridge.mail.catalog import AGENCY, EMAIL_DIR, KINDS, EmailKind
from bridge.models import BusinessSettings, EmailTemplate

LOGO_CID = "logo@billing-bridge"
NEUTRAL_COLOR = "#374151"
# The logo element of the layout, dropped when the logo is gone at delivery.
LOGO_BLOCK = re.compile(r"<!--logo-->.*?<!--/logo-->", re.S)


@dataclass(frozen=True)
class Content:
    """A template's editable parts."""

    subject: str
    body_html: str
    body_text: str  # empty: derived from the HTML


@dataclass(frozen=True)
class Template:
    kind: EmailKind
    content: Content
    customized: bool
    updated_at: datetime | None


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str
    from_name: str
    reply_to: str
    logo_id: int | None  # the stored logo the HTML shows as cid:LOGO_CID


def kind_of(key: str) -> EmailKind:
    kind = KINDS.get(key)
    if kind is None:
        raise NotFound(f"No email template {key!r}.")
    return kind


def default_content(kind: EmailKind, language: str) -> Content:
    return Content(*kind.defaults(language))


_STORED = "bridge.stored_email_templates"


def stored_template(session: Session, key: str) -> EmailTemplate | None:
    """The agency's edit of template ``key``, if any. The edits are read
    once per transaction (a handful of rows), not once per email: a batch
    of renewals queues hundreds, and ``session.get`` cannot remember that
    a template is *not* stored."""
    transaction = session.get_transaction()
    cached = session.info.get(_STORED)
    if transaction is None or cached is None or cached[0] is not transaction:
        stored = {row.key: row for row in session.scalars(select(EmailTemplate))}
        cached = session.info[_STORED] = (session.get_transaction(), stored)
    return cached[1].get(key)


def forget_stored_templates(session: Session) -> None:
    """An edit was saved or reset in this transaction: read them again."""
    session.info.pop(_STORED, None)


def get_template(session: Session, key: str, language: str | None = None) -> Template:
    """The agency's edit of template ``key``, else the default in
    ``language`` (the business's invoice language when not given)."""
    kind = kind_of(key)
    stored = stored_template(session, key)
    if stored is None:
        language = language or get_settings(session).invoice_language or "en"
        return Template(kind, default_content(kind, language), False, None)
    return Template(
        kind, Content(stored.subject, stored.body_html, stored.body_text), True, stored.updated_at
    )


def email_language(session: Session, key: str, preferred: str | None = None) -> str:
    """The one language an email of template ``key`` is written in, words,
    dates and amounts alike: ``preferred`` (an invoice's language) when the
    default template is used, since it exists in every language; the
    business's invoice language when the agency edited the template, since
    the agency wrote it in its own language."""
    business = get_settings(session).invoice_language or "en"
    if stored_template(session, key) is not None:
        return business
    return preferred or business


def check_content(kind: EmailKind, content: Content) -> None:
    """422 for an unknown placeholder or an open ``[[``, naming it."""
    placeholders.check(
        {
            "subject": content.subject,
            "body_html": content.body_html,
            "body_text": content.body_text,
        },
        kind.placeholders,
    )


def render(
    session: Session,
    key: str,
    values: dict[str, object],
    *,
    content: Content | None = None,
    language: str | None = None,
) -> Rendered:
    """The message of template ``key`` with ``values`` (``content``: an
    unsaved edit, for previews), in ``language`` (``email_language``; the
    values must be written in it too)."""
    settings = get_settings(session)
    language = language or settings.invoice_language or "en"
    template = get_template(session, key, language)
    kind = template.kind
    content = content or template.content
    subject = placeholders.fill_subject(content.subject, values)
    # The agency's own HTML (staff-written, trusted), values escaped inside.
    body = Markup(placeholders.fill_html(content.body_html, values))  # noqa: S704
    if content.body_text.strip():
        text = placeholders.fill_text(content.body_text, values)
    else:
        text = html_to_text(str(body))
    text = text.strip() + "\n"

    if kind.audience == AGENCY:
        page = _layout("layout_plain.html").render(subject=subject, body=body)
        return Rendered(subject, page, text, "Billing Bridge", "", None)

    branded = bool(settings.email_branding)
    color = settings.brand_color if branded and settings.brand_color else NEUTRAL_COLOR
    logo_id = settings.logo_id if branded else None
    # The colour is a validated #rrggbb.
    body = Markup(  # noqa: S704
        str(body).replace('class="button"', f'class="button" style="{_button_style(color)}"')
    )
    footer = settings.email_footer.strip()
    page = _layout("layout.html").render(
        language=language,
        subject=subject,
        body=body,
        branded=branded,
        color=color,
        logo_cid=LOGO_CID if logo_id else None,
        company_name=settings.company_name,
        company_email=settings.email,
        footer=Markup("<br>").join(footer.splitlines()) if footer else "",
    )
    if footer:
        text += "\n-- \n" + footer + "\n"
    return Rendered(subject, page, text, _from_name(settings), settings.email or "", logo_id)


def without_logo(page: str) -> str:
    """The HTML without its logo element (the stored logo was replaced)."""
    return LOGO_BLOCK.sub("", page)


def _from_name(settings: BusinessSettings) -> str:
    return (settings.email_from_name or settings.company_name or "").strip()


def _button_style(color: str) -> str:
    return (
        f"display:inline-block;padding:12px 22px;border-radius:6px;background:{color};"
        "color:#ffffff;text-decoration:none;font-weight:bold;"
    )


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(EMAIL_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _layout(name: str) -> jinja2.Template:
    return _environment().get_template(name)


# A text alternative from HTML ---------------------------------------------------


class _TextMaker(HTMLParser):
    BLOCKS = {"p", "div", "table", "tr", "h1", "h2", "h3", "h4", "ul", "ol", "li", "blockquote"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[tuple[str | None, int]] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script", "head", "title"):
            self.skip += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in self.BLOCKS:
            self.parts.append("\n\n" if tag != "tr" and tag != "li" else "\n")
            if tag == "li":
                self.parts.append("- ")
        elif tag == "td":
            self.parts.append(" ")
        elif tag == "a":
            self.links.append((dict(attrs).get("href"), len(self.parts)))

    def handle_endtag(self, tag):
        if tag in ("style", "script", "head", "title"):
            self.skip = max(0, self.skip - 1)
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            label = "".join(self.parts[start:]).strip()
            if href and label != href and not href.startswith(("mailto:", "#", "cid:")):
                self.parts.append(f" ({href})")
        elif tag in self.BLOCKS and tag not in ("li", "tr"):
            self.parts.append("\n\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(markup: str) -> str:
    """Readable text for an HTML body: paragraphs kept, links written out."""
    maker = _TextMaker()
    try:
        maker.feed(markup)
        maker.close()
        text = "".join(maker.parts)
    except AssertionError:  # html.parser gives up on some malformed markup ("<![ x ]>")
        text = html.unescape(re.sub(r"<[^>]*>", " ", markup))
    lines = [line.strip() for line in text.splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
