"""Invoice PDFs (ARCHITECTURE decision 10): rendered from
``templates/invoices/`` by xhtml2pdf with an embedded Unicode font, and
cached, so a re-download of an unchanged invoice costs no rendering.

- ``invoice_pdf(session, invoice, language=None, cache=None)``: what
  downloads use (cached).
- ``render_invoice_pdf(session, invoice, language=None)``: always renders.
- ``render_sample_pdf(session, language=None)``: *Preview sample*.
- ``render_credit_note_pdf(session, note, language=None)``: a credit note
  (not cached).
"""

from bridge.pdf.cache import PdfCache, app_cache, cache_key, default_cache, invoice_pdf
from bridge.pdf.render import (
    PdfRenderError,
    render_credit_note_pdf,
    render_invoice_pdf,
    render_sample_pdf,
)

__all__ = [
    "PdfCache",
    "PdfRenderError",
    "app_cache",
    "cache_key",
    "default_cache",
    "invoice_pdf",
    "render_credit_note_pdf",
    "render_invoice_pdf",
    "render_sample_pdf",
]
