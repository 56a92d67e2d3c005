"""API benchmark: the client list under load, next to a no-database baseline.

Run it from the repository root (PostgreSQL must be reachable)::

    .venv/bin/python bench/api.py                    # 10,000 clients, 10 s per measurement
    .venv/bin/python bench/api.py --clients 50000 --duration 30 --connections 16
    .venv/bin/python bench/api.py --help

What it does:

1. Creates a scratch database ``bridge_bench_<random>`` on the server of
   ``--database-url`` (used only as an admin connection), migrates it, sets the
   currency (EUR) and bulk-loads ``--clients`` clients (statuses spread over
   active / pending / inactive, varied names and companies so ``q=an`` matches a
   realistic share) with 1-3 sites each, then a staff user and an API token.
2. Counts the SQL statements of one client-list request for page sizes 10, 50
   and 100, in process (Flask test client, ``before_cursor_execute`` listener on
   the app's engine): the count must not grow with the page size.
3. Serves the app with gunicorn (``--workers`` sync workers, or gthread workers
   with ``--threads N`` > 1) on a free loopback port, through ``bench/_wsgi.py``,
   which adds ``GET /bench/ping``: a JSON answer of the same app without the
   database.
4. Measures, after a warm-up, for ``--duration`` seconds each, with ``wrk``
   when it is installed (else a closed-loop Python generator, one
   ``http.client`` connection per thread):
   (a) the baseline ``GET /bench/ping``;
   (b) ``GET /api/v1/clients?per_page=50&status=active&q=an`` with a bearer token.
5. Prints requests/s and p50 / p95 / p99 latency of both, the ratio
   client list / baseline, and checks the targets: ratio >= 0.25 and client list
   p95 < 50 ms; then the CPU time per request of gunicorn's workers, of the
   PostgreSQL backends and of the generator (Linux /proc), which depends little
   on what else runs on the machine.
6. Stops gunicorn and drops the scratch database, also on error or Ctrl-C.

The load generator runs on the same machine as the server and PostgreSQL and
takes CPU from them (on a 2-core machine, noticeably): the ratio to the
baseline is the figure that travels between machines, not the raw req/s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random
from urllib.parse import urlsplit

from sqlalchemy import create_engine, event, insert, select, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import Session

import bridge
from bridge import db, migrate
from bridge.auth.accounts import create_staff_user, create_token
from bridge.auth.secrets import SecretBox
from bridge.billing.business import set_currency
from bridge.billing.clients import search_text
from bridge.models import Client, ClientStatus, Role, Site

BENCH_DIR = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent  # .venv/bin when run as .venv/bin/python
DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

PING_PATH = "/bench/ping"
CLIENTS_PATH = "/api/v1/clients?per_page=50&status=active&q=an"
TARGET_RATIO = 0.25
TARGET_P95_MS = 50.0
PAGE_SIZES = (10, 50, 100)
BATCH = 2000
# Throwaway credentials of the scratch database, dropped at the end.
BENCH_SECRET_KEY = "bench"  # noqa: S105
BENCH_PASSWORD = "bench-password-1"  # noqa: S105


def words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Varied on purpose: some names contain "an" (Anna, Laurent, Hansen...), most
# do not, so the text filter keeps a realistic share of the clients.
FIRST_NAMES = words(
    "Anna Daniel Jean Ryan Hannah Juan Andrea Ivan Stefan Susan Diana Frank Marie Lucas "
    "Chloe Sofia Olivia Noah Emma Louis Paul Sophie Hugo Lea Camille Julie Thomas Pierre "
    "Giulia Marco Eva Oskar Ines Pedro Yuki Kenji Aisha Omar Lars Mia Zoe Felix Clara "
    "Nils Rosa Victor Alice Leo"
)
LAST_NAMES = words(
    "Martin Bernard Dubois Laurent Schmidt Muller Rossi Garcia Fernandez Kowalski Nowak "
    "Jansen Hansen Peters Moreau Leroy Roux Fournier Girard Bonnet Weber Meyer Wagner "
    "Becker Fischer Ricci Russo Costa Silva Santos Lopez Perez Sato Suzuki Kim Park "
    "Novak Horvat Nagy Popescu Ivanova Berg Lind Olsen Dahl Quinn Walsh Kelly Byrne"
)
COMPANY_SUFFIXES = (
    "Studio",
    "Agency",
    "Media",
    "Digital",
    "Consulting",
    "& Co",
    "Web",
    "Design",
    "Labs",
    "Partners",
    "Shop",
    "Boutique",
    "",
)
CITIES = ("Paris", "Lyon", "Berlin", "Milano", "Madrid", "Lisboa", "Oslo", "Dublin", "Wien")
COUNTRIES = ("FR", "FR", "DE", "IT", "ES", "PT", "NO", "IE", "AT")
STATUS_WEIGHTS = {ClientStatus.ACTIVE: 5, ClientStatus.PENDING: 2, ClientStatus.INACTIVE: 3}

LUA_DONE = """
done = function(summary, latency, requests)
  io.write(string.format("BENCH_P95_US %d\\n", latency:percentile(95)))
