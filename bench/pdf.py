"""PDF benchmark: invoice rendering time by number of lines, against a
plain single-table rendering of the same lines, and a cached re-download.

Run it from the repository root::

    .venv/bin/python bench/pdf.py                 # 50 runs per size
    .venv/bin/python bench/pdf.py --runs 10 --baseline-runs 3
    .venv/bin/python bench/pdf.py --help

What it does:

1. Builds a temporary SQLite database with the domain functions: an EUR
   business with a logo, address and custom fields, eight plans (recurring
   and one-time), 20 % VAT, and a client named "Café Zoë Łódź Straße".
2. Bills invoices of 10, 100 and 300 lines, finalizes them and records their
   payment (so recurring lines carry their period, as renewals do).
3. Renders each ``--runs`` times with ``render_invoice_pdf`` (after a
   warm-up) and prints the median, the 90th percentile and the CPU time.
4. Renders the same 300 lines the plain way, one table row per invoice
   line in a single table (same template otherwise), ``--baseline-runs``
   times, for comparison in the same process.
5. Times a re-download of an unchanged invoice through ``invoice_pdf``:
   open a session, load the invoice, compute the cache key, return the
   bytes; from memory, then from the disk cache alone.
6. Checks the targets: 10 lines < 40 ms, 300 lines < 600 ms, cached
   re-download < 5 ms.

Wall-clock medians are what the targets are judged on; the CPU column shows
how much of that was this process's own work when the machine is busy
(the load average is printed first).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import xhtml2pdf
from PIL import Image
from pypdf import PdfReader

from bridge import migrate
from bridge.billing import business, catalog, clients, custom_fields, invoices
from bridge.billing.invoices import Item
from bridge.db import Database
from bridge.mail import subscribers
from bridge.models import (
    CustomFieldEntity,
    CustomFieldType,
    IntervalUnit,
    Invoice,
    PaymentMethod,
    PlanKind,
)
from bridge.pdf import PdfCache, invoice_pdf, render_invoice_pdf
from bridge.pdf import render as pdf_render

SIZES = (10, 100, 300)
TARGETS_MS = {10: 40.0, 300: 600.0}
TARGET_CACHED_MS = 5.0

PLANS = (
    # product, plan, kind, amount (cents), interval
    ("Hosting", "Monthly", PlanKind.RECURRING, 2_900, IntervalUnit.MONTH),
    ("Hosting", "Yearly", PlanKind.RECURRING, 29_000, IntervalUnit.YEAR),
    ("Maintenance", "Essential", PlanKind.RECURRING, 4_900, IntervalUnit.MONTH),
    ("Maintenance", "Premium (updates, backups, uptime monitoring)", PlanKind.RECURRING, 14_900,
     IntervalUnit.MONTH),
    ("SEO", "Monthly report", PlanKind.RECURRING, 9_900, IntervalUnit.MONTH),
    ("SEO", "Technical audit", PlanKind.ONE_TIME, 45_000, None),
    ("Development", "Hour of development", PlanKind.ONE_TIME, 8_500, None),
    ("Design", "Logo and brand guidelines", PlanKind.ONE_TIME, 60_000, None),
)  # fmt: skip

# The same lines, the plain way: one row per invoice line in one table.
PLAIN_TEMPLATE = """{% extends "invoices/invoice.html" %}
{% block lines %}
<table class="line-head"><tr>
{% for label in line_head %}
<th width="{{ page.line_columns[loop.index0] }}%">{{ label }}</th>
{% endfor %}
</tr>
{% for line in plain_lines %}
<tr>
<td>{{ line.description }}</td>
<td class="num">{{ line.quantity }}</td>
<td class="num">{{ line.unit }}</td>
<td class="num">{{ line.amount }}</td>
</tr>
{% endfor %}
</table>
{% endblock %}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50, help="renders per size (default 50)")
    parser.add_argument(
        "--baseline-runs",
        type=int,
        default=None,
        help="renders of the plain single-table baseline (default: --runs, at most 10)",
    )
    args = parser.parse_args(argv)
    runs = max(1, args.runs)
    baseline_runs = max(1, args.baseline_runs or min(runs, 10))
    subscribers.register()  # finalizing queues the invoice emails, as in the service

    with tempfile.TemporaryDirectory(prefix="bridge-bench-pdf-") as scratch:
        database = Database(f"sqlite:///{scratch}/bench.sqlite3")
        try:
            migrate.upgrade(database.engine)
            invoice_ids = build(database)
            print(header(runs))
            results = {n: measure_render(database, invoice_ids[n], runs) for n in SIZES}
            baseline = measure_baseline(database, invoice_ids[300], baseline_runs)
            memory = measure_cached(database, invoice_ids[100], runs, PdfCache())
            disk = measure_cached(
                database, invoice_ids[100], runs, None, directory=Path(scratch) / "pdf-cache"
            )
        finally:
            database.dispose()
    return report(results, baseline, baseline_runs, memory, disk)


