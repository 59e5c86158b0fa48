"""How long does ``row_history`` of one row take, and does it grow with the ledger?

    python bench/row_history.py [--rows 1000000] [--sizes 2 6] [--database-url URL]

In a scratch database (migrated, then dropped), a table of ``--rows`` rows is registered and
each recorded move updates every row, so each move adds ``--rows`` entries. At each ledger
size (in moves) it prints the time to bring the row index up to date (once, after the moves)
and the median and worst time of ``row_history`` for 25 random rows, measured inside the
process.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.dbs import DEFAULT_SERVER, Server  # noqa: E402

DB = "ami_bench_row_history"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 6])
    parser.add_argument("--database-url", default=DEFAULT_SERVER)
    args = parser.parse_args()
    server = Server(args.database_url)
    server.create(DB)
    env = {
        **os.environ,
        "DATABASE_URL": server.url(DB),
        "DJANGO_SETTINGS_MODULE": "ami.settings.base",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0", "--skip-checks"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    os.environ.update(env)
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection, transaction

    import ledger

    settings.LEDGER_SIGNING_KEY_FILE = None
    from ledger.registry import _registry

    _registry.clear()  # this benchmark's table only
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_rows (id bigserial PRIMARY KEY, v integer NOT NULL)")
        cursor.execute(
            "INSERT INTO bench_rows (v) SELECT 0 FROM generate_series(1, %s)", [args.rows]
        )
        cursor.execute("VACUUM ANALYZE bench_rows")
    ledger.register_table("bench_rows", label="bench.Rows")
    moves = 0
    for size in sorted(args.sizes):
        while moves < size:
            with (
                transaction.atomic(),
                ledger.recording(command="bench", reason="row history bench", operator="bench"),
                connection.cursor() as cursor,
            ):
                cursor.execute("UPDATE bench_rows SET v = v + 1")
            moves += 1
        start = time.perf_counter()
        from ledger.rowindex import index_missing

        indexed = index_missing()
        indexing = time.perf_counter() - start
        timings = []
        for pk in random.sample(range(1, args.rows + 1), 25):
            start = time.perf_counter()
            history = ledger.row_history("bench_rows", str(pk))
            timings.append((time.perf_counter() - start) * 1000)
            assert len(history) == moves
        print(  # noqa: T201 - a benchmark prints its figures
            f"{moves} moves, {moves * args.rows:,} entries: indexing {indexed:,} new entries "
            f"took {indexing:.1f} s; row_history median {statistics.median(timings):.2f} ms, "
            f"worst {max(timings):.2f} ms"
        )
    connection.close()
    server.drop(DB)


if __name__ == "__main__":
    main()
