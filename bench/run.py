"""Benchmark a move with and without the ledger, and the ledger's cost to ordinary writes.

    python bench/run.py --scale bci [bci10] [--repeat 3] [--database-url URL] [--json out.json]

For each scale, against fresh scratch databases on the server of ``--database-url`` (default
``DATABASE_URL``, else postgres://postgres@127.0.0.1:5432): migrate, generate the demo data
once, snapshot it, then measure from identical copies of the snapshot, ``--repeat`` times:
the floor (the move's row changes as bare SQL), the dry run, ``--execute``, ``verify_ledger``
and ``export_ledger`` of the move, ``revert_move --execute`` (when the command exists), and
ordinary bulk writes with the ledger installed and not installed. Then the 1M-row capture
benchmark (``bench/ledger_capture.py``). Prints medians, ratios, peak RSS, query counts,
where the time of an execute and of a revert goes, and PASS/FAIL per target. See
docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console

from bench import report
from bench.dbs import DEFAULT_SERVER, Server
from bench.machine import sha256_us
from bench.measure import ROOT, ProbeFailed, Series, manage, probe, revert_available

console = Console(highlight=False, width=int(os.environ.get("COLUMNS", "150")))


def log(message: str) -> None:
    console.print(f"[dim]{message}[/]")


def prepare(server: Server, scale: str) -> tuple[str, str, dict]:
    """Snapshot databases: ``<base>_snap`` (migrated, generated, analysed) and
    ``<base>_noledger`` (the same after ``migrate ledger zero``). Returns their names and the
    generator's JSON."""
    snap, bare = f"ami_bench_{scale}_snap", f"ami_bench_{scale}_noledger"
    server.create(snap)
    # --skip-checks: set-up only (and older checkouts refused migrate on ledger.E002).
    manage(server.url(snap), "migrate", "--skip-checks", "-v0")
    log(f"{scale}: generating demo data")
    generated = json.loads(
        manage(server.url(snap), "generate_demo_data", "--scale", scale, "--format", "json")
    )
    server.vacuum_analyze(snap)
    server.create(bare, template=snap)
    manage(server.url(bare), "migrate", "ledger", "zero", "--skip-checks", "-v0")
    server.vacuum_analyze(bare)
    left = server.ledger_objects(bare)
    if left:
        raise SystemExit(f"{bare}: {left} ledger object(s) left after `migrate ledger zero`")
    return snap, bare, generated


def _move_args(generated: dict) -> list[str]:
    return [
        "move_project_data",
        "--source-project", str(generated["source_project_id"]),
        "--target-project", str(generated["target_project_id"]),
        "--deployment-ids", ",".join(map(str, generated["moved_deployment_ids"])),
        "--reason", "benchmark", "--operator", "bench", "--format", "json",
    ]  # fmt: skip


def _last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def _ledger_runs(server: Server, work: str, out: dict, move_id: int, tmp: Path) -> None:
    """verify, export and revert the move just executed in ``work``."""
    url = server.url(work)
    (entries,) = server.query(
        work, "SELECT entry_count FROM ledger_move WHERE id = %s", [move_id]
    )[0]
    out["entries"] = entries
    out["verify"].add(probe(url, ["command", "verify_ledger", "--move", str(move_id)]))
    export = [
        "command",
        "export_ledger",
        "--move",
        str(move_id),
        "--output",
        str(tmp / "move.jsonl"),
    ]
    out["export"].add(probe(url, export))
    if not revert_available():
        out["revert_note"] = "n/a (revert_move not available)"
        return
    if out.get("revert_note"):
        return  # it failed or timed out in an earlier repetition: it would again
    # Revert plans depend on whether autovacuum has analysed ledger_change since the move.
    stats = server.query(
        work,
        "SELECT COALESCE(last_autoanalyze, last_analyze) IS NOT NULL FROM pg_stat_user_tables "
        "WHERE relname = 'ledger_change'",
    )
    out.setdefault("revert_ledger_analyzed", []).append(bool(stats and stats[0][0]))
    revert = ["command", "revert_move", str(move_id), "--execute"]
    revert += ["--reason", "benchmark", "--operator", "bench"]
    # For information, beside the target: the same revert once VACUUM ANALYZE has run on the
    # moved database, as autovacuum will have long before a revert made months later. Right
    # after the move, every row it rewrote still has its dead version beside the live one.
    vacuumed = f"{work}_vacuumed"
    server.create(vacuumed, template=work)
    server.vacuum_analyze(vacuumed)
    try:
        timeout = out["revert_timeout"]
        out["revert"].add(probe(url, revert, phases=True, timeout=timeout))
        out["revert_vacuumed"].add(
            probe(server.url(vacuumed), revert, phases=True, timeout=timeout)
        )
    except ProbeFailed as exc:
        out["revert_note"] = f"failed: {exc}"[:300]
    finally:
        server.drop(vacuumed)


