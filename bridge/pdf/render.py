"""Invoice PDFs: ``templates/invoices/invoice.html`` rendered by Jinja, then
turned into a PDF by xhtml2pdf with the embedded DejaVu Sans font.

Everything printed is prepared here, already written for the invoice's
language by ``bridge.core.l10n`` (the words from the gettext catalogues,
dates in the business time zone, amounts), so the template only places
it. The lines and the totals are laid out in aligned columns by
``bridge.pdf.layout``: that is what keeps a 300-line invoice several times
faster than one table row per line (see its docstring).

No Flask here: the functions take a Session, like the domain.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

import bridge_templates
import jinja2
import xhtml2pdf
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import ResourceAccessPolicy
from xhtml2pdf.context import pisaContext

from bridge.billing import coupons, legal
from bridge.billing.business import get_settings
from bridge.billing.invoices import TaxSum, printed_subtotal, tax_label, tax_summary
from bridge.billing.numbering import render as render_number
from bridge.billing.periods import add_local_days, add_months, local_date
from bridge.billing.schedule import zone
from bridge.billing.taxes import Rate, invoice_totals, line_totals
from bridge.core import clock, l10n
from bridge.core.l10n import Localiser
from bridge.core.money import line_amount, names_percentage, quantity_decimal
from bridge.models import (
    BusinessSettings,
    Client,
    CreditNote,
    CustomField,
    CustomFieldEntity,
    CustomFieldType,
    Invoice,
    InvoiceLine,
    InvoiceLineTax,
    InvoiceStatus,
    StoredFile,
)
from bridge.pdf import fonts, layout

log = logging.getLogger(__name__)

TEMPLATE = "invoices/invoice.html"
TEMPLATE_DIR = Path(bridge_templates.__file__).resolve().parent
# Bump when the Python side changes what a PDF looks like; template edits
# are noticed by themselves (``template_version`` hashes the files).
RENDERER_VERSION = "3"

# A4 portrait, in points. The template takes every measure from here, so
# the widths text is wrapped to are the widths xhtml2pdf draws.
PAGE_WIDTH = 595.28
PAGE_HEIGHT = 841.89
MARGIN_X = 42.52  # 15 mm
MARGIN_TOP = 42.52
MARGIN_BOTTOM = 56.69  # 20 mm: room for the page footer
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN_X
CELL_PADDING = 4.0  # left and right of every column
# Kept free in each column, so a font metric rounded differently by
# xhtml2pdf can never push a wrapped line over the edge.
WRAP_SLACK = 3.0

FONT_SIZE = 9.0
LINE_HEIGHT = 12.5
# Columns of the lines table, as fractions of the content width; a
# discounted invoice has a Discount column before the Amount.
LINE_COLUMNS = (0.52, 0.10, 0.19, 0.19)
DISCOUNT_LINE_COLUMNS = (0.40, 0.09, 0.17, 0.16, 0.18)
# Columns of the totals block: room on the left, labels, amounts.
TOTAL_COLUMNS = (0.40, 0.38, 0.22)
# Blocks of invoice lines: a page break falls between two blocks, so it can
# leave at most one block's height blank. Sized so that BLOCKS_PER_PAGE
# full blocks (each with its top padding) fill a continuation page.
BLOCK_PADDING = 2.0
BLOCKS_PER_PAGE = 3
BLOCK_LINES = int(
    (PAGE_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM - BLOCKS_PER_PAGE * BLOCK_PADDING - 6)
    // (BLOCKS_PER_PAGE * LINE_HEIGHT)
)

DEFAULT_BRAND_COLOR = "#2563eb"
NEUTRAL_COLOR = "#1f2937"
LOGO_BOX = (170.0, 56.0)  # the largest logo drawn, in points
_LOGO_PIXELS_PER_POINT = 2  # 144 dpi: sharp enough, and cheap to embed

# Nothing to fetch: the font is registered in-process and the logo is a
# data: URI. Denying every local and remote read keeps a client's name or
# an agency's note from ever reaching a file or the network.
_POLICY = ResourceAccessPolicy.server(base_dir=None, allow_remote=False)


class PdfRenderError(RuntimeError):
    """xhtml2pdf could not produce the document."""


# Jinja ------------------------------------------------------------------------


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The invoices' own Jinja environment, on the installed templates
    (``bridge_templates``): no Flask app needed."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        # The words are gettext's: ``_()`` and ``{% trans %}`` come with each
        # render, from the invoice's Localiser (``Words.template_context``).
        extensions=["jinja2.ext.i18n"],
    )
    env.filters["text"] = text_content
    env.tests["plain"] = layout.is_plain
    return env


def text_content(value: object) -> Markup:
    """``value`` escaped for the content of an element (never an attribute):
    only ``&`` and ``<``. Quotes and ``>`` stay as they are, so the HTML
    parser keeps the text in one piece (see ``layout.is_plain``)."""
    return Markup(str(value).replace("&", "&amp;").replace("<", "&lt;"))  # noqa: S704


@lru_cache(maxsize=1)
def template_version() -> str:
    """A digest of what shapes the output besides the data: the invoice
    templates, the compiled catalogues (the words), the renderer and
    xhtml2pdf versions. Part of every cache key, so a deploy that changes
    any of them never serves an old PDF."""
    digest = hashlib.sha256(f"{RENDERER_VERSION}:{xhtml2pdf.__version__}".encode())
    files = [(TEMPLATE_DIR, path) for path in (TEMPLATE_DIR / "invoices").rglob("*")]
    files += [(l10n.TRANSLATIONS_DIR, path) for path in l10n.TRANSLATIONS_DIR.rglob("*.mo")]
    for root, path in sorted(files):
        if path.is_file():
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# Public functions ---------------------------------------------------------------


def render_invoice_pdf(session: Session, invoice: Invoice, language: str | None = None) -> bytes:
    """The PDF of ``invoice`` (any status; a draft is stamped as such), in
    ``language`` or else the invoice's own language, else the default
    invoice language of the settings. Always renders: ``invoice_pdf``
    (``bridge.pdf.cache``) is the cached way."""
    html = environment().get_template(TEMPLATE).render(invoice_context(session, invoice, language))
    return html_to_pdf(html)


def render_credit_note_pdf(
    session: Session, note: CreditNote, language: str | None = None
) -> bytes:
    """The PDF of a credit note, in the invoice's language unless ``language``
    says otherwise: the same parties and legal identity as the invoice, the
    corrected invoice's number and issue date, and the note's stored net,
    VAT and total."""
    settings = get_settings(session)
    invoice = note.invoice
    lang = resolve_language(invoice, settings, language)
    words = Words(lang, note.currency, settings.timezone)
    _ = words._
    taxes = tax_summary(session, invoice)
    if note.amount == invoice.total:
        rates = [(tax, tax.amount) for tax in taxes]  # the whole invoice: its own split
    elif len(taxes) == 1:
        rates = [(taxes[0], note.tax)]
    else:
        rates = []
    stand_in = Invoice(
        number=note.number,
        status=InvoiceStatus.OPEN,
        currency=note.currency,
        language=lang,
        note=note.reason,
        subtotal=note.subtotal,
        tax=note.tax,
        total=note.amount,
        amount_paid=0,
        amount_refunded=0,
        discount=0,
        issue_date=note.issue_date,
        created_at=note.created_at,
    )
    label = _("Credit on invoice {number}").format(number=invoice.number)
    context = _context(
        settings,
        stand_in,
        invoice.client,
        [LineData(label, 1000, note.subtotal, note.subtotal)],
        [tax for tax, _amount in rates],
        _invoice_fields(session),
        lang,
        sample=False,
    )
    rows = [(_("Subtotal"), note.subtotal, "")]
    for tax, amount in rates:
        rows.append((tax_label(tax, words.l10n), amount, ""))
    if not rates:
        rows.append((_("Tax"), note.tax, ""))
    rows.append((_("Total credited"), note.amount, "due"))
    details = []
    for name, value in (
        (_("Credit note number"), note.number),
        (_("Issue date"), words.date(note.issue_date)),
        (_("Corrects invoice"), invoice.number or ""),
        (_("Invoice date"), words.date(invoice.issue_date)),
    ):
        details += [layout.Cell(name, "label"), layout.Cell(value)]
    exemptions = legal.mentions(
        settings, invoice.client, {tax.exemption for tax, _a in rates}, words.l10n, note.currency
    ).exemptions
    context.update(
        title=_("Credit note"),
        number=note.number,
        stamp=None,
        details=details,
        totals=_total_blocks(rows, words),
        legal=[layout.Cell(line) for line in exemptions],
        note=_typed_text(note.reason, _("Reason")),
    )
    return html_to_pdf(environment().get_template(TEMPLATE).render(context))


def render_sample_pdf(session: Session, language: str | None = None) -> bytes:
    """A sample invoice with the business's current branding and invoice
    settings, for *Preview sample*, in ``language`` or else the default
    invoice language. Built in memory: nothing is saved, no number is
    taken."""
    settings = get_settings(session)
    fields = _invoice_fields(session)
    lang = language or settings.invoice_language or "en"
    invoice, client, lines, taxes = _sample_invoice(settings, fields, lang)
    context = _context(settings, invoice, client, lines, taxes, fields, lang, sample=True)
    return html_to_pdf(environment().get_template(TEMPLATE).render(context))


def invoice_context(session: Session, invoice: Invoice, language: str | None = None) -> dict:
    """The variables ``invoices/invoice.html`` is rendered with."""
    settings = get_settings(session)
    return _context(
        settings,
        invoice,
        invoice.client,
        _lines(session, invoice),
        tax_summary(session, invoice),
        _invoice_fields(session),
        resolve_language(invoice, settings, language),
        sample=False,
    )


def resolve_language(
    invoice: Invoice, settings: BusinessSettings, language: str | None = None
) -> str:
    """The language code to render in: the one asked for, else the
    invoice's, else the settings' default."""
    return language or invoice.language or settings.invoice_language or "en"


# Loading -------------------------------------------------------------------------


@dataclass(frozen=True)
class LineData:
    """An invoice line as printed."""

    description: str
    quantity_e3: int  # thousandths (bridge/core/money.py)
    unit_amount: int
    net: int
    period_start: datetime | None = None
    period_end: datetime | None = None
    discount: int = 0  # taken off the amount by a coupon, before taxes
    taxes: tuple[tuple[str, int], ...] = ()  # (name, percentage_e4) of its rates

    @property
    def amount(self) -> int:
        """Quantity x unit price, as ``InvoiceLine.amount``."""
        return line_amount(self.unit_amount, self.quantity_e3)

    @property
    def quantity(self) -> Decimal:
        return quantity_decimal(self.quantity_e3)


def _lines(session: Session, invoice: Invoice) -> list[LineData]:
    # Plain rows, not ORM objects: a 300-line invoice loads in a few
    # milliseconds instead of tens.
    taxes: dict[int, list[tuple[str, int]]] = {}
    for line_id, name, percentage in session.execute(
        select(InvoiceLineTax.line_id, InvoiceLineTax.name, InvoiceLineTax.percentage_e4)
        .join(InvoiceLine, InvoiceLine.id == InvoiceLineTax.line_id)
        .where(InvoiceLine.invoice_id == invoice.id)
        .order_by(InvoiceLineTax.id)
    ):
        taxes.setdefault(line_id, []).append((name, percentage))
    return [
        LineData(*row[1:], taxes=tuple(taxes.get(row[0], ())))
        for row in session.execute(
            select(
                InvoiceLine.id,
                InvoiceLine.description,
                InvoiceLine.quantity_e3,
                InvoiceLine.unit_amount,
                InvoiceLine.net,
                InvoiceLine.period_start,
                InvoiceLine.period_end,
                InvoiceLine.discount,
            )
            .where(InvoiceLine.invoice_id == invoice.id)
            .order_by(InvoiceLine.position, InvoiceLine.id)
        )
    ]


@dataclass(frozen=True)
class FieldDef:
    """A custom field printed on invoices."""

    entity: CustomFieldEntity
    key: str
    label: str
    field_type: CustomFieldType
    options: tuple[str, ...] = ()


def _invoice_fields(session: Session) -> list[FieldDef]:
    return [
        FieldDef(f.entity, f.key, f.label, f.field_type, tuple(f.options or ()))
        for f in session.scalars(
            select(CustomField)
            .where(CustomField.show_on_invoice.is_(True))
            .order_by(CustomField.entity, CustomField.position, CustomField.id)
        )
    ]


# The sample ------------------------------------------------------------------------


def _sample_invoice(
    settings: BusinessSettings, fields: list[FieldDef], language: str
) -> tuple[Invoice, Client, list[LineData], list[TaxSum]]:
    """A transient invoice and client (never added to a session) shaped
    like real ones: a recurring line with its period, a one-time line, 20 %
    VAT, partly paid, the client's invoice fields filled with examples."""
    _ = Localiser(language, settings.timezone).gettext
    now = clock.now()
    business_zone = zone(settings.timezone)
    today = local_date(now, business_zone)
    examples = {
        CustomFieldType.TEXT: _("Sample text"),
        CustomFieldType.NUMBER: "42",
        CustomFieldType.DATE: today.isoformat(),
    }
    client = Client(
        name=_("Sample Client"),
        email="client@example.com",
        company=_("Example Company Ltd"),
        address_line1=_("1 Example Street"),
        address_line2="",
        # TRANSLATORS: a city of the language's country, on the sample invoice.
        city=_("Springfield"),
        postal_code="69001",
        state="",
        country=settings.country or "FR",
        custom_fields={
            f.key: f.options[0] if f.options else examples.get(f.field_type, "")
            for f in fields
            if f.entity == CustomFieldEntity.CLIENT
        },
    )
    # TRANSLATORS: the name of the sales tax on the sample invoice.
    vat = Rate("vat", _("VAT"), 200_000, False)
    recurring, one_time = line_totals(1000, 9_900, [vat]), line_totals(2000, 62_500, [vat])
    lines = [
        LineData(
            _("Website maintenance — Monthly"), 1000, 9_900, recurring.net, now, add_months(now, 1)
        ),
        LineData(_("Website redesign"), 2000, 62_500, one_time.net),
    ]
    totals = invoice_totals([recurring, one_time])
    subtotal, tax = totals.subtotal, totals.tax
    taxes = [TaxSum(vat.name, vat.percentage_e4, vat.inclusive, totals.taxes["vat"])]
    invoice = Invoice(
        number=_sample_number(settings.invoice_number_format, today.year),
        status=InvoiceStatus.OPEN,
        currency=settings.currency or "EUR",
        language=language,
        note=_("Thank you for your business."),
        subtotal=subtotal,
        tax=tax,
        total=subtotal + tax,
        amount_paid=10_000,
        amount_refunded=0,
        issued_at=now,
        issue_date=today,
        due_at=add_local_days(now, settings.invoice_net_terms_days or 0, business_zone),
        created_at=now,
    )
    return invoice, client, lines, taxes


