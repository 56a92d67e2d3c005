"""Reading, editing, previewing and testing the email templates, and the
email settings (branding toggle, footer note, sender name). Plain Python
over a Session, like the domain; the API calls these."""

from __future__ import annotations

import uuid
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.billing.business import get_settings
from bridge.billing.validation import check_email
from bridge.core import clock
from bridge.core.errors import Invalid
from bridge.mail import outbox
from bridge.mail.catalog import KINDS, sample_values
from bridge.mail.render import (
    Content,
    Rendered,
    Template,
    check_content,
    forget_stored_templates,
    get_template,
    kind_of,
    render,
)
from bridge.models import BusinessSettings, EmailTemplate, OutboxMessage

EMAIL_SETTINGS = ("email_branding", "email_footer", "email_from_name")


def list_templates(session: Session) -> list[Template]:
    return [get_template(session, key) for key in KINDS]


def save_template(
    session: Session, key: str, *, subject: str, body_html: str, body_text: str = ""
) -> Template:
    """Store the agency's version of template ``key``. An unknown
    placeholder, or a ``[[`` left open, is a 422 naming it; nothing changes."""
    kind = kind_of(key)
    content = Content(subject.strip(), body_html, body_text)
    if not content.subject:
        raise Invalid("The subject cannot be empty.", fields={"subject": ["Required."]})
    if not content.body_html.strip():
        raise Invalid("The body cannot be empty.", fields={"body_html": ["Required."]})
    check_content(kind, content)
    stored = session.get(EmailTemplate, key)
    if stored is None:
        stored = EmailTemplate(key=key)
        session.add(stored)
    stored.subject = content.subject
    stored.body_html = content.body_html
    stored.body_text = content.body_text
    stored.updated_at = clock.now()
    session.flush()
    forget_stored_templates(session)
    return get_template(session, key)


def reset_template(session: Session, key: str) -> Template:
    """Back to the default shipped with the bridge."""
    kind_of(key)
    stored = session.get(EmailTemplate, key)
    if stored is not None:
        session.delete(stored)
        session.flush()
    forget_stored_templates(session)
    return get_template(session, key)


def preview(
    session: Session,
    key: str,
    *,
    subject: str | None = None,
    body_html: str | None = None,
    body_text: str | None = None,
) -> Rendered:
    """The template (or an unsaved edit of it: the parts given) filled with
    sample values, in the layout, as it would be sent. Nothing is saved."""
    template = get_template(session, key)
    current = template.content
    content = Content(
        current.subject if subject is None else subject,
        current.body_html if body_html is None else body_html,
        current.body_text if body_text is None and body_html is None else (body_text or ""),
    )
    check_content(template.kind, content)
    return render(session, key, sample_values(template.kind, business(session)), content=content)


def business(session: Session) -> dict[str, str]:
    """The business's details, for the company_* placeholders of samples."""
    settings = get_settings(session)
    return {
        "company_name": settings.company_name,
        "company_email": settings.email,
        "company_phone": settings.phone,
        "company_website": settings.website,
    }


def send_test(session: Session, key: str, to: str) -> OutboxMessage:
    """Queue template ``key`` filled with sample values to ``to`` (the API's
    "send a test"); never deduplicated. The scheduler delivers it like any
    other message: nothing is sent here. Returns the queued row."""
    kind = kind_of(key)
    to = check_email(to, "to")
    message = render(session, key, sample_values(kind, business(session)))
    message = replace(message, subject=f"[Test] {message.subject}")
    dedupe_key = f"test:{key}:{uuid.uuid4().hex}"
    outbox.enqueue(session, trigger=f"test:{key}", dedupe_key=dedupe_key, to=to, message=message)
    return session.scalars(
        select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)
    ).one()


def update_email_settings(session: Session, changes: dict) -> BusinessSettings:
    settings = get_settings(session)
    unknown = set(changes) - set(EMAIL_SETTINGS)
    if unknown:
        raise Invalid("Unknown settings.", fields={k: ["Unknown field."] for k in unknown})
    for key, value in changes.items():
        setattr(settings, key, value.strip() if isinstance(value, str) else value)
    settings.updated_at = clock.now()
    return settings
