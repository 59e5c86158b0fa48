"""How long does the rest of the platform wait while a move runs? A concurrent probe.

    python bench/live_probe.py --scale bci [--database-url URL] [--reuse-snapshot]

On a copy of the demo data (``bench/run.py``'s snapshot, made if missing), while
``move_project_data --execute`` moves the demo's two stations in a subprocess, probe threads
on their own connections keep working on what the move does not touch and time every
statement:

- reads: a project row, a count of another project's occurrences, a page of the very captures
  being moved, the moved deployments;
- writes: a capture inserted into the third project, a job of the third project updated, a
  capture inserted into a station of the source that stays.

A second run does the same while a second move, of another source station to the third
project, runs alongside the first; a third while ``revert_move --execute`` takes the first
move back (the move itself runs before the probes start); a fourth while the move's row
changes run as bare SQL, with no ledger and no move (``bench.scenarios.run_floor``). Prints
the worst and 99th percentile latency of reads and writes per run, the wall times and
outcomes, and PASS/FAIL against 100 ms, and what the probes' backends waited on
(``bench/waits.py``): a lock the move holds, or the flush of their own commit behind the
move's WAL.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg2
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dbs import DEFAULT_SERVER, Server
from bench.measure import ROOT, _env
from bench.run import _last_json, production_keys
from bench.waits import WaitSampler

TARGET_MS = 100.0
_SERIAL = object()  # a parameter replaced by a fresh number on every run
_serial = itertools.count(1)
console = Console(highlight=False)


class Probe(threading.Thread):
    """Runs its statements in a loop on its own connection, timing each, until stopped."""

    def __init__(self, url: str, statements: list[tuple[str, list]]) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.statements = statements
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.worst: tuple[float, float, str] = (0.0, 0.0, "")  # seconds, when, statement
        self.pid = 0
        self.connected = threading.Event()

    def run(self) -> None:
        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        self.pid = conn.get_backend_pid()
        self.connected.set()
        with conn.cursor() as cur:
            cur.execute("SET lock_timeout = '10s'")
            while not self.stop.is_set():
                for sql, params in self.statements:
                    params = [next(_serial) if p is _SERIAL else p for p in params]
                    start = time.perf_counter()
                    try:
                        cur.execute(sql, params)
                        if cur.description:
                            cur.fetchall()
                    except psycopg2.Error as exc:
                        self.errors.append(str(exc).splitlines()[0])
                    took = time.perf_counter() - start
                    self.latencies.append(took)
                    if took > self.worst[0]:
                        self.worst = (took, start, sql.split("(")[0][:60])
                time.sleep(0.005)
        conn.close()


def _world(server: Server, db: str, moved: list[int], source: int, third: int) -> dict:
    rows = server.query
    staying = rows(
        db,
        "SELECT id FROM main_deployment WHERE project_id = %s AND NOT id = ANY(%s) ORDER BY id",
        [source, moved],
    )
    third_dep = rows(db, "SELECT id FROM main_deployment WHERE project_id = %s LIMIT 1", [third])
    third_job = rows(db, "SELECT id FROM jobs_job WHERE project_id = %s LIMIT 1", [third])
    return {
        "staying": [r[0] for r in staying],
        "third_dep": third_dep[0][0],
        "third_job": third_job[0][0] if third_job else None,
    }


def _probes(url: str, ids: dict, world: dict, moved: list[int]) -> tuple[Probe, Probe]:
    capture = (
        "INSERT INTO main_sourceimage (project_id, deployment_id, path, test_image, created_at,"
        " updated_at) VALUES (%s, %s, 'probe-' || %s || '.jpg', false, now(), now())"
    )
    reads = [
        ("SELECT name FROM main_project WHERE id = %s", [ids["third"]]),
        ("SELECT count(*) FROM main_occurrence WHERE project_id = %s", [ids["third"]]),
        ("SELECT id, path FROM main_sourceimage WHERE deployment_id = %s LIMIT 20", [moved[0]]),
        ("SELECT id, project_id FROM main_deployment WHERE id = ANY(%s)", [moved]),
    ]
    writes = [
        (capture, [ids["third"], world["third_dep"], _SERIAL]),
        (capture, [ids["source"], world["staying"][0], _SERIAL]),
    ]
    if world["third_job"]:
        writes.append(
            ("UPDATE jobs_job SET progress = progress WHERE id = %s", [world["third_job"]])
        )
    return Probe(url, reads), Probe(url, writes)


def _move(
    url: str, source: int, target: int, deployments: list[int], *, execute: bool = True
) -> subprocess.Popen:
    args = [
        "move_project_data",
        "--source-project", str(source), "--target-project", str(target),
        "--deployment-ids", ",".join(map(str, deployments)),
        "--reason", "live probe", "--operator", "bench", "--format", "json",
    ]  # fmt: skip
    return _command(url, [*args, "--execute"] if execute else args)


def _revert(url: str, move_id: int) -> subprocess.Popen:
    args = ["revert_move", str(move_id), "--execute", "--reason", "live probe"]
    return _command(url, [*args, "--operator", "bench"])


def _command(url: str, args: list[str], *, manage: bool = True) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *(["manage.py"] if manage else []), *args],
        cwd=ROOT,
        env=_env(url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _summary(name: str, latencies: list[float]) -> str:
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[int(len(ms) * 0.99) - 1] if len(ms) >= 100 else ms[-1]
    verdict = "PASS" if ms[-1] < TARGET_MS else "FAIL"
    return (
        f"  {name:<6} n={len(ms):>6}  median {statistics.median(ms):7.2f} ms  p99 {p99:7.2f} ms"
        f"  worst {ms[-1]:8.2f} ms  [{verdict} < {TARGET_MS:g} ms]"
    )


RUNS = (
    "one move",
    "a move, and a second move alongside",
    "the revert of a move",
    "the same row changes as bare SQL (the floor: no ledger, no move)",
)


def _planned(url: str, ids: dict, moved: list[int]) -> Path:
    """The move's dry-run plan in a file, made before any probe starts, for ``_floor``."""
    out, _err = _move(url, ids["source"], ids["target"], moved, execute=False).communicate(
        timeout=3600
    )
    plan = Path(tempfile.mkdtemp()) / "plan.json"
    plan.write_text(json.dumps(_last_json(out)["plan"]))
    return plan


