"""Turn the collected figures into ratios, PASS/FAIL verdicts and rich tables.

Ratios are medians of per-repetition ratios. ``results`` is what ``bench/run.py --json`` writes:
``{"scales": {scale: {measurement: Series.summary(), ...}}, "capture": {...}}``.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import asdict, dataclass

from rich.console import Console
from rich.markup import escape
from rich.table import Table

MEASUREMENTS = (
    ("floor", "floor: bare UPDATEs, no ledger"),
    ("dry_run", "move_project_data (dry run)"),
    ("execute", "move_project_data --execute"),
    ("verify", "verify_ledger --move"),
    ("export", "export_ledger --move"),
    ("revert", "revert_move --execute"),
    ("revert_vacuumed", "revert_move --execute, moved db vacuumed"),
    ("writes_bare", "ordinary writes, ledger not installed"),
    ("writes_ledger", "ordinary writes, ledger installed"),
)


@dataclass
class Verdict:
    """One target: the measured value against its limit."""

    target: str
    value: float | None
    limit: str
    verdict: str  # PASS, FAIL, n/a
    note: str = ""


def _paired(nums: list[float], dens: list[float]) -> float | None:
    """Median of per-repetition ratios: both runs of a repetition ran back to back, so load
    from other processes weighs on both alike."""
    pairs = [a / b for a, b in zip(nums, dens, strict=False) if b]
    return statistics.median(pairs) if pairs else None


def _ratio(scale: dict, num: str, den: str) -> float | None:
    a, b = scale.get(num) or {}, scale.get(den) or {}
    if not a.get("seconds_all") or not b.get("seconds_all"):
        return None
    return _paired(a["seconds_all"], b["seconds_all"])


def _check(target: str, value: float | None, limit: float, *, below: bool, note: str = ""):
    if value is None:
        return Verdict(target, None, f"{'<=' if below else '>='} {limit}", "n/a", note)
    ok = value <= limit if below else value >= limit
    return Verdict(
        target, value, f"{'<=' if below else '>='} {limit:g}", "PASS" if ok else "FAIL", note
    )


def _writes_ratio(scale: dict, part: str | None) -> float | None:
    if part is None:
        return _ratio(scale, "writes_ledger", "writes_bare")
    bare, ledger = scale.get("writes_bare") or {}, scale.get("writes_ledger") or {}
    if not bare or not ledger:
        return None
    return _paired([p[part] for p in ledger["parts_all"]], [p[part] for p in bare["parts_all"]])


def _scale_verdicts(name: str, scale: dict) -> list[Verdict]:
    verdicts = [
        _check(
            f"{name}: execute / floor",
            _ratio(scale, "execute", "floor"),
            1.5,
            below=True,
            note="" if name == "bci" else "target is set at bci; for information",
        ),
        _check(
            f"{name}: revert / execute",
            _ratio(scale, "revert", "execute"),
            1.2,
            below=True,
            note=scale.get("revert_note", ""),
        ),
        _check(f"{name}: verify entries/s", scale.get("verify_rate"), 300_000, below=False),
    ]
    parts = (scale.get("writes_bare") or {}).get("parts_median", {})
    for part in (None, *parts):
        label = "all three" if part is None else part
        verdicts.append(
            _check(
                f"{name}: writes with / without ledger ({label})",
                _writes_ratio(scale, part),
                1.05,
                below=True,
            )
        )
    return verdicts


def _cross_verdicts(scales: dict) -> list[Verdict]:
    bci, big = scales.get("bci") or {}, scales.get("bci10") or {}
    dry = (big.get("dry_run") or {}).get("seconds_median")
    dry_wall = (big.get("dry_run") or {}).get("wall_median")
    verdicts = [
        _check(
            "bci10: dry run seconds",
            dry,
            5.0,
            below=True,
            note=f"wall incl. Python start-up {dry_wall:.2f} s" if dry_wall else "",
        )
    ]
    q_small = (bci.get("dry_run") or {}).get("queries")
    q_big = (big.get("dry_run") or {}).get("queries")
    if q_small is None or q_big is None:
        verdicts.append(Verdict("dry run queries bci == bci10", None, "equal", "n/a"))
    else:
        verdicts.append(
            Verdict(
                "dry run queries bci == bci10",
                float(q_big),
                f"== {q_small}",
                "PASS" if q_small == q_big else "FAIL",
            )
        )
    rss_small = (bci.get("execute") or {}).get("peak_rss_mb_max")
    rss_big = (big.get("execute") or {}).get("peak_rss_mb_max")
    ratio = rss_big / rss_small if rss_small and rss_big else None
    verdicts.append(
        _check(
            "execute peak RSS bci10 / bci",
            ratio,
            1.2,
            below=True,
            note=f"{rss_small or 0:.0f} MB -> {rss_big or 0:.0f} MB",
        )
    )
    return verdicts


def verdicts(results: dict) -> list[Verdict]:
    """Every target, PASS/FAIL/n/a."""
    out: list[Verdict] = []
    for name, scale in results["scales"].items():
        out += _scale_verdicts(name, scale)
    out += _cross_verdicts(results["scales"])
    capture = results.get("capture") or {}
    out.append(
        _check(
            "capture overhead, 1M-row bulk FK update",
            capture.get("ratio"),
            1.3,
            below=True,
            note=capture.get("note", ""),
        )
    )
    # Every move shape verifies at 300k entries/s, single-row groups (inserts) included.
    for shape, rate, bounds in _verify_rates(capture.get("lines", "")):
        note = "; ".join(bounds)
        out.append(_check(f"verify entries/s, {shape}", rate, 300_000, below=False, note=note))
    return out


_VERIFY_LINE = re.compile(
    r"^\(c\) verify (.+?): [0-9,]+ entries, ([0-9,]+) entries/s"
    r"(?:.*builds its rows at ([0-9,]+) entries/s)?"
    r"(?:.*Python alone checks them at ([0-9,]+) entries/s)?"
    r"(?:.*at ([0-9,]+) entries/s with the driver)?"
    r"(?:.*cores, at most ([0-9,]+) entries/s)?",
    re.M,
)


def _verify_rates(lines: str) -> list[tuple[str, float, list[str]]]:
    """(move shape, entries/s, the bounds printed beside it) of the capture benchmark's
    verify lines."""
    sides = ("the server alone", "Python alone", "Python with the driver", "at most")
    return [
        (
            m[1],
            _number(m[2]),
            [
                f"{side}: {_number(v):,.0f}/s"
                for side, v in zip(sides, m.groups()[2:], strict=True)
                if v
            ],
        )
        for m in _VERIFY_LINE.finditer(lines)
    ]


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _figures_table(name: str, scale: dict) -> Table:
    table = Table(title=f"scale {name}: medians of {scale.get('repeat', '?')} runs")
    for col in ("measurement", "median s", "wall s", "ratio", "peak RSS MB", "WAL MB", "queries"):
        table.add_column(col, justify="left" if col == "measurement" else "right")
    ratios = {
        "floor": 1.0,
        "execute": _ratio(scale, "execute", "floor"),
        "revert": _ratio(scale, "revert", "execute"),
        "revert_vacuumed": _ratio(scale, "revert_vacuumed", "execute"),
        "writes_bare": 1.0,
        "writes_ledger": _ratio(scale, "writes_ledger", "writes_bare"),
    }
    notes = {
        "execute": " (/floor)",
        "revert": " (/execute)",
        "revert_vacuumed": " (/execute)",
        "writes_ledger": " (/not inst.)",
    }
    for key, label in MEASUREMENTS:
        s = scale.get(key) or {}
        if not s:
            table.add_row(label, scale.get(f"{key}_note", "n/a"), "", "", "", "", "")
            continue
        ratio = ratios.get(key)
        table.add_row(
            label,
            _fmt(s["seconds_median"], 3),
            _fmt(s["wall_median"]),
            "" if ratio is None else f"{ratio:.2f}{notes.get(key, '')}",
            _fmt(s["peak_rss_mb_max"], 0),
            _fmt(s.get("wal_mb_median"), 0),
            str(s["queries"]),
        )
    return table


def _phases_table(name: str, scale: dict, key: str) -> Table | None:
    phases = (scale.get(key) or {}).get("phases_median") or {}
    if not phases:
        return None
    total = scale[key]["seconds_median"]
    what = key.replace("_", ", moved db ")
    table = Table(title=f"scale {name}: where {what} time goes (median s per phase)")
    for col in ("phase", "seconds", "share"):
        table.add_column(col, justify="left" if col == "phase" else "right")
    for phase, seconds in sorted(phases.items(), key=lambda kv: -kv[1]):
        table.add_row(escape(phase), f"{seconds:.3f}", f"{seconds / total:.0%}")
    return table


def _verdict_table(items: list[Verdict]) -> Table:
    table = Table(title="targets")
    for col in ("target", "measured", "limit", "verdict", "note"):
        table.add_column(col, justify="right" if col in ("measured",) else "left")
    style = {"PASS": "green", "FAIL": "bold red", "n/a": "yellow"}
    for v in items:
        table.add_row(
            v.target, _fmt(v.value), v.limit, f"[{style[v.verdict]}]{v.verdict}[/]", v.note
        )
    return table


def render(results: dict, console: Console) -> None:
    """Print the figures, where execute and revert time goes, and the targets."""
    meta = results.get("meta") or {}
    if meta:
        console.print(
            f"commit {meta.get('commit')} ({meta.get('uncommitted_paths')} uncommitted paths), "
            f"PostgreSQL {meta.get('postgres')}, {meta.get('cpus')} CPUs, sha256 of 100 "
            f"bytes {meta.get('sha256_100_bytes_us', 'n/a')} us, load average "
            f"{meta.get('load_average_at_start')} at start"
        )
    for name, scale in results["scales"].items():
        console.print(_figures_table(name, scale))
        extra = [f"entries in the move: {scale.get('entries', 'n/a')}"]
        if scale.get("verify_rate"):
            extra.append(f"verify rate {scale['verify_rate']:,.0f} entries/s")
        for key in ("writes_bare", "writes_ledger"):
            parts = (scale.get(key) or {}).get("parts_median", {})
            extra += [f"{key} {p}: {s:.3f} s" for p, s in parts.items()]
        console.print("  " + "\n  ".join(extra))
        for key in ("execute", "revert", "revert_vacuumed"):
            phases = _phases_table(name, scale, key)
            if phases is not None:
                console.print(phases)
    capture = results.get("capture") or {}
    if capture:
        console.print(f"capture benchmark (bench/ledger_capture.py): {capture.get('lines', '')}")
    console.print(_verdict_table(verdicts(results)))


def verdicts_json(results: dict) -> list[dict]:
    return [asdict(v) for v in verdicts(results)]