# The data -------------------------------------------------------------------------


def build(database: Database) -> dict[int, int]:
    """The business, catalog and client, and one paid invoice per size."""
    with database.session() as s:
        business.set_currency(s, "EUR", confirm=True)
        for entity, label, show in (
            (CustomFieldEntity.BUSINESS, "SIRET", True),
            (CustomFieldEntity.BUSINESS, "Internal code", False),
            (CustomFieldEntity.CLIENT, "Purchase order", True),
        ):
            custom_fields.create_field(
                s, entity=entity, label=label, field_type=CustomFieldType.TEXT, show_on_invoice=show
            )
        business.update_settings(
            s,
            {
                "company_name": "Pixel Press Studio",
                "address_line1": "12 rue de la République",
                "city": "Lyon",
                "postal_code": "69002",
                "country": "FR",
                "email": "billing@pixelpress.example",
                "phone": "+33 4 00 00 00 00",
                "website": "https://pixelpress.example",
                "tax_id": "FR12345678901",
                "brand_color": "#7c3aed",
                "invoice_footer": "Bank transfer: IBAN FR76 3000 6000 0112 3456 7890 189\n"
                "Late payment: penalties at three times the legal interest rate.",
                "custom_fields": {"siret": "123 456 789 00012", "internal_code": "X-1"},
            },
        )
        business.set_logo(s, _logo_png(), max_bytes=1024 * 1024)
        products: dict[str, object] = {}
        plans = []
        for product_name, plan_name, kind, amount, unit in PLANS:
            if product_name not in products:
                products[product_name] = catalog.create_product(s, name=product_name)
            plans.append(
                catalog.create_plan(
                    s,
                    products[product_name],
                    name=plan_name,
                    kind=kind,
                    amount=amount,
                    interval_unit=unit,
                    interval_count=1 if unit else None,
                )
            )
        vat = catalog.create_tax_rate(s, name="VAT", percentage="20", inclusive=False)
        client = clients.create_client(
            s,
            name="Café Zoë Łódź Straße",
            email="zoe@example.com",
            company="Zoë & Co",
            address_line1="Ulica Piotrkowska 1",
            city="Łódź",
            postal_code="90-001",
            country="PL",
            custom_fields={"purchase_order": "PO-7781"},
        )
        ids = {}
        for size in SIZES:
            items = [Item(plans[i % len(plans)].id, 1 + i % 3) for i in range(size)]
            invoice = invoices.bill_client(s, client, items, tax_rate_ids=[vat.id])
            invoices.finalize(s, invoice)
            invoices.record_offline_payment(
                s, invoice, amount=invoice.amount_due, method=PaymentMethod.BANK_TRANSFER
            )
            ids[size] = invoice.id
    return ids


