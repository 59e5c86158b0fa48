"""Benchmark the ledger's capture and verification; prints figures with PASS/FAIL.

    DJANGO_SETTINGS_MODULE=ami.settings.test python bench/ledger_capture.py --rows 1000000

Uses a scratch database (``--database``, default ``ledger_bench``) on the server the
settings point at (DATABASE_URL, or 127.0.0.1:5432), dropped and migrated afresh each run.
Times run from BEGIN to the end of COMMIT; each repetition runs base, ledger, base, and the
ratio printed is the median over ``--repeat`` repetitions of ledger / mean(base).

(a) a bulk FK update of ``--rows`` rows: no ledger vs inside a recording (target <= 1.3x);
(b) ordinary writes outside a recording, 100k-row bulk INSERT and UPDATE: a table the ledger
    captures vs an identical table it does not (target <= 1.05x);
(c) verify throughput, entries/s, of the grouped move from (a) and of a 100k-row insert move,
    where every entry is its own group (target >= 300k/s for both), beside this machine's
    bounds: the rate at which the server alone builds the rows verification reads, and the
    rate at which Python alone checks them, with and without the driver building them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ami.settings.test")

import django
from django.conf import settings

from bench.machine import sha256_us

try:  # either driver: this bench runs on Antenna's stack (psycopg 3) too
    import psycopg2 as driver
except ImportError:
    import psycopg as driver

TABLE_SQL = """
DROP TABLE IF EXISTS {t}, {t}_parent CASCADE;
CREATE TABLE {t}_parent (id bigint PRIMARY KEY, name text);
INSERT INTO {t}_parent VALUES (1, 'a'), (2, 'b');
CREATE TABLE {t} (
    id bigserial PRIMARY KEY,
    parent_id bigint NOT NULL REFERENCES {t}_parent(id) DEFERRABLE INITIALLY DEFERRED,
    path text NOT NULL, width integer, height integer, size bigint, checksum text,
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz
);
CREATE INDEX ON {t} (parent_id);
"""
FILL_SQL = (
    "INSERT INTO {t} (parent_id, path, width, height, size, checksum) "
    "SELECT 1, 'img/' || g || '.jpg', 4000, 3000, g * 17, md5(g::text) "
    "FROM generate_series(1, %s) g"
)


def ensure_database(name: str) -> None:
    """Create the scratch database afresh, point Django at it, set Django up and migrate."""
    db = settings.DATABASES["default"]
    params = {"user": db["USER"], "host": db["HOST"], "port": db["PORT"] or 5432}
    if db.get("PASSWORD"):
        params["password"] = db["PASSWORD"]
    conn = driver.connect(dbname="postgres", **params)
    conn.autocommit = True
    cursor = conn.cursor()
    cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
    cursor.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    db["NAME"] = name
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def execute(sql: str, params=None) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def timed(work) -> float:
    from django.db import transaction

    start = time.perf_counter()
    with transaction.atomic():
        work()
    return time.perf_counter() - start


def recorded(sql: str, params=None):
    import ledger

    def work():
        with ledger.recording(command="bench", reason="benchmark", operator="bench"):
            execute(sql, params)

    return work


def plain(sql: str, params=None):
    return lambda: execute(sql, params)


def compare(label, base_work, ledger_work, repeat, target, vacuum=()):
    """Each repetition runs base, ledger, base; its ratio is ledger / mean of the two bases.

    The sandwich cancels drift and order effects (load from other processes, checkpoints,
    a cache warmed by the run before); the figure is the median of the repetitions' ratios.
    """
    base, with_ledger, ratios = [], [], []
    inside = [0, 0]  # checkpoints the WAL's volume started inside base runs, ledger runs
    for _ in range(repeat):
        times = []
        for i, work in enumerate((base_work, ledger_work, base_work)):
            before = wal_checkpoints()
            times.append(work())
            inside[i == 1] += wal_checkpoints() - before
            for table in vacuum:
                execute(f"VACUUM {table}")
            if vacuum:
                # Every run starts right after a checkpoint, so each pays the same full-page
                # writes (a checkpoint falling inside one run, or just before it, skewed it).
                execute("CHECKPOINT")
        base += [times[0], times[2]]
        with_ledger.append(times[1])
        ratios.append(times[1] / ((times[0] + times[2]) / 2))
    ratio = statistics.median(ratios)
    verdict = "PASS" if ratio <= target else "FAIL"
    sys.stdout.write(
        f"{label}: base {statistics.median(base):.3f}s, ledger "
        f"{statistics.median(with_ledger):.3f}s (medians), ratio {ratio:.2f}x "
        f"(median of {repeat} base/ledger/base runs; target <= {target}x) {verdict}\n"
    )
    if any(inside):
        # A checkpoint inside a run makes the rest of it write whole pages to the WAL: a
        # run that crosses max_wal_size pays more than one that does not, whatever it is.
        sys.stdout.write(
            f"    checkpoints started by the WAL's volume inside the runs: {inside[0]} in "
            f"{2 * repeat} base, {inside[1]} in {repeat} ledger\n"
        )
    return ratio


def wal_checkpoints() -> int:
    """Checkpoints the server has started so far, requested ones included (max_wal_size
    reached, or a CHECKPOINT: ``compare`` runs its own only between the timed runs)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_get_bgwriter_requested_checkpoints()")
        return cursor.fetchone()[0]


