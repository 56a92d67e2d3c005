"""Real scheduler processes (``bridge scheduler --once``) against the test's
database and localstripe, and a shop of many due subscriptions with saved
cards at localstripe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import requests

from bridge.billing import catalog, clients
from bridge.core import clock
from bridge.models.subscriptions import Subscription, SubscriptionStatus
from tests import shop as shops

STRIPE_KEY = "sk_test_scheduler_processes"
BRIDGE = str(Path(sys.executable).with_name("bridge"))


def scheduler_env(app, stripe_url: str, **extra: str) -> dict:
    env = {
        **os.environ,
        "BRIDGE_DATABASE_URL": app.config["DATABASE_URL"],
        "BRIDGE_SECRET_KEY": app.config["SECRET_KEY"],
        "BRIDGE_STRIPE_API_BASE": stripe_url,
        "BRIDGE_STRIPE_RATE_LIMIT": "0",
        "BRIDGE_MAIL_TRANSPORT": "folder",
        "BRIDGE_MAIL_FOLDER": str(Path(app.instance_path) / "mail"),
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra)
    return env


def start_scheduler(env: dict, *jobs: str, log: Path) -> subprocess.Popen:
    args = [BRIDGE, "scheduler", "--once"]
    for job in jobs:
        args += ["--job", job]
    return subprocess.Popen(args, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def job_records(log: Path) -> list[dict]:
    """The structured lines the process logged about its job runs."""
    records = []
    for line in log.read_text(errors="replace").splitlines():
        start = line.find('{"')
        if start >= 0 and '"job"' in line:
            records.append(json.loads(line[start:]))
    return records


def stripe_customers(stripe_url: str, count: int) -> list[str]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {STRIPE_KEY}"
    return [
        session.post(f"{stripe_url}/v1/customers", data={"name": f"c{n}"}, timeout=10).json()["id"]
        for n in range(count)
    ]


def payment_intents(stripe_url: str) -> list[dict]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {STRIPE_KEY}"
    found, params = [], {"limit": 100}
    while True:
        page = session.get(f"{stripe_url}/v1/payment_intents", params=params, timeout=30).json()
        found += page["data"]
        if not page.get("has_more") or not page["data"]:
            return found
        params["starting_after"] = page["data"][-1]["id"]


def due_subscriptions(db, box, customers: list[str], *, ended_ago=timedelta(hours=1)) -> None:
    """One client per customer, each with a saved card and a monthly
    subscription whose first period ended ``ended_ago``."""
    now = clock.now()
    with db.session() as s:
        shops.open_business(s, stripe_secret_key_encrypted=box.encrypt(STRIPE_KEY))
        ids = shops.add_product(s, "Managed hosting", {"monthly": shops.MONTHLY})
        plan = catalog.get_plan(s, ids["monthly"])
        end = now - ended_ago
        start = end - timedelta(days=30)
        for n, customer in enumerate(customers):
            client = clients.create_client(s, name=f"Client {n}", email=f"c{n}@client.example")
            client.stripe_customer_id = customer
            client.default_payment_method_id = "pm_card_visa"
            s.add(
                Subscription(
                    client=client,
                    plan=plan,
                    status=SubscriptionStatus.ACTIVE,
                    quantity=1,
                    unit_amount=2900,
                    currency="EUR",
                    tax_rate_ids=[],
                    anchor_at=start,
                    period_index=0,
                    current_period_start=start,
                    current_period_end=end,
                    cycles_invoiced=1,
                    created_at=start,
                )
            )


# The clock of a scheduler process, moved by time-machine before the
# command starts (argv: ISO instant, then the ``bridge`` arguments).
CLOCK_WRAPPER = (
    "import sys, datetime, time_machine\n"
    "time_machine.travel(datetime.datetime.fromisoformat(sys.argv[1]), tick=True).start()\n"
    "sys.argv = ['bridge'] + sys.argv[2:]\n"
    "from bridge.cli import main\n"
    "main()\n"
)


def start_scheduler_at(env: dict, at, *jobs: str, log: Path) -> subprocess.Popen:
    """``bridge scheduler --once`` in a process whose clock reads ``at``."""
    args = [sys.executable, "-c", CLOCK_WRAPPER, at.isoformat(), "scheduler", "--once"]
    for job in jobs:
        args += ["--job", job]
    return subprocess.Popen(args, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
