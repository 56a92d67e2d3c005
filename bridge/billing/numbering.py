"""Invoice and credit note numbers: unique and gap-free per series.

A format such as ``INV-{year}-{seq:05}`` gives INV-2026-00001, ... The
series restarts each year when the format contains ``{year}``. The year is
that of the document's issue date, the business's local calendar date (an
invoice issued at 00:30 on 1 January 2027 in Paris is a 2027 invoice
although it is still 2026 in UTC). The counter row is incremented with
``UPDATE ... RETURNING`` inside the finalizing transaction: the row stays
locked until that transaction ends, so two finalizations never get the
same number, and a rolled-back one leaves no gap.
"""

from __future__ import annotations

import re
import string
from datetime import date, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridge.core.errors import Conflict, Invalid
from bridge.models.invoices import CreditNote, Invoice, NumberSeries

ALLOWED_FIELDS = {"year", "seq"}
FORMAT_SETTINGS = {"invoice": "invoice_number_format", "credit_note": "credit_note_number_format"}
MODELS = {"invoice": Invoice, "credit_note": CreditNote}


class NumberFormatCollides(Conflict):
    """The series' next number was issued already (a format saved before
    formats were checked against issued numbers): nothing can be numbered
    until staff change the format in the settings (HTTP 409)."""

    code = "number_format_collides"

    def __init__(self, kind: str, number: str):
        field = FORMAT_SETTINGS[kind]
        what = "invoice" if kind == "invoice" else "credit note"
        super().__init__(
            f"The {what} number format gives {number}, a number already issued: "
            f"change the {what} number format in the settings ({field}).",
            fields={field: [f"Gives a number already issued: {number}."]},
        )
        self.kind = kind
        self.number = number


def check_format(fmt: str, field: str = "invoice_number_format") -> str:
    """A number format: text with ``{seq}`` (optionally zero-padded, ``{seq:05}``)
    and optionally ``{year}``; nothing else in braces."""
    try:
        parts = list(string.Formatter().parse(fmt))
    except ValueError as exc:
        raise Invalid(
            "The number format has unbalanced braces.", fields={field: [str(exc)]}
        ) from exc
    names = [name for _, name, _, _ in parts if name is not None]
    problems = []
    if "seq" not in names:
        problems.append("Must contain {seq}.")
    unknown = sorted(set(names) - ALLOWED_FIELDS)
    if unknown:
        problems.append(f"Unknown field(s): {', '.join(unknown)}. Use {{year}} and {{seq}}.")
    for _, name, spec, conversion in parts:
        if (
            name == "seq"
            and spec
            and not (spec.isdigit() and spec.startswith("0") and int(spec) <= 12)
        ):
            problems.append("Pad the sequence like {seq:05} (at most 12 digits).")
        if name == "year" and spec:
            problems.append("{year} takes no format.")
        if conversion:
            problems.append("Conversions like !r are not allowed.")
    if not problems:
        try:
            if len(render(fmt, 2026, 10**12 - 1)) > 60:
                problems.append("Numbers would be longer than 60 characters.")
        except (ValueError, KeyError, IndexError) as exc:
            problems.append(str(exc))
    if problems:
        raise Invalid("The number format is invalid.", fields={field: problems})
    return fmt


def check_unused(session: Session, kind: str, fmt: str, field: str) -> str:
    """Refuse a format whose series would give a number already issued: an
    issued number that the format renders, with a sequence at or past its
    series' next value (say ``INV-2026-{seq:05}`` while INV-2026-00001 exists
    and its series starts at 1), would make every later finalization fail on
    the unique number. Takes a format ``check_format`` accepted."""
    model = MODELS[kind]
    parts = list(string.Formatter().parse(fmt))
    groups = {"year": r"(?P<year>\d{4})", "seq": r"(?P<seq>\d+)"}
    pattern = ""
    for literal, name, _, _ in parts:
        pattern += re.escape(literal)
        if name:
            # A field used twice matches what it matched the first time.
            pattern += groups[name]
            groups[name] = f"(?P={name})"
    prefix = parts[0][0] if parts else ""
    issued = session.scalars(
        select(model.number).where(
            model.number.is_not(None), model.number.startswith(prefix, autoescape=True)
        )
    )
    for number in issued:
        found = re.fullmatch(pattern, number)
        if found is None:
            continue
        year, seq = int(found.groupdict().get("year") or 0), int(found["seq"])
        if render(fmt, year, seq) != number:
            continue
        # Without {year} in the format, one series for every year.
        if seq >= _next_value(session, series_key(kind, fmt, year)):
            raise Invalid(
                f"This format would give numbers already issued ({number}): "
                f"numbers must stay unique.",
                fields={field: [f"Gives a number already issued: {number}."]},
            )
    return fmt