def _floor(url: str, plan: Path) -> subprocess.Popen:
    """The move's row changes as bare statements (``bench.scenarios.run_floor``): what the
    same writes cost the platform without the ledger or the move."""
    args = ["-m", "bench.probe", "--out", str(plan.with_suffix(".out")), "scenario", "floor"]
    return _command(url, [*args, "--plan", str(plan)], manage=False)


def _moved_before(url: str, ids: dict, moved: list[int]) -> int | None:
    """Run the move a revert takes back, before any probe starts; its id (None: it failed)."""
    out, _err = _move(url, ids["source"], ids["target"], moved).communicate(timeout=3600)
    try:
        return int(_last_json(out)["move_id"])
    except (ValueError, IndexError, KeyError, TypeError):
        return None


def run_once(server: Server, snapshot: str, generated: dict, kind: str) -> bool:
    """Probe during one run of ``kind`` (one of ``RUNS``); False when a move or the revert
    failed (its latencies then prove nothing)."""
    work = "ami_bench_live"
    server.create(work, template=snapshot)
    url = server.url(work)
    ids = {
        "source": generated["source_project_id"],
        "target": generated["target_project_id"],
        "third": generated["third_project_id"],
    }
    moved = list(generated["moved_deployment_ids"])
    world = _world(server, work, moved, ids["source"], ids["third"])
    move_id = _moved_before(url, ids, moved) if kind == RUNS[2] else None
    if kind == RUNS[2] and move_id is None:
        console.print(f"\nDuring {kind}: INVALID, the move to revert failed")
        server.drop(work)
        return False
    plan = _planned(url, ids, moved) if kind == RUNS[3] else None
    reads, writes = _probes(url, ids, world, moved)
    reads.start()
    writes.start()
    reads.connected.wait(30)
    writes.connected.wait(30)
    waits = WaitSampler(url, [reads.pid, writes.pid])
    waits.start()
    time.sleep(1.0)  # a baseline before the move
    start = time.perf_counter()
    if move_id is not None:
        moves = [_revert(url, move_id)]
    elif plan is not None:
        moves = [_floor(url, plan)]
    else:
        moves = [_move(url, ids["source"], ids["target"], moved)]
    if kind == RUNS[1]:
        time.sleep(2.0)  # the first move is well inside its transaction
        moves.append(_move(url, ids["source"], ids["third"], [world["staying"][-1]]))
    outcomes: list[tuple[int, float, str]] = [(0, 0.0, "")] * len(moves)

    def wait(i: int, proc: subprocess.Popen) -> None:
        _out, err = proc.communicate(timeout=3600)
        outcomes[i] = (proc.returncode, time.perf_counter() - start, err.strip()[-300:])

    waiters = [threading.Thread(target=wait, args=(i, p)) for i, p in enumerate(moves)]
    for waiter in waiters:
        waiter.start()
    for waiter in waiters:
        waiter.join()
    time.sleep(0.5)
    for thread in (reads, writes, waits):
        thread.stop.set()
        thread.join()
    console.print(f"\nDuring {kind} (moved stations {moved}):")
    what = "revert" if move_id is not None else "floor" if kind == RUNS[3] else "move"
    for i, (code, wall, err) in enumerate(outcomes, start=1):
        status = "OK" if code == 0 else f"FAILED ({err})"
        console.print(f"  {what} {i}: ended at +{wall:.1f} s, {status}")
    for name, probe in (("reads", reads), ("writes", writes)):
        console.print(_summary(name, probe.latencies))
        _took, when, statement = probe.worst
        console.print(f"         worst: {statement} at +{when - start:.1f} s")
    console.print(waits.summary())
    errors = reads.errors + writes.errors
    if errors:
        console.print(f"  probe errors: {len(errors)}, e.g. {errors[0]}")
    server.drop(work)
    if plan is not None:
        shutil.rmtree(plan.parent, ignore_errors=True)
    failed = [i for i, (code, _wall, _err) in enumerate(outcomes, start=1) if code != 0]
    if failed:
        console.print(f"  INVALID: {what}(s) {failed} failed; these latencies were not measured "
                      f"against a running {what}")  # fmt: skip
    return not failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="bci", choices=("tiny", "bci", "bci10"))
    parser.add_argument("--database-url", default=DEFAULT_SERVER)
    parser.add_argument("--reuse-snapshot", action="store_true")
    args = parser.parse_args()
    server = Server(args.database_url)
    snapshot = f"ami_bench_{args.scale}_snap"
    saved = Path(tempfile.gettempdir()) / f"{snapshot}.json"
    exists = server.query("postgres", "SELECT 1 FROM pg_database WHERE datname = %s", [snapshot])
    if args.reuse_snapshot and exists and saved.exists():
        generated = json.loads(saved.read_text())
    else:
        from bench.run import prepare

        _snap, _bare, generated = prepare(server, args.scale)
        saved.write_text(json.dumps(generated))
    with production_keys(server):
        valid = [run_once(server, snapshot, generated, kind) for kind in RUNS]
    if not all(valid):
        sys.exit(1)


if __name__ == "__main__":
    main()