def _sample_number(fmt: str, year: int) -> str:
    try:
        return render_number(fmt, year, 1)
    except (ValueError, KeyError, IndexError):
        return "INV-0001"


# The document ------------------------------------------------------------------------


@dataclass(frozen=True)
class Logo:
    """The logo as a data: URI and its drawn size in points."""

    uri: str
    width: float
    height: float

    @property
    def html_size(self) -> tuple[float, float]:
        """Width and height for the <img> attributes, which are CSS pixels
        (0.75 pt each), whatever unit is written after them."""
        return round(self.width * 4 / 3, 2), round(self.height * 4 / 3, 2)


class Words:
    """The invoice's Localiser bound to its currency, remembering what it
    wrote: a 300-line invoice repeats a handful of prices and periods."""

    def __init__(self, language: str | None, currency: str, tz: str | None = "UTC"):
        self.l10n = Localiser(language, tz)
        self.language = self.l10n.language
        self.currency = currency
        self._ = self.l10n.gettext
        self._money: dict[int, str] = {}
        self._numbers: dict[int | Decimal, str] = {}
        self._periods: dict[tuple[date, date], str] = {}

    def money(self, amount: int) -> str:
        text = self._money.get(amount)
        if text is None:
            text = self._money[amount] = self.l10n.money(amount, self.currency)
        return text

    def date(self, moment: datetime | date | None) -> str:
        return self.l10n.date(moment, "long")

    def period(self, start: datetime, end: datetime) -> str:
        key = (self.l10n.day(start), self.l10n.day(end))
        text = self._periods.get(key)
        if text is None:
            text = self._periods[key] = self.l10n.period(*key)
        return text

    def number(self, value: int | Decimal) -> str:
        text = self._numbers.get(value)
        if text is None:
            text = self._numbers[value] = self.l10n.number(value)
        return text

    def percent(self, percentage_e4: int) -> str:
        return self.l10n.percent(percentage_e4)

    def label_value(self, label: str, value: str) -> str:
        return self.l10n.label_value(label, value)

    def field_value(self, definition: FieldDef, value: object) -> str:
        """A stored custom field value written for people."""
        try:
            if definition.field_type == CustomFieldType.NUMBER:
                return self.number(Decimal(str(value)))
            if definition.field_type == CustomFieldType.DATE:
                return self.date(date.fromisoformat(str(value)))
        except (InvalidOperation, ValueError):
            pass  # a value stored before its field changed: print it as it is
        return str(value)

    def country(self, code: str) -> str:
        return self.l10n.country(code)