def bench_move(rows: int, repeat: int) -> int:
    """(a) Returns the id of one recorded bulk-update move."""
    import ledger
    from ledger.registry import _registry

    for t in ("bench_plain", "bench_tracked"):
        execute(TABLE_SQL.format(t=t))
        execute(FILL_SQL.format(t=t), [rows])
        execute(f"VACUUM ANALYZE {t}")
    # This table only: a move of the application would install and release capture on every
    # table it registers, a fixed cost per move, not per row; this measures the per-row cost.
    _registry.clear()
    ledger.register_table("bench_tracked", label="bench.Tracked")
    update = "UPDATE {t} SET parent_id = %s"

    # Each run moves every row of its table to the other parent, so every row changes (and
    # has its FK checked) every time.
    def move(table):
        calls = [0]

        def run():
            calls[0] += 1
            target = 2 if calls[0] % 2 else 1
            sql = update.format(t=table)
            if table == "bench_plain":
                return timed(plain(sql, [target]))
            return timed(recorded(sql, [target]))

        return run

    compare(
        f"(a) bulk FK update of {rows:,} rows, no ledger vs recording",
        move("bench_plain"),
        move("bench_tracked"),
        repeat,
        1.3,
        vacuum=("bench_plain", "bench_tracked"),
    )
    from ledger.models import Move

    return Move.objects.filter(command="bench").order_by("-id").values_list("id", flat=True)[0]


def bench_outside(repeat: int) -> None:
    """(b) Ordinary writes to a captured table outside any recording."""
    n = 100_000
    for t in ("bench_plain", "bench_tracked"):
        execute(f"TRUNCATE {t}")
        execute(FILL_SQL.format(t=t), [n])
        execute(f"VACUUM ANALYZE {t}")

    def insert(table):
        return lambda: timed(plain(FILL_SQL.format(t=table), [n]))

    def update(table):
        sql = (
            f"UPDATE {table} SET width = width + 1 WHERE id <= (SELECT min(id) + %s FROM {table})"
        )
        return lambda: timed(plain(sql, [n]))

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'bench_tracked'::regclass "
            "AND NOT tgisinternal"
        )
        triggers = cursor.fetchone()[0]
    sys.stdout.write(
        f"(b) triggers on the captured table outside a recording: {triggers} "
        "(so any difference below is noise)\n"
    )
    compare(
        "(b) bulk INSERT 100k outside a recording, not captured vs captured table",
        insert("bench_plain"),
        insert("bench_tracked"),
        repeat,
        1.05,
        vacuum=("bench_plain", "bench_tracked"),
    )
    compare(
        "(b) bulk UPDATE 100k outside a recording, not captured vs captured table",
        update("bench_plain"),
        update("bench_tracked"),
        repeat,
        1.05,
        vacuum=("bench_plain", "bench_tracked"),
    )


