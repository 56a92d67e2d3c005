"""CSV exports an accountant can open: invoices, credit notes, payments, and
clients with their figures.

Rows are read a batch at a time (keyset paging on the id, ``BATCH`` rows a
query) and written out as they come, so an export of any size holds one batch
in memory: the API streams the response, the CLI writes the file as it goes.
Amounts are decimal strings in the currency (``12.50``), dates are the
business's local calendar dates, text is UTF-8 with a header row, quoted by
Python's ``csv`` module (commas, quotes and newlines in names survive).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge.billing.business import get_settings
from bridge.billing.periods import local_date
from bridge.billing.schedule import business_zone
from bridge.core.errors import Invalid
from bridge.core.money import to_decimal
from bridge.models import (
    Client,
    CreditNote,
    Invoice,
    InvoiceLine,
    InvoiceLineTax,
    InvoiceStatus,
    Payment,
    Site,
)

KINDS = ("invoices", "credit_notes", "payments", "clients", "sales_journal")
BATCH = 1000


@dataclass
class Export:
    """An export ready to stream: its header, how many rows, and the rows
    (produced lazily, a batch at a time)."""

    kind: str
    header: list[str]
    total: int
    rows: Iterator[list[str]]


EARLIEST, LATEST = date(1970, 1, 1), date(9998, 12, 31)


def check_range(start: date | None, end: date | None) -> None:
    for key, day in (("from", start), ("to", end)):
        if day is not None and not EARLIEST <= day <= LATEST:
            raise Invalid(f"Dates go from {EARLIEST} to {LATEST}.", fields={key: ["Out of range."]})
    if start is not None and end is not None and start > end:
        raise Invalid(
            "The start of the range is after its end.",
            fields={"from": ["After 'to'."]},
        )


def export(
    session: Session,
    kind: str,
    *,
    start: date | None = None,
    end: date | None = None,
    batch: int = BATCH,
) -> Export:
    """The export ``kind`` for the local dates ``start`` to ``end`` (both
    included; None: unbounded). Invoices and credit notes are chosen by issue
    date, payments by the date they were received; the client list is
    exported whole (its figures are to date). Reading the rows commits the
    session after each batch (``_batches``): give it a session of its own."""
    if kind not in KINDS:
        raise Invalid(f"Export one of: {', '.join(KINDS)}.", fields={"kind": ["Unknown export."]})
    check_range(start, end)
    return _EXPORTS[kind](session, start, end, batch)


def csv_text(header: list[str], rows: Iterator[list[str]], rows_per_chunk: int = 500):
    """The CSV file as text chunks: the header, then ``rows_per_chunk`` rows a chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    pending = 0
    for row in rows:
        writer.writerow(row)
        pending += 1
        if pending >= rows_per_chunk:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()


def _text(value: str | None) -> str:
    """Free text as a cell: one starting like a formula (=, +, -, @, tab, CR)
    is prefixed with an apostrophe, so a spreadsheet shows it, never runs it."""
    value = value or ""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _money(amount: int, currency: str) -> str:
    return str(to_decimal(int(amount), currency))


def _day(moment: datetime | None, tz) -> str:
    return local_date(moment, tz).isoformat() if moment is not None else ""


def _batches(session: Session, query, id_column, batch: int) -> Iterator[list]:
    """The rows of ``query`` (whose first column is ``id_column``) a batch at
    a time, each read in a short transaction of its own. Commits (ends the
    read-only transaction) after each batch: a long export never holds a
    transaction open while its reader is slow (on SQLite that would hold the
    write lock). Export with a session of its own."""
    last = 0
    while True:
        rows = session.execute(query.where(id_column > last).order_by(id_column).limit(batch)).all()
        session.commit()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _between(column, start: date | None, end: date | None) -> list:
    filters = []
    if start is not None:
        filters.append(column >= start)
    if end is not None:
        filters.append(column <= end)
    return filters


def _instants_between(session: Session, column, start: date | None, end: date | None) -> list:
    tz = business_zone(session)
    filters = []
    if start is not None:
        filters.append(column >= datetime.combine(start, time(0), tzinfo=tz))
    if end is not None:
        filters.append(column < datetime.combine(end + timedelta(days=1), time(0), tzinfo=tz))
    return filters


def _percent(percentage_e4: int) -> str:
    value = (Decimal(percentage_e4) / Decimal(10_000)).normalize()
    return f"{value:f}%"


