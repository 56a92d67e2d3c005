"""Hub benchmark: the server time of the Hub's client list and invoice list
pages on PostgreSQL, next to the JSON API's answer to the same query in the
same run, and the SQL statements each page costs.

Run it from the repository root (PostgreSQL must be reachable)::

    .venv/bin/python bench/hub.py                       # 10,000 clients, 100,000 invoices
    .venv/bin/python bench/hub.py --clients 50000 --invoices 500000 --runs 100
    .venv/bin/python bench/hub.py --help

What it does:

1. Creates a scratch database ``bridge_bench_<random>`` on the server of
   ``--database-url`` (an admin connection only), migrates it, sets the
   currency (EUR), and makes a staff user (logged in to the Hub by its login
   form, like a browser) and an API token.
2. Loads a small business first (10 clients, 100 invoices) and counts the
   SQL statements of every measured page (``before_cursor_execute`` on the
   app's engine); then bulk-loads the rest (``INSERT ... SELECT`` over
   ``generate_series``: ``--clients`` clients with 0-3 sites, stored MRR and
   net billing, ``--invoices`` invoices spread over them, 2 % drafts, 10 %
   open, 80 % paid, the rest void or uncollectible), ``VACUUM ANALYZE``, and
   counts again: the counts must be the same (nothing per row).
3. Times each page ``--runs`` times after a warm-up, in process (Flask test
   client: the whole request, templates included, without HTTP): the Hub's
   page and the API's JSON for the same query, side by side:

   - clients, default sort (name), page 1 and a page in the middle;
   - clients sorted by MRR, page 1 and random pages;
   - clients, a search (``q=an``);
   - invoices, page 1 and random pages; filtered by status (open); one
     client's invoices (the client page's *invoices* tab next to
     ``/api/v1/invoices?client_id=``).
4. Prints how busy the machine was (load average: other processes take
   CPU from the app and PostgreSQL, and the times grow with them; the ratio
   Hub / API travels better), p50 / p95 / max in ms, the ratio Hub p50 /
   API p50, the SQL
   statements per page (small and full business), and checks the targets:
   every Hub list page p95 < 50 ms, and the same number of statements with
   10 clients as with ``--clients``, on page 1 as on a later page. Drops the
   scratch database, also on error or Ctrl-C. Exit status 1 if a target is
   missed.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, event, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bridge  # noqa: E402
from bridge import db, migrate  # noqa: E402
from bridge.auth.accounts import create_staff_user, create_token  # noqa: E402
from bridge.auth.secrets import SecretBox  # noqa: E402
from bridge.billing import business  # noqa: E402
from bridge.models import Role  # noqa: E402

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BENCH_SECRET_KEY = "bench-secret-key"  # noqa: S105 (a scratch database, dropped at the end)
BENCH_EMAIL = "bench@agency.example"
BENCH_PASSWORD = "bench-password-1"  # noqa: S105
TARGET_P95_MS = 50.0
SMALL_CLIENTS, SMALL_INVOICES = 10, 100
HUB_PER_PAGE = 25  # the Hub's page size (clients and invoices)
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def scratch_url(admin_url: str) -> tuple[str, str]:
    name = f"bridge_bench_{secrets.token_hex(4)}"
    url = make_url(db.normalize_url(admin_url)).set(database=name)
    return name, url.render_as_string(hide_password=False)


# Loading ---------------------------------------------------------------------------

NAMES = (
    "Anna Martin|Daniel Dubois|Jean Laurent|Hannah Schmidt|Ivan Rossi|Susan Garcia|"
    "Marie Kowalski|Lucas Jansen|Chloe Hansen|Olivia Moreau|Noah Weber|Emma Costa|"
    "Paul Silva|Sophie Lind|Hugo Quinn|Lea Walsh|Thomas Byrne|Giulia Nagy|Pedro Berg"
)


def setup_business(database: db.Database) -> str:
    """Currency, a staff user and an API token (returned)."""
    with database.session() as s:
        business.set_currency(s, "EUR", confirm=True)
        user = create_staff_user(s, email=BENCH_EMAIL, password=BENCH_PASSWORD, name="Bench")
        _, token = create_token(s, user, name="bench")
    return token


def add_clients(database: db.Database, count: int) -> None:
    """``count`` more clients (varied names, so ``q=an`` matches a share),
    0-3 sites each, with stored MRR and net billing."""
    secret = SecretBox(None, BENCH_SECRET_KEY).encrypt("bbs_" + secrets.token_urlsafe(32))
    with database.engine.begin() as conn:
        role = conn.scalar(select(Role.id).where(Role.is_default.is_(True)))
        first = conn.scalar(text("SELECT coalesce(max(id), 0) FROM clients"))
        conn.execute(
            text(
                """
                WITH names AS (SELECT string_to_array(:names, '|') AS a),
                g AS (SELECT g, names.a[1 + (g * 7) % array_length(names.a, 1)] || ' ' || g
                        AS name, 'c' || g || '@client.example' AS email
                      FROM generate_series(:first + 1, :first + :n) AS g, names)
                INSERT INTO clients (name, email, email_key, company, search_text,
                    address_line1, address_line2, city, postal_code, state, country, status,
                    role_id, custom_fields, mrr, net_billing, net_billing_before_tax,
                    created_at)
                SELECT name, email, email, 'Company ' || g, lower(name || ' ' || email
                    || ' company ' || g), '', '', '', '', '', 'FR',
                    (ARRAY['active', 'active', 'pending', 'inactive'])[1 + g % 4], :role, '{}',
                    (g * 7919) % 50000, (g * 104729) % 900000, (g * 104729) % 750000,
                    now() - (g % 1000) * interval '1 day'
                FROM g
                """
            ),
            {"names": NAMES, "first": first, "n": count, "role": role},
        )
        conn.execute(
            text(
                """
                INSERT INTO sites (public_id, client_id, name, url, secret_encrypted,
                    secret_rotated_at, disabled, created_at)
                SELECT 'site_' || md5(c.id || '-' || n), c.id, 'Site ' || n,
                    'https://s' || c.id || '-' || n || '.example.net', :secret, now(), false,
                    now()
                FROM clients c CROSS JOIN generate_series(1, 3) AS n
                WHERE c.id > :first AND n <= c.id % 4
                """
            ),
            {"first": first, "secret": secret},
        )


def add_invoices(database: db.Database, count: int) -> None:
    """``count`` more invoices, spread over every client."""
    with database.engine.begin() as conn:
        first = conn.scalar(text("SELECT coalesce(max(id), 0) FROM invoices"))
        conn.execute(
            text(
                """
                WITH c AS (SELECT min(id) AS first, count(*) AS n FROM clients),
                base AS (
                    SELECT g, c.first + (g::bigint * 104729) % c.n AS client_id,
                        random() AS r, 1000 + (g::bigint * 37) % 90000 AS subtotal,
                        now() - random() * interval '1095 days' AS created
                    FROM generate_series(:first + 1, :first + :n) AS g, c
                )
                INSERT INTO invoices (number, client_id, status, billing_reason, currency,
                    language, note, tax_rate_ids, subtotal, tax, total, amount_paid,
                    amount_refunded, payment_state, disputed, hosted_token, issued_at,
                    issue_date, due_at, created_at, overdue_reminders_sent)
                SELECT CASE WHEN r < 0.02 THEN NULL ELSE 'INV-' || g END, client_id,
                    CASE WHEN r < 0.02 THEN 'draft' WHEN r < 0.12 THEN 'open'
                        WHEN r < 0.92 THEN 'paid' WHEN r < 0.96 THEN 'void'
                        ELSE 'uncollectible' END,
                    'manual', 'EUR', 'en', '', '[]', subtotal, subtotal / 5,
                    subtotal + subtotal / 5,
                    CASE WHEN r >= 0.12 AND r < 0.92 THEN subtotal + subtotal / 5 ELSE 0 END,
                    0, 'none', false, md5(g::text || 'hub-bench'),
                    CASE WHEN r < 0.02 THEN NULL ELSE created END,
                    CASE WHEN r < 0.02 THEN NULL ELSE (created AT TIME ZONE 'UTC')::date END,
                    CASE WHEN r < 0.02 THEN NULL ELSE created + interval '14 days' END,
                    created, 0
                FROM base
                """
            ),
            {"first": first, "n": count},
        )


def analyze(database: db.Database) -> None:
    with database.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))


# Measuring ---------------------------------------------------------------------------


def timed(function: Callable[[], object], runs: int, warmup: int = 3) -> list[float]:
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


class Bench:
    """The app, a Hub session and an API token, and an SQL statement counter."""

    def __init__(self, url: str, token: str):
        self.app = bridge.create_app({"DATABASE_URL": url, "SECRET_KEY": BENCH_SECRET_KEY})
        self.hub = self.app.test_client()
        self.api = self.app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"}
        self.statements = 0
        event.listen(self.engine, "before_cursor_execute", self._count)
        login = self.hub.get("/login").get_data(as_text=True)
        response = self.hub.post(
            "/login",
            data={
                "email": BENCH_EMAIL,
                "password": BENCH_PASSWORD,
                "csrf_token": CSRF.search(login).group(1),
            },
        )
        assert response.status_code == 302, response.get_data(as_text=True)[:500]

    @property
    def engine(self):
        return self.app.extensions["bridge.db"].engine

    def _count(self, *_args):
        self.statements += 1

    def get_hub(self, path: str) -> None:
        response = self.hub.get(path)
        assert response.status_code == 200, (path, response.status_code)

    def get_api(self, path: str) -> None:
        response = self.api.get(path, headers=self.headers)
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:300])

    def count(self, get: Callable[[str], None], path: str) -> int:
        get(path)  # warm: caches, the token's "last used" write
        self.statements = 0
        get(path)
        return self.statements

    def close(self) -> None:
        self.app.extensions["bridge.db"].dispose()


def pages(database: db.Database, rng: random.Random) -> list[tuple[str, Callable, Callable]]:
    """(label, Hub path maker, API path maker) of every measured page; a
    maker takes ``late`` (False: page 1 / the first of its kind; True: a
    random later page)."""
    with database.engine.connect() as conn:
        n_clients = conn.scalar(text("SELECT count(*) FROM clients"))
        n_invoices = conn.scalar(text("SELECT count(*) FROM invoices"))
        n_open = conn.scalar(text("SELECT count(*) FROM invoices WHERE status = 'open'"))
        busiest = conn.scalar(
            text("SELECT client_id FROM invoices GROUP BY client_id ORDER BY count(*) DESC LIMIT 1")
        )

    def page_of(total: int, late: bool) -> int:
        last = max(1, -(-total // HUB_PER_PAGE))
        return rng.randint(2, last) if late and last > 1 else 1

    n = HUB_PER_PAGE
    return [
        (
            "clients, by name",
            lambda late: f"/clients?page={page_of(n_clients, late)}",
            lambda late: f"/api/v1/clients?per_page={n}&page={page_of(n_clients, late)}",
        ),
        (
            "clients, by MRR",
            lambda late: f"/clients?sort=-mrr&page={page_of(n_clients, late)}",
            lambda late: f"/api/v1/clients?sort=-mrr&per_page={n}&page={page_of(n_clients, late)}",
        ),
        (
            "clients, search q=an",
            lambda late: f"/clients?q=an&page={2 if late else 1}",
            lambda late: f"/api/v1/clients?q=an&per_page={n}&page={2 if late else 1}",
        ),
        (
            "invoices",
            lambda late: f"/invoices?page={page_of(n_invoices, late)}",
            lambda late: f"/api/v1/invoices?per_page={n}&page={page_of(n_invoices, late)}",
        ),
        (
            "invoices, status open",
            lambda late: f"/invoices?status=open&page={page_of(n_open, late)}",
            lambda late: f"/api/v1/invoices?status=open&per_page={n}&page={page_of(n_open, late)}",
        ),
        (
            "one client's invoices (client page tab)",
            lambda late: f"/clients/{busiest}?tab=invoices",
            lambda late: f"/api/v1/invoices?client_id={busiest}&per_page=100",
        ),
    ]


def count_statements(bench: Bench, database: db.Database) -> dict[str, tuple[int, int]]:
    """SQL statements of each Hub page: (page 1, a later page)."""
    rng = random.Random(3)
    return {
        label: (bench.count(bench.get_hub, hub(False)), bench.count(bench.get_hub, hub(True)))
        for label, hub, _api in pages(database, rng)
    }


def measure(bench: Bench, database: db.Database, runs: int) -> list[tuple[str, list, list]]:
    rng = random.Random(7)
    results = []
    for label, hub, api in pages(database, rng):
        for late in (False, True):
            if late and label.startswith("one client"):
                continue
            name = f"{label}, {'random page' if late else 'page 1'}"
            if label.startswith("one client"):
                name = label
            hub_ms = timed(lambda hub=hub, late=late: bench.get_hub(hub(late)), runs)
            api_ms = timed(lambda api=api, late=late: bench.get_api(api(late)), runs)
            results.append((name, hub_ms, api_ms))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--clients", type=int, default=10_000, help="default 10,000")
    parser.add_argument("--invoices", type=int, default=100_000, help="default 100,000")
    parser.add_argument("--runs", type=int, default=40, help="timed runs of each page")
    args = parser.parse_args(argv)
    if args.clients < SMALL_CLIENTS or args.invoices < SMALL_INVOICES:
        parser.error(f"at least {SMALL_CLIENTS} clients and {SMALL_INVOICES} invoices")
    if args.runs < 5:
        parser.error("--runs must be at least 5")

    admin = create_engine(db.normalize_url(args.database_url), isolation_level="AUTOCOMMIT")
    name, url = scratch_url(args.database_url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    print(f"database:   {name} (dropped at the end)")
    bench = None
    try:
        database = db.Database(url)
        migrate.upgrade(database.engine)
        token = setup_business(database)
        add_clients(database, SMALL_CLIENTS)
        add_invoices(database, SMALL_INVOICES)
        analyze(database)
        bench = Bench(url, token)
        small = count_statements(bench, database)
        started = time.perf_counter()
        add_clients(database, args.clients - SMALL_CLIENTS)
        add_invoices(database, args.invoices - SMALL_INVOICES)
        analyze(database)
        print(
            f"loaded:     {args.clients} clients, {args.invoices} invoices "
            f"in {time.perf_counter() - started:.1f} s"
        )
        full = count_statements(bench, database)
        results = measure(bench, database, args.runs)
    finally:
        if bench is not None:
            bench.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    print()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"machine:    {os.cpu_count()} cores, load average {load} (1, 5, 15 min) at the end")
    print(
        f"{'page (Hub vs API, same query)':<46}{'runs':>5}{'Hub p50':>9}{'Hub p95':>9}"
        f"{'Hub max':>9}{'API p50':>9}{'API p95':>9}{'Hub/API':>9}"
    )
    for label, hub_ms, api_ms in results:
        hub50, api50 = statistics.median(hub_ms), statistics.median(api_ms)
        print(
            f"{label:<46}{len(hub_ms):>5}{hub50:>9.1f}{p95(hub_ms):>9.1f}{max(hub_ms):>9.1f}"
            f"{api50:>9.1f}{p95(api_ms):>9.1f}{hub50 / api50:>9.2f}"
        )
    print()
    print(f"SQL statements per Hub page: {SMALL_CLIENTS} clients / {args.clients} clients")
    print(f"{'page':<46}{'page 1':>14}{'later page':>14}")
    for label, (first, later) in full.items():
        small_first, small_later = small[label]
        print(f"{label:<46}{f'{small_first} / {first}':>14}{f'{small_later} / {later}':>14}")
    print()
    worst = max(p95(hub_ms) for _label, hub_ms, _api in results)
    constant = all(len({*small[label], *full[label]}) == 1 for label in full)
    checks = [
        (
            f"every Hub list page p95 < {TARGET_P95_MS:.0f} ms",
            worst < TARGET_P95_MS,
            f"{worst:.1f} ms",
        ),
        ("SQL statements per page constant", constant, "same" if constant else "they grow"),
    ]
    for label, ok, value in checks:
        print(f"{label:<46}{value:>14}   {'PASS' if ok else 'MISS'}")
    return 0 if all(ok for _l, ok, _v in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