def _move_runs(server: Server, snap: str, work: str, out: dict, i: int, tmp: Path) -> None:
    """One floor and one execute (with its verify/export/revert), each on a fresh copy, in an
    order that alternates between repetitions."""
    plan_path = tmp / "plan.json"
    order = ("floor", "execute") if i % 2 == 0 else ("execute", "floor")
    for kind in order:
        server.create(work, template=snap)
        url = server.url(work)
        if kind == "floor":
            out["floor"].add(probe(url, ["scenario", "floor", "--plan", str(plan_path)]))
            continue
        run = out["execute"].add(
            probe(url, ["command", *out["move_args"], "--execute"], phases=True)
        )
        _ledger_runs(server, work, out, int(_last_json(run.stdout)["move_id"]), tmp)


def _write_runs(server: Server, snap: str, bare: str, work: str, out: dict, i: int) -> None:
    pairs = [("writes_ledger", snap), ("writes_bare", bare)]
    for key, template in pairs if i % 2 == 0 else pairs[::-1]:
        server.create(work, template=template)
        out[key].add(probe(server.url(work), ["scenario", "writes"]))


def bench_scale(
    server: Server, scale: str, repeat: int, write_repeat: int, revert_timeout: float
) -> dict:
    """Measure one scale; returns its summary (see bench/report.py)."""
    snap, bare, generated = prepare(server, scale)
    work = f"ami_bench_{scale}"
    keys = ("floor", "dry_run", "execute", "verify", "export", "revert", "revert_vacuumed",
            "writes_bare", "writes_ledger")  # fmt: skip
    out: dict = {k: Series() for k in keys}
    out["move_args"] = _move_args(generated)
    out["revert_timeout"] = revert_timeout
    # Non-internal triggers on the tables the ordinary writes touch, in both states.
    written = ["main_detection", "main_classification", "main_occurrence"]
    out["write_table_triggers"] = {
        state: server.query(
            db,
            "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal "
            "AND tgrelid::regclass::text = ANY(%s)",
            [written],
        )[0][0]
        for state, db in (("ledger installed", snap), ("not installed", bare))
    }
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        server.create(work, template=snap)
        for _ in range(repeat):
            out["dry_run"].add(probe(server.url(work), ["command", *out["move_args"]]))
        (tmp / "plan.json").write_text(
            json.dumps(_last_json(out["dry_run"].runs[0].stdout)["plan"])
        )
        for i in range(repeat):
            log(f"{scale}: floor and execute, repetition {i + 1}/{repeat}")
            _move_runs(server, snap, work, out, i, tmp)
        for i in range(write_repeat):
            log(f"{scale}: ordinary writes, repetition {i + 1}/{write_repeat}")
            _write_runs(server, snap, bare, work, out, i)
    for name in (work, snap, bare):
        server.drop(name)
    summary = {k: v.summary() if isinstance(v, Series) else v for k, v in out.items()}
    summary["repeat"] = repeat
    summary["generated"] = {k: generated[k] for k in ("moved_counts", "row_counts")}
    if summary["verify"] and summary.get("entries"):
        summary["verify_rate"] = summary["entries"] / summary["verify"]["seconds_median"]
    return summary


_CAPTURE_LINE = re.compile(r"^\(a\).*ratio ([0-9.]+)x", re.MULTILINE)