def _context(
    settings: BusinessSettings,
    invoice: Invoice,
    client: Client,
    lines: list[LineData],
    taxes: list[TaxSum],
    fields: list[FieldDef],
    language: str,
    *,
    sample: bool,
) -> dict:
    words = Words(language, invoice.currency, settings.timezone)
    mentions = legal.mentions(
        settings, client, {tax.exemption for tax in taxes}, words.l10n, invoice.currency
    )
    company_name = legal.seller_name(settings) if settings.invoice_show_company_name else ""
    brand = _brand_color(settings)
    show_fields = settings.invoice_show_custom_fields
    business_fields = [f for f in fields if f.entity == CustomFieldEntity.BUSINESS]
    client_fields = [f for f in fields if f.entity == CustomFieldEntity.CLIENT]
    # The Discount column shows what the coupon took off each line; it sums
    # to the Discount row of the totals.
    discounted = any(line.discount for line in lines)
    line_head = [words._("Description"), words._("Qty"), words._("Unit price")]
    line_head += [words._("Discount")] if discounted else []
    columns = DISCOUNT_LINE_COLUMNS if discounted else LINE_COLUMNS
    return {
        **words.l10n.template_context(),
        "lang": words.language,
        "font_family": fonts.FAMILY,
        "brand": brand,
        "brand_text": _text_color_on(brand),
        "page": {
            "width": PAGE_WIDTH,
            "height": PAGE_HEIGHT,
            "margin_x": MARGIN_X,
            "margin_top": MARGIN_TOP,
            "margin_bottom": MARGIN_BOTTOM,
            "content_width": CONTENT_WIDTH,
            "cell_padding": CELL_PADDING,
            "font_size": FONT_SIZE,
            "line_height": LINE_HEIGHT,
            "block_padding": BLOCK_PADDING,
            "line_columns": [round(w * 100, 3) for w in columns],
            "total_columns": [round(w * 100, 3) for w in TOTAL_COLUMNS],
        },
        "title": words._("Invoice"),
        "number": invoice.number or "",
        "stamp": _stamp(invoice, words, sample),
        "logo": _logo(settings.logo) if settings.invoice_show_logo and settings.logo_id else None,
        "company_name": company_name,
        "company": _company(
            settings, business_fields if show_fields else [], words, mentions.seller
        ),
        "client": _client(
            client,
            client_fields if show_fields else [],
            words,
            full=settings.invoice_show_client_info,
            identity=mentions.client,
        ),
        "details": _details(invoice, words),
        "line_head": [*line_head, words._("Amount")],
        "line_blocks": _line_blocks(lines, words, discounted),
        "totals": _totals(invoice, taxes, words),
        # Exemption wording and payment terms, under the totals (legal.mentions).
        "legal": [layout.Cell(line) for line in mentions.exemptions + mentions.terms],
        "note": _typed_text(invoice.note, words._("Note")),
        "footer": _typed_text(settings.invoice_footer),
        "author": company_name,
    }


