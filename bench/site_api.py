"""Site API benchmark: the signed calls of connected sites' WordPress plugins,
next to the same app's no-database endpoint.

Run it from the repository root (PostgreSQL must be reachable)::

    .venv/bin/python bench/site_api.py                  # 10,000 sites, 10 s per measurement
    .venv/bin/python bench/site_api.py --sites 2000 --duration 5
    .venv/bin/python bench/site_api.py --help

What it does:

1. Creates a scratch database ``bridge_bench_<random>`` on the server of
   ``--database-url`` (an admin connection only), migrates it, sets the
   currency (EUR), makes a hosting product with a monthly plan, then
   bulk-loads ``--sites`` clients, each with one connected site (its own
   secret, encrypted as the bridge stores it), one client user (the email
   the plugin asks about) and an active hosting subscription on the site.
2. Counts the SQL statements of each signed call (in process, Flask test
   client, ``before_cursor_execute``) for three different sites: the count
   must be the same whichever site asks.
3. Serves the app with gunicorn as the README runs it (``--workers`` sync
   workers, or gthread with ``--threads`` > 1), through ``bench/_wsgi.py``,
   which adds ``GET /bench/ping`` (the same app without the database).
4. Measures for ``--duration`` seconds each, after a warm-up, with a
   closed-loop Python generator (``--connections`` keep-alive connections)
   that takes the sites in turn, every request signed as the plugin signs
   it (site id, timestamp, nonce, HMAC-SHA256): the baseline ping; each of
   ``GET /api/v1/site/summary``, ``/api/v1/site/access?email=...`` and
   ``/api/v1/site/hosting-plan``; and the three mixed, as plugins call them.
5. Prints requests/s, p50 / p95 / p99 latency, the CPU time per request of
   gunicorn's workers, the PostgreSQL backends and the generator, and the
   statements per request; targets (issue 18): the mixed site API >= 500
   requests/s and p95 < 50 ms, statements constant per call.
6. Stops gunicorn and drops the scratch database, also on error or Ctrl-C.

The generator runs on the same machine as gunicorn and PostgreSQL and takes
CPU from them: requests/s is a floor; the CPU time per request travels
between machines.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random
from urllib.parse import quote

from sqlalchemy import event, insert, select, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))

import api as bench_api  # noqa: E402 (bench/api.py: database, server, generator, CPU meter)

import bridge  # noqa: E402
from bridge import db, migrate  # noqa: E402
from bridge.auth import signatures  # noqa: E402
from bridge.auth.secrets import SecretBox  # noqa: E402
from bridge.billing import catalog  # noqa: E402
from bridge.billing.business import set_currency  # noqa: E402
from bridge.models import (  # noqa: E402
    Client,
    IntervalUnit,
    PlanKind,
    ProductCategory,
    Role,
    Site,
    Subscription,
    SubscriptionStatus,
    User,
    UserKind,
)

TARGET_RPS = 500
TARGET_P95_MS = 50.0
ENDPOINTS = {
    "summary": "/api/v1/site/summary",
    "access": "/api/v1/site/access?email={email}",
    "hosting plan": "/api/v1/site/hosting-plan",
}
HOSTING_AMOUNT = 2_900


# Data -------------------------------------------------------------------------


def load_data(engine: Engine, count: int, seed: int) -> list[dict]:
    """``count`` clients, each with a site, a client user and a hosting
    subscription on the site. Returns each site's id, secret and user email."""
    rng = Random(seed)
    now = datetime.now(UTC)
    with Session(engine) as session:
        set_currency(session, "EUR", confirm=True)
        product = catalog.create_product(
            session, name="Managed hosting", category=ProductCategory.HOSTING
        )
        plan_id = catalog.create_plan(
            session,
            product,
            name="Monthly",
            kind=PlanKind.RECURRING,
            amount=HOSTING_AMOUNT,
            interval_unit=IntervalUnit.MONTH,
            interval_count=1,
        ).id
        session.commit()
        role_id = session.scalar(select(Role.id).where(Role.is_default))

    box = SecretBox(None, bench_api.BENCH_SECRET_KEY)
    rows = bench_api.client_rows(count, rng, role_id, now)
    sites = []
    with engine.begin() as conn:
        for start in range(0, count, bench_api.BATCH):
            conn.execute(insert(Client.__table__), rows[start : start + bench_api.BATCH])
        ids = dict(conn.execute(select(Client.email_key, Client.id)).all())
        site_rows, user_rows = [], []
        for row in rows:
            secret = "bbs_" + secrets.token_urlsafe(32)
            public_id = f"site_{rng.getrandbits(96):024x}"
            slug = row["email_key"].split("@")[0].replace(".", "-")
            sites.append({"id": public_id, "secret": secret, "email": row["email"]})
            site_rows.append(
                {
                    "public_id": public_id,
                    "client_id": ids[row["email_key"]],
                    "name": row["company"],
                    "url": f"https://{slug}.example.net",
                    "secret_encrypted": box.encrypt(secret),
                    "secret_rotated_at": row["created_at"],
                    "disabled": False,
                    "created_at": row["created_at"],
                }
            )
            user_rows.append(
                {
                    "kind": UserKind.CLIENT,
                    "email": row["email"],
                    "email_key": row["email_key"],
                    "name": row["name"],
                    "client_id": ids[row["email_key"]],
                    "created_at": row["created_at"],
                }
            )
        for start in range(0, count, bench_api.BATCH):
            conn.execute(insert(Site.__table__), site_rows[start : start + bench_api.BATCH])
            conn.execute(insert(User.__table__), user_rows[start : start + bench_api.BATCH])
        site_ids = conn.execute(select(Site.id, Site.client_id)).all()
        subscriptions = [
            {
                "client_id": client_id,
                "site_id": site_id,
                "plan_id": plan_id,
                "status": SubscriptionStatus.ACTIVE,
                "quantity_e3": 1000,
                "unit_amount": HOSTING_AMOUNT,
                "currency": "EUR",
                "tax_rate_ids": [],
                "anchor_at": now - timedelta(days=10),
                "current_period_start": now - timedelta(days=10),
                "current_period_end": now + timedelta(days=20),
                "cycles_invoiced": 1,
                "created_at": now - timedelta(days=10),
            }
            for site_id, client_id in site_ids
        ]
        for start in range(0, len(subscriptions), bench_api.BATCH):
            conn.execute(
                insert(Subscription.__table__), subscriptions[start : start + bench_api.BATCH]
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return sites


def path_of(endpoint: str, site: dict) -> str:
    return ENDPOINTS[endpoint].format(email=quote(site["email"], safe=""))


def signed_requests(sites: list[dict], endpoints: list[str]) -> list[tuple[str, dict]]:
    """Every site's calls to ``endpoints``, signed now (valid for
    ``signatures.WINDOW_SECONDS``), the sites in turn."""
    timestamp = int(time.time())
    out = []
    for site in sites:
        for endpoint in endpoints:
            path = path_of(endpoint, site)
            headers = signatures.signed_headers(
                site["id"], site["secret"], "GET", path, timestamp=timestamp
            )
            out.append((path, headers))
    return out


# Statements per request (in process) ------------------------------------------


def count_statements(bench_url: str, sites: list[dict], instance_path: str) -> dict:
    """{endpoint: [statements of each of three sites' call]}."""
    os.environ["BRIDGE_INSTANCE_PATH"] = instance_path
    app = bridge.create_app({"DATABASE_URL": bench_url, "SECRET_KEY": bench_api.BENCH_SECRET_KEY})
    engine = app.extensions["bridge.db"].engine
    statements: list[str] = []

    def on_execute(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", on_execute)
    counts: dict[str, list[int]] = {}
    try:
        client = app.test_client()
        for endpoint in ENDPOINTS:
            counts[endpoint] = []
            for site in (sites[0], sites[0], sites[len(sites) // 2], sites[-1]):
                ((path, headers),) = signed_requests([site], [endpoint])
                statements.clear()
                response = client.get(path, headers=headers)
                if response.status_code != 200:
                    raise RuntimeError(
                        f"{path}: HTTP {response.status_code} {response.data[:300]!r}"
                    )
                counts[endpoint].append(len(statements))
            counts[endpoint] = counts[endpoint][1:]  # the first warmed the caches
    finally:
        app.extensions["bridge.db"].dispose()
    return counts


# Report -----------------------------------------------------------------------


def print_report(args, results: list, counts: dict, load_before: float | None) -> bool:
    cores = os.cpu_count() or 1
    workers = (
        f"{args.workers} gthread workers x {args.threads} threads"
        if args.threads > 1
        else f"{args.workers} sync workers"
    )
    print()
    print(f"server:     gunicorn, {workers}, PostgreSQL on loopback")
    print(
        f"generator:  Python closed loop, {args.connections} connections, "
        f"{args.duration:g} s each, {args.sites:,} sites in turn, every request signed"
    )
    print(f"machine:    {cores} CPU cores shared by the generator, gunicorn and PostgreSQL")
    if load_before is not None:
        print(f"            CPU busy before measuring, server idle: {load_before:.0f}%")
    print()
    header = (
        f"{'endpoint':<44} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'errors':>7} {'gunicorn':>9} {'postgres':>9} {'gen':>6}"
    )
    print(header + "   (CPU ms per request)")
    print("-" * len(header))
    for r in results:
        cpu = " ".join(
            f"{v:>{w}.2f}" if (v := r.cpu_ms.get(g)) is not None else f"{'?':>{w}}"
            for g, w in (("gunicorn", 9), ("postgres", 9), ("generator", 6))
        )
        print(
            f"{r.name:<44} {r.rps:>8.1f} {r.p50_ms:>8.2f} {r.p95_ms:>8.2f} {r.p99_ms:>8.2f} "
            f"{r.errors:>7} {cpu}"
        )
    mixed = results[-1]
    baseline = results[0]
    print()
    print(f"mixed / baseline: {mixed.rps / baseline.rps if baseline.rps else 0:.3f}")
    rps_ok = mixed.rps >= TARGET_RPS
    p95_ok = mixed.p95_ms < TARGET_P95_MS
    print(
        f"mixed site API: {mixed.rps:.0f} req/s (target >= {TARGET_RPS}) "
        f"{bench_api.verdict(rps_ok)}; p95 {mixed.p95_ms:.2f} ms (target < {TARGET_P95_MS:g}) "
        f"{bench_api.verdict(p95_ok)}"
    )
    print()
    print("SQL statements per request (in process; three different sites):")
    constant = True
    for endpoint, numbers in counts.items():
        same = len(set(numbers)) == 1
        constant &= same
        print(f"  {endpoint:<14} {', '.join(map(str, numbers)):<12} {bench_api.verdict(same)}")
    if any(r.errors for r in results):
        print("WARNING: some requests failed (non-2xx or socket errors): see the errors column")
    return rps_ok and p95_ok and constant and not any(r.errors for r in results)


# Main -------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the signed site API against a no-database baseline.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--sites", type=int, default=10_000, help="connected sites")
    bench_api.add_server_options(parser)
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated data")
    args = parser.parse_args(argv)
    if args.sites < 3 or args.workers < 1 or args.connections < 1 or args.duration <= 0:
        parser.error("--sites (>= 3), --workers, --connections and --duration must be positive")
    # One measurement's signatures must stay within the bridge's window.
    if args.warmup + args.duration > signatures.WINDOW_SECONDS - 30:
        parser.error("--warmup + --duration must stay well under the signature window")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, bench_api._on_sigterm)
    admin_url: URL = make_url(db.normalize_url(args.database_url))
    name = f"bridge_bench_{secrets.token_hex(4)}"
    bench_url = admin_url.set(database=name).render_as_string(hide_password=False)
    admin = bench_api.admin_engine(args.database_url)
    engine = server = None
    created = False
    tmpdir = tempfile.mkdtemp(prefix="bridge-bench-")
    try:
        created = True  # before: an interrupted CREATE may still have created it
        bench_api.create_database(admin, name)
        print(f"database:   {name} (dropped at the end)")
        engine = db.make_engine(bench_url)
        migrate.upgrade(engine)
        started = time.perf_counter()
        sites = load_data(engine, args.sites, args.seed)
        print(
            f"loaded:     {len(sites):,} clients, each with a site, a client user and a "
            f"hosting subscription, in {time.perf_counter() - started:.2f} s"
        )
        counts = count_statements(bench_url, sites, tmpdir)

        port = bench_api.free_port()
        server = bench_api.start_server(args, bench_url, tmpdir, port)
        bench_api.wait_healthy(server, port, Path(tmpdir) / "gunicorn.log")
        for path, headers in signed_requests(sites[:1], list(ENDPOINTS)):
            status, body = bench_api.http_get(port, path, headers)
            if status != 200:
                raise RuntimeError(f"GET {path}: HTTP {status} {body[:300]!r}")
        print(f"server:     http://127.0.0.1:{port}, measuring...")
        load_before = bench_api.cpu_busy_percent()

        meter = bench_api.CpuMeter(admin, name, server)
        ping = bench_api.PING_PATH
        results = [
            bench_api.measure(args, "python", port, ping, {}, f"baseline GET {ping}", None, meter)
        ]
        for label in [*ENDPOINTS, "mixed"]:
            endpoints = list(ENDPOINTS) if label == "mixed" else [label]
            requests = signed_requests(sites, endpoints)
            shown = f"site API, {label}" + (" (the three in turn)" if label == "mixed" else "")
            results.append(
                bench_api.measure(
                    args, "python", port, "/", {}, shown, None, meter, requests=requests
                )
            )
        bench_api.stop_server(server)
        met = print_report(args, results, counts, load_before)
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up", file=sys.stderr)
        return 130
    finally:
        if server is not None:
            bench_api.stop_server(server)
        if engine is not None:
            engine.dispose()
        if created:
            bench_api.drop_database(admin, name)
        admin.dispose()
        shutil.rmtree(tmpdir, ignore_errors=True)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
