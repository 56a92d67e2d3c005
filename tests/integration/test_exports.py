"""CSV exports stream: 10,000 invoices are read a batch at a time while the
file is written, never all at once; the ``bridge export`` command writes the
same file with a progress bar on stderr and refuses bad input (status 2)."""

from __future__ import annotations

import csv
import io
import secrets
from contextlib import contextmanager
from datetime import UTC, date, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import event, insert

from bridge.billing import exports
from bridge.cli import cli
from bridge.models import Client, Invoice, InvoiceStatus
from tests import shop

N = 10_000
WHEN = datetime(2027, 3, 15, 10, 0, tzinfo=UTC)


def _bulk_invoices(session, client_id: int, n: int = N) -> None:
    session.execute(
        insert(Invoice),
        [
            {
                "number": f"INV-2027-{k:06d}",
                "client_id": client_id,
                "status": InvoiceStatus.PAID if k % 2 else InvoiceStatus.OPEN,
                "currency": "EUR",
                "subtotal": 1000 + k,
                "tax": 0,
                "total": 1000 + k,
                "amount_paid": 1000 + k if k % 2 else 0,
                "hosted_token": secrets.token_hex(16),
                "issued_at": WHEN,
                "issue_date": date(2027, 3, 15),
                "created_at": WHEN,
            }
            for k in range(n)
        ],
    )


@contextmanager
def selects_on_invoices(engine):
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "FROM invoices" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.fixture
def many_invoices(db):
    with db.session() as s:
        shop.open_business(s)
        client_id = shop.add_client(s, name='Smith, "Jo"\nLtd')
        _bulk_invoices(s, client_id)
    return client_id


@pytest.mark.slow
def test_ten_thousand_invoices_stream_a_batch_at_a_time(db, many_invoices):
    with db.session() as s, selects_on_invoices(db.engine) as selects:
        export = exports.export(s, "invoices", batch=1000)
        assert export.total == N
        before = len(selects)  # the tax columns and the count
        chunks = exports.csv_text(export.header, export.rows, rows_per_chunk=500)
        first = next(chunks)
        # One batch of 1,000 read for the first 500 rows, not 10,000.
        assert len(selects) == before + 1
        # Plain rows, not invoices kept by the session.
        assert not any(isinstance(o, Invoice) for o in s.identity_map.values())
        text = first + "".join(chunks)
        assert len(selects) == before + N // 1000 + 1  # the last, empty batch
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == N + 1
    assert rows[1][4] == 'Smith, "Jo"\nLtd'
    assert rows[-1][0] == f"INV-2027-{N - 1:06d}"
    assert rows[-1][7] == f"{(1000 + N - 1) / 100:.2f}"


@pytest.mark.slow
def test_the_api_streams_the_export(api, many_invoices):
    response = api.get("/exports/invoices.csv?from=2027-03-01&to=2027-03-31", buffered=False)
    assert response.status_code == 200
    assert response.is_streamed
    assert response.headers["X-Total-Count"] == str(N)
    pieces = list(response.response)
    assert len(pieces) > N // 500  # written as it goes, a chunk at a time
    rows = list(csv.reader(io.StringIO(b"".join(pieces).decode("utf-8"))))
    assert len(rows) == N + 1


# The command ------------------------------------------------------------------------


@pytest.fixture
def run(tmp_path):
    env = {
        "BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path}/cli.sqlite3",
        "BRIDGE_SECRET_KEY": "cli-secret",
        "BRIDGE_INSTANCE_PATH": str(tmp_path / "instance"),
        "BRIDGE_ENV": "development",
    }

    def invoke(*args):
        return CliRunner().invoke(cli, list(args), env=env)

    invoke.env = env
    return invoke


def _seed(url: str) -> None:
    from bridge.db import make_engine

    engine = make_engine(url)
    from sqlalchemy.orm import Session

    with Session(engine) as s:
        shop.open_business(s)
        client = s.get(Client, shop.add_client(s, name="Zoë, Ünïcode & Co"))
        _bulk_invoices(s, client.id, 30)
        s.commit()
    engine.dispose()


def test_export_command_writes_the_file_with_a_progress_bar(run, tmp_path):
    assert run("db", "upgrade").exit_code == 0
    _seed(run.env["BRIDGE_DATABASE_URL"])
    target = tmp_path / "invoices.csv"
    result = run(
        "export", "invoices", "--from", "2027-03-01", "--to", "2027-03-31", "-o", str(target)
    )
    assert result.exit_code == 0, result.output
    assert "invoices.csv" in result.stderr  # the progress bar's label
    assert "30 rows of invoices" in result.stderr
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert len(rows) == 31
    assert rows[1][4] == "Zoë, Ünïcode & Co"
    empty = run("export", "invoices", "--from", "2027-04-01")
    assert empty.exit_code == 0
    assert empty.stdout.splitlines() == [",".join(rows[0])]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("export", "everything"), "'everything' is not one of"),
        (("export", "invoices", "--from", "2027-13-01"), "'2027-13-01' does not match"),
        (("export", "invoices", "--from", "2027-03-02", "--to", "2027-03-01"), "is after --to"),
        (("export", "payments", "--from", "0001-01-01"), "Dates go from"),
    ],
)
def test_export_command_refuses_bad_input_with_status_2(run, args, message):
    assert run("db", "upgrade").exit_code == 0
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
