"""Import-from-Stripe benchmark: how fast ``bridge import-stripe`` brings in
customers and prices, next to how fast the same client merely lists them
from the same stand-in (the ceiling), and the time the rate limiter makes it
wait.

Run it from the repository root::

    .venv/bin/python bench/stripe_import.py                  # 10,000 customers, 1,000 prices
    .venv/bin/python bench/stripe_import.py --customers 2000 --prices 200
    .venv/bin/python bench/stripe_import.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

What it does:

1. Starts a stand-in for Stripe on loopback: a threaded HTTP server
   answering ``GET /v1/customers``, ``/v1/products``, ``/v1/prices`` and
   ``/v1/subscriptions`` like Stripe, 100 objects a page with ``has_more``
   and ``starting_after`` (pages built in advance, so it answers at once).
   Customers carry an address, a tax id and an expanded default card; ten
   prices per product, in the business currency.
2. Listing rate (the ceiling): every object listed through ``StripeApi``
   (the SDK's pagination, limiter off), nothing written.
3. Import, limiter off: a scratch database (SQLite in a temporary folder,
   or a scratch PostgreSQL database ``bridge_bench_<random>`` on the server
   of ``--database-url``, dropped at the end), migrated, currency EUR; then
   the real import (one transaction per batch of 100, audit rows and all).
   Objects per second and the ratio to the listing rate: target >= 0.5.
4. Re-import with the limiter at its test-mode default (20 requests/s):
   nothing changes; prints the time spent waiting on the limiter.
"""

from __future__ import annotations

import argparse
import http.server
import json
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge import migrate  # noqa: E402
from bridge.billing import business  # noqa: E402
from bridge.billing.stripe_import import StripeImport  # noqa: E402
from bridge.db import Database  # noqa: E402
from bridge.payments.ratelimit import TEST_DEFAULT  # noqa: E402
from bridge.payments.stripe.client import StripeApi  # noqa: E402
from bridge.payments.stripe_import import import_from_stripe  # noqa: E402

PAGE = 100
KINDS = ("customers", "products", "prices", "subscriptions")


