"""Absolute links to the client-facing pages, for emails, the plugin and the
scheduler, which have no request to take a host from (``PUBLIC_URL``)."""

from __future__ import annotations

from bridge.models import Invoice


def public_url(config) -> str:
    return str(config["PUBLIC_URL"]).rstrip("/")


def invoice_page_url(config, invoice: Invoice) -> str:
    """The hosted invoice page: pay, see the status, download the PDF."""
    return f"{public_url(config)}/i/{invoice.hosted_token}"


def invoice_pdf_url(config, invoice: Invoice) -> str:
    return f"{invoice_page_url(config, invoice)}/pdf"
