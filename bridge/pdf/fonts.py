"""The Unicode font every invoice is drawn with: DejaVu Sans, shipped in
``bridge/pdf/fonts/`` (licence beside it), so é, €, ß and ł render the same
on every machine, with or without fonts installed.

The two faces are registered with ReportLab once per process and made known
to xhtml2pdf under ``FAMILY``. Declaring them with ``@font-face`` instead
would have xhtml2pdf read and hash both files (1.5 MB) on every render,
about a quarter of the time of a short invoice.
"""

from __future__ import annotations

import threading
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from xhtml2pdf import default as xhtml2pdf_default

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FILES = {"regular": "DejaVuSans.ttf", "bold": "DejaVuSans-Bold.ttf"}

# The names ReportLab knows the faces by (distinct from any DejaVu a
# project elsewhere in the process may register from another file).
REGULAR = "BridgeDejaVuSans"
BOLD = "BridgeDejaVuSans-Bold"
# The CSS font-family the invoice stylesheet uses.
FAMILY = "bridgesans"

_lock = threading.Lock()
_registered = False


def register() -> None:
    """Make ``FAMILY`` usable by xhtml2pdf (idempotent, thread-safe)."""
    global _registered
    if _registered:
        return
    with _lock:
        if _registered:
            return
        pdfmetrics.registerFont(TTFont(REGULAR, str(FONT_DIR / FILES["regular"])))
        pdfmetrics.registerFont(TTFont(BOLD, str(FONT_DIR / FILES["bold"])))
        # <b> and font-weight: bold go through ReportLab's family mapping.
        pdfmetrics.registerFontFamily(
            REGULAR, normal=REGULAR, bold=BOLD, italic=REGULAR, boldItalic=BOLD
        )
        # xhtml2pdf copies this table into every document it starts, so a
        # name added here resolves in every document without @font-face.
        xhtml2pdf_default.DEFAULT_FONT[FAMILY] = REGULAR
        _registered = True


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """The width in points of ``text`` set in the invoice font."""
    register()
    return pdfmetrics.stringWidth(text, BOLD if bold else REGULAR, size)