def _brand_color(settings: BusinessSettings) -> str:
    color = (settings.brand_color or "").lower()
    if not settings.invoice_show_brand_color:
        return NEUTRAL_COLOR
    if len(color) == 7 and color[0] == "#" and all(c in "0123456789abcdef" for c in color[1:]):
        return color
    return DEFAULT_BRAND_COLOR


def _text_color_on(color: str) -> str:
    """White or near-black, whichever reads better on ``color``
    (WCAG relative luminance)."""

    def channel(pair: str) -> float:
        value = int(pair, 16) / 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(color[i : i + 2]) for i in (1, 3, 5))
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    return "#ffffff" if luminance < 0.179 else "#111827"


def _stamp(invoice: Invoice, words: Words, sample: bool) -> dict | None:
    if sample:
        return {"kind": "sample", "text": words._("SAMPLE")}
    _ = words._
    stamp = {
        InvoiceStatus.PAID: ("paid", _("PAID")),
        InvoiceStatus.VOID: ("void", _("VOID")),
        InvoiceStatus.DRAFT: ("draft", _("DRAFT")),
    }.get(invoice.status)
    return {"kind": stamp[0], "text": stamp[1]} if stamp else None


def _address(owner: BusinessSettings | Client, words: Words) -> list[str]:
    city = " ".join(part for part in (owner.postal_code, owner.city) if part)
    return [
        line
        for line in (
            owner.address_line1,
            owner.address_line2,
            city,
            owner.state,
            words.country(owner.country or ""),
        )
        if line
    ]


