"""Run every benchmark against its baseline in the same run and print one line each.

    python bench/run.py [--quick] [--only NAME ...]

PostgreSQL when DATABASE_URL is set (on a database of its own, ``<db>_bench``), SQLite
otherwise. gunicorn (2 sync workers) is pinned to CPU 0 with the database; wrk and the Python
load clients to CPU 1. Each line: the figure, the baseline's figure, their ratio, and the peak
RSS of each server or worker process.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"


@dataclass
class Line:
    name: str
    figure: str
    baseline: str
    ratio: float
    target: str
    note: str = ""

    def __str__(self) -> str:
        met = "" if not self.target else f"  target {self.target}"
        return (
            f"{self.name:<22} {self.figure:<34} baseline {self.baseline:<34} "
            f"ratio {self.ratio:5.2f}{met}  {self.note}"
        )


def setup_django() -> None:
    import django

    from bench.settings import DATABASES

    db = DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.postgresql":
        import psycopg

        with psycopg.connect(
            host=db.get("HOST") or "127.0.0.1",
            port=int(db.get("PORT") or 5432),
            user=db.get("USER") or "postgres",
            password=db.get("PASSWORD") or None,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{db["NAME"]}"')
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    env.pop("CACHE_URL", None)  # the lookup target is met without a cache
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs, smaller data")
    parser.add_argument("--only", nargs="*", help="run only these benchmarks")
    args = parser.parse_args()
    setup_django()

    from bench import benchmarks

    plan: list[tuple[str, Callable[[bool], Line]]] = benchmarks.ALL
    if args.only:
        plan = [(n, f) for n, f in plan if n in args.only]
    from django.db import connection

    print(
        f"# database: {connection.vendor}; cores: {os.cpu_count()}; "
        f"{'quick' if args.quick else 'full'} run; {time.strftime('%Y-%m-%d %H:%M:%S')}"
    )
    failures = 0
    for name, bench in plan:
        try:
            print(bench(args.quick), flush=True)
        except Exception as exc:  # one failing benchmark must not hide the others
            failures += 1
            traceback.print_exc()
            print(f"{name:<22} FAILED: {type(exc).__name__}: {exc}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