def _invoices(session: Session, start, end, batch) -> Export:
    tz = business_zone(session)
    filters = [
        Invoice.status != InvoiceStatus.DRAFT,
        Invoice.number.is_not(None),
        *_between(Invoice.issue_date, start, end),
    ]
    # One column per tax (name and rate) found on the exported invoices.
    taxes = session.execute(
        select(InvoiceLineTax.name, InvoiceLineTax.percentage_e4)
        .join(InvoiceLine, InvoiceLine.id == InvoiceLineTax.line_id)
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(*filters)
        .distinct()
        .order_by(InvoiceLineTax.name, InvoiceLineTax.percentage_e4)
    ).all()
    tax_keys = [(name, pct) for name, pct in taxes]
    header = [
        "number",
        "issue_date",
        "due_date",
        "client_id",
        "client",
        "status",
        "currency",
        "net",
        *[f"{name} {_percent(pct)}" for name, pct in tax_keys],
        "tax",
        "total",
        "paid",
        "refunded",
    ]
    total = session.scalar(select(func.count()).select_from(Invoice).where(*filters)) or 0
    query = (
        select(
            Invoice.id,
            Invoice.number,
            Invoice.issue_date,
            Invoice.due_at,
            Invoice.client_id,
            Client.name,
            Invoice.status,
            Invoice.currency,
            Invoice.subtotal,
            Invoice.tax,
            Invoice.total,
            Invoice.amount_paid,
            Invoice.amount_refunded,
        )
        .join(Client, Client.id == Invoice.client_id)
        .where(*filters)
    )

    def rows() -> Iterator[list[str]]:
        for chunk in _batches(session, query, Invoice.id, batch):
            amounts: dict[tuple, int] = {}
            if tax_keys:
                for invoice_id, name, pct, amount in session.execute(
                    select(
                        InvoiceLine.invoice_id,
                        InvoiceLineTax.name,
                        InvoiceLineTax.percentage_e4,
                        func.sum(InvoiceLineTax.amount),
                    )
                    .join(InvoiceLine, InvoiceLine.id == InvoiceLineTax.line_id)
                    .where(InvoiceLine.invoice_id.in_([row[0] for row in chunk]))
                    .group_by(
                        InvoiceLine.invoice_id, InvoiceLineTax.name, InvoiceLineTax.percentage_e4
                    )
                ):
                    amounts[(invoice_id, name, pct)] = int(amount)
            for (
                invoice_id,
                number,
                issued,
                due_at,
                client_id,
                client,
                status,
                currency,
                subtotal,
                tax,
                invoice_total,
                paid,
                refunded,
            ) in chunk:
                yield [
                    number,
                    issued.isoformat() if issued else "",
                    _day(due_at, tz),
                    str(client_id),
                    _text(client),
                    status.value,
                    currency,
                    _money(subtotal, currency),
                    *[
                        _money(amounts.get((invoice_id, name, pct), 0), currency)
                        for name, pct in tax_keys
                    ],
                    _money(tax, currency),
                    _money(invoice_total, currency),
                    _money(paid, currency),
                    _money(refunded, currency),
                ]

    return Export("invoices", header, total, rows())


def _credit_notes(session: Session, start, end, batch) -> Export:
    filters = _between(CreditNote.issue_date, start, end)
    header = [
        "number",
        "issue_date",
        "invoice_number",
        "client_id",
        "client",
        "currency",
        "net",
        "tax",
        "total",
        "reason",
    ]
    total = session.scalar(select(func.count()).select_from(CreditNote).where(*filters)) or 0
    query = (
        select(
            CreditNote.id,
            CreditNote.number,
            CreditNote.issue_date,
            Invoice.number,
            CreditNote.client_id,
            Client.name,
            CreditNote.currency,
            CreditNote.subtotal,
            CreditNote.tax,
            CreditNote.amount,
            CreditNote.reason,
        )
        .join(Invoice, Invoice.id == CreditNote.invoice_id)
        .join(Client, Client.id == CreditNote.client_id)
        .where(*filters)
    )

    def rows() -> Iterator[list[str]]:
        for chunk in _batches(session, query, CreditNote.id, batch):
            for _id, number, issued, invoice, client_id, client, cur, net, tax, amt, why in chunk:
                yield [
                    number,
                    issued.isoformat(),
                    invoice or "",
                    str(client_id),
                    _text(client),
                    cur,
                    _money(net, cur),
                    _money(tax, cur),
                    _money(amt, cur),
                    _text(why),
                ]

    return Export("credit_notes", header, total, rows())