def _next_value(session: Session, key: str) -> int:
    value = session.scalar(select(NumberSeries.next_value).where(NumberSeries.key == key))
    return 1 if value is None else value


def render(fmt: str, year: int, seq: int) -> str:
    return fmt.format(year=year, seq=seq)


def series_key(kind: str, fmt: str, year: int) -> str:
    """Numbers restart each year only when the year is part of the number."""
    names = {name for _, name, _, _ in string.Formatter().parse(fmt) if name}
    return f"{kind}:{year}" if "year" in names else kind


def next_number(session: Session, kind: str, fmt: str, issue_date: date) -> str:
    """The next number of the ``kind`` series, in the year of ``issue_date``
    (the document's local issue date, never a UTC instant).
    ``NumberFormatCollides`` when that number was issued already: the
    caller's transaction is then rolled back, the series with it."""
    if isinstance(issue_date, datetime) or not isinstance(issue_date, date):
        # A UTC instant's year is the wrong year for a few hours each New
        # Year somewhere: refuse it rather than number by it.
        raise TypeError("next_number takes the local issue date (a date), not a datetime")
    key = series_key(kind, fmt, issue_date.year)
    value = _take(session, key)
    number = render(fmt, issue_date.year, value)
    _require_unissued(session, kind, number)
    return number


def next_numbers(session: Session, kind: str, fmt: str, issue_dates: list[date]) -> list[str]:
    """The next numbers of the ``kind`` series for documents issued on
    ``issue_dates``, in that order: one block per series (per year when the
    format has ``{year}``), each taken with one ``UPDATE ... RETURNING``,
    so the numbers are those ``next_number`` called once per date would
    give, and a rolled-back transaction returns the whole block (no gap).
    ``NumberFormatCollides`` when one of them was issued already."""
    for issue_date in issue_dates:
        if isinstance(issue_date, datetime) or not isinstance(issue_date, date):
            raise TypeError("next_numbers takes local issue dates (dates), not datetimes")
    wanted: dict[str, int] = {}
    for issue_date in issue_dates:
        key = series_key(kind, fmt, issue_date.year)
        wanted[key] = wanted.get(key, 0) + 1
    first: dict[str, int] = {}
    for key, count in wanted.items():
        first[key] = _take(session, key, count)
    numbers = []
    for issue_date in issue_dates:
        key = series_key(kind, fmt, issue_date.year)
        numbers.append(render(fmt, issue_date.year, first[key]))
        first[key] += 1
    model = MODELS[kind]
    with session.no_autoflush:
        issued = session.scalars(select(model.number).where(model.number.in_(numbers))).all()
    if issued:
        taken = set(issued)
        raise NumberFormatCollides(kind, next(n for n in numbers if n in taken))
    return numbers


def check_next(session: Session, kind: str, fmt: str, issue_date: date) -> None:
    """``NumberFormatCollides`` when the next number of the series (not
    taken) was issued already: for callers that do something irreversible
    (a refund at Stripe) before numbering."""
    key = series_key(kind, fmt, issue_date.year)
    _require_unissued(session, kind, render(fmt, issue_date.year, _next_value(session, key)))


def _require_unissued(session: Session, kind: str, number: str) -> None:
    model = MODELS[kind]
    with session.no_autoflush:
        issued = session.scalar(select(model.id).where(model.number == number).limit(1))
    if issued is not None:
        raise NumberFormatCollides(kind, number)


def _take(session: Session, key: str, count: int = 1) -> int:
    """Take ``count`` numbers of the series and return the first."""
    value = _increment(session, key, count)
    if value is None:
        # First number of the series: create the row. Two first numbers at
        # once: one insert wins, the other retries the update.
        try:
            with session.begin_nested():
                session.execute(insert(NumberSeries).values(key=key, next_value=1))
        except IntegrityError:
            pass
        value = _increment(session, key, count)
    return value


def _increment(session: Session, key: str, count: int) -> int | None:
    """Take ``count`` numbers of the series and return the first, or None
    if the series has no row yet."""
    new_next = session.execute(
        update(NumberSeries)
        .where(NumberSeries.key == key)
        .values(next_value=NumberSeries.next_value + count)
        .returning(NumberSeries.next_value)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    return None if new_next is None else new_next - count