def _field_lines(definitions: list[FieldDef], values: dict | None, words: Words) -> list[str]:
    values = values or {}
    return [
        words.label_value(f.label, words.field_value(f, values[f.key]))
        for f in definitions
        if values.get(f.key) not in (None, "")
    ]


def _party(label: str, name: str, lines: list[str]) -> layout.Column:
    column = [layout.Cell(label, "label")]
    if name:
        column.append(layout.Cell(name, "strong"))
    column += [layout.Cell(line) for line in lines]
    return column


def _company(
    settings: BusinessSettings,
    definitions: list[FieldDef],
    words: Words,
    identity: list[str] = (),
) -> layout.Column:
    """The seller: address, contact, VAT number, then the legal identity
    the law asks for (legal form and capital, registration numbers)."""
    lines = _address(settings, words)
    lines += [value for value in (settings.email, settings.phone, settings.website) if value]
    if settings.tax_id:
        lines.append(words.label_value(words._("Tax ID"), settings.tax_id))
    lines += identity
    lines += _field_lines(definitions, settings.custom_fields, words)
    name = legal.seller_name(settings) if settings.invoice_show_company_name else ""
    return _party(words._("From"), name, lines)


def _client(
    client: Client,
    definitions: list[FieldDef],
    words: Words,
    *,
    full: bool,
    identity: list[str] = (),
) -> layout.Column:
    """The client; its legal identity (SIREN, VAT number of a business) is
    printed even when the client's details are hidden: the law wants it."""
    lines = []
    if full:
        lines = [client.company] if client.company else []
        lines += _address(client, words)
        lines += [client.email] if client.email else []
    lines += identity
    lines += _field_lines(definitions, client.custom_fields, words)
    return _party(words._("Bill to"), client.name, lines)