def _payments(session: Session, start, end, batch) -> Export:
    tz = business_zone(session)
    received = func.coalesce(Payment.received_at, Payment.created_at)
    filters = _instants_between(session, received, start, end)
    header = [
        "id",
        "date",
        "invoice_number",
        "client_id",
        "client",
        "currency",
        "amount",
        "method",
        "gateway",
        "status",
        "reference",
    ]
    total = session.scalar(select(func.count()).select_from(Payment).where(*filters)) or 0
    query = (
        select(
            Payment.id,
            Payment.received_at,
            Payment.created_at,
            Invoice.number,
            Payment.client_id,
            Client.name,
            Payment.currency,
            Payment.amount,
            Payment.method,
            Payment.gateway,
            Payment.status,
            Payment.reference,
        )
        .join(Invoice, Invoice.id == Payment.invoice_id)
        .join(Client, Client.id == Payment.client_id)
        .where(*filters)
    )

    def rows() -> Iterator[list[str]]:
        for chunk in _batches(session, query, Payment.id, batch):
            for (
                payment_id,
                received_at,
                created_at,
                invoice,
                client_id,
                client,
                cur,
                amount,
                method,
                gateway,
                status,
                reference,
            ) in chunk:
                yield [
                    str(payment_id),
                    _day(received_at or created_at, tz),
                    invoice or "",
                    str(client_id),
                    _text(client),
                    cur,
                    _money(amount, cur),
                    method.value,
                    gateway,
                    status.value,
                    _text(reference),
                ]

    return Export("payments", header, total, rows())


def _clients(session: Session, start, end, batch) -> Export:
    currency = get_settings(session).currency or ""
    header = [
        "id",
        "name",
        "email",
        "company",
        "status",
        "sites",
        "currency",
        "mrr",
        "net_billing",
        "net_billing_before_tax",
    ]
    total = session.scalar(select(func.count()).select_from(Client)) or 0
    sites = (
        select(func.count(Site.id)).where(Site.client_id == Client.id).correlate(Client)
    ).scalar_subquery()
    query = select(
        Client.id,
        Client.name,
        Client.email,
        Client.company,
        Client.status,
        sites,
        Client.mrr,
        Client.net_billing,
        Client.net_billing_before_tax,
    )
    money: Callable[[int], str] = (
        (lambda amount: _money(amount, currency)) if currency else (lambda amount: str(amount))
    )

    def rows() -> Iterator[list[str]]:
        for chunk in _batches(session, query, Client.id, batch):
            for client_id, name, email, company, status, count, mrr, net, before in chunk:
                yield [
                    str(client_id),
                    _text(name),
                    _text(email),
                    _text(company),
                    status.value,
                    str(count),
                    currency,
                    money(mrr),
                    money(net),
                    money(before),
                ]

    return Export("clients", header, total, rows())


# The sales journal ---------------------------------------------------------------

SALES_JOURNAL_HEADER = [
    "journal",
    "date",
    "document",
    "kind",
    "client_id",
    "client",
    "client_account",
    "sales_account",
    "vat_account",
    "vat_rate",
    "currency",
    "net",
    "vat",
    "total",
]


def _rate_key(taxes: list[tuple[int, str]]) -> str:
    """A line's VAT as the journal names it: "20%", "0% franchise", "none"."""
    if not taxes:
        return "none"
    return "+".join(
        _percent(pct) + (f" {exemption}" if exemption else "") for pct, exemption in sorted(taxes)
    )