end
"""


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    # CPU milliseconds per request by gunicorn's workers, the PostgreSQL
    # backends of the bench database and the load generator (None: unknown)
    cpu_ms: dict[str, float | None] = field(default_factory=dict)


class Interrupted(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C so that the clean-up runs."""


def _on_sigterm(_signum, _frame):
    raise Interrupted


# Database -------------------------------------------------------------------


def admin_engine(admin_url: str) -> Engine:
    return create_engine(db.normalize_url(admin_url), isolation_level="AUTOCOMMIT")


def create_database(admin: Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))


def drop_database(admin: Engine, name: str) -> None:
    with admin.connect() as conn:
        # FORCE (PostgreSQL 13+) ends connections a crashed worker may have left.
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def client_rows(count: int, rng: Random, role_id: int, now: datetime) -> list[dict]:
    statuses = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()), k=count)
    rows = []
    for i in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        company = f"{rng.choice(LAST_NAMES)} {rng.choice(COMPANY_SUFFIXES)}".strip()
        email = f"{first}.{last}.{i}@example.org"
        city = rng.randrange(len(CITIES))
        rows.append(
            {
                "name": f"{first} {last}",
                "email": email,
                "email_key": email.lower(),
                "company": company,
                "search_text": search_text(f"{first} {last}", email, company),
                "address_line1": f"{rng.randint(1, 200)} Main Street",
                "address_line2": "",
                "city": CITIES[city],
                "postal_code": f"{rng.randint(1000, 99999)}",
                "state": "",
                "country": COUNTRIES[city],
                "status": statuses[i],
                "role_id": role_id,
                "custom_fields": {},
                "created_at": now - timedelta(minutes=count - i),
            }
        )
    return rows


def load_data(engine: Engine, count: int, seed: int) -> dict:
    """Currency, ``count`` clients with 1-3 sites each (bulk Core inserts),
    a staff user and its API token. Returns the token and a few counts."""
    rng = Random(seed)
    now = datetime.now(UTC)
    started = time.perf_counter()
    with Session(engine) as session:
        set_currency(session, "EUR", confirm=True)
        session.commit()
        role_id = session.scalar(select(Role.id).where(Role.is_default))

    secret = SecretBox(None, BENCH_SECRET_KEY).encrypt("bbs_" + secrets.token_urlsafe(32))
    rows = client_rows(count, rng, role_id, now)
    with engine.begin() as conn:
        for start in range(0, count, BATCH):
            conn.execute(insert(Client.__table__), rows[start : start + BATCH])
        ids = dict(conn.execute(select(Client.email_key, Client.id)).all())
        sites = []
        for row in rows:
            slug = row["email_key"].split("@")[0].replace(".", "-")
            for n in range(rng.randint(1, 3)):
                sites.append(
                    {
                        "public_id": f"site_{rng.getrandbits(96):024x}",
                        "client_id": ids[row["email_key"]],
                        "name": f"{row['company']} shop" if n else row["company"],
                        "url": f"https://{slug}-{n}.example.net",
                        "secret_encrypted": secret,
                        "secret_rotated_at": row["created_at"],
                        "disabled": False,
                        "created_at": row["created_at"],
                    }
                )
        for start in range(0, len(sites), BATCH):
            conn.execute(insert(Site.__table__), sites[start : start + BATCH])
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))  # planner statistics, as on a live database
    loaded = time.perf_counter() - started

    with Session(engine) as session:
        user = create_staff_user(session, email="bench@example.org", password=BENCH_PASSWORD)
        _record, token = create_token(session, user, name="bench")
        session.commit()
    statuses = {s: sum(1 for r in rows if r["status"] == s) for s in ClientStatus}
    return {"token": token, "sites": len(sites), "statuses": statuses, "seconds": loaded}


