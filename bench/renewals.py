"""Renewal benchmark: how fast the scheduler renews and charges due
subscriptions on PostgreSQL, next to a baseline of plain insert transactions
measured on the same database in the same run.

Run it from the repository root (PostgreSQL must be reachable)::

    .venv/bin/python bench/renewals.py                 # 10,000 subscriptions
    .venv/bin/python bench/renewals.py --subscriptions 2000 --charges 200

What it does:

1. Creates a scratch database ``bridge_bench_<random>`` on the server of
   ``--database-url`` (an admin connection only), migrates it, and bulk-loads
   ``--subscriptions`` clients with a saved card, each with a monthly
   subscription whose period ended an hour ago.
2. Baseline: ``--subscriptions`` single-row INSERT transactions (one
   connection, one commit each) into a scratch table.
3. One process: the scheduler's renew job (``scheduler.jobs.renew``: claim
   with ``FOR UPDATE SKIP LOCKED``, renewal invoice, numbering, audit, then
   the off-session charge) with an instant in-process gateway that answers
   every charge at once (no network). Renewals per second = due subscriptions
   / wall time until all are renewed and paid.
4. Two processes: the same, after resetting the data, with two OS processes
   running the renew job at once.
5. Stripe-bound: ``--charges`` invoices charged through the real
   ``StripeGateway`` against a local HTTP stand-in that answers instantly but
   returns 429 to every 10th request; the client-side limiter is on at its
   test-mode default (20 requests/s) and a 429 is retried with the same
   idempotency key. Prints the achieved charge rate.
6. Prints the figures and checks the targets: >= 400 renewals/s with one
   process and >= 0.15 of the baseline rate; two processes >= 1.4x one.
   Drops the scratch database, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import http.server
import json
import multiprocessing
import secrets
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, insert, select, text, update
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge import db, migrate  # noqa: E402
from bridge.auth.secrets import SecretBox  # noqa: E402
from bridge.billing import business, catalog  # noqa: E402
from bridge.billing.clients import search_text  # noqa: E402
from bridge.core import clock
from bridge.models import (  # noqa: E402
    AuditEntry,
    Client,
    IntervalUnit,
    Invoice,
    InvoiceLine,
    NumberSeries,
    Payment,
    PlanKind,
    Role,
)
from bridge.models.subscriptions import Subscription, SubscriptionStatus  # noqa: E402
from bridge.payments.stripe.gateway import StripeFlows  # noqa: E402

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SECRET = "bench-secret-key"  # noqa: S105 (a scratch database, dropped at the end)
STRIPE_KEY = "sk_test_bench"


class InstantGateway(StripeFlows):
    """A Stripe gateway that answers every charge at once, succeeded (no network)."""

    livemode = False

    def __init__(self):
        self.charges = 0
        self._ids = 0

    def create_payment_intent(self, params: dict, idempotency_key: str) -> dict:
        self.charges += 1
        self._ids += 1
        return {
            "id": f"pi_bench_{idempotency_key}",
            "status": "succeeded",
            "amount": params["amount"],
            "customer": params["customer"],
            "metadata": params["metadata"],
        }


# Setup --------------------------------------------------------------------------


def scratch_url(admin_url: str) -> tuple[str, str]:
    name = f"bridge_bench_{secrets.token_hex(4)}"
    url = make_url(db.normalize_url(admin_url)).set(database=name)
    return name, url.render_as_string(hide_password=False)


def admin_engine(admin_url: str):
    return create_engine(db.normalize_url(admin_url), isolation_level="AUTOCOMMIT")


def load(database: db.Database, count: int) -> None:
    """``count`` clients with a saved card and a due monthly subscription."""
    now = clock.now()
    with database.session() as s:
        business.set_currency(s, "EUR", confirm=True)
        settings = business.get_settings(s)
        settings.stripe_secret_key_encrypted = SecretBox(None, SECRET).encrypt(STRIPE_KEY)
        product = catalog.create_product(s, name="Managed hosting")
        plan = catalog.create_plan(
            s,
            product,
            name="Monthly",
            kind=PlanKind.RECURRING,
            amount=2900,
            interval_unit=IntervalUnit.MONTH,
            interval_count=1,
        )
        plan_id = plan.id
        role_id = s.scalar(select(Role.id).where(Role.is_default.is_(True)))
    end = now - timedelta(hours=1)
    start = end - timedelta(days=30)
    with database.engine.begin() as conn:
        for offset in range(0, count, 2000):
            size = min(2000, count - offset)
            clients = [
                {
                    "name": f"Client {n}",
                    "email": f"c{n}@client.example",
                    "email_key": f"c{n}@client.example",
                    "company": "",
                    "search_text": search_text(f"Client {n}", f"c{n}@client.example", ""),
                    "status": "active",
                    "role_id": role_id,
                    "custom_fields": {},
                    "stripe_customer_id": f"cus_bench_{n}",
                    "default_payment_method_id": f"pm_bench_{n}",
                    "created_at": start,
                }
                for n in range(offset, offset + size)
            ]
            ids = conn.execute(insert(Client).returning(Client.id), clients).scalars().all()
            conn.execute(
                insert(Subscription),
                [
                    {
                        "client_id": client_id,
                        "plan_id": plan_id,
                        "status": SubscriptionStatus.ACTIVE,
                        "quantity_e3": 1000,
                        "unit_amount": 2900,
                        "currency": "EUR",
                        "tax_rate_ids": [],
                        "anchor_at": start,
                        "period_index": 0,
                        "current_period_start": start,
                        "current_period_end": end,
                        "cycles_invoiced": 1,
                        "cancel_at_period_end": False,
                        "created_at": start,
                    }
                    for client_id in ids
                ],
            )


def reset(database: db.Database) -> None:
    """Back to every subscription due and nothing invoiced."""
    with database.engine.begin() as conn:
        conn.execute(text("DELETE FROM outbox_messages"))
        conn.execute(text("DELETE FROM payments"))
        conn.execute(text("DELETE FROM invoice_line_taxes"))
        conn.execute(InvoiceLine.__table__.delete())
        conn.execute(Invoice.__table__.delete())
        conn.execute(AuditEntry.__table__.delete())
        conn.execute(NumberSeries.__table__.delete())
        end = clock.now() - timedelta(hours=1)
        conn.execute(
            update(Subscription).values(
                period_index=0,
                cycles_invoiced=1,
                current_period_start=end - timedelta(days=30),
                current_period_end=end,
            )
        )
    with database.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))


# Measurements --------------------------------------------------------------------


def baseline(url: str, count: int) -> float:
    """Plain single-row insert transactions per second (one connection)."""
    engine = db.make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_baseline (id serial PRIMARY KEY, v text)"))
    started = time.perf_counter()
    with engine.connect() as conn:
        for n in range(count):
            conn.execute(text("INSERT INTO bench_baseline (v) VALUES (:v)"), {"v": f"row {n}"})
            conn.commit()
    elapsed = time.perf_counter() - started
    engine.dispose()
    return count / elapsed


def renew_worker(url: str, ready, go, results) -> None:
    from sqlalchemy import event

    from bridge.billing import renewals
    from scheduler.jobs import JobContext, run_job

    database = db.Database(url)
    gateway = InstantGateway()
    ctx = JobContext(database=database, gateway_factory=lambda _s: gateway, batch=50)
    counts = {"statements": 0, "commits": 0}

    @event.listens_for(database.engine, "before_cursor_execute")
    def _statement(*_args):
        counts["statements"] += 1

    @event.listens_for(database.engine, "commit")
    def _commit(*_args):
        counts["commits"] += 1

    # The renew step alone (claim, invoice, number, audit, outbox), before
    # the job's charge step: what it costs until ``renew_due`` returns.
    renew_step = {}
    renew_due = renewals.renew_due

    def measured_renew_due(*args, **kwargs):
        report = renew_due(*args, **kwargs)
        renew_step.update(
            renew_elapsed=time.perf_counter() - started,
            renew_statements=counts["statements"],
            renew_commits=counts["commits"],
        )
        return report

    renewals.renew_due = measured_renew_due
    ready.set()
    go.wait()
    started = time.perf_counter()
    record = run_job(ctx, "renew")
    results.put(
        {
            "elapsed": time.perf_counter() - started,
            "record": record,
            "charges": gateway.charges,
            **counts,
            **renew_step,
        }
    )
    database.dispose()


def run_at_once(target, args: tuple, processes: int, job: str) -> tuple[float, list[dict]]:
    """``processes`` OS processes running ``target(*args, ready, go, results)``,
    started together once each is ready: the wall time from the start until
    the last answered, and each one's result (a job record under "record").
    Raises when a job run failed."""
    ctx = multiprocessing.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    readies = [ctx.Event() for _ in range(processes)]
    workers = [ctx.Process(target=target, args=(*args, ready, go, results)) for ready in readies]
    for worker in workers:
        worker.start()
    for ready in readies:
        ready.wait(120)
    started = time.perf_counter()
    go.set()
    outcomes = [results.get(timeout=3600) for _ in workers]
    wall = time.perf_counter() - started
    for worker in workers:
        worker.join()
    failed = [o["record"] for o in outcomes if not o["record"]["ok"]]
    if failed:
        raise RuntimeError(f"{job} job failed: {failed}")
    return wall, outcomes


def renew_run(url: str, processes: int) -> dict:
    wall, outcomes = run_at_once(renew_worker, (url,), processes, "renew")
    return {
        "wall": wall,
        "renewed": sum(o["record"]["counts"]["renewed"] for o in outcomes),
        "charges": sum(o["charges"] for o in outcomes),
        "per_process": [o["record"]["counts"]["renewed"] for o in outcomes],
        "statements": sum(o["statements"] for o in outcomes),
        "commits": sum(o["commits"] for o in outcomes),
        "renew_wall": max(o["renew_elapsed"] for o in outcomes),
        "renew_statements": sum(o["renew_statements"] for o in outcomes),
        "renew_commits": sum(o["renew_commits"] for o in outcomes),
    }


def check_all_paid(database: db.Database, count: int) -> None:
    with database.session() as s:
        paid = s.scalar(select(func.count()).select_from(Invoice).where(Invoice.status == "paid"))
        charges = s.scalar(select(func.count()).select_from(Payment))
    if paid != count or charges != count:
        raise RuntimeError(f"expected {count} paid renewals, found {paid} ({charges} charges)")


class RateLimitedStripe:
    """An HTTP stand-in for Stripe's PaymentIntent create: instant answers,
    429 on every 10th new request; replays of a key get the first answer."""

    def __init__(self):
        self.requests = 0
        self.rejected = 0
        self.by_key: dict[str, bytes] = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                key = self.headers.get("Idempotency-Key", "")
                with outer.lock:
                    outer.requests += 1
                    if key not in outer.by_key and outer.requests % 10 == 0:
                        outer.rejected += 1
                        body, status = (
                            json.dumps(
                                {"error": {"type": "rate_limit_error", "message": "Too many"}}
                            ).encode(),
                            429,
                        )
                    else:
                        body = outer.by_key.setdefault(
                            key,
                            json.dumps(
                                {
                                    "id": f"pi_{len(outer.by_key) + 1}",
                                    "object": "payment_intent",
                                    "status": "succeeded",
                                }
                            ).encode(),
                        )
                        status = 200
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def stripe_bound(count: int) -> dict:
    """Charges through StripeGateway with the test-mode limiter (20/s)."""
    from bridge.payments.stripe.gateway import StripeGateway

    fake = RateLimitedStripe()
    gateway = StripeGateway(STRIPE_KEY, api_base=fake.url, retry_delay=0.05)
    started = time.perf_counter()
    for n in range(count):
        gateway.create_payment_intent(
            {"amount": 2900, "currency": "eur", "customer": "cus_x", "confirm": True},
            f"bb-invoice-{n}-attempt-1",
        )
    elapsed = time.perf_counter() - started
    fake.server.shutdown()
    return {
        "rate": count / elapsed,
        "limit": gateway.limiter.rate,
        "requests": fake.requests,
        "rejected": fake.rejected,
        "charged": len(fake.by_key),
        "waited": gateway.limiter.waited,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--charges", type=int, default=100)
    args = parser.parse_args(argv)

    admin = admin_engine(args.database_url)
    name, url = scratch_url(args.database_url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    print(f"database:   {name} (dropped at the end)")
    try:
        database = db.Database(url)
        migrate.upgrade(database.engine)
        started = time.perf_counter()
        load(database, args.subscriptions)
        print(
            f"loaded:     {args.subscriptions} due subscriptions in "
            f"{time.perf_counter() - started:.1f} s"
        )
        with database.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))

        base = baseline(url, args.subscriptions)
        one = renew_run(url, 1)
        check_all_paid(database, args.subscriptions)
        reset(database)
        two = renew_run(url, 2)
        check_all_paid(database, args.subscriptions)
        limited = stripe_bound(args.charges)
        database.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    rate_one = one["renewed"] / one["wall"]
    rate_two = two["renewed"] / two["wall"]
    print()
    print(f"{'measurement':<58}{'count':>8}{'seconds':>10}{'per s':>10}")
    print(
        f"{'baseline: single-row insert transactions':<58}{args.subscriptions:>8}"
        f"{args.subscriptions / base:>10.2f}{base:>10.0f}"
    )
    print(
        f"{'renew job, 1 process (renew + instant charge)':<58}{one['renewed']:>8}"
        f"{one['wall']:>10.2f}{rate_one:>10.0f}"
    )
    print(f"{'renew job, 2 processes':<58}{two['renewed']:>8}{two['wall']:>10.2f}{rate_two:>10.0f}")
    print(f"  split between the 2 processes: {two['per_process']}")
    print(
        f"  per renewal (1 process): {one['statements'] / one['renewed']:.1f} SQL statements, "
        f"{one['commits'] / one['renewed']:.1f} commits; "
        f"{one['wall'] / one['renewed'] * 1000:.1f} ms"
    )
    for label, run in (("1 process", one), ("2 processes", two)):
        print(
            f"  renew step alone, {label}: {run['renewed'] / run['renew_wall']:.0f} renewals/s, "
            f"{run['renew_statements'] / run['renewed']:.2f} SQL statements and "
            f"{run['renew_commits'] / run['renewed']:.3f} commits per renewal "
            f"(the rest is the charge step)"
        )
    print()
    ratio = rate_one / base
    scale = rate_two / rate_one
    checks = [
        ("1 process >= 400 renewals/s", rate_one >= 400, f"{rate_one:.0f}/s"),
        ("1 process >= 0.15 x baseline", ratio >= 0.15, f"{ratio:.3f}"),
        ("2 processes >= 1.4 x 1 process", scale >= 1.4, f"{scale:.2f}x"),
    ]
    for label, ok, value in checks:
        print(f"{label:<40}{value:>12}   {'PASS' if ok else 'MISS'}")
    print()
    print(
        f"Stripe-bound: {limited['charged']} charges through StripeGateway, limiter at "
        f"{limited['limit']:.0f}/s (test-mode default), every 10th new request answered 429:"
    )
    print(
        f"  achieved {limited['rate']:.1f} charges/s; {limited['requests']} requests, "
        f"{limited['rejected']} rate-limited and retried with the same key, "
        f"{limited['waited']:.1f} s waited by the limiter"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