def _details(invoice: Invoice, words: Words) -> layout.Column:
    rows = []
    if invoice.number:
        rows.append((words._("Invoice number"), invoice.number))
    # The issue date fixed at finalization; a draft, not issued yet, shows
    # the local day it was made.
    issue_date = invoice.issue_date or invoice.issued_at or invoice.created_at
    rows.append((words._("Issue date"), words.date(issue_date)))
    if invoice.due_at and invoice.status not in (InvoiceStatus.PAID, InvoiceStatus.VOID):
        rows.append((words._("Due date"), words.date(invoice.due_at)))
    if invoice.status == InvoiceStatus.PAID and invoice.paid_at:
        rows.append((words._("Paid on"), words.date(invoice.paid_at)))
    if invoice.status == InvoiceStatus.VOID and invoice.voided_at:
        rows.append((words._("Voided on"), words.date(invoice.voided_at)))
    column = []
    for label, value in rows:
        column += [layout.Cell(label, "label"), layout.Cell(value)]
    return column


def _widths(fractions: Iterable[float]) -> list[float]:
    """The width text may take in each column, in points."""
    return [f * CONTENT_WIDTH - 2 * CELL_PADDING - WRAP_SLACK for f in fractions]


_LINE_WIDTHS = _widths(LINE_COLUMNS)
_DISCOUNT_LINE_WIDTHS = _widths(DISCOUNT_LINE_COLUMNS)
_TOTAL_WIDTHS = _widths(TOTAL_COLUMNS)


