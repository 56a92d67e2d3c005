"""Crash safety: a scheduler process killed (SIGKILL) after its charge
request reached Stripe and before it stored the answer. After a restart the
subscription has been charged once in total, the invoice ends paid, and
nothing is missed: the payment row with its idempotency key was committed
before the request left, and the reconcile job finds the PaymentIntent."""

from __future__ import annotations

import http.server
import signal
import threading
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select

from bridge.core import clock
from bridge.models import Invoice, InvoiceStatus, Payment, PaymentStatus
from tests.localstripe_server import free_port
from tests.scheduler.processes import (
    due_subscriptions,
    job_records,
    payment_intents,
    scheduler_env,
    start_scheduler_at,
    stripe_customers,
)

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)

FORWARDED = ("Authorization", "Idempotency-Key", "Stripe-Version", "Content-Type")


class HoldingProxy:
    """Forwards requests to localstripe; the first charge request is
    forwarded (Stripe charges the card) but its answer is never returned."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.charge_reached_stripe = threading.Event()
        self.release = threading.Event()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                upstream = requests.request(
                    self.command,
                    proxy.upstream + self.path,
                    data=body,
                    headers={k: self.headers[k] for k in FORWARDED if self.headers.get(k)},
                    timeout=30,
                )
                if (
                    self.command == "POST"
                    and self.path.startswith("/v1/payment_intents")
                    and not proxy.charge_reached_stripe.is_set()
                ):
                    proxy.charge_reached_stripe.set()
                    proxy.release.wait(60)  # the answer is lost with the process
                    return
                self.send_response(upstream.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                self.wfile.write(upstream.content)

            do_GET = do_POST = do_DELETE = _forward

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


def renewal(db) -> tuple[Invoice, list[Payment]]:
    with db.session() as s:
        invoice = s.scalars(select(Invoice).where(Invoice.subscription_id.is_not(None))).one()
        return invoice, list(s.scalars(select(Payment).where(Payment.invoice_id == invoice.id)))


def kill_a_scheduler_after_the_charge_left(app, db, localstripe, tmp_path) -> None:
    """One due subscription with a saved card; a scheduler process renews it
    and is killed (SIGKILL) once its charge has reached localstripe."""
    due_subscriptions(db, app.extensions["bridge.secret_box"], stripe_customers(localstripe.url, 1))
    proxy = HoldingProxy(localstripe.url)
    log = tmp_path / "crashed.log"
    try:
        crashed = start_scheduler_at(scheduler_env(app, proxy.url), clock.now(), "renew", log=log)
        assert proxy.charge_reached_stripe.wait(120), log.read_text()
        crashed.send_signal(signal.SIGKILL)
        assert crashed.wait(30) == -signal.SIGKILL
    finally:
        proxy.close()


def test_a_scheduler_killed_after_the_charge_left_charges_once_after_restart(
    app, db, localstripe, tmp_path
):
    kill_a_scheduler_after_the_charge_left(app, db, localstripe, tmp_path)

    # Stripe has charged the card; our database only knows the request left.
    assert len(payment_intents(localstripe.url)) == 1
    invoice, (payment,) = renewal(db)
    assert invoice.status == InvoiceStatus.OPEN
    assert payment.status == PaymentStatus.PENDING
    assert payment.idempotency_key == f"bb-invoice-{invoice.id}-attempt-1"

    # Restarted two minutes later: the reconcile job settles the payment.
    env = scheduler_env(app, localstripe.url)
    later = clock.now() + timedelta(minutes=2)
    log = tmp_path / "reconcile.log"
    assert start_scheduler_at(env, later, "reconcile", log=log).wait(120) == 0, log.read_text()
    (record,) = job_records(log)
    assert record["counts"] == {"settled": 1}
    invoice, (payment,) = renewal(db)
    assert (invoice.status, payment.status) == (InvoiceStatus.PAID, PaymentStatus.SUCCEEDED)

    # Once the crashed run's lease has expired every job runs again: nothing
    # is charged a second time, nothing is left to do.
    log = tmp_path / "all.log"
    much_later = clock.now() + timedelta(minutes=20)
    assert start_scheduler_at(env, much_later, log=log).wait(120) == 0, log.read_text()
    assert all(r["ok"] for r in job_records(log))
    assert len(payment_intents(localstripe.url)) == 1
    invoice, payments = renewal(db)
    assert invoice.status == InvoiceStatus.PAID and invoice.next_charge_at is None
    assert [p.status for p in payments] == [PaymentStatus.SUCCEEDED]


def test_without_reconcile_the_next_charge_settles_the_lost_attempt_instead_of_charging(
    app, db, localstripe, tmp_path
):
    kill_a_scheduler_after_the_charge_left(app, db, localstripe, tmp_path)

    # The renew job alone, after the lease: it finds the pending attempt
    # and settles it from Stripe rather than sending attempt 2.
    log = tmp_path / "renew.log"
    later = clock.now() + timedelta(minutes=15)
    env = scheduler_env(app, localstripe.url)
    assert start_scheduler_at(env, later, "renew", log=log).wait(120) == 0, log.read_text()
    assert len(payment_intents(localstripe.url)) == 1
    invoice, payments = renewal(db)
    assert invoice.status == InvoiceStatus.PAID
    assert [p.idempotency_key for p in payments] == [f"bb-invoice-{invoice.id}-attempt-1"]
