"""Run one measured piece of work in this process and write its figures as JSON.

    python -m bench.probe --out FILE command move_project_data --source-project 1 ...
    python -m bench.probe --out FILE --phases command move_project_data ... --execute
    python -m bench.probe --out FILE --phases command revert_move MOVE_ID --execute
    python -m bench.probe --out FILE scenario floor --plan plan.json
    python -m bench.probe --out FILE scenario writes

The harness (``bench/run.py``) starts this module in a subprocess with ``DATABASE_URL`` set,
so the peak RSS it reports is this process's own, the WAL the server wrote meanwhile is the
work's, and the timing covers the work only (Django setup and imports excluded; ``wall`` in
the parent includes them).

Queries are counted on the psycopg2 connection itself (a counting ``cursor_factory`` set on
every new connection), so statements the ledger runs on the raw connection are counted as well
as Django's. ``BEGIN``/``COMMIT`` issued by the driver are not statements and are not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ami.settings.base")

import django  # noqa: E402
import psycopg2  # noqa: E402
import psycopg2.extensions  # noqa: E402

_counts = {"queries": 0}


class CountingCursor(psycopg2.extensions.cursor):
    """A psycopg2 cursor that counts the statements sent through it."""

    def execute(self, query, vars=None):
        _counts["queries"] += 1
        return super().execute(query, vars)

    def executemany(self, query, vars_list):
        _counts["queries"] += 1
        return super().executemany(query, vars_list)

    def copy_expert(self, sql, file, size=8192):
        _counts["queries"] += 1
        return super().copy_expert(sql, file, size)


def _install_counter() -> None:
    from django.db.backends.signals import connection_created

    def on_created(sender, connection, **kwargs) -> None:
        connection.connection.cursor_factory = CountingCursor

    connection_created.connect(on_created, weak=False)


def _wal(query: str, params: list[str] | None = None) -> object:
    """One value from the server on a connection of its own (not counted, not Django's)."""
    conn = psycopg2.connect(os.environ["DATABASE_URL"])
    try:
        with conn.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchone()[0]
    finally:
        conn.close()


def _peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run_command(argv: list[str], phases: bool) -> dict[str, object]:
    from django.core.management import call_command

    timer = None
    if phases:
        from bench.phases import PhaseTimer

        timer = PhaseTimer(argv[0])
        timer.install()
    start = time.perf_counter()
    call_command(*argv)
    seconds = time.perf_counter() - start
    result: dict[str, object] = {"seconds": seconds}
    if timer is not None:
        result["phases"] = timer.report(seconds)
    return result


def _run_scenario(name: str, plan_path: str | None) -> dict[str, object]:
    from bench import scenarios

    if name == "floor":
        plan = json.loads(Path(plan_path or "").read_text())
        return {"seconds": scenarios.run_floor(plan)}
    if name == "writes":
        timings = scenarios.run_writes()
        return {"seconds": sum(timings.values()), "parts": timings}
    raise SystemExit(f"unknown scenario {name!r}: use floor or writes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="where to write the JSON figures")
    parser.add_argument(
        "--phases", action="store_true", help="time the phases of an execute or a revert"
    )
    sub = parser.add_subparsers(dest="kind", required=True)
    command = sub.add_parser("command")
    command.add_argument("argv", nargs=argparse.REMAINDER)
    scenario = sub.add_parser("scenario")
    scenario.add_argument("name", choices=("floor", "writes"))
    scenario.add_argument("--plan")
    args = parser.parse_args()

    django.setup()
    _install_counter()
    wal_start = _wal("SELECT pg_current_wal_lsn()::text")
    if args.kind == "command":
        result = _run_command(args.argv, args.phases)
    else:
        result = _run_scenario(args.name, args.plan)
    result["queries"] = _counts["queries"]
    result["peak_rss_mb"] = _peak_rss_mb()
    # The WAL the server wrote meanwhile: the work's own, as nothing else runs beside it.
    result["wal_mb"] = (
        float(_wal("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", [wal_start])) / 1e6
    )
    Path(args.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