def _sales_journal(session: Session, start, end, batch) -> Export:
    """France's journal of sales: one row per issued invoice and VAT rate
    (net, VAT and total of the invoice's lines at that rate, as stored),
    then one per credit note and rate, negative; the account codes are the
    settings'. A partial credit note of an invoice with several rates is one
    row, rate "mixed" (its split per rate is not recorded)."""
    settings = get_settings(session)
    accounts = [
        settings.accounting_client_account,
        settings.accounting_sales_account,
        settings.accounting_vat_account,
    ]
    journal = settings.accounting_journal_code
    invoice_filters = [
        Invoice.status != InvoiceStatus.DRAFT,
        Invoice.number.is_not(None),
        *_between(Invoice.issue_date, start, end),
    ]
    note_filters = _between(CreditNote.issue_date, start, end)
    invoices = (
        select(
            Invoice.id,
            Invoice.number,
            Invoice.issue_date,
            Invoice.client_id,
            Client.name,
            Invoice.currency,
        )
        .join(Client, Client.id == Invoice.client_id)
        .where(*invoice_filters)
    )
    notes = (
        select(
            CreditNote.id,
            CreditNote.number,
            CreditNote.issue_date,
            CreditNote.client_id,
            Client.name,
            CreditNote.currency,
            CreditNote.invoice_id,
            CreditNote.amount,
            CreditNote.subtotal,
            CreditNote.tax,
            Invoice.total,
        )
        .join(Client, Client.id == CreditNote.client_id)
        .join(Invoice, Invoice.id == CreditNote.invoice_id)
        .where(*note_filters)
    )

    def split(invoice_ids: list[int]) -> dict[int, dict[str, list[int]]]:
        """Per invoice, per rate: [net, vat] summed from the stored lines."""
        taxes: dict[int, list[tuple[int, str]]] = {}
        amounts: dict[int, int] = {}
        for line_id, pct, exemption, amount in session.execute(
            select(
                InvoiceLineTax.line_id,
                InvoiceLineTax.percentage_e4,
                InvoiceLineTax.exemption,
                InvoiceLineTax.amount,
            )
            .join(InvoiceLine, InvoiceLine.id == InvoiceLineTax.line_id)
            .where(InvoiceLine.invoice_id.in_(invoice_ids))
        ):
            taxes.setdefault(line_id, []).append((pct, exemption))
            amounts[line_id] = amounts.get(line_id, 0) + int(amount)
        result: dict[int, dict[str, list[int]]] = {}
        for line_id, invoice_id, net in session.execute(
            select(InvoiceLine.id, InvoiceLine.invoice_id, InvoiceLine.net)
            .where(InvoiceLine.invoice_id.in_(invoice_ids))
            .order_by(InvoiceLine.invoice_id, InvoiceLine.position, InvoiceLine.id)
        ):
            row = result.setdefault(invoice_id, {}).setdefault(
                _rate_key(taxes.get(line_id, [])), [0, 0]
            )
            row[0] += int(net)
            row[1] += amounts.get(line_id, 0)
        return result

    def row(kind, number, issued, client_id, client, currency, rate, net, vat, sign):
        return [
            journal,
            issued.isoformat(),
            number,
            kind,
            str(client_id),
            _text(client),
            *accounts,
            rate,
            currency,
            _money(sign * net, currency),
            _money(sign * vat, currency),
            _money(sign * (net + vat), currency),
        ]

    def rows() -> Iterator[list[str]]:
        for chunk in _batches(session, invoices, Invoice.id, batch):
            per_rate = split([r[0] for r in chunk])
            for invoice_id, number, issued, client_id, client, currency in chunk:
                for rate, (net, vat) in per_rate.get(invoice_id, {}).items():
                    yield row(
                        "invoice", number, issued, client_id, client, currency, rate, net, vat, 1
                    )
        for chunk in _batches(session, notes, CreditNote.id, batch):
            per_rate = split([r[6] for r in chunk])
            for (
                _id,
                number,
                issued,
                client_id,
                client,
                cur,
                inv,
                amount,
                net,
                vat,
                inv_total,
            ) in chunk:
                rates = per_rate.get(inv, {})
                if amount == inv_total:
                    parts = rates.items()  # the whole invoice: its own split
                elif len(rates) == 1:
                    parts = [(next(iter(rates)), (net, vat))]
                else:
                    parts = [("mixed", (net, vat))]
                for rate, (part_net, part_vat) in parts:
                    yield row(
                        "credit_note",
                        number,
                        issued,
                        client_id,
                        client,
                        cur,
                        rate,
                        part_net,
                        part_vat,
                        -1,
                    )

    total = (
        session.scalar(select(func.count()).select_from(Invoice).where(*invoice_filters)) or 0
    ) + (session.scalar(select(func.count()).select_from(CreditNote).where(*note_filters)) or 0)
    return Export("sales_journal", SALES_JOURNAL_HEADER, total, rows())


_EXPORTS = {
    "sales_journal": _sales_journal,
    "invoices": _invoices,
    "credit_notes": _credit_notes,
    "payments": _payments,
    "clients": _clients,
}
