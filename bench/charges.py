"""Charges benchmark: renewal day's card charges through the scheduler's
collect step, against a local stand-in that answers like Stripe's
PaymentIntent create after a round trip and refuses with 429 past its own
per-second limit, on PostgreSQL.

Run it from the repository root (PostgreSQL must be reachable)::

    .venv/bin/python bench/charges.py                     # 10,000 invoices
    .venv/bin/python bench/charges.py --invoices 2000 --latency 0.3 --rate 80

What it does:

1. Creates a scratch database ``bridge_bench_<random>`` on the server of
   ``--database-url``, migrates it, and loads ``--invoices`` clients with a
   saved card, each with an open invoice whose card charge is due (one made
   by the domain, the others copied from it by SQL).
2. Starts the stand-in in a process of its own (aiohttp): each new
   PaymentIntent is answered ``succeeded`` after ``--latency`` seconds; past
   ``--stripe-limit`` requests in one second it answers 429 at once; a
   repeated idempotency key gets the first answer (as at Stripe). It counts
   the PaymentIntents made per invoice.
3. One process: the scheduler's dunning job (``collect_due`` with
   ``--in-flight`` charges in flight, the Stripe gateway of the stored key,
   the limiter at ``--rate`` requests/s, shared through PostgreSQL).
4. Two processes: the same after putting every invoice back to due.
5. Prints charges per second for each next to the limiter's rate (the
   ceiling), the 429s, and checks: one process >= 0.8 x the limiter's rate,
   two processes together never above it, exactly one PaymentIntent and one
   succeeded payment per invoice. Drops the scratch database, also on error.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qsl

from sqlalchemy import delete, event, func, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from renewals import SECRET, STRIPE_KEY, admin_engine, run_at_once, scratch_url  # noqa: E402

from bridge import db, migrate  # noqa: E402
from bridge.auth.secrets import SecretBox  # noqa: E402
from bridge.billing import business, catalog, invoices  # noqa: E402
from bridge.billing.clients import search_text  # noqa: E402
from bridge.billing.invoices import Item  # noqa: E402
from bridge.core import clock  # noqa: E402
from bridge.models import (  # noqa: E402
    AuditEntry,
    Client,
    Invoice,
    InvoiceLine,
    OutboxMessage,
    Payment,
    PaymentStatus,
    PlanKind,
    Role,
)

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


# The Stripe stand-in ----------------------------------------------------------------


def serve_stand_in(port_queue, latency: float, limit: int) -> None:
    """PaymentIntent create after ``latency`` s; 429 past ``limit`` a second."""
    from aiohttp import web

    state = {"window": 0, "in_window": 0, "requests": 0, "rejected": 0}
    by_key: dict[str, dict] = {}
    per_invoice: Counter = Counter()
    seconds: Counter = Counter()  # PaymentIntents answered per second

    async def create(request: web.Request) -> web.Response:
        state["requests"] += 1
        second = int(time.monotonic())
        if second != state["window"]:
            state["window"], state["in_window"] = second, 0
        state["in_window"] += 1
        if state["in_window"] > limit:
            state["rejected"] += 1
            error = {
                "type": "invalid_request_error",
                "code": "rate_limit",
                "message": "Too many requests hit the API too quickly.",
            }
            return web.json_response({"error": error}, status=429)
        form = dict(parse_qsl(await request.text()))
        key = request.headers.get("Idempotency-Key", "")
        await asyncio.sleep(latency)
        intent = by_key.get(key)
        if intent is None:
            invoice_id = form.get("metadata[bb_invoice_id]", "")
            per_invoice[invoice_id] += 1
            intent = {
                "id": f"pi_bench_{len(by_key) + 1}",
                "object": "payment_intent",
                "status": "succeeded",
                "amount": int(form.get("amount", 0)),
                "currency": form.get("currency"),
                "customer": form.get("customer"),
                "payment_method": form.get("payment_method"),
                "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
                "created": int(time.time()),
            }
            by_key[key] = intent
            seconds[int(time.monotonic())] += 1
        return web.json_response(intent)

    async def stats(_request: web.Request) -> web.Response:
        busiest = max(seconds.values(), default=0)
        return web.json_response(
            {
                **state,
                "created": len(by_key),
                "invoices": len(per_invoice),
                "most_per_invoice": max(per_invoice.values(), default=0),
                "busiest_second": busiest,
            }
        )

    async def reset(_request: web.Request) -> web.Response:
        by_key.clear()
        per_invoice.clear()
        seconds.clear()
        state.update(requests=0, rejected=0)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/v1/payment_intents", create)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port_queue.put(site._server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


# Setup --------------------------------------------------------------------------------


def load(database: db.Database, count: int) -> list[str]:
    """``count`` clients with a saved card, each with an open invoice whose
    charge is due now. Returns the columns to put back between runs."""
    with database.session() as s:
        business.set_currency(s, "EUR", confirm=True)
        settings = business.get_settings(s)
        settings.stripe_secret_key_encrypted = SecretBox(None, SECRET).encrypt(STRIPE_KEY)
        product = catalog.create_product(s, name="Managed hosting")
        plan = catalog.create_plan(s, product, name="Renewal", kind=PlanKind.ONE_TIME, amount=2900)
        plan_id = plan.id
        role_id = s.scalar(select(Role.id).where(Role.is_default.is_(True)))
    with database.engine.begin() as conn:
        for offset in range(0, count, 2000):
            conn.execute(
                insert(Client),
                [
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
                        "created_at": clock.now(),
                    }
                    for n in range(offset, min(count, offset + 2000))
                ],
            )
    with database.session() as s:
        first = s.scalar(select(Client).order_by(Client.id).limit(1))
        template = invoices.bill_client(s, first, [Item(plan_id)])
        invoices.finalize(s, template)
        template.next_charge_at = clock.now()
        s.flush()
        template_id = template.id
    # The others: copies of the template, one per client (SQL, in seconds;
    # the column names in the statements are our own metadata's).
    copied = [
        c.name
        for c in Invoice.__table__.columns
        if c.name not in ("id", "client_id", "number", "hosted_token")
    ]
    columns = ", ".join(copied)
    from_template = ", ".join(f"t.{name}" for name in copied)
    line_columns = [
        c.name for c in InvoiceLine.__table__.columns if c.name not in ("id", "invoice_id")
    ]
    with database.engine.begin() as conn:
        conn.execute(
            text(
                f"INSERT INTO invoices (client_id, number, hosted_token, {columns}) "
                f"SELECT c.id, 'BENCH-' || c.id, md5(random()::text || c.id), {from_template} "
                "FROM clients c, invoices t WHERE t.id = :t AND c.id <> t.client_id"
            ),
            {"t": template_id},
        )
        conn.execute(
            text(
                f"INSERT INTO invoice_lines (invoice_id, {', '.join(line_columns)}) "
                f"SELECT i.id, {', '.join('l.' + c for c in line_columns)} "
                "FROM invoice_lines l, invoices i WHERE l.invoice_id = :t AND i.id <> :t"
            ),
            {"t": template_id},
        )
        # What a paid invoice changes, as it was before: put back between runs.
        row = conn.execute(
            text("SELECT status, payment_state, amount_paid FROM invoices WHERE id = :t"),
            {"t": template_id},
        ).one()
    return row


def make_due(database: db.Database, before) -> None:
    """Every invoice open and due again, as before the first run."""
    with database.engine.begin() as conn:
        for model in (OutboxMessage, AuditEntry, Payment):
            conn.execute(delete(model))
        conn.execute(
            text(
                "UPDATE invoices SET status = :status, payment_state = :state, "
                "amount_paid = :paid, paid_at = NULL, next_charge_at = :now"
            ),
            {
                "status": before.status,
                "state": before.payment_state,
                "paid": before.amount_paid,
                "now": clock.now(),
            },
        )
        conn.execute(text("DELETE FROM rate_limit_buckets"))
    with database.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))


# Runs -------------------------------------------------------------------------------------


def charge_worker(url, stand_in, rate, in_flight, ready, go, results) -> None:
    from scheduler.jobs import JobContext, run_job

    database = db.Database(url)
    ctx = JobContext(
        database=database,
        box=SecretBox(None, SECRET),
        stripe_api_base=stand_in,
        stripe_rate_limit=rate,
        charges_in_flight=in_flight,
    )
    statements = Counter()

    @event.listens_for(database.engine, "before_cursor_execute")
    def _count(*_args):
        statements["n"] += 1

    ready.set()
    go.wait()
    started, cpu = time.perf_counter(), time.process_time()
    record = run_job(ctx, "dunning")
    results.put(
        {
            "elapsed": time.perf_counter() - started,
            "cpu": time.process_time() - cpu,
            "statements": statements["n"],
            "record": record,
        }
    )
    database.dispose()


def charge_run(url: str, stand_in: str, processes: int, rate: float, in_flight: int) -> dict:
    import requests

    requests.post(f"{stand_in}/reset", timeout=10)
    wall, outcomes = run_at_once(
        charge_worker, (url, stand_in, rate, in_flight), processes, "dunning"
    )
    stats = requests.get(f"{stand_in}/stats", timeout=10).json()
    return {
        "wall": wall,
        "cpu": sum(o["cpu"] for o in outcomes),
        "statements": sum(o["statements"] for o in outcomes),
        "charged": sum(o["record"]["counts"]["charged"] for o in outcomes),
        "per_process": [o["record"]["counts"]["charged"] for o in outcomes],
        **stats,
    }


def paid_once(database: db.Database, count: int) -> bool:
    with database.session() as s:
        per_invoice = s.execute(
            select(Payment.invoice_id, func.count())
            .where(Payment.status == PaymentStatus.SUCCEEDED)
            .group_by(Payment.invoice_id)
        ).all()
    return len(per_invoice) == count and {n for _, n in per_invoice} == {1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.3, help="stand-in answer time, s")
    parser.add_argument("--stripe-limit", type=int, default=100, help="stand-in 429 above, /s")
    parser.add_argument("--rate", type=float, default=80.0, help="the limiter's rate, /s")
    parser.add_argument("--in-flight", type=int, default=32)
    args = parser.parse_args(argv)

    spawn = multiprocessing.get_context("spawn")
    port_queue = spawn.Queue()
    server = spawn.Process(
        target=serve_stand_in, args=(port_queue, args.latency, args.stripe_limit), daemon=True
    )
    server.start()
    stand_in = f"http://127.0.0.1:{port_queue.get(timeout=30)}"

    admin = admin_engine(args.database_url)
    name, url = scratch_url(args.database_url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    print(f"database:   {name} (dropped at the end)")
    print(
        f"stand-in:   {stand_in}, answers after {args.latency * 1000:.0f} ms, "
        f"429 past {args.stripe_limit}/s"
    )
    try:
        database = db.Database(url)
        migrate.upgrade(database.engine)
        started = time.perf_counter()
        before = load(database, args.invoices)
        print(f"loaded:     {args.invoices} due invoices in {time.perf_counter() - started:.1f} s")
        make_due(database, before)
        one = charge_run(url, stand_in, 1, args.rate, args.in_flight)
        one_once = paid_once(database, args.invoices)
        make_due(database, before)
        two = charge_run(url, stand_in, 2, args.rate, args.in_flight)
        two_once = paid_once(database, args.invoices)
        database.dispose()
    finally:
        server.terminate()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    rate_one = one["charged"] / one["wall"]
    rate_two = two["charged"] / two["wall"]
    print()
    print(
        f"{'measurement':<46}{'charges':>9}{'seconds':>9}{'per s':>8}{'x limiter':>11}{'429s':>7}"
    )
    print(f"{'limiter (the ceiling)':<46}{'':>9}{'':>9}{args.rate:>8.0f}{1:>11.2f}{'':>7}")
    for label, run, rate in (
        (f"1 process, {args.in_flight} in flight", one, rate_one),
        (f"2 processes, {args.in_flight} in flight each", two, rate_two),
    ):
        print(
            f"{label:<46}{run['charged']:>9}{run['wall']:>9.1f}{rate:>8.1f}"
            f"{rate / args.rate:>11.2f}{run['rejected']:>7}"
        )
    print(f"  split between the 2 processes: {two['per_process']}")
    print(
        f"  busiest second at the stand-in: {one['busiest_second']} (1 process), "
        f"{two['busiest_second']} (2 processes)"
    )
    print(
        f"  per charge (1 process): {one['statements'] / one['charged']:.1f} SQL statements "
        f"(its limiter's take included), {one['cpu'] / one['charged'] * 1000:.1f} ms of the "
        f"process's CPU ({one['cpu'] / one['wall']:.2f} of a core busy)"
    )
    sequential = 1 / args.latency
    print(f"  one charge after another would be {sequential:.1f}/s at this latency")
    print()
    checks = [
        (
            "1 process >= 0.8 x the limiter",
            rate_one >= 0.8 * args.rate,
            f"{rate_one / args.rate:.2f}",
        ),
        (
            "2 processes: no second above the limiter",
            two["busiest_second"] <= args.rate * 1.1 + 1,
            f"{two['busiest_second']}/s",
        ),
        (
            "one PaymentIntent per invoice",
            one["most_per_invoice"] == 1
            and two["most_per_invoice"] == 1
            and one["invoices"] == two["invoices"] == args.invoices,
            f"{one['created']}+{two['created']}",
        ),
        ("one succeeded payment per invoice", one_once and two_once, "checked"),
    ]
    for label, ok, value in checks:
        print(f"{label:<40}{value:>12}   {'PASS' if ok else 'MISS'}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