def _line_blocks(
    lines: list[LineData], words: Words, discounted: bool = False
) -> list[list[layout.Column]]:
    if discounted:
        description, quantity, unit, off, amount = _DISCOUNT_LINE_WIDTHS
    else:
        description, quantity, unit, amount = _LINE_WIDTHS
    rows = []
    # Lines not all taxed alike each name their rates (the totals sum per rate).
    mixed = len({line.taxes for line in lines}) > 1
    for line in lines:
        text = line.description
        if line.period_start and line.period_end:
            text += f" ({words.period(line.period_start, line.period_end)})"
        if mixed:
            rates = ", ".join(
                name if names_percentage(name, p) else f"{name} {words.percent(p)}"
                for name, p in line.taxes
            )
            text += f" — {rates or words._('No tax')}"
        row = [
            layout.cells(text, description, FONT_SIZE),
            layout.cells(words.number(line.quantity), quantity, FONT_SIZE),
            layout.cells(words.money(line.unit_amount), unit, FONT_SIZE),
        ]
        if discounted:
            row.append(
                layout.cells(words.money(-line.discount), off, FONT_SIZE)
                if line.discount
                else [layout.BLANK]
            )
        row.append(layout.cells(words.money(line.amount), amount, FONT_SIZE))
        rows.append(tuple(row))
    return layout.stack(rows, BLOCK_LINES)


def _totals(invoice: Invoice, taxes: list[TaxSum], words: Words) -> list[layout.Column]:
    # The lines print quantity x unit price, included taxes inside: the
    # subtotal is their sum (printed_subtotal), and an included tax is shown,
    # not added.
    subtotal = printed_subtotal(invoice, taxes)
    rows: list[tuple[str, int, str]] = [(words._("Subtotal"), subtotal, "")]
    if invoice.discount:
        # A coupon's discount, taken off before the taxes, with its name.
        rows.append((coupons.discount_label(invoice, words.l10n), -invoice.discount, ""))
    for tax in taxes:
        rows.append((tax_label(tax, words.l10n), tax.amount, ""))
    rows.append((words._("Total"), invoice.total, "strong"))
    # Account credit is no money paid: its own rows, apart from the rest.
    from_credit = invoice.paid_from_credit if invoice.id is not None else 0
    if invoice.credited_to_account:
        rows.append((words._("Credited to your account"), invoice.credited_to_account, ""))
    if from_credit:
        rows.append((words._("Paid from account credit"), from_credit, ""))
    rows.append((words._("Amount paid"), invoice.amount_paid - from_credit, ""))
    if invoice.amount_refunded:
        rows.append((words._("Refunded"), invoice.amount_refunded, ""))
    rows.append((words._("Amount due"), invoice.amount_due, "due"))
    return _total_blocks(rows, words)


def _total_blocks(rows: list[tuple[str, int, str]], words: Words) -> list[layout.Column]:
    """The totals table from its (label, amount, style) rows."""
    _, label_width, amount_width = _TOTAL_WIDTHS
    blocks = layout.stack(
        [
            (
                [layout.BLANK],
                layout.cells(label, label_width, FONT_SIZE, style),
                layout.cells(words.money(amount), amount_width, FONT_SIZE, style),
            )
            for label, amount, style in rows
        ],
        max_lines=len(rows) * 10,
    )
    return blocks[0]