# SQL statements per request (in process) -------------------------------------


def count_queries(bench_url: str, token: str, instance_path: str) -> dict:
    """SQL statements and pool checkouts of one client-list request per page size."""
    os.environ["BRIDGE_INSTANCE_PATH"] = instance_path
    app = bridge.create_app({"DATABASE_URL": bench_url, "SECRET_KEY": BENCH_SECRET_KEY})
    engine = app.extensions["bridge.db"].engine
    statements: list[str] = []
    checkouts = [0]

    def on_execute(_conn, _cursor, statement, *_args):
        statements.append(statement)

    def on_checkout(*_args):
        checkouts[0] += 1

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine.pool, "checkout", on_checkout)
    headers = {"Authorization": f"Bearer {token}"}
    out = {"pages": []}
    try:
        client = app.test_client()
        for query, key in (("q=an", "matching_q"), ("status=active&q=an", "matching")):
            response = client.get(f"/api/v1/clients?per_page=1&{query}", headers=headers)
            out[key] = response.get_json()["total"]
        for size in PAGE_SIZES:
            url = f"/api/v1/clients?per_page={size}&status=active&q=an"
            client.get(url, headers=headers)  # warm: the token's "last used" write, caches
            statements.clear()
            checkouts[0] = 0
            response = client.get(url, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: HTTP {response.status_code} {response.data[:300]!r}")
            out["pages"].append(
                {
                    "per_page": size,
                    "rows": len(response.get_json()["data"]),
                    "queries": len(statements),
                    "checkouts": checkouts[0],
                    "statements": list(statements),
                }
            )
    finally:
        app.extensions["bridge.db"].dispose()
    return out


# Server ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(port: int, path: str, headers: dict | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def start_server(args, bench_url: str, tmpdir: str, port: int) -> subprocess.Popen:
    env = dict(
        os.environ,
        BRIDGE_DATABASE_URL=bench_url,
        BRIDGE_SECRET_KEY=BENCH_SECRET_KEY,
        BRIDGE_INSTANCE_PATH=tmpdir,
    )
    command = [
        str(VENV_BIN / "gunicorn"),
        "-w",
        str(args.workers),
        "-k",
        "gthread" if args.threads > 1 else "sync",
        "--threads",
        str(args.threads),
        "-b",
        f"127.0.0.1:{port}",
        "--pythonpath",
        str(BENCH_DIR),
        "--error-logfile",
        str(Path(tmpdir) / "gunicorn.log"),
        "--log-level",
        "warning",
        "_wsgi:create_app()",
    ]
    # Its own session: Ctrl-C reaches the bench only, which then stops gunicorn.
    return subprocess.Popen(command, env=env, start_new_session=True)


def wait_healthy(server: subprocess.Popen, port: int, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            break
        try:
            status, _body = http_get(port, "/healthz")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    tail = log.read_text()[-3000:] if log.exists() else ""
    raise RuntimeError(f"gunicorn did not answer /healthz with 200:\n{tail}")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.terminate()  # SIGTERM: gunicorn's graceful shutdown
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def cpu_busy_percent(seconds: float = 1.0) -> float | None:
    """Share of the machine's CPU time used over ``seconds`` (Linux /proc/stat):
    with the server idle, what other processes take from the benchmark."""

    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        return sum(values), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    total = total1 - total0
    return 100.0 * (total - (idle1 - idle0)) / total if total else None


# Load generators ------------------------------------------------------------

WRK_LATENCY = re.compile(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", re.M)
WRK_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def run_wrk(args, url: str, headers: dict, duration: float, name: str, lua: Path) -> Result:
    command = [
        "wrk",
        f"-t{min(args.wrk_threads, args.connections)}",
        f"-c{args.connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(lua),
    ]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    done = subprocess.run(command + [url], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    output = done.stdout
    try:
        latencies = {p: float(v) * WRK_UNITS_MS[u] for p, v, u in WRK_LATENCY.findall(output)}
        p95_ms = int(re.search(r"^BENCH_P95_US (\d+)", output, re.M).group(1)) / 1000
        rps = float(re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M).group(1))
        requests = int(re.search(r"^\s*(\d+) requests in", output, re.M).group(1))
        non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
        socket_errors = re.search(
            r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
        )
        errors = int(non_2xx.group(1)) if non_2xx else 0
        errors += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
        return Result(name, requests, errors, rps, latencies["50"], p95_ms, latencies["99"])
    except (AttributeError, KeyError) as exc:
        raise RuntimeError(f"cannot read wrk's output:\n{output}") from exc


def percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def run_python(
    args,
    url: str,
    headers: dict,
    duration: float,
    name: str,
    requests: list[tuple[str, dict]] | None = None,
) -> Result:
    """Closed loop: ``--connections`` threads, each one request at a time on its
    own keep-alive connection (reopened when the server closes it). With
    ``requests`` (path and headers of each), the threads take them in turn
    instead of repeating ``url`` with ``headers``."""
    parts = urlsplit(url)
    if requests is None:
        requests = [(parts.path + (f"?{parts.query}" if parts.query else ""), headers)]
    start = threading.Barrier(args.connections + 1)
    samples: list[tuple[list[float], int]] = []
    lock = threading.Lock()
    deadline = [0.0]

    def worker(first: int):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        latencies, errors = [], 0
        turn = first
        start.wait()
        while (began := time.perf_counter()) < deadline[0]:
            path, sent = requests[turn % len(requests)]
            turn += args.connections
            try:
                conn.request("GET", path, headers=sent)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                continue
            if response.status != 200:
                errors += 1
            latencies.append((time.perf_counter() - began) * 1000)
        conn.close()
        with lock:
            samples.append((latencies, errors))

    threads = [
        threading.Thread(target=worker, args=(n,), daemon=True) for n in range(args.connections)
    ]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + duration
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    latencies = sorted(ms for batch, _ in samples for ms in batch)
    errors = sum(e for _, e in samples)
    return Result(
        name,
        len(latencies),
        errors,
        len(latencies) / elapsed,
        percentile(latencies, 50),
        percentile(latencies, 95),
        percentile(latencies, 99),
    )


# CPU accounting (Linux /proc): CPU time per request does not depend much on
# what else runs on the machine, unlike requests/s.

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process, or None when it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return None


def child_pids(parent: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                pids.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return pids


class CpuMeter:
    """CPU time of gunicorn's workers and of the PostgreSQL backends serving the
    bench database (when PostgreSQL runs on this machine)."""

    def __init__(self, admin: Engine, database: str, server: subprocess.Popen):
        self.admin, self.database, self.server = admin, database, server

    def pids(self) -> dict[str, list[int]]:
        with self.admin.connect() as conn:
            backends = conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = :name"),
                {"name": self.database},
            ).scalars()
            return {"gunicorn": child_pids(self.server.pid), "postgres": list(backends)}

    @staticmethod
    def sample(pids: dict[str, list[int]]) -> dict[str, dict[int, float]]:
        return {
            group: {pid: cpu for pid in members if (cpu := process_cpu(pid)) is not None}
            for group, members in pids.items()
        }

    @staticmethod
    def per_request(before: dict, after: dict, requests: int) -> dict[str, float | None]:
        out = {}
        for group, start in before.items():
            common = [pid for pid in start if pid in after[group]]
            used = sum(after[group][pid] - start[pid] for pid in common)
            out[group] = 1000 * used / requests if common and requests else None
        return out


def generator_cpu(generator: str) -> float:
    """CPU seconds used so far by the generator: wrk (a waited-for child) or this process."""
    if generator == "wrk":
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    else:
        usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(
    args,
    generator: str,
    port: int,
    path: str,
    headers: dict,
    name: str,
    lua: Path | None,
    meter,
    requests: list[tuple[str, dict]] | None = None,
) -> Result:
    """``path`` with ``headers``, or each of ``requests`` in turn (by the
    Python generator)."""
    url = f"http://127.0.0.1:{port}{path}"

    def run(duration: float, label: str) -> Result:
        if generator == "wrk" and requests is None:
            return run_wrk(args, url, headers, duration, label, lua)
        return run_python(args, url, headers, duration, label, requests)

    if args.warmup > 0:
        run(args.warmup, "warm-up")
    pids = meter.pids()
    before, gen_before = meter.sample(pids), generator_cpu(generator)
    result = run(args.duration, name)
    after, gen_after = meter.sample(pids), generator_cpu(generator)
    result.cpu_ms = meter.per_request(before, after, result.requests)
    result.cpu_ms["generator"] = (
        1000 * (gen_after - gen_before) / result.requests if result.requests else None
    )
    return result


# Report ---------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_report(
    args, generator: str, results: list[Result], counts: dict, load_before: float | None
) -> None:
    cores = os.cpu_count() or 1
    worker_kind = (
        f"{args.workers} gthread workers x {args.threads} threads"
        if args.threads > 1
        else f"{args.workers} sync workers"
    )
    if generator == "wrk":
        gen = f"wrk ({min(args.wrk_threads, args.connections)} thread(s))"
    else:
        gen = "Python closed loop (http.client, one thread per connection)"
    print()
    print(f"server:     gunicorn, {worker_kind}, PostgreSQL on loopback")
    print(f"generator:  {gen}, {args.connections} connections, {args.duration:g} s each")
    print(f"machine:    {cores} CPU cores shared by the generator, gunicorn and PostgreSQL")
    if load_before is not None:
        noisy = (
            " (other processes were busy: figures are low and noisy)" if load_before > 10 else ""
        )
        print(f"            CPU busy before measuring, server idle: {load_before:.0f}%{noisy}")
    print()
    header = (
        f"{'endpoint':<48} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.name:<48} {r.rps:>9.1f} {r.p50_ms:>8.2f} {r.p95_ms:>8.2f} "
            f"{r.p99_ms:>8.2f} {r.errors:>7}"
        )
    baseline, clients = results
    ratio = clients.rps / baseline.rps if baseline.rps else 0.0
    print()
    print(
        f"ratio client_list / baseline: {ratio:.3f}   target >= {TARGET_RATIO} "
        f"({TARGET_RATIO * baseline.rps:.0f} req/s here; about 700 req/s on a 2-core machine)"
        f"   {verdict(ratio >= TARGET_RATIO)}"
    )
    print(
        f"client list p95:              {clients.p95_ms:.2f} ms   target < {TARGET_P95_MS:g} ms"
        f"{'':>43}{verdict(clients.p95_ms < TARGET_P95_MS)}"
    )
    print()
    print("CPU time per request (ms), independent of how busy the machine is:")
    groups = ("gunicorn", "postgres", "generator")
    print(f"  {'endpoint':<48} " + " ".join(f"{g:>10}" for g in groups) + f" {'ceiling':>12}")
    for r in results:
        values = [r.cpu_ms.get(g) for g in groups]
        cells = " ".join(f"{v:>10.2f}" if v is not None else f"{'?':>10}" for v in values)
        server_ms = sum(v for v in values[:2] if v is not None)
        ceiling = f"{cores * 1000 / server_ms:>6.0f} req/s" if server_ms else f"{'?':>12}"
        print(f"  {r.name:<48} {cells} {ceiling}")
    print(
        f"  ceiling: {cores} cores / (gunicorn + postgres CPU per request), "
        "the rate with the CPU all theirs and no generator"
    )
    if baseline.errors or clients.errors:
        print("WARNING: some requests failed (non-2xx or socket errors): see the errors column")

    print()
    print("SQL statements per client-list request (in process, status=active&q=an):")
    print(f"  {'per_page':>8} {'rows':>6} {'queries':>8} {'pool checkouts':>15}")
    for page in counts["pages"]:
        print(
            f"  {page['per_page']:>8} {page['rows']:>6} {page['queries']:>8} "
            f"{page['checkouts']:>15}"
        )
    queries = {page["queries"] for page in counts["pages"]}
    constant = len(queries) == 1
    print(f"  constant across page sizes: {'yes' if constant else 'NO'}   {verdict(constant)}")
    if args.show_sql:
        for statement in counts["pages"][0]["statements"]:
            print("    " + " ".join(statement.split())[:200])


# Main -----------------------------------------------------------------------


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """The options of a measurement against gunicorn on a scratch database
    (``bench/site_api.py`` takes them too)."""
    parser.add_argument("--duration", type=float, default=10, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2, help="warm-up seconds before each")
    parser.add_argument(
        "--database-url",
        default=DEFAULT_ADMIN_URL,
        help="admin connection, used only to create and drop the scratch database",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--threads", type=int, default=1, help="threads per worker (> 1: gthread, else sync)"
    )
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark GET /api/v1/clients against a no-database baseline.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--clients", type=int, default=10_000, help="clients to load")
    add_server_options(parser)
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--generator", choices=("auto", "wrk", "python"), default="auto", help="load generator"
    )
    parser.add_argument(
        "--sql",
        action="append",
        default=[],
        metavar="STATEMENT",
        help="extra SQL run on the scratch database after loading (repeatable), e.g. to "
        "try an index before writing its migration: --sql 'CREATE INDEX ON clients (name, id)'",
    )
    parser.add_argument(
        "--query",
        default=CLIENTS_PATH.partition("?")[2],
        help="the client list's query string (the targets are for the default), e.g. "
        "'per_page=50&status=active&q=laurent' for a search of more than two letters",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated data")
    parser.add_argument("--show-sql", action="store_true", help="print the counted statements")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.workers < 1 or args.connections < 1 or args.duration <= 0:
        parser.error("--clients, --workers, --connections and --duration must be positive")
    return args


def choose_generator(requested: str) -> str:
    if requested == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if requested == "wrk" and not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install -y wrk), or use --generator python")
    return requested


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    generator = choose_generator(args.generator)
    signal.signal(signal.SIGTERM, _on_sigterm)

    admin_url: URL = make_url(db.normalize_url(args.database_url))
    name = f"bridge_bench_{secrets.token_hex(4)}"
    bench_url = admin_url.set(database=name).render_as_string(hide_password=False)
    admin = admin_engine(args.database_url)
    engine = server = None
    created = False
    tmpdir = tempfile.mkdtemp(prefix="bridge-bench-")
    try:
        created = True  # before: an interrupted CREATE may still have created it
        create_database(admin, name)
        print(f"database:   {name} (dropped at the end)")
        engine = db.make_engine(bench_url)
        migrate.upgrade(engine)
        data = load_data(engine, args.clients, args.seed)
        spread = ", ".join(f"{s.value} {n}" for s, n in data["statuses"].items())
        print(
            f"loaded:     {args.clients:,} clients ({spread}) and {data['sites']:,} sites "
            f"in {data['seconds']:.2f} s"
        )

        if args.sql:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for statement in args.sql:
                    conn.exec_driver_sql(statement)
                conn.exec_driver_sql("ANALYZE")
            print(f"extra SQL:  {'; '.join(args.sql)}")

        counts = count_queries(bench_url, data["token"], tmpdir)
        print(
            f"filter:     q=an matches {counts['matching_q']:,} clients, "
            f"status=active&q=an {counts['matching']:,}"
        )

        port = free_port()
        server = start_server(args, bench_url, tmpdir, port)
        wait_healthy(server, port, Path(tmpdir) / "gunicorn.log")
        auth = {"Authorization": f"Bearer {data['token']}"}
        clients_path = "/api/v1/clients?" + args.query
        for path, headers in ((PING_PATH, {}), (clients_path, auth)):
            status, body = http_get(port, path, headers)
            if status != 200:
                raise RuntimeError(f"GET {path}: HTTP {status} {body[:300]!r}")
        json.loads(body)  # the client list answers JSON
        print(f"server:     http://127.0.0.1:{port} ({generator} generator), measuring...")
        load_before = cpu_busy_percent()

        lua = Path(tmpdir) / "p95.lua"
        lua.write_text(LUA_DONE)
        meter = CpuMeter(admin, name, server)
        results = [
            measure(args, generator, port, PING_PATH, {}, f"baseline GET {PING_PATH}", lua, meter),
            measure(args, generator, port, clients_path, auth, f"GET {clients_path}", lua, meter),
        ]
        stop_server(server)
        print_report(args, generator, results, counts, load_before)
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up", file=sys.stderr)
        return 130
    finally:
        if server is not None:
            stop_server(server)
        if engine is not None:
            engine.dispose()
        if created:
            drop_database(admin, name)
        admin.dispose()
        shutil.rmtree(tmpdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
