"""The ``bridge`` command: migrations, accounts, tokens, demo data, serving.

Errors print one line and exit with status 2.
"""

from __future__ import annotations

import functools
import os
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup

from bridge import migrate
from bridge.app import SchemaOutOfDate, create_app, ensure_schema_current
from bridge.config import ConfigError
from bridge.core.errors import DomainError
from bridge.db import get_db


class CliError(click.ClickException):
    exit_code = 2


def domain_errors(command):
    """Turn refusals of the domain into one-line errors with exit status 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except DomainError as exc:
            raise CliError(exc.message) from exc

    return wrapper


def _create_cli_app():
    # The CLI must work on a database that is not migrated yet (to migrate it).
    try:
        return create_app({"CHECK_SCHEMA": False})
    except ConfigError as exc:
        raise CliError(str(exc)) from exc


@click.group(cls=FlaskGroup, create_app=_create_cli_app, add_version_option=False)
def cli():
    """Billing Bridge: billing for web agencies."""


@cli.group("db")
def db_group():
    """Database schema migrations."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision):
    """Bring the database schema up to date."""
    database = get_db()
    migrate.upgrade(database.engine, revision)
    click.echo(f"Database at {migrate.current_revision(database.engine)} ({_safe_url()}).")


@db_group.command("current")
def db_current():
    """Show the schema revision of the database and of the code."""
    database = get_db()
    click.echo(f"database: {migrate.current_revision(database.engine) or 'empty'}")
    click.echo(f"code:     {migrate.head_revision()}")


@db_group.command("revision")
@click.option("-m", "--message", required=True)
def db_revision(message):
    """(Developers) generate a migration from the difference between models and database."""
    from alembic import command

    database = get_db()
    config = migrate.alembic_config(database.engine.url.render_as_string(hide_password=False))
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)


def _safe_url() -> str:
    return get_db().engine.url.render_as_string(hide_password=True)


@cli.command("create-admin")
@click.option("--email", required=True)
@click.option("--name", default="")
@click.option(
    "--password",
    envvar="BRIDGE_ADMIN_PASSWORD",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Prompted for when not given (or set BRIDGE_ADMIN_PASSWORD).",
)
@click.option("--read-only", is_flag=True, help="The user may see the Hub but change nothing.")
@domain_errors
def create_admin(email, name, password, read_only):
    """Create a staff user who can log in to the Hub."""
    from bridge.auth.accounts import create_staff_user

    with get_db().session() as session:
        user = create_staff_user(
            session, email=email, password=password, name=name, read_only=read_only
        )
        access = "read-only" if read_only else "full access"
        click.echo(f"Created staff user {user.email} ({access}).")


@cli.command("create-token")
@click.option("--email", required=True, help="The staff user the token acts for.")
@click.option("--name", default="API token", show_default=True)
@click.option("--read-only", is_flag=True, help="The token may only read.")
@domain_errors
def create_token(email, name, read_only):
    """Create an API token and print it (it is shown this once)."""
    from bridge.auth.accounts import create_token as make_token
    from bridge.auth.accounts import find_user

    with get_db().session() as session:
        _, token = make_token(session, find_user(session, email), name=name, read_only=read_only)
    click.echo(token)


@cli.command("demo")
@domain_errors
def demo():
    """Load demo data (a second run adds nothing) and print how to log in."""
    from bridge import demo as demo_data

    if current_app.config["ENV"] == "production":
        raise CliError("demo data is for local use: refused in production")
    _require_schema()
    with get_db().session() as session:
        summary = demo_data.load(session, current_app.extensions["bridge.secret_box"])
    with get_db().session() as session:
        logins = demo_data.login(session)
    public_url = str(current_app.config["PUBLIC_URL"]).rstrip("/")
    token = logins.token
    click.echo(summary)
    click.echo("")
    click.echo(f"  Hub:          {public_url}/")
    click.echo(f"  Admin login:  {logins.email} / {logins.password}")
    click.echo(
        f"  Client login: {logins.client_email} / {logins.password} at {public_url}/portal/login"
    )
    click.echo(f"  API token:    {token}")
    click.echo(
        "  Try:          curl -H 'Authorization: Bearer " + token + f"' {public_url}/api/v1/clients"
    )


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--threads", default=4, show_default=True, type=int)
@click.option(
    "--scheduler/--no-scheduler",
    "with_scheduler",
    default=False,
    help="Also run the scheduler's jobs in this process (one machine, SQLite).",
)
def serve(host, port, workers, threads, with_scheduler):
    """Serve the web app with gunicorn."""
    _require_schema()
    from bridge.config import server_url
    from bridge.server import run

    app = current_app._get_current_object()
    if app.config["PUBLIC_URL_FOLLOWS_SERVER"]:
        # No BRIDGE_PUBLIC_URL: links in emails point at this server.
        app.config["PUBLIC_URL"] = server_url(host, port)
        get_db().set_public_url(app.config["PUBLIC_URL"])
    click.echo(f"Billing Bridge on {server_url(host, port)}/ (Ctrl-C stops it)")
    if with_scheduler:
        _log_to_stderr()
        click.echo(
            "Scheduler: renewals, dunning, reminders and mail run inside the server (one worker)."
        )
    run(
        app,
        host=host,
        port=port,
        workers=workers,
        threads=threads,
        with_scheduler=with_scheduler,
    )


