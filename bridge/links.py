"""Absolute links to the client-facing pages, for emails, the plugin and the
scheduler, which have no request to take a host from (``BRIDGE_PUBLIC_URL``)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bridge.models import Invoice

DEFAULT_PUBLIC_URL = "http://127.0.0.1:5000"


def public_url(session: Session) -> str:
    """The app puts ``PUBLIC_URL`` in every session's ``info`` (bridge.db)."""
    return session.info.get("public_url", DEFAULT_PUBLIC_URL)


def invoice_page_url(session: Session, invoice: Invoice) -> str:
    """The hosted invoice page: pay, see the status, download the PDF."""
    return f"{public_url(session)}/i/{invoice.hosted_token}"


def invoice_pdf_url(session: Session, invoice: Invoice) -> str:
    return f"{invoice_page_url(session, invoice)}/pdf"


def invitation_url(session: Session, token: str) -> str:
    """The page where an invited client's person sets their password."""
    return f"{public_url(session)}/invitations/{token}"


def portal_login_url(session: Session) -> str:
    """Where a client's people log in to the client portal."""
    return f"{public_url(session)}/portal/login"


def portal_url(session: Session) -> str:
    """The client portal's home (its login page for somebody logged out)."""
    return f"{public_url(session)}/portal/"


def portal_payment_method_url(session: Session) -> str:
    """The portal's Payment method page, where a client replaces the card."""
    return f"{public_url(session)}/portal/payment-method"


def portal_logo_url(session: Session) -> str:
    """The agency's logo, served to anybody (the portal's login page shows it)."""
    return f"{public_url(session)}/portal/logo"