def stripe_objects(customers: int, prices: int) -> dict[str, list[dict]]:
    """The account: customers with an address, a tax id and a card; one
    product per ten prices, monthly, in EUR."""
    people = []
    for n in range(customers):
        cid = f"cus_{n:08d}"
        people.append(
            {
                "id": cid,
                "object": "customer",
                "email": f"client{n}@example.com",
                "name": f"Client {n}",
                "address": {
                    "line1": f"{n} rue de la Paix",
                    "line2": None,
                    "city": "Paris",
                    "postal_code": "75002",
                    "state": None,
                    "country": "FR",
                },
                "metadata": {},
                "invoice_settings": {
                    "default_payment_method": {
                        "id": f"pm_{n:08d}",
                        "object": "payment_method",
                        "type": "card",
                        "card": {
                            "brand": "visa",
                            "last4": "4242",
                            "exp_month": 12,
                            "exp_year": 2031,
                        },
                    }
                },
                "tax_ids": {
                    "object": "list",
                    "has_more": False,
                    "data": [{"id": f"txi_{n}", "type": "eu_vat", "value": f"FR{n:011d}"}],
                },
            }
        )
    products = [
        {"id": f"prod_{n:06d}", "object": "product", "active": True, "name": f"Service {n}"}
        for n in range(max(1, prices // 10))
    ]
    price_list = [
        {
            "id": f"price_{n:07d}",
            "object": "price",
            "active": True,
            "billing_scheme": "per_unit",
            "currency": "eur",
            "custom_unit_amount": None,
            "nickname": f"Plan {n}",
            "product": products[n % len(products)]["id"],
            "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"},
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "recurring",
            "unit_amount": 1000 + n,
        }
        for n in range(prices)
    ]
    return {"customers": people, "products": products, "prices": price_list, "subscriptions": []}


def pages_of(objects: dict[str, list[dict]]) -> dict[tuple[str, str | None], bytes]:
    """Every page the stand-in can be asked for, keyed by (kind, cursor)."""
    pages = {}
    for kind, items in objects.items():
        cursor = None
        for start in range(0, max(len(items), 1), PAGE):
            chunk = items[start : start + PAGE]
            body = {
                "object": "list",
                "url": f"/v1/{kind}",
                "has_more": start + PAGE < len(items),
                "data": chunk,
            }
            pages[(kind, cursor)] = json.dumps(body).encode()
            cursor = chunk[-1]["id"] if chunk else None
    return pages


def serve(pages: dict) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 (http.server's name)
            parts = urlsplit(self.path)
            kind = parts.path.removeprefix("/v1/")
            cursor = parse_qs(parts.query).get("starting_after", [None])[-1]
            body = pages.get((kind, cursor))
            status = 200
            if body is None:
                status = 404
                body = json.dumps({"error": {"type": "invalid_request_error"}}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def listing_rate(url: str) -> tuple[int, float]:
    api = StripeApi("sk_test_bench", api_base=url, max_network_retries=0, rate_limit=0)
    started = time.perf_counter()
    count = sum(1 for kind in KINDS for _ in api.list_all(kind))
    return count, time.perf_counter() - started


def scratch_database(admin_url: str | None, folder: Path):
    if admin_url is None:
        return f"sqlite:///{folder / 'bench.sqlite3'}", lambda: None
    name = f"bridge_bench_{secrets.token_hex(6)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop


def timed_import(database: Database, api: StripeApi) -> tuple[float, object]:
    started = time.perf_counter()
    with database.session() as session:
        report = import_from_stripe(session, api, StripeImport(dry_run=False))
    return time.perf_counter() - started, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--prices", type=int, default=1_000)
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL admin URL (a scratch database is made on its server); default SQLite",
    )
    args = parser.parse_args()

    objects = stripe_objects(args.customers, args.prices)
    server, url = serve(pages_of(objects))
    with tempfile.TemporaryDirectory() as folder:
        database_url, drop = scratch_database(args.database_url, Path(folder))
        try:
            database = Database(database_url)
            migrate.upgrade(database.engine)
            with database.session() as session:
                business.set_currency(session, "EUR", confirm=True)

            listed, list_seconds = listing_rate(url)
            list_rate = listed / list_seconds

            free = StripeApi("sk_test_bench", api_base=url, max_network_retries=0, rate_limit=0)
            seconds, report = timed_import(database, free)
            imported = sum(report.counts().get("client", {}).values()) + sum(
                report.counts().get("plan", {}).values()
            )
            read = imported + sum(report.counts().get("product", {}).values())
            rate = read / seconds

            limited = StripeApi("sk_test_bench", api_base=url, max_network_retries=0)
            again_seconds, again = timed_import(database, limited)
            database.dispose()
        finally:
            drop()
    server.shutdown()

    ratio = rate / list_rate
    print(f"database:             {make_url(database_url).get_backend_name()}")
    print(
        f"Stripe objects:       {args.customers} customers, {args.prices} prices, "
        f"{len(objects['products'])} products ({listed} listed)"
    )
    print(f"listing (ceiling):    {list_rate:,.0f} objects/s ({list_seconds:.2f} s)")
    print(
        f"import, limiter off:  {rate:,.0f} objects/s ({seconds:.2f} s; counts {report.counts()})"
    )
    print(
        f"ratio import/listing: {ratio:.2f}  (target >= 0.50: "
        f"{'met' if ratio >= 0.5 else 'NOT met'})"
    )
    print(
        f"re-import, limiter {TEST_DEFAULT:.0f}/s: {again_seconds:.2f} s, "
        f"{limited.limiter.waited:.2f} s waiting on the limiter, changed {again.changed}"
    )
    return 0 if ratio >= 0.5 and again.changed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