def _log_to_stderr() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # One line per job run comes from bridge.scheduler; APScheduler's own
    # "running job" chatter only when something is wrong.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


@cli.command("scheduler")
@click.option("--once", is_flag=True, help="Run each job once, then exit (cron, tests).")
@click.option(
    "--job",
    "jobs",
    multiple=True,
    help="With --once: only this job (repeatable). Jobs: renew, dunning, expire, "
    "reminders, deliver_mail, reconcile, reconcile_stripe.",
)
@click.option(
    "--catch-up",
    "catch_up",
    type=click.IntRange(min=0),
    default=None,
    help="With --once: the renew job may issue up to N renewal invoices per subscription "
    "(periods missed while the scheduler was stopped; 0: no limit). Default: "
    "BRIDGE_RENEW_CATCH_UP_PERIODS (1).",
)
def scheduler_command(once, jobs, catch_up):
    """Run the scheduler: renewals, dunning, expiry, reminders, mail delivery,
    payment reconciliation and the daily reconciliation report with Stripe.
    Any number may run against one PostgreSQL; on SQLite run one."""
    _require_schema()
    from scheduler import jobs as job_module
    from scheduler import runner

    _log_to_stderr()
    app = current_app._get_current_object()
    try:
        runner.intervals(app.config)
        runner.catch_up_periods(app.config)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    unknown = [name for name in jobs if name not in job_module.JOBS]
    if unknown:
        raise CliError(f"unknown job {unknown[0]!r}: choose from {', '.join(job_module.JOBS)}")
    if jobs and not once:
        raise CliError("--job needs --once")
    if catch_up is not None and not once:
        raise CliError("--catch-up needs --once")
    if once:
        ctx = runner.context_for(app)
        if catch_up is not None:
            ctx.catch_up = catch_up or None
        records = [job_module.run_job(ctx, name) for name in (jobs or job_module.JOBS)]
        if not all(record["ok"] for record in records):
            raise SystemExit(1)
        return
    runner.run_forever(app)


@cli.command("export")
@click.argument(
    "kind", type=click.Choice(["invoices", "credit_notes", "payments", "clients", "sales_journal"])
)
@click.option(
    "--from",
    "start",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="First local date (YYYY-MM-DD), included.",
)
@click.option(
    "--to",
    "end",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Last local date (YYYY-MM-DD), included.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    default="-",
    show_default=True,
    help="The CSV file to write (- is standard output).",
)
@domain_errors
def export_command(kind, start, end, output):
    """Write a CSV export (UTF-8, header row): invoices and credit notes by
    issue date, payments by date received, clients with MRR and net billing.
    A progress bar goes to standard error."""
    from bridge.billing import exports

    start = start.date() if start else None
    end = end.date() if end else None
    if start and end and start > end:
        raise CliError(f"--from {start} is after --to {end}")
    _require_schema()
    with get_db().session() as session:
        export = exports.export(session, kind, start=start, end=end)
        stream = click.open_file(output, "wb")
        with (
            stream,
            click.progressbar(length=export.total, label=f"{kind}.csv", file=sys.stderr) as bar,
        ):

            def counted():
                for row in export.rows:
                    bar.update(1)
                    yield row

            for chunk in exports.csv_text(export.header, counted()):
                stream.write(chunk.encode("utf-8"))
    click.echo(f"{export.total} rows of {kind}", err=True)


STRIPE_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _customer_ids(value: str | None) -> list[str] | None:
    """``--customers cus_A,cus_B`` as a list (None: all customers)."""
    if value is None:
        return None
    ids = [part.strip() for part in value.split(",") if part.strip()]
    if not ids:
        raise CliError("--customers needs Stripe customer ids (cus_...), comma-separated")
    for customer_id in ids:
        if not customer_id.startswith("cus_") or not STRIPE_ID_CHARS.issuperset(customer_id):
            raise CliError(f"{customer_id!r} is not a Stripe customer id (cus_...)")
    return list(dict.fromkeys(ids))