def bench_capture(server: Server, rows: int, repeat: int) -> dict:
    """Run bench/ledger_capture.py (another engineer's benchmark) and keep its (a) ratio."""
    env = dict(os.environ, DATABASE_URL=server.url("postgres"),
               DJANGO_SETTINGS_MODULE="ami.settings.test")  # fmt: skip
    cmd = [sys.executable, "bench/ledger_capture.py", "--rows", str(rows),
           "--repeat", str(repeat), "--database", "ami_bench_capture"]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    server.drop("ami_bench_capture")
    match = _CAPTURE_LINE.search(done.stdout)
    if done.returncode != 0 or match is None:
        tail = (done.stderr or done.stdout).strip()[-300:]
        return {"ratio": None, "note": f"ledger_capture.py failed: {tail}", "lines": done.stdout}
    return {"ratio": float(match.group(1)), "rows": rows, "lines": done.stdout.strip(),
            "note": f"{rows:,} rows, bench/ledger_capture.py (a)"}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", nargs="+", choices=("tiny", "bci", "bci10"), default=["bci"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write-repeat", type=int, default=6,
                        help="repetitions of the (short) ordinary-write pair")  # fmt: skip
    parser.add_argument("--capture-rows", type=int, default=1_000_000,
                        help="rows of the capture benchmark; 0 skips it")  # fmt: skip
    parser.add_argument(
        "--revert-timeout",
        type=float,
        default=900,
        help="seconds after which a revert_move run is killed and reported as such",
    )
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_SERVER))
    parser.add_argument("--baseline", help="JSON of an earlier run: adds its other scales")
    parser.add_argument("--json", help="write the figures and verdicts here")
    args = parser.parse_args()

    server = Server(args.database_url)
    keys = production_keys(server)
    results: dict = {"scales": {}, "capture": {}, "meta": _meta(server)}
    if args.baseline:
        earlier = json.loads(Path(args.baseline).read_text())
        results["scales"].update(earlier.get("scales", {}))
        results["capture"] = earlier.get("capture", {})
    for scale in args.scale:
        results["scales"][scale] = bench_scale(
            server, scale, args.repeat, args.write_repeat, args.revert_timeout
        )
        _save(args.json, results)
    if args.capture_rows:
        log(f"capture benchmark: {args.capture_rows:,} rows")
        results["capture"] = bench_capture(server, args.capture_rows, args.repeat)
    results["meta"]["load_average_at_end"] = os.getloadavg()
    results["verdicts"] = report.verdicts_json(results)
    _save(args.json, results)
    report.render(results, console)
    keys.cleanup()


def production_keys(server: Server) -> tempfile.TemporaryDirectory:
    """Moves are measured as production runs them: signed, checkpointed, secrets fingerprinted
    with a key (a move refuses to record secrets without one). The keys live in a scratch
    folder for the run; every probe inherits the variables that name them."""
    folder = tempfile.TemporaryDirectory(prefix="ami-bench-keys-")
    path = Path(folder.name)
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="ami.settings.base",
               DATABASE_URL=server.url("postgres"))  # fmt: skip
    subprocess.run(
        [sys.executable, "manage.py", "ledger_keygen", "--signing", str(path / "signing.pem"),
         "--fingerprint", str(path / "fingerprint.key")],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )  # fmt: skip
    os.environ["LEDGER_SIGNING_KEY_FILE"] = str(path / "signing.pem")
    os.environ["LEDGER_FINGERPRINT_KEY_FILE"] = str(path / "fingerprint.key")
    os.environ["LEDGER_CHECKPOINT_FILE"] = str(path / "checkpoint.jsonl")
    return folder


def _meta(server: Server) -> dict:
    """What the figures depend on: the code, the server and the machine's load."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    (version,) = server.query("postgres", "SHOW server_version")[0]
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_paths": len(git("status", "--porcelain").splitlines()),
        "postgres": version,
        "cpus": os.cpu_count(),
        "sha256_100_bytes_us": round(sha256_us(), 3),
        "load_average_at_start": os.getloadavg(),
    }


def _save(path: str | None, results: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
