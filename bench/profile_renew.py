"""Where the renew job's CPU goes: loads ``--subscriptions`` due subscriptions
(as ``renewals.py`` does) into a scratch PostgreSQL database, runs the renew
job once in this process with the instant gateway, and prints the CPU per
renewal split between the renew step and the charge step, the statements per
renewal, and (unless ``--no-profile``) a cProfile of the run on a CPU clock.

    .venv/bin/python bench/profile_renew.py --no-profile          # the figures only
    .venv/bin/python bench/profile_renew.py --sort cumulative --show 60
    .venv/bin/python bench/profile_renew.py --callees "notify.py"  # who calls what
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import renewals as bench  # noqa: E402
from sqlalchemy import event, text  # noqa: E402

from bridge import db, migrate  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=bench.DEFAULT_ADMIN_URL)
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--show", type=int, default=40)
    parser.add_argument("--callees", default="", help="print the callees of these functions")
    parser.add_argument("--dump", help="also write the profile to this file (pstats)")
    args = parser.parse_args()

    from bridge.billing import renewals
    from scheduler.jobs import JobContext, run_job

    admin = bench.admin_engine(args.database_url)
    name, url = bench.scratch_url(args.database_url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        database = db.Database(url)
        migrate.upgrade(database.engine)
        bench.load(database, args.subscriptions)
        with database.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        database.dispose()

        database = db.Database(url)
        gateway = bench.InstantGateway()
        ctx = JobContext(database=database, gateway_factory=lambda _s: gateway, batch=50)
        statements = {"n": 0}

        @event.listens_for(database.engine, "before_cursor_execute")
        def _count(*_args):
            statements["n"] += 1

        renew_step = {}
        renew_due = renewals.renew_due

        def measured_renew_due(*a, **kw):
            report = renew_due(*a, **kw)
            renew_step["cpu"] = time.process_time() - cpu_start
            return report

        renewals.renew_due = measured_renew_due
        profile = cProfile.Profile(time.process_time)
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        if not args.no_profile:
            profile.enable()
        record = run_job(ctx, "renew")
        profile.disable()
        cpu, wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
        n = args.subscriptions
        renew_ms, charge_ms = renew_step["cpu"] / n * 1000, (cpu - renew_step["cpu"]) / n * 1000
        print(f"job ok: {record['ok']}, renewed {record['counts'].get('renewed')}")
        print(
            f"CPU per renewal {cpu / n * 1000:.2f} ms (renew step {renew_ms:.2f}, "
            f"charge step {charge_ms:.2f}); wall {wall / n * 1000:.2f} ms; "
            f"{statements['n'] / n:.2f} statements per renewal"
            + ("" if args.no_profile else " (profiled: CPU inflated)")
        )
        if not args.no_profile:
            stats = pstats.Stats(profile).sort_stats(args.sort)
            if args.dump:
                stats.dump_stats(args.dump)
            if args.callees:
                stats.print_callees(args.callees)
            else:
                stats.print_stats(args.show)
        database.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
