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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ami.settings.test")


from bench.ledger_capture import ensure_database, execute, explain_seconds, recorded, timed

_TABLE = "CREATE TABLE bench_note (code text PRIMARY KEY, body text)"
_OVER_EVERY_GROUP = "SELECT coalesce(max(id + row_count), 1) FROM ledger_change"


def small_moves(count: int) -> list[float]:
    """Seconds of ``count`` moves of one updated row each, BEGIN to the end of COMMIT."""
    update = "UPDATE bench_note SET body = %s WHERE code = 'first'"
    return [timed(recorded(update, [str(n)])) for n in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=1_000_000)
    parser.add_argument("--moves", type=int, default=7)
    parser.add_argument("--database", default="ledger_bench_seal")
    args = parser.parse_args()
    ensure_database(args.database)
    import ledger
    from ledger.protect import NEXT_ENTRY
    from ledger.registry import _registry

    execute(_TABLE)
    execute("INSERT INTO bench_note VALUES ('first', '')")
    _registry.clear()
    ledger.register_table("bench_note", pk="code", label="bench.Note")
    before = statistics.median(small_moves(args.moves))
    fill = "INSERT INTO bench_note SELECT 'n' || g, 'x' FROM generate_series(1, %s) g"
    filled = timed(recorded(fill, [args.groups]))
    execute("VACUUM ANALYZE ledger_move, ledger_step, ledger_change")
    after = statistics.median(small_moves(args.moves))
    by_key = explain_seconds("SELECT " + NEXT_ENTRY) * 1000
    over_every_group = explain_seconds(_OVER_EVERY_GROUP) * 1000
    sys.stdout.write(
        f"ledger filled with {args.groups:,} single-row groups in {filled:.1f} s\n"
        f"a one-row move, BEGIN to COMMIT (median of {args.moves}): {before * 1000:.1f} ms on "
        f"an empty ledger, {after * 1000:.1f} ms after it\n"
        f"the next entry id on the server: by key {by_key:.2f} ms, over every group "
        f"{over_every_group:.1f} ms (before migration 0005, twice a seal)\n"
    )


if __name__ == "__main__":
    main()