def _logo_png() -> bytes:
    """A 600 x 200 two-colour PNG, about what agencies upload."""
    image = Image.new("RGBA", (600, 200), (255, 255, 255, 0))
    for x in range(40, 560):
        for y in range(60, 140):
            image.putpixel((x, y), (124, 58, 237, 255) if (x // 40) % 2 else (17, 24, 39, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# Measuring ----------------------------------------------------------------------------


class Timing:
    def __init__(self, wall_ms: list[float], cpu_ms: list[float], pdf: bytes):
        self.wall = wall_ms
        self.cpu = cpu_ms
        self.pdf = pdf

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def p90(self) -> float:
        ordered = sorted(self.wall)
        return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def timed(action: Callable[[], bytes], runs: int, warmup: int = 2) -> Timing:
    pdf = b""
    for _ in range(warmup):
        pdf = action()
    wall, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        pdf = action()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return Timing(wall, cpu, pdf)


def measure_render(database: Database, invoice_id: int, runs: int) -> Timing:
    with database.session() as s:
        invoice = s.get(Invoice, invoice_id)
        return timed(lambda: render_invoice_pdf(s, invoice), runs)


def measure_baseline(database: Database, invoice_id: int, runs: int) -> Timing:
    template = pdf_render.environment().from_string(PLAIN_TEMPLATE)
    with database.session() as s:
        invoice = s.get(Invoice, invoice_id)

        def plain() -> bytes:
            context = pdf_render.invoice_context(s, invoice)
            words = pdf_render.Words(context["lang"], invoice.currency)
            context["plain_lines"] = [
                {
                    "description": f"{line.description} "
                    f"({words.period(line.period_start, line.period_end)})"
                    if line.period_start and line.period_end
                    else line.description,
                    "quantity": words.number(line.quantity),
                    "unit": words.money(line.unit_amount),
                    "amount": words.money(line.net),
                }
                for line in invoice.lines
            ]
            return pdf_render.html_to_pdf(template.render(context))

        return timed(plain, runs, warmup=1)


def measure_cached(
    database: Database,
    invoice_id: int,
    runs: int,
    cache: PdfCache | None,
    directory: Path | None = None,
) -> Timing:
    """A re-download: a new session, the invoice loaded, the key computed,
    the bytes returned. With ``directory``, each run has a fresh cache on
    that directory, so the bytes come from disk."""
    if cache is not None:
        with database.session() as s:
            invoice_pdf(s, s.get(Invoice, invoice_id), cache=cache)  # the first download renders
    else:
        with database.session() as s:
            invoice_pdf(s, s.get(Invoice, invoice_id), cache=PdfCache(directory))

    def download() -> bytes:
        session = database.sessionmaker()
        try:
            store = cache if cache is not None else PdfCache(directory)
            return invoice_pdf(session, session.get(Invoice, invoice_id), cache=store)
        finally:
            session.close()

    return timed(download, runs)


# The report ---------------------------------------------------------------------------


def header(runs: int) -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"Invoice PDFs: xhtml2pdf {xhtml2pdf.__version__}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {load:.2f}, {runs} runs per size, SQLite\n"
    )


def verdict(value: float, target: float) -> str:
    return "PASS" if value < target else "MISS"


def report(
    results: dict[int, Timing],
    baseline: Timing,
    baseline_runs: int,
    memory: Timing,
    disk: Timing,
) -> int:
    print(
        f"{'invoice':<26}{'median ms':>10}{'p90 ms':>9}{'cpu ms':>9}{'pages':>7}{'KiB':>6}   target"
    )
    misses = 0
    for size, timing in results.items():
        pages = len(PdfReader(io.BytesIO(timing.pdf)).pages)
        target = TARGETS_MS.get(size)
        mark = ""
        if target is not None:
            mark = f"< {target:.0f} ms  {verdict(timing.median, target)}"
            misses += timing.median >= target
        print(
            f"{f'{size} lines':<26}{timing.median:>10.1f}{timing.p90:>9.1f}"
            f"{timing.cpu_median:>9.1f}{pages:>7}{len(timing.pdf) / 1024:>6.0f}   {mark}"
        )
    base_pages = len(PdfReader(io.BytesIO(baseline.pdf)).pages)
    print(
        f"{'300 lines, plain table':<26}{baseline.median:>10.1f}{baseline.p90:>9.1f}"
        f"{baseline.cpu_median:>9.1f}{base_pages:>7}{len(baseline.pdf) / 1024:>6.0f}"
        f"   baseline ({baseline_runs} runs)"
    )
    for label, timing in (
        ("cached re-download, memory", memory),
        ("cached re-download, disk", disk),
    ):
        target_mark = f"< {TARGET_CACHED_MS:.0f} ms  {verdict(timing.median, TARGET_CACHED_MS)}"
        print(
            f"{label:<26}{timing.median:>10.2f}{timing.p90:>9.2f}{timing.cpu_median:>9.2f}"
            f"{'':>7}{len(timing.pdf) / 1024:>6.0f}   {target_mark}"
        )
        misses += timing.median >= TARGET_CACHED_MS
    ratio = results[300].median / results[10].median
    speedup = baseline.median / results[300].median
    print()
    print(f"ratio 300 lines / 10 lines: {ratio:.1f}x (lines grow 30x)")
    print(f"300 lines, plain single table / ours: {speedup:.1f}x")
    print("all targets met" if not misses else f"{misses} target(s) missed")
    return 0 if not misses else 1


if __name__ == "__main__":
    sys.exit(main())
