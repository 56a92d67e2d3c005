"""Metrics benchmark: the overview figures, the 12-month history, the
forecast and the client list sorted by MRR on PostgreSQL, next to a baseline
``SELECT count(*)`` of the subscriptions measured on the same data in the
same run.

Run it from the repository root (PostgreSQL must be reachable)::

    .venv/bin/python bench/metrics.py                # 10,000 clients, 100,000 subscriptions,
                                                     # 1,000,000 invoice lines
    .venv/bin/python bench/metrics.py --scale 0.1    # a tenth of that, quick
    .venv/bin/python bench/metrics.py --help

What it does:

1. Creates a scratch database ``bridge_bench_<random>`` on the server of
   ``--database-url`` (an admin connection only) and migrates it.
2. Loads, in bulk (``INSERT ... SELECT`` over ``generate_series`` and
   executemany of Core inserts; not through the domain, so it is quick):
   ``10,000 x scale`` clients, 24 recurring plans (every interval unit, counts
   1-6), ``100,000 x scale`` subscriptions (80 % active, 5 % past due, 5 %
   pending, 10 % cancelled or expired; anchors spread over three years, the
   current period consistent with the anchor), ``500,000 x scale`` invoices of
   two lines each (``1,000,000 x scale`` lines; 80 % paid, 10 % open, the
   rest draft, void or uncollectible) and credit notes on 1 % of them. Then
   ``bridge.billing.metrics.refresh_all`` computes every client's stored
   figures (its time is printed: what the migration's backfill costs), and
   ``VACUUM ANALYZE``.
3. Times, in process, each ``--runs`` times after a warm-up: the baseline
   ``SELECT count(*) FROM subscriptions``; ``metrics.overview``;
   ``metrics.history`` (12 months); ``metrics.forecast`` (30/60/90 days);
   the 12-month billing preview of the whole business (3 runs) and of one
   client (random clients);
   every client's MRR computed on the fly (``metrics.client_mrrs``: what
   sorting the list by MRR would cost without the stored figures);
   ``clients.list_clients(sort="-mrr")`` for page 1 and for random pages; and
   the same list through the API (``GET /api/v1/clients?sort=-mrr&per_page=50``
   with a bearer token, Flask test client, so the whole request without HTTP).
4. Prints p50 / p95 / max in ms and each figure's p50 as a multiple of the
   baseline's, and checks the targets: overview p50 < 100 ms, client list
   sorted by MRR p95 < 50 ms. Drops the scratch database, also on error or
   Ctrl-C.
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bridge  # noqa: E402
from bridge import db, migrate  # noqa: E402
from bridge.auth.accounts import create_staff_user, create_token  # noqa: E402
from bridge.billing import business, clients, metrics  # noqa: E402
from bridge.models import IntervalUnit, Plan, PlanKind, Product, Role  # noqa: E402

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BENCH_SECRET_KEY = "bench-secret-key"  # noqa: S105 (a scratch database, dropped at the end)
BENCH_PASSWORD = "bench-password-1"  # noqa: S105
TARGET_OVERVIEW_MS = 100.0
TARGET_LIST_P95_MS = 50.0


def scratch_url(admin_url: str) -> tuple[str, str]:
    name = f"bridge_bench_{secrets.token_hex(4)}"
    url = make_url(db.normalize_url(admin_url)).set(database=name)
    return name, url.render_as_string(hide_password=False)


# Loading ---------------------------------------------------------------------------


def load(database: db.Database, scale: float) -> dict:
    n_clients = max(10, int(10_000 * scale))
    n_subscriptions = max(10, int(100_000 * scale))
    n_invoices = max(10, int(500_000 * scale))
    with database.session() as s:
        business.set_currency(s, "EUR", confirm=True)
        role_id = s.scalar(select(Role.id).where(Role.is_default.is_(True)))
        user = create_staff_user(
            s, email="bench@agency.example", password=BENCH_PASSWORD, name="Bench"
        )
        _, token = create_token(s, user, name="bench")
    with database.engine.begin() as conn:
        conn.execute(text("SET LOCAL TIME ZONE 'UTC'"))
        products = conn.execute(
            insert(Product).returning(Product.id),
            [{"name": f"Service {k}", "description": "", "created_at": _now()} for k in range(6)],
        ).scalars()
        products = list(products)
        conn.execute(
            insert(Plan),
            [
                {
                    "product_id": products[k % len(products)],
                    "name": f"{unit.value} x{count}",
                    "kind": PlanKind.RECURRING,
                    "amount": 1000 + 250 * k,
                    "currency": "EUR",
                    "interval_unit": unit,
                    "interval_count": count,
                    "created_at": _now(),
                }
                for k, (unit, count) in enumerate(
                    (unit, count) for unit in IntervalUnit for count in range(1, 7)
                )
            ],
        )
        # Clients: ids in one run, so the rest can pick them by arithmetic.
        conn.execute(
            text(
                """
                INSERT INTO clients (name, email, email_key, company, search_text, address_line1,
                    address_line2, city, postal_code, state, country, status, role_id,
                    custom_fields, mrr, net_billing, net_billing_before_tax, created_at)
                SELECT 'Client ' || g, 'c' || g || '@client.example', 'c' || g || '@client.example',
                    '', 'client ' || g || ' c' || g || '@client.example', '', '', '', '', '', '',
                    (ARRAY['active', 'pending', 'inactive'])[1 + g % 3], :role, '{}', 0, 0, 0,
                    now() - (g % 1000) * interval '1 day'
                FROM generate_series(1, :n) AS g
                """
            ),
            {"role": role_id, "n": n_clients},
        )
        conn.execute(
            text(
                """
                WITH c AS (SELECT min(id) AS first, count(*) AS n FROM clients),
                p AS (SELECT array_agg(id ORDER BY id) AS ids FROM plans),
                base AS (
                    SELECT g, c.first + (g::bigint * 7919) % c.n AS client_id,
                        p.ids[1 + g % array_length(p.ids, 1)] AS plan_id,
                        random() AS r, now() - random() * interval '1095 days' AS anchor
                    FROM generate_series(1, :n) AS g, c, p
                ),
                sized AS (
                    SELECT base.*, plans.amount, plans.interval_unit AS unit,
                        plans.interval_count AS cnt,
                        CASE plans.interval_unit
                            WHEN 'month' THEN make_interval(months => plans.interval_count)
                            WHEN 'year' THEN make_interval(years => plans.interval_count)
                            WHEN 'week' THEN make_interval(weeks => plans.interval_count)
                            ELSE make_interval(days => plans.interval_count) END AS step,
                        CASE plans.interval_unit
                            WHEN 'month' THEN (extract(year FROM age(now(), anchor)) * 12
                                + extract(month FROM age(now(), anchor)))::int
                                / plans.interval_count
                            WHEN 'year' THEN extract(year FROM age(now(), anchor))::int
                                / plans.interval_count
                            WHEN 'week' THEN (extract(epoch FROM now() - anchor)
                                / 604800)::int / plans.interval_count
                            ELSE (extract(epoch FROM now() - anchor) / 86400)::int
                                / plans.interval_count END AS idx
                    FROM base JOIN plans ON plans.id = base.plan_id
                )
                INSERT INTO subscriptions (client_id, plan_id, status, quantity_e3, unit_amount,
                    currency, tax_rate_ids, anchor_at, period_index, current_period_start,
                    current_period_end, cycles_invoiced, cancel_at_period_end, cancelled_at,
                    ended_at, created_at)
                SELECT client_id, plan_id,
                    CASE WHEN r < 0.80 THEN 'active' WHEN r < 0.85 THEN 'past_due'
                        WHEN r < 0.90 THEN 'pending' WHEN r < 0.95 THEN 'cancelled'
                        ELSE 'expired' END,
                    (1 + g % 3) * 1000, amount, 'EUR', '[]',
                    CASE WHEN r >= 0.85 AND r < 0.90 THEN NULL ELSE anchor END,
                    idx, anchor + step * idx, anchor + step * (idx + 1), idx + 1,
                    g % 50 = 0,
                    CASE WHEN r >= 0.90 THEN anchor + step * idx END,
                    CASE WHEN r >= 0.90 THEN anchor + step * idx END,
                    anchor
                FROM sized
                """
            ),
            {"n": n_subscriptions},
        )
        conn.execute(
            text(
                """
                WITH c AS (SELECT min(id) AS first, count(*) AS n FROM clients),
                base AS (
                    SELECT g, c.first + (g::bigint * 104729) % c.n AS client_id, random() AS r,
                        1000 + (g::bigint * 37) % 90000 AS subtotal,
                        now() - random() * interval '1095 days' AS issued
                    FROM generate_series(1, :n) AS g, c
                )
                INSERT INTO invoices (number, client_id, status, billing_reason, currency,
                    language, note, tax_rate_ids, subtotal, tax, total, amount_paid,
                    amount_refunded, payment_state, disputed, hosted_token, issued_at,
                    issue_date, created_at, overdue_reminders_sent, discount)
                SELECT CASE WHEN r < 0.02 THEN NULL ELSE 'INV-' || g END, client_id,
                    CASE WHEN r < 0.02 THEN 'draft' WHEN r < 0.12 THEN 'open'
                        WHEN r < 0.92 THEN 'paid' WHEN r < 0.96 THEN 'void'
                        ELSE 'uncollectible' END,
                    'subscription_cycle', 'EUR', 'en', '', '[]', subtotal, subtotal / 5,
                    subtotal + subtotal / 5,
                    CASE WHEN r >= 0.12 AND r < 0.92 THEN subtotal + subtotal / 5 ELSE 0 END,
                    0, 'none', false, md5(g::text || 'bench'),
                    CASE WHEN r < 0.02 THEN NULL ELSE issued END,
                    CASE WHEN r < 0.02 THEN NULL ELSE (issued AT TIME ZONE 'UTC')::date END,
                    issued, 0, 0
                FROM base
                """
            ),
            {"n": n_invoices},
        )
        conn.execute(
            text(
                """
                INSERT INTO invoice_lines (invoice_id, position, kind, description, quantity_e3,
                    unit_amount, discount, net, tax, total)
                SELECT i.id, pos, 'recurring', 'Line ' || pos, 1000,
                    CASE WHEN pos = 0 THEN i.subtotal / 2 ELSE i.subtotal - i.subtotal / 2 END,
                    0,
                    CASE WHEN pos = 0 THEN i.subtotal / 2 ELSE i.subtotal - i.subtotal / 2 END,
                    CASE WHEN pos = 0 THEN i.tax / 2 ELSE i.tax - i.tax / 2 END,
                    CASE WHEN pos = 0 THEN i.subtotal / 2 + i.tax / 2
                        ELSE i.total - i.subtotal / 2 - i.tax / 2 END
                FROM invoices i CROSS JOIN generate_series(0, 1) AS pos
                """
            )
        )
        conn.execute(
            text(
                """
                INSERT INTO credit_notes (number, invoice_id, client_id, currency, amount,
                    subtotal, tax, reason, issue_date, created_at)
                SELECT 'CN-' || id, id, client_id, 'EUR', total / 4, subtotal / 4,
                    total / 4 - subtotal / 4, 'Goodwill', issue_date, issued_at
                FROM invoices WHERE status = 'paid' AND id % 80 = 0
                """
            )
        )
    counts = {}
    with database.engine.connect() as conn:
        for table in ("clients", "subscriptions", "invoices", "invoice_lines", "credit_notes"):
            counts[table] = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608
    with database.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    started = time.perf_counter()
    with database.session() as s:
        metrics.refresh_all(s)
    counts["refresh_all_s"] = time.perf_counter() - started
    with database.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    counts["token"] = token
    return counts


def _now():
    from bridge.core import clock

    return clock.now()


# Measuring ---------------------------------------------------------------------------


def timed(function: Callable[[], object], runs: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def measure(url: str, token: str, runs: int, n_clients: int) -> dict[str, list[float]]:
    database = db.Database(url)
    results: dict[str, list[float]] = {}
    rng = random.Random(7)
    pages = max(1, n_clients // 50)
    with database.sessionmaker() as s:
        first, last = s.execute(text("SELECT min(id), max(id) FROM clients")).one()

        def baseline():
            s.execute(text("SELECT count(*) FROM subscriptions")).scalar_one()
            s.rollback()

        def call(function):
            def run():
                function()
                s.rollback()

            return run

        results["baseline: SELECT count(*) FROM subscriptions"] = timed(baseline, runs)
        results["overview (metrics.overview)"] = timed(call(lambda: metrics.overview(s)), runs)
        results["MRR alone (metrics.mrr)"] = timed(call(lambda: metrics.mrr(s)), runs)
        results["history, 12 months (metrics.history)"] = timed(
            call(lambda: metrics.history(s)), max(3, runs // 5)
        )
        results["forecast 30/60/90 days (metrics.forecast)"] = timed(
            call(lambda: metrics.forecast(s)), max(3, runs // 5)
        )
        results["billing preview, whole business, 12 months"] = timed(
            call(lambda: metrics.billing_preview(s, detail=False)), 3, warmup=0
        )
        results["billing preview of one client, 12 months"] = timed(
            call(lambda: metrics.billing_preview(s, client_id=rng.randint(first, last))), runs
        )
        results["for comparison: every client's MRR on the fly"] = timed(
            call(lambda: metrics.client_mrrs(s)), max(5, runs // 5)
        )
        results["client list by -mrr, page 1 (domain)"] = timed(
            call(lambda: clients.list_clients(s, sort="-mrr", per_page=50)), runs
        )
        results["client list by -mrr, random page (domain)"] = timed(
            call(
                lambda: clients.list_clients(
                    s, sort="-mrr", per_page=50, page=rng.randint(1, pages)
                )
            ),
            runs,
        )
    database.dispose()

    app = bridge.create_app({"DATABASE_URL": url, "SECRET_KEY": BENCH_SECRET_KEY})
    http = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def api_page(page: int):
        response = http.get(f"/api/v1/clients?sort=-mrr&per_page=50&page={page}", headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)

    results["GET /api/v1/clients?sort=-mrr, page 1 (in process)"] = timed(lambda: api_page(1), runs)
    results["GET /api/v1/clients?sort=-mrr, random page (in process)"] = timed(
        lambda: api_page(rng.randint(1, pages)), runs
    )

    def overview():
        assert http.get("/api/v1/metrics/overview", headers=headers).status_code == 200

    results["GET /api/v1/metrics/overview (in process)"] = timed(overview, runs)
    app.extensions["bridge.db"].dispose()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="fraction of the full data set (1.0: 10,000 clients, 100,000 subscriptions, "
        "1,000,000 invoice lines)",
    )
    parser.add_argument("--runs", type=int, default=50, help="timed runs of each measurement")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 10:
        parser.error("--scale must be above 0 and at most 10")
    if args.runs < 5:
        parser.error("--runs must be at least 5")

    admin = create_engine(db.normalize_url(args.database_url), isolation_level="AUTOCOMMIT")
    name, url = scratch_url(args.database_url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    print(f"database:   {name} (dropped at the end)")
    try:
        database = db.Database(url)
        migrate.upgrade(database.engine)
        started = time.perf_counter()
        loaded = load(database, args.scale)
        database.dispose()
        print(
            f"loaded:     {loaded['clients']} clients, {loaded['subscriptions']} subscriptions, "
            f"{loaded['invoices']} invoices, {loaded['invoice_lines']} invoice lines, "
            f"{loaded['credit_notes']} credit notes in {time.perf_counter() - started:.1f} s"
        )
        print(
            f"refresh_all (every client's stored MRR and net billing): "
            f"{loaded['refresh_all_s']:.2f} s"
        )
        results = measure(url, loaded["token"], args.runs, loaded["clients"])
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    base = statistics.median(results["baseline: SELECT count(*) FROM subscriptions"])
    print()
    print(f"{'measurement':<58}{'runs':>6}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'x base':>8}")
    for label, samples in results.items():
        median = statistics.median(samples)
        print(
            f"{label:<58}{len(samples):>6}{median:>9.1f}{p95(samples):>9.1f}"
            f"{max(samples):>9.1f}{median / base:>8.1f}"
        )
    print()
    overview = statistics.median(results["overview (metrics.overview)"])
    listing = p95(results["GET /api/v1/clients?sort=-mrr, random page (in process)"])
    checks = [
        (f"overview p50 < {TARGET_OVERVIEW_MS:.0f} ms", overview < TARGET_OVERVIEW_MS, overview),
        (
            f"client list by MRR p95 < {TARGET_LIST_P95_MS:.0f} ms (API, random pages)",
            listing < TARGET_LIST_P95_MS,
            listing,
        ),
    ]
    for label, ok, value in checks:
        print(f"{label:<58}{value:>9.1f} ms   {'PASS' if ok else 'MISS'}")
    return 0 if all(ok for _l, ok, _v in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
