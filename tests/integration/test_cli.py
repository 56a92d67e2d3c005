"""The `bridge` command: migrations, accounts, tokens, demo data; errors are
one line with exit status 2."""

import pytest
from click.testing import CliRunner

from bridge import migrate
from bridge.app import create_app
from bridge.cli import cli


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
    assert "Admin login: admin@example.com" in first.output
    second = run("demo")
    assert "0 object(s) added" in second.output
    token = second.output.split("API token:")[1].split()[0]
    response = api_get(run.env, token, "/api/v1/clients?per_page=100")
    assert response.status_code == 200
    clients = response.get_json()
    assert clients["total"] == 8
    assert len({c["email"] for c in clients["data"]}) == 8
    # The previous run's token was revoked, so tokens do not pile up.
    old_token = first.output.split("API token:")[1].split()[0]
    assert api_get(run.env, old_token, "/api/v1/clients").status_code == 401


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
