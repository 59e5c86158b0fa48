"""Does a seal cost more as the ledger grows? Prints figures; not a test.

    DJANGO_SETTINGS_MODULE=ami.settings.test python bench/seal_cost.py --groups 1000000

On a scratch database (``--database``, default ``ledger_bench_seal``, dropped and migrated
afresh): a first move of ``--groups`` single-row inserts fills the ledger, then small moves
(one row updated each) are timed from BEGIN to the end of COMMIT, before and after it. Beside
them, the server's time for the next entry id read by key (what a seal reads) and as
``max(id + row_count)`` over every group (what it read before migration 0005).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ami.settings.test")

import django

from bench.ledger_capture import ensure_database, execute

_TABLE = "CREATE TABLE bench_note (code text PRIMARY KEY, body text)"
_OVER_EVERY_GROUP = "SELECT coalesce(max(id + row_count), 1) FROM ledger_change"


def small_moves(count: int) -> list[float]:
    """Seconds of ``count`` moves of one updated row each, BEGIN to the end of COMMIT."""
    from django.db import transaction

    import ledger

    times = []
    for n in range(count):
        start = time.perf_counter()
        with transaction.atomic(), ledger.recording(command="bench", reason="r", operator="b"):
            execute("UPDATE bench_note SET body = %s WHERE code = 'first'", [str(n)])
        times.append(time.perf_counter() - start)
    return times


def server_ms(query: str) -> float:
    """The server's time for a query, best of three (EXPLAIN ANALYZE, no transfer)."""
    from django.db import connection

    best = float("inf")
    with connection.cursor() as cursor:
        for _ in range(3):
            cursor.execute("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + query)
            (plan,) = cursor.fetchone()
            best = min(best, plan[0]["Execution Time"])
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=1_000_000)
    parser.add_argument("--moves", type=int, default=7)
    parser.add_argument("--database", default="ledger_bench_seal")
    args = parser.parse_args()
    ensure_database(args.database)
    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    import ledger
    from ledger.protect import NEXT_ENTRY
    from ledger.registry import _registry

    call_command("migrate", verbosity=0)
    execute(_TABLE)
    execute("INSERT INTO bench_note VALUES ('first', '')")
    _registry.clear()
    ledger.register_table("bench_note", pk="code", label="bench.Note")
    before = statistics.median(small_moves(args.moves))
    start = time.perf_counter()
    with transaction.atomic(), ledger.recording(command="bench", reason="r", operator="b"):
        execute(
            "INSERT INTO bench_note SELECT 'n' || g, 'x' FROM generate_series(1, %s) g",
            [args.groups],
        )
    filled = time.perf_counter() - start
    execute("VACUUM ANALYZE ledger_move, ledger_step, ledger_change")
    after = statistics.median(small_moves(args.moves))
    sys.stdout.write(
        f"ledger filled with {args.groups:,} single-row groups in {filled:.1f} s\n"
        f"a one-row move, BEGIN to COMMIT (median of {args.moves}): {before * 1000:.1f} ms on "
        f"an empty ledger, {after * 1000:.1f} ms after it\n"
        f"the next entry id on the server: by key {server_ms('SELECT ' + NEXT_ENTRY):.2f} ms, "
        f"over every group {server_ms(_OVER_EVERY_GROUP):.1f} ms (before migration 0005, "
        "twice a seal)\n"
    )


if __name__ == "__main__":
    main()
