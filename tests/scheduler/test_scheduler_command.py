"""``bridge scheduler`` as an operator runs it: a real process renews a due
subscription of a client without a card and delivers the invoice email to a
real SMTP server (aiosmtpd); bad options are one-line errors, status 2."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from click.testing import CliRunner

from bridge.cli import cli
from tests.localstripe_server import free_port
from tests.mail.smtp_server import SmtpServer
from tests.scheduler.conftest import renewal_invoices, subscribe
from tests.scheduler.processes import BRIDGE, job_records, scheduler_env, start_scheduler_at

START = datetime(2027, 3, 10, 9, 0, tzinfo=UTC)


@pytest.mark.slow  # a `bridge scheduler` process and an SMTP server
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_scheduler_process_renews_and_mails_the_invoice_over_smtp(app, db, shop, tmp_path):
    sub_id = subscribe(db, shop["monthly"], START, card=False)
    smtp = SmtpServer().start()
    try:
        env = scheduler_env(
            app,
            "http://127.0.0.1:9",  # no Stripe is needed: the client pays offline
            BRIDGE_MAIL_TRANSPORT="smtp",
            BRIDGE_SMTP_HOST="127.0.0.1",
            BRIDGE_SMTP_PORT=str(smtp.port),
            BRIDGE_SMTP_SECURITY="none",
            BRIDGE_MAIL_FROM="billing@pixel.example",
            BRIDGE_PUBLIC_URL="https://billing.pixel.example",
        )
        log = tmp_path / "scheduler.log"
        process = start_scheduler_at(env, START + timedelta(days=31, hours=1), log=log)
        assert process.wait(120) == 0, log.read_text()
    finally:
        smtp.stop()

    records = {r["job"]: r for r in job_records(log)}
    assert set(records) == {
        "renew",
        "dunning",
        "expire",
        "reminders",
        "deliver_mail",
        "reconcile",
        "reconcile_stripe",
    }
    assert all(r["ok"] for r in records.values())
    # Stripe is connected but unreachable here: no report, and no failure.
    assert records["reconcile_stripe"]["counts"] == {"skipped": "stripe unavailable"}
    assert records["renew"]["counts"]["renewed"] == 1
    assert records["renew"]["counts"]["emailed"] == 1
    (invoice,) = renewal_invoices(db, sub_id)
    sent = [m for m in smtp.messages if invoice.number in m["Subject"]]
    assert len(sent) == 1
    message = sent[0]
    assert message["To"] == "ana@client.example"
    text = message.get_body(("plain",)).get_content()
    assert f"https://billing.pixel.example/i/{invoice.hosted_token}" in text


@pytest.fixture
def run(tmp_path):
    env = {
        "BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path}/cli.sqlite3",
        "BRIDGE_SECRET_KEY": "cli-secret",
        "BRIDGE_INSTANCE_PATH": str(tmp_path / "instance"),
    }

    def invoke(*args, extra_env=None):
        return CliRunner().invoke(cli, list(args), env={**env, **(extra_env or {})})

    assert invoke("db", "upgrade").exit_code == 0
    return invoke


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--job", "renew"], {}, "--job needs --once"),
        (["--once", "--job", "bill_everyone"], {}, "unknown job 'bill_everyone'"),
        (["--once"], {"BRIDGE_SCHEDULER_RENEW_SECONDS": "0"}, "must be at least 1"),
        (["--once"], {"BRIDGE_SCHEDULER_RENEW_SECONDS": "soon"}, "must be a number"),
        (["--catch-up", "3"], {}, "--catch-up needs --once"),
        (["--once"], {"BRIDGE_RENEW_CATCH_UP_PERIODS": "all"}, "must be a whole number"),
    ],
)
def test_bad_options_are_one_line_errors_with_status_2(run, args, env, message):
    result = run("scheduler", *args, extra_env=env)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_once_runs_every_job_and_exits_0(run):
    result = run("scheduler", "--once")
    assert result.exit_code == 0, result.output


def test_catch_up_runs_the_renew_job_with_that_many_periods(run):
    result = run("scheduler", "--once", "--job", "renew", "--catch-up", "12")
    assert result.exit_code == 0, result.output
    assert run("scheduler", "--once", "--catch-up", "-1").exit_code == 2


@pytest.mark.slow  # a `bridge serve --scheduler` process
def test_serve_with_the_scheduler_answers_and_runs_the_jobs(tmp_path):
    """What ``make run`` starts: gunicorn with the jobs inside its worker."""
    env = {
        **os.environ,
        "BRIDGE_INSTANCE_PATH": str(tmp_path / "instance"),
        "BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path}/serve.sqlite3",
        "BRIDGE_SECRET_KEY": "serve-secret",
    }
    assert subprocess.run([BRIDGE, "db", "upgrade"], env=env, capture_output=True).returncode == 0
    port = free_port()
    log = tmp_path / "serve.log"
    server = subprocess.Popen(
        [BRIDGE, "serve", "--port", str(port), "--scheduler"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        health = None
        while time.monotonic() < deadline:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
                # The jobs start together and log as each ends, in no set order.
                text = log.read_text()
                if '"job": "renew"' in text and '"job": "deliver_mail"' in text:
                    break
            except (requests.ConnectionError, requests.Timeout):
                # A loaded machine can take longer than one try to answer
                # while the worker boots and the jobs run.
                pass
            time.sleep(0.2)
        assert health is not None and health.status_code == 200, log.read_text()
        assert '"job": "renew"' in log.read_text()
        assert '"job": "deliver_mail"' in log.read_text()
    finally:
        server.terminate()
        server.wait(10)