def _typed_text(text: str | None, label: str = "") -> layout.Column:
    """Text people typed (a note, the footer), one Cell per line, under
    ``label``; nothing at all when the text is blank."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return []
    column = [layout.Cell(label, "label")] if label else []
    return column + [layout.Cell(line.strip() or layout.BLANK.text) for line in text.split("\n")]


# The logo --------------------------------------------------------------------------

_logo_lock = threading.Lock()
_logos: dict[str, Logo | None] = {}
_MAX_LOGOS = 8


def _logo(stored: StoredFile | None) -> Logo | None:
    """The logo as a data: URI with its drawn size, prepared once per
    distinct file: a large raster is scaled down first, since xhtml2pdf
    would otherwise decode and recompress all of it on every render."""
    if stored is None:
        return None
    key = stored.sha256
    with _logo_lock:
        if key in _logos:
            return _logos[key]
    try:
        logo = _prepare_logo(stored.content_type, stored.data)
    except Exception:  # a logo that cannot be read must not cost the invoice
        log.warning("the logo (file %s) cannot be drawn; leaving it out", stored.id, exc_info=True)
        logo = None
    with _logo_lock:
        if len(_logos) >= _MAX_LOGOS:
            _logos.pop(next(iter(_logos)))
        _logos[key] = logo
    return logo


def _prepare_logo(content_type: str, data: bytes) -> Logo | None:
    max_width, max_height = LOGO_BOX
    if content_type == "image/svg+xml":
        from svglib.svglib import svg2rlg

        drawing = svg2rlg(io.BytesIO(data), resolve_entities=False)
        if drawing is None or not drawing.width or not drawing.height:
            return None
        width, height = float(drawing.width), float(drawing.height)
    else:
        data, width, height = _flat_raster(data)
        content_type = "image/png"
    scale = min(max_width / width, max_height / height, 1.0)
    uri = f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"
    return Logo(uri=uri, width=round(width * scale, 2), height=round(height * scale, 2))


def _flat_raster(data: bytes) -> tuple[bytes, float, float]:
    """A PNG or JPEG as a PNG no larger than the logo box needs, flattened
    onto white (the page is white): ReportLab decodes and recompresses an
    image on every render, and an alpha channel doubles that. Returns the
    PNG and the original size in pixels."""
    from PIL import Image

    limit = (
        int(LOGO_BOX[0] * _LOGO_PIXELS_PER_POINT),
        int(LOGO_BOX[1] * _LOGO_PIXELS_PER_POINT),
    )
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        width, height = float(image.width), float(image.height)
        if image.mode not in ("RGB", "L"):
            rgba = image.convert("RGBA")
            # A transparent margin would only shrink the visible logo.
            box = rgba.getchannel("A").getbbox()
            if box:
                rgba = rgba.crop(box)
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            image = flat
            width, height = float(image.width), float(image.height)
        if image.width > limit[0] or image.height > limit[1]:
            image.thumbnail(limit, Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue(), width, height


# xhtml2pdf -------------------------------------------------------------------------

_setup_lock = threading.Lock()
_setup_done = False


def _setup() -> None:
    global _setup_done
    if _setup_done:
        return
    with _setup_lock:
        if _setup_done:
            return
        fonts.register()
        # Its warnings quote the whole document.
        logging.getLogger("xhtml2pdf").setLevel(logging.ERROR)
        _parse_stylesheets_once()
        _setup_done = True


# Stylesheets parsed by this process, by their text (xhtml2pdf's default
# one, and invoice.css as each business's brand colour makes it).
_STYLESHEETS_KEPT = 64
_parsed_stylesheets: dict[str, object] = {}


def _parse_stylesheets_once() -> None:
    """Have xhtml2pdf parse a stylesheet once per process, not once per
    document: its default stylesheet and the invoice's own rules are a
    tenth of a short invoice's time. Only a block free of at-rules (which
    act on the document being built: page templates, frames, fonts) and of
    custom properties (which the parser records on its builder) is kept;
    the rules parsed are only read afterwards, as they are when one
    document applies them to each of its elements."""
    parse = getattr(pisaContext, "_parseCSSSource", None)
    if parse is None or getattr(parse, "keeps_stylesheets", False):
        return  # another xhtml2pdf: every document parses its own

    def parse_once(context, text, source_name):
        if "@" in text or "--" in text:
            return parse(context, text, source_name)
        parsed = _parsed_stylesheets.get(text)
        if parsed is None:
            parsed = parse(context, text, source_name)
            if len(_parsed_stylesheets) < _STYLESHEETS_KEPT:
                _parsed_stylesheets[text] = parsed
        return parsed

    parse_once.keeps_stylesheets = True
    pisaContext._parseCSSSource = parse_once


def html_to_pdf(html: str) -> bytes:
    """``html`` (from the invoice template) as PDF bytes."""
    _setup()
    out = io.BytesIO()
    status = pisa.pisaDocument(html, dest=out, encoding="utf-8", resource_policy=_POLICY)
    if status.err:
        raise PdfRenderError(f"xhtml2pdf reported {status.err} error(s) rendering an invoice")
    return out.getvalue()