@cli.command("import-stripe")
@click.option("--dry-run", is_flag=True, help="Show what would be imported; change nothing.")
@click.option(
    "--customers",
    metavar="ID,...",
    help="Only these Stripe customers (cus_..., comma-separated). Default: all.",
)
@click.option(
    "--subscriptions",
    "subscription_mode",
    type=click.Choice(["list", "import", "cancel-at-stripe"]),
    default="list",
    show_default=True,
    help="Stripe's subscriptions: only list them; import them as bridge subscriptions "
    "billed from the end of the period Stripe charged; or import them and ask Stripe "
    "to cancel them at that period end.",
)
@domain_errors
def import_stripe(dry_run, customers, subscription_mode):
    """Import customers, products with their prices, and subscriptions from
    the connected Stripe account. Re-running updates, never duplicates.
    A progress bar goes to standard error."""
    from bridge.billing import audit
    from bridge.billing.stripe_import import StripeImport
    from bridge.payments.stripe.client import api_base_from
    from bridge.payments.stripe.keys import gateway_for
    from bridge.payments.stripe_import import import_from_stripe

    ids = _customer_ids(customers)
    _require_schema()
    app = current_app._get_current_object()
    importer = StripeImport(dry_run=dry_run, subscriptions=subscription_mode)
    with get_db().session() as session:
        audit.set_actor(session, audit.Actor("cli", None, "bridge import-stripe"))
        box = app.extensions["bridge.secret_box"]
        api = gateway_for(session, box, api_base_from(app.config))
        if api is None:
            raise CliError("Stripe is not connected: save the Stripe keys in the settings first")
        # Stripe's lists give no total: an open-ended bar (an iterable
        # without a length) counting the objects read.
        unknown_length = (item for item in ())
        with click.progressbar(
            unknown_length, label="Stripe customers", file=sys.stderr, show_pos=True
        ) as bar:

            def progress(phase: str, read: int) -> None:
                bar.label = f"Stripe {phase}"
                bar.update(read)

            report = import_from_stripe(session, api, importer, customers=ids, progress=progress)
    _print_report(report)


def _print_report(report) -> None:
    heading = "Dry run: nothing was changed." if report.dry_run else "Imported."
    click.echo(heading)
    for kind, counts in report.counts().items():
        figures = ", ".join(f"{action} {n}" for action, n in sorted(counts.items()))
        click.echo(f"  {kind}s: {figures}")
    for entry in report.entries:
        if entry.action in ("skip", "conflict", "replace") or entry.kind == "subscription":
            reason = f" [{entry.reason}]" if entry.reason else ""
            click.echo(
                f"  {entry.action} {entry.kind} {entry.stripe_id} ({entry.label}){reason}: "
                f"{entry.detail}".rstrip(": ")
            )
    for subscription_id in report.cancelled_at_stripe:
        click.echo(f"  Stripe asked to cancel {subscription_id} at period end")


@cli.command("reconcile-stripe")
@click.option(
    "--since",
    metavar="YYYY-MM-DD",
    help="First day of the period (business time zone). Default: 30 days ago.",
)
@click.option(
    "--apply",
    "apply_fixes",
    is_flag=True,
    help="Also do the safe fixes (record a payment Stripe took for an open invoice, "
    "update a saved card, credit a refund made in Stripe), each shown first.",
)
@domain_errors
def reconcile_stripe(since, apply_fixes):
    """Compare the bridge with the connected Stripe account over a period
    and print each difference with what the bridge can do about it."""
    from datetime import date

    from bridge.billing import audit, reconciliation
    from bridge.payments.stripe.client import api_base_from
    from bridge.payments.stripe.keys import gateway_for
    from bridge.payments.stripe_reconcile import reconcile

    day = None
    if since is not None:
        try:
            day = date.fromisoformat(since.strip())
        except ValueError:
            raise CliError(f"--since {since!r} is not a date (YYYY-MM-DD)") from None
    _require_schema()
    app = current_app._get_current_object()
    with get_db().session() as session:
        audit.set_actor(session, audit.Actor("cli", None, "bridge reconcile-stripe"))
        api = gateway_for(session, app.extensions["bridge.secret_box"], api_base_from(app.config))
        if api is None:
            raise CliError("Stripe is not connected: save the Stripe keys in the settings first")

        report = reconcile(session, api, day)
        _print_reconciliation(report)
        safe = [d for d in report.differences if d.safe]
        if safe and apply_fixes:
            click.echo("Applying the safe fixes:")
            for difference in safe:
                click.echo(f"  - {difference.change}")
            applied = reconciliation.apply_safe(session, report)
            done = [a for a in applied if a.done]
            click.echo(f"Fixed {len(done)} of {len(applied)} safe differences.")
            for result in applied:
                if not result.done:
                    click.echo(f"  not fixed {result.difference.stripe_id}: {result.note}")
        elif safe:
            click.echo("Run again with --apply to do the safe fixes.")


def _print_reconciliation(report) -> None:
    period = f"{report.since:%Y-%m-%d %H:%M} UTC to {report.until:%Y-%m-%d %H:%M} UTC"
    for resource in report.unavailable:
        click.echo(f"Not compared: this Stripe server has no /v1/{resource}.")
    if report.empty:
        click.echo(f"Stripe and the bridge agree ({period}).")
        return
    click.echo(f"{len(report.differences)} differences ({period}):")
    for difference in report.differences:
        click.echo(f"  {difference.line()}")


def _require_schema() -> None:
    try:
        ensure_schema_current(get_db())
    except SchemaOutOfDate as exc:
        raise CliError(str(exc)) from exc


def main() -> None:
    os.environ.setdefault("FLASK_RUN_FROM_CLI", "false")
    cli(prog_name="bridge")
