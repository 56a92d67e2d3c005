"""Rendered invoice PDFs, kept so a re-download of an unchanged invoice
costs a few small queries instead of a render.

A PDF is stored under its invoice id and a fingerprint of everything that
shapes it: the invoice's own columns (status, amounts, dates, number, note,
language, ``updated_at``), a summary of its lines, the client's printed
fields, the settings' printed fields (``updated_at`` included), the custom
fields marked for invoices, the database, and ``template_version()`` (which
covers the compiled catalogues too). Any
change gives a new key, so nothing is ever invalidated by hand: the old
entry just stops being asked for (and on disk is removed when the new one
is written).

Drafts are never cached: they change freely and are seldom downloaded twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge.billing.business import get_settings
from bridge.models import CustomField, Invoice, InvoiceLine, InvoiceStatus
from bridge.pdf.render import render_invoice_pdf, resolve_language, template_version

log = logging.getLogger(__name__)

# The settings columns an invoice prints (or that decide what it prints).
SETTINGS_FIELDS = (
    "currency",
    "company_name",
    "address_line1",
    "address_line2",
    "city",
    "postal_code",
    "state",
    "country",
    "email",
    "phone",
    "website",
    "tax_id",
    "brand_color",
    "logo_id",
    "custom_fields",
    "invoice_footer",
    "invoice_language",
    "invoice_show_logo",
    "invoice_show_brand_color",
    "invoice_show_company_name",
    "invoice_show_client_info",
    "invoice_show_custom_fields",
    # Printed dates are the business time zone's days.
    "timezone",
    "updated_at",
)
CLIENT_FIELDS = (
    "id",
    "name",
    "email",
    "company",
    "address_line1",
    "address_line2",
    "city",
    "postal_code",
    "state",
    "country",
    "custom_fields",
    "updated_at",
)
INVOICE_FIELDS = (
    "id",
    "number",
    "status",
    "currency",
    "note",
    "subtotal",
    "tax",
    "total",
    "amount_paid",
    "amount_refunded",
    "issued_at",
    "issue_date",
    "due_at",
    "paid_at",
    "voided_at",
    "created_at",
    "updated_at",
)


class PdfCache:
    """PDF bytes by key: an in-memory LRU, and optionally a directory (the
    instance folder's ``pdf-cache``) shared by the processes of one
    installation and kept across restarts. Thread-safe."""

    def __init__(
        self,
        directory: str | os.PathLike | None = None,
        *,
        max_items: int = 256,
        max_bytes: int = 64 * 1024 * 1024,
    ):
        self.directory = Path(directory) if directory is not None else None
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            data = self._memory.get(key)
            if data is not None:
                self._memory.move_to_end(key)
                self.hits += 1
                return data
        data = self._read(key)
        with self._lock:
            if data is None:
                self.misses += 1
            else:
                self.hits += 1
                self._remember(key, data)
        return data

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            self._remember(key, data)
        self._write(key, data)

    def clear(self) -> None:
        """Forget everything (memory and disk)."""
        with self._lock:
            self._memory.clear()
            self._size = 0
        if self.directory is not None and self.directory.is_dir():
            for path in self.directory.glob("*.pdf"):
                path.unlink(missing_ok=True)

    def __len__(self) -> int:
        return len(self._memory)

    def _remember(self, key: str, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        previous = self._memory.pop(key, None)
        if previous is not None:
            self._size -= len(previous)
        self._memory[key] = data
        self._size += len(data)
        while len(self._memory) > self.max_items or self._size > self.max_bytes:
            _, dropped = self._memory.popitem(last=False)
            self._size -= len(dropped)

    def _path(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / f"{key}.pdf"

    def _read(self, key: str) -> bytes | None:
        path = self._path(key)
        if path is None:
            return None
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError:
            log.warning("cannot read the cached PDF %s", path, exc_info=True)
            return None

    def _write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        if path is None:
            return
        # Written aside then renamed: a reader never sees half a file.
        temporary = path.with_name(f".{key}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(data)
            os.replace(temporary, path)
            invoice_id = key.split("-", 1)[0]
            for stale in path.parent.glob(f"{invoice_id}-*.pdf"):
                if stale != path:
                    stale.unlink(missing_ok=True)
        except OSError:
            log.warning("cannot write the cached PDF %s", path, exc_info=True)
            temporary.unlink(missing_ok=True)


_default_cache = PdfCache()


def default_cache() -> PdfCache:
    """The cache ``invoice_pdf`` uses when given none: the Flask app's (in
    memory, and on disk in its instance folder) inside an app context, else
    one in memory for the process."""
    try:
        from flask import current_app, has_app_context
    except ImportError:  # pragma: no cover - Flask is a dependency
        return _default_cache
    if not has_app_context():
        return _default_cache
    return app_cache(current_app)


def app_cache(app) -> PdfCache:
    """The PDF cache of a Flask app, created on first use: memory plus
    ``<instance folder>/pdf-cache``."""
    cache = app.extensions.get("bridge.pdf_cache")
    if cache is None:
        cache = app.extensions.setdefault(
            "bridge.pdf_cache", PdfCache(Path(app.instance_path) / "pdf-cache")
        )
    return cache


def cache_key(session: Session, invoice: Invoice, language: str | None = None) -> str:
    """``<invoice id>-<fingerprint>`` for ``invoice`` rendered in
    ``language`` (see the module docstring for what the fingerprint covers)."""
    settings = get_settings(session)
    client = invoice.client
    lines = session.execute(
        select(
            func.count(InvoiceLine.id),
            func.max(InvoiceLine.id),
            func.sum(InvoiceLine.net),
            func.sum(InvoiceLine.unit_amount),
            func.sum(InvoiceLine.quantity_e3),
            func.sum(func.length(InvoiceLine.description)),
            func.count(InvoiceLine.period_start),
            func.max(InvoiceLine.period_end),
        ).where(InvoiceLine.invoice_id == invoice.id)
    ).one()
    fields = session.execute(
        select(
            CustomField.entity,
            CustomField.key,
            CustomField.label,
            CustomField.field_type,
            CustomField.position,
        )
        .where(CustomField.show_on_invoice.is_(True))
        .order_by(CustomField.id)
    ).all()
    bind = session.get_bind()
    facts = {
        "template": template_version(),
        "database": bind.url.render_as_string(hide_password=True),
        "language": resolve_language(invoice, settings, language),
        "invoice": [getattr(invoice, name) for name in INVOICE_FIELDS],
        "lines": list(lines),
        "client": [getattr(client, name) for name in CLIENT_FIELDS],
        "settings": [getattr(settings, name) for name in SETTINGS_FIELDS],
        "fields": [list(row) for row in fields],
    }
    text = json.dumps(facts, sort_keys=True, default=_json_default, ensure_ascii=False)
    return f"{invoice.id}-{hashlib.sha256(text.encode()).hexdigest()[:40]}"


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def invoice_pdf(
    session: Session,
    invoice: Invoice,
    language: str | None = None,
    cache: PdfCache | None = None,
) -> bytes:
    """The PDF of ``invoice``, from ``cache`` (default: ``default_cache()``)
    when an identical one was rendered before, else rendered and stored. A
    draft is always rendered afresh."""
    if invoice.status == InvoiceStatus.DRAFT or invoice.id is None:
        return render_invoice_pdf(session, invoice, language)
    cache = cache if cache is not None else default_cache()
    key = cache_key(session, invoice, language)
    data = cache.get(key)
    if data is None:
        data = render_invoice_pdf(session, invoice, language)
        cache.put(key, data)
    return data