def bench_verify(move_ids: dict[str, int], repeat: int) -> None:
    """(c) Entries verified per second."""
    import ledger

    for label, move_id in move_ids.items():
        rates = []
        for _ in range(repeat):
            start = time.perf_counter()
            report = ledger.verify(move_id)
            elapsed = time.perf_counter() - start
            assert report.ok, report.failures
            rates.append(report.entries_checked / elapsed)
        rate = statistics.median(rates)
        verdict = "(target >= 300,000/s) " + ("PASS" if rate >= 300_000 else "FAIL")
        server = server_seconds(move_id)
        ceiling = report.entries_checked / server
        python = python_seconds(move_id)
        bounds = ""
        if python:
            entries = report.entries_checked
            # The driver builds each fetched row as a Python object holding the GIL, so it
            # adds to Python's side; both sides share this machine's cores, and verification
            # cannot go faster than either side alone, nor than every core busy all the time.
            with_driver = python + driver_seconds(move_id)
            cores = os.cpu_count() or 1
            bound = min(
                entries / server, entries / with_driver, cores * entries / (server + with_driver)
            )
            bounds = (
                f"; Python alone checks them at {entries / python:,.0f} entries/s, "
                f"at {entries / with_driver:,.0f} entries/s with the driver building the rows; "
                f"the two on {cores} cores, at most {bound:,.0f} entries/s"
            )
        sys.stdout.write(
            f"(c) verify {label}: {report.entries_checked:,} entries, {rate:,.0f} entries/s "
            f"{verdict}; the server alone builds its rows at {ceiling:,.0f} entries/s"
            f"{bounds}\n"
        )


def server_seconds(move_id: int) -> float:
    """The server's time to build the rows verification reads (its query under EXPLAIN
    ANALYZE, best of three, no transfer): verification cannot go faster than this, whatever
    the Python side does, so a rate near it is this machine's bound, not the code's."""
    from ledger.queries import groups_query

    return explain_seconds(*groups_query(move_id))


def explain_seconds(query: str, params=None) -> float:
    """The server's time for a query, best of three (EXPLAIN ANALYZE: no transfer)."""
    from django.db import connection

    best = float("inf")
    with connection.cursor() as cursor:
        for _ in range(3):
            cursor.execute("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + query, params)
            (plan,) = cursor.fetchone()
            plan = plan if isinstance(plan, list) else json.loads(plan)
            best = min(best, plan[0]["Execution Time"] / 1000)
    return best


def driver_seconds(move_id: int) -> float:
    """The driver's time to build the rows verification reads as Python objects, once the
    server sent them all (best of three): the part of a fetch that holds the GIL."""
    from django.db import connection, transaction

    from ledger.queries import groups_query

    best = float("inf")
    with transaction.atomic(), connection.cursor() as cursor:
        for _ in range(3):
            cursor.execute(*groups_query(move_id))  # a client-side cursor: every row received
            start = time.perf_counter()
            cursor.fetchall()
            best = min(best, time.perf_counter() - start)
    return best


def python_seconds(move_id: int) -> float | None:
    """Python's time to decode and check the rows verification reads, once they are in
    memory (best of three, no server, no transfer): the other bound of the two sides
    verification runs at once. None for a move holding a group too large to hold whole."""
    from django.db import connection, transaction

    from ledger import config, cycles
    from ledger.digest import MerkleBuilder
    from ledger.groupkeys import INLINE_KEYS
    from ledger.queries import groups_query, read_header
    from ledger.tablegroups import batch_decoder
    from ledger.verify import verify_entries

    header, _digest = read_header(move_id)
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(*groups_query(move_id))
        batches = []
        # In the batches verification decodes (LEDGER_FETCH_SIZE).
        while rows := cursor.fetchmany(config.fetch_size()):
            batches.append(rows)
    decode = batch_decoder(header)
    if any(group.size > INLINE_KEYS for rows in batches for group in decode(rows)):
        return None
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        groups = (group for rows in batches for group in decode(rows))
        with cycles.paused():  # as verification runs
            failure = verify_entries(header, groups, MerkleBuilder())
        best = min(best, time.perf_counter() - start)
        assert failure is None, failure
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database", default="ledger_bench")
    args = parser.parse_args()
    ensure_database(args.database)
    sys.stdout.write(
        f"stack: Django {django.get_version()}, {driver.__name__} "
        f"{driver.__version__.split()[0]}; sha256 of 100 bytes {sha256_us():.2f} us\n"
    )
    update_move = bench_move(args.rows, args.repeat)
    from django.db import transaction

    with transaction.atomic():
        recorded(FILL_SQL.format(t="bench_tracked"), [100_000])()
    from ledger.models import Move

    insert_move = (
        Move.objects.filter(command="bench").order_by("-id").values_list("id", flat=True)[0]
    )
    bench_outside(args.repeat)
    bench_verify(
        {
            f"grouped update move ({args.rows:,} rows)": update_move,
            "insert move (100,000 single-row groups)": insert_move,
        },
        args.repeat,
    )


if __name__ == "__main__":
    main()
