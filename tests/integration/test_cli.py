"""The `bridge` command: migrations, accounts, tokens, demo data; errors are
one line with exit status 2."""

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from bridge import migrate
from bridge.app import create_app
from bridge.cli import cli
from tests.conftest import STAFF_PASSWORD


@pytest.fixture
def run(tmp_path):
    env = {
        "BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path}/cli.sqlite3",
        "BRIDGE_SECRET_KEY": "cli-secret",
        "BRIDGE_INSTANCE_PATH": str(tmp_path / "instance"),
        "BRIDGE_ENV": "development",
    }

    def invoke(*args, input=None, extra_env=None):
        return CliRunner().invoke(cli, list(args), env={**env, **(extra_env or {})}, input=input)

    invoke.env = env
    return invoke


def api_get(env, token, path):
    app = create_app(
        {"DATABASE_URL": env["BRIDGE_DATABASE_URL"], "SECRET_KEY": env["BRIDGE_SECRET_KEY"]}
    )
    return app.test_client().get(path, headers={"Authorization": f"Bearer {token}"})


def test_db_upgrade_then_current(run):
    result = run("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert f"Database at {migrate.head_revision()}" in result.output
    current = run("db", "current")
    lines = current.output.splitlines()
    assert lines[0].split()[-1] == lines[1].split()[-1]


def test_demo_is_idempotent_and_prints_a_working_token(run):
    run("db", "upgrade")
    first = run("demo")
    assert first.exit_code == 0, first.output
    assert "Admin login:  admin@example.com" in first.output
    assert (
        "Client login: hello@greenleafyoga.example / bridge-demo-admin"
        " at http://127.0.0.1:5000/portal/login"
    ) in first.output
    second = run("demo")
    assert "0 object(s) added" in second.output
    assert "Client login: hello@greenleafyoga.example" in second.output
    token = second.output.split("API token:")[1].split()[0]
    response = api_get(run.env, token, "/api/v1/clients?per_page=100")
    assert response.status_code == 200
    clients = response.get_json()
    assert clients["total"] == 8
    assert len({c["email"] for c in clients["data"]}) == 8
    # The previous run's token was revoked, so tokens do not pile up.
    old_token = first.output.split("API token:")[1].split()[0]
    assert api_get(run.env, old_token, "/api/v1/clients").status_code == 401
    # The demo client's person accepted one invitation, on the first run only.
    engine = create_engine(run.env["BRIDGE_DATABASE_URL"])
    with engine.connect() as conn:
        people = conn.execute(
            text("SELECT email, name, kind FROM users WHERE client_id IS NOT NULL")
        ).all()
        invited = conn.execute(text("SELECT count(*), count(used_at) FROM invitations")).one()
        client_id, status = conn.execute(
            text("SELECT id, status FROM clients WHERE email = 'hello@greenleafyoga.example'")
        ).one()
        bills = conn.execute(
            text("SELECT status FROM invoices WHERE client_id = :id ORDER BY id"), {"id": client_id}
        ).scalars()
        plans = conn.execute(
            text("SELECT status FROM subscriptions WHERE client_id = :id"), {"id": client_id}
        ).scalars()
        bills, plans = [b.lower() for b in bills], [p.lower() for p in plans]
        # The person joined; the agency billed them (not the person).
        actors = dict(
            conn.execute(
                text(
                    "SELECT action, actor_kind FROM audit_log WHERE client_id = :id"
                    " AND action IN ('client.invitation_accepted', 'invoice.finalized')"
                ),
                {"id": client_id},
            ).all()
        )
    engine.dispose()
    assert actors == {"client.invitation_accepted": "client", "invoice.finalized": "system"}
    assert [(email, name) for email, name, _ in people] == [
        ("hello@greenleafyoga.example", "Maya Green")
    ]
    assert tuple(invited) == (1, 1)
    assert status.lower() == "active"
    # Something to see in the portal: hosting paid (active), a setup fee to pay.
    assert (bills, plans) == (["paid", "open"], ["active"])


def test_demo_refuses_a_password_too_easy_to_guess_for_the_client(run):
    run("db", "upgrade")
    result = run("demo", extra_env={"BRIDGE_DEMO_PASSWORD": "password1234"})
    assert result.exit_code == 2
    assert "BRIDGE_DEMO_PASSWORD is too easy to guess" in result.output


def test_create_admin_makes_a_read_only_user(run):
    run("db", "upgrade")
    password = {"BRIDGE_ADMIN_PASSWORD": STAFF_PASSWORD}
    result = run("create-admin", "--email", "ro@agency.example", "--read-only", extra_env=password)
    assert result.exit_code == 0, result.output
    assert "Created staff user ro@agency.example (read-only)." in result.output
    result = run("create-admin", "--email", "full@agency.example", extra_env=password)
    assert "(full access)" in result.output
    engine = create_engine(run.env["BRIDGE_DATABASE_URL"])
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT email, read_only FROM users ORDER BY id")).all()
    engine.dispose()
    assert [(email, bool(flag)) for email, flag in rows] == [
        ("ro@agency.example", True),
        ("full@agency.example", False),
    ]


def test_create_admin_and_token(run):
    run("db", "upgrade")
    created = run("create-admin", "--email", "Owner@Agency.example", input="a long password\n" * 2)
    assert created.exit_code == 0, created.output
    token_run = run("create-token", "--email", "owner@agency.example", "--read-only")
    assert token_run.exit_code == 0
    token = token_run.output.strip()
    assert token.startswith("bb_")
    assert api_get(run.env, token, "/api/v1/roles").status_code == 200


@pytest.mark.parametrize(
    "args, message",
    [
        (("create-token", "--email", "ghost@agency.example"), "No user with the email"),
        (("create-admin", "--email", "bad-email", "--password", "long enough pw"), "valid email"),
        (("create-admin", "--email", "a@b.example", "--password", "short"), "at least 10"),
    ],
)
def test_errors_are_one_line_with_exit_status_2(run, args, message):
    run("db", "upgrade")
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_duplicate_admin_is_refused_with_exit_status_2(run):
    run("db", "upgrade")
    run("create-admin", "--email", "a@b.example", "--password", "long enough pw")
    result = run("create-admin", "--email", "A@B.example", "--password", "long enough pw")
    assert result.exit_code == 2
    assert "already exists" in result.output


@pytest.mark.parametrize("command", [("demo",), ("serve", "--port", "1")])
def test_commands_refuse_an_unmigrated_database(run, command):
    result = run(*command)
    assert result.exit_code == 2
    assert "bridge db upgrade" in result.output


def test_production_without_a_secret_key_is_refused(run):
    result = run("db", "current", extra_env={"BRIDGE_ENV": "production", "BRIDGE_SECRET_KEY": ""})
    assert result.exit_code == 2
    assert "BRIDGE_SECRET_KEY must be set" in result.output


def test_demo_is_refused_in_production(run):
    run("db", "upgrade")
    result = run("demo", extra_env={"BRIDGE_ENV": "production"})
    assert result.exit_code == 2
    assert "refused in production" in result.output


# The public URL follows the port -----------------------------------------------


def test_make_run_gives_the_demo_the_port_it_serves_on():
    """`make run PORT=5301`: the demo's emails and its "Try" line, written
    before the server starts, are told the port."""
    import pathlib
    import subprocess

    root = pathlib.Path(__file__).resolve().parents[2]
    commands = subprocess.run(
        ["make", "-n", "-W", ".venv/.installed-run", "run", "PORT=5301"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    demo = next(line for line in commands.splitlines() if line.endswith("bridge demo"))
    assert 'BRIDGE_PUBLIC_URL="${BRIDGE_PUBLIC_URL:-http://127.0.0.1:5301}"' in demo
    assert "--port 5301" in commands


def test_demo_links_and_try_line_follow_the_public_url(run):
    run("db", "upgrade")
    result = run("demo", extra_env={"BRIDGE_PUBLIC_URL": "http://127.0.0.1:5301"})
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:5301/api/v1/clients" in result.output
    assert "5000" not in result.output


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        ({}, ["--port", "5301"], "http://127.0.0.1:5301"),
        ({}, ["--host", "0.0.0.0", "--port", "5302"], "http://127.0.0.1:5302"),  # noqa: S104
        (
            {"BRIDGE_PUBLIC_URL": "https://billing.example"},
            ["--port", "5301"],
            "https://billing.example",
        ),
    ],
)
def test_serve_links_follow_its_port_unless_the_public_url_is_set(
    run, monkeypatch, env, args, expected
):
    from bridge import links, server

    served = {}

    def fake_run(app, **options):
        with app.extensions["bridge.db"].session() as session:
            served["link"] = links.public_url(session)
        served["config"] = app.config["PUBLIC_URL"]

    monkeypatch.setattr(server, "run", fake_run)
    run("db", "upgrade")
    result = run("serve", *args, extra_env=env)
    assert result.exit_code == 0, result.output
    assert served == {"link": expected, "config": expected}
