"""Run ``bench.probe`` in a subprocess and collect what it measured.

One subprocess per measurement: the peak RSS is that process's own, the timing is taken
inside it around the work only, and the harness's own state never leaks into a figure.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    """One measured run."""

    seconds: float
    wall: float
    queries: int
    peak_rss_mb: float
    wal_mb: float = 0.0
    stdout: str = ""
    phases: dict[str, float] = field(default_factory=dict)
    parts: dict[str, float] = field(default_factory=dict)


class ProbeFailed(RuntimeError):
    """The measured command exited non-zero; the message holds the end of its stderr."""


def _env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url
    env["DJANGO_SETTINGS_MODULE"] = "ami.settings.base"
    return env


def probe(
    database_url: str, args: list[str], *, phases: bool = False, timeout: float | None = None
) -> Run:
    """Run ``python -m bench.probe [--phases] ARGS`` against ``database_url``.

    Raises:
        ProbeFailed: the work failed, or ran longer than ``timeout`` seconds (the process is
            killed; its server backend ends when the harness drops the scratch database).
    """
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        out_path = Path(out.name)
    cmd = [sys.executable, "-m", "bench.probe", "--out", str(out_path)]
    cmd += ["--phases"] if phases else []
    start = time.perf_counter()
    try:
        done = subprocess.run(
            cmd + args,
            cwd=ROOT,
            env=_env(database_url),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        out_path.unlink(missing_ok=True)
        raise ProbeFailed(f"did not finish within {timeout:.0f} s (killed)") from exc
    wall = time.perf_counter() - start
    try:
        if done.returncode != 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            raise ProbeFailed(f"{' '.join(args[:3])}... exited {done.returncode}: {tail}")
        data = json.loads(out_path.read_text())
    finally:
        out_path.unlink(missing_ok=True)
    return Run(
        seconds=data["seconds"],
        wall=wall,
        queries=data["queries"],
        peak_rss_mb=data["peak_rss_mb"],
        wal_mb=data.get("wal_mb", 0.0),
        stdout=done.stdout,
        phases=data.get("phases", {}),
        parts=data.get("parts", {}),
    )


def manage(database_url: str, *args: str) -> str:
    """Run ``manage.py ARGS`` (set-up work, not measured); returns stdout, raises on failure."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=_env(database_url),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise ProbeFailed(f"manage.py {' '.join(args)} failed: {done.stderr.strip()[-800:]}")
    return done.stdout


def revert_available() -> bool:
    """True when the ``revert_move`` command exists in this checkout."""
    return (ROOT / "ledger" / "management" / "commands" / "revert_move.py").exists()


@dataclass
class Series:
    """Repeated runs of one measurement."""

    runs: list[Run] = field(default_factory=list)

    def add(self, run: Run) -> Run:
        self.runs.append(run)
        return run

    def median(self, attr: str = "seconds") -> float:
        return statistics.median(getattr(r, attr) for r in self.runs)

    def max(self, attr: str) -> float:
        return max(getattr(r, attr) for r in self.runs)

    def median_of(self, key: str, source: str = "phases") -> float:
        return statistics.median(getattr(r, source).get(key, 0.0) for r in self.runs)

    def summary(self) -> dict[str, object]:
        if not self.runs:
            return {}
        return {
            "seconds_median": self.median(),
            "seconds_all": [r.seconds for r in self.runs],
            "wall_median": self.median("wall"),
            "queries": self.runs[-1].queries,
            "queries_all": sorted({r.queries for r in self.runs}),
            "peak_rss_mb_max": self.max("peak_rss_mb"),
            "wal_mb_median": self.median("wal_mb"),
            "phases_median": {k: self.median_of(k) for k in self.runs[-1].phases},
            "parts_median": {k: self.median_of(k, "parts") for k in self.runs[-1].parts},
            "parts_all": [r.parts for r in self.runs],
        }
