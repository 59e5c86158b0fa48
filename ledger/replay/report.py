"""Render a revert's plan, progress and outcome as text lines, and its JSON documents.

Text is ``(style, line)`` pairs; style is "", "warning", "error" or "success". The plan is
rendered once, as soon as it is known (before anything is written); the outcome after the
transaction: "REVERT COMPLETE" only for a committed revert, "REVERT REFUSED" for any refusal
of an execute, "DRY RUN: ..." for a rehearsal.
"""

from __future__ import annotations

from collections.abc import Iterator

import msgspec

from ledger.progress import TerminalPhases
from ledger.replay.structs import Conflict, ReplayPlan, ReplayReport, StepDone

Lines = Iterator[tuple[str, str]]


def render_plan(plan: ReplayPlan, *, execute: bool) -> Lines:
    """What the revert would do, and every conflict found."""
    mode = "EXECUTE" if execute else "DRY RUN"
    yield "", f"REVERT MOVE {plan.move_id} ({plan.move_kind}, {plan.command}) — {mode}"
    for key, value in plan.domain.items():
        if value is not None:
            yield "", f"  {key.replace('_', ' ')}: {value}"
    if plan.steps:
        yield "", "Steps, in replay order:"
    for step in plan.steps:
        yield "", f"  {step.label:<32} {step.rows:>10} row change(s) to undo"
    if plan.tables:
        yield "", "Tables:"
    for t in plan.tables:
        parts = []
        if t.restore_rows:
            cols = ", ".join(f"{c} ({n})" for c, n in t.restore_columns.items())
            parts.append(f"restore {t.restore_rows} row(s): {cols}")
        if t.delete_rows:
            parts.append(f"delete {t.delete_rows} row(s) the move created")
        if t.reinsert_rows:
            parts.append(f"re-insert {t.reinsert_rows} row(s) the move deleted")
        yield "", f"  {t.table}: " + "; ".join(parts)
    yield from render_conflicts(plan, plan.conflicts)


def render_rescan(plan: ReplayPlan) -> Lines:
    """The plan once more, after the replay met rows changed since the move and was rolled
    back: its steps and tables are those printed already; only the conflicts are new."""
    yield "", "Scanned again, every column (the steps and tables are as above):"
    yield from render_conflicts(plan, plan.conflicts)


def render_conflicts(plan: ReplayPlan, conflicts: tuple[Conflict, ...]) -> Lines:
    if not conflicts and not plan.domain_scanned:
        yield (
            "success",
            "No conflicts before the replay. The scans for rows written since the move run "
            "beside it, and drift is found by the replay itself: if either finds anything, "
            "the replay is rolled back and everything is scanned first.",
        )
        return
    if not conflicts and not plan.drift_scanned:
        yield (
            "success",
            "No conflicts before the replay. Drift is found by the replay itself: if a row "
            "changed since the move, the replay is rolled back and every column scanned.",
        )
        return
    if not conflicts:
        yield "success", "No conflicts."
        return
    yield "warning", "Conflicts:"
    for c in conflicts:
        resolved = c.resolved_by and getattr(plan.policy, c.resolved_by, False)
        tag = f"resolved by --{c.resolved_by.replace('_', '-')}" if resolved else "BLOCKS"
        sample = f" (e.g. {', '.join(c.sample)})" if c.sample else ""
        yield ("warning" if resolved else "error"), f"  [{c.kind}] {tag}: {c.message}{sample}"


def render_outcome(report: ReplayReport, plan_shown: ReplayPlan | None = None) -> Lines:
    """After the transaction: conflicts found by the replay, the checks, and the verdict.

    Args:
        plan_shown: the plan already printed (its conflicts are not repeated).
    """
    shown = len(plan_shown.conflicts) if plan_shown is not None else 0
    later = report.plan.conflicts[shown:]
    if later:
        yield from render_conflicts(report.plan, later)
    for check in report.checks:
        style = "success" if check.ok else "error"
        yield style, f"  check {check.name}: {'OK' if check.ok else 'FAIL'} — {check.detail}"
    if report.executed:
        yield (
            "",
            f"Restored {report.restored_rows}, deleted {report.deleted_rows}, "
            f"re-inserted {report.reinserted_rows} row(s).",
        )
        yield "success", f"REVERT COMPLETE: move {report.revert_move_id}, digest {report.digest}"
    elif report.ok:
        yield (
            "success",
            "DRY RUN COMPLETE: the revert would succeed; no changes made. Re-run with --execute "
            "to proceed.",
        )
    else:
        yield "error", "DRY RUN: the revert would be refused; no changes made. Reasons:"
        for reason in reasons(report):
            yield "error", f"  - {reason.message}"


def render_refusal(message: str, report: ReplayReport | None) -> Lines:
    """An execute refused or rolled back, at any stage: nothing was changed."""
    if report is not None:
        shown_checks = [c for c in report.checks if not c.ok]
        for check in shown_checks:
            yield "error", f"  check {check.name}: FAIL — {check.detail}"
    yield "error", "REVERT REFUSED: nothing was changed. Reasons:"
    for line in message.splitlines()[1:] or [message]:
        yield "error", f"  {line}"


def reasons(report: ReplayReport) -> list[Conflict]:
    """Why a revert is (or would be) refused: the blocking conflicts, or else the conflicts
    the replay found and the failed checks."""
    blocking = list(report.plan.blocking())
    failed = [
        Conflict(kind="check", table="", count=1, message=f"check {c.name} failed: {c.detail}")
        for c in report.checks
        if not c.ok
    ]
    return blocking + failed


def step_line(step: StepDone) -> str:
    """One replayed step: rows changed of rows expected, and its time."""
    return f"{step.label} (rows={step.rows:,}/{step.expected_rows:,}) {step.seconds:.2f} s"


def to_json(report: ReplayReport) -> str:
    """The document of a committed revert or of a dry run: the report; ``revert_move_id``
    and ``digest`` only once committed."""
    document = msgspec.to_builtins(report)
    if not report.executed:
        document.pop("revert_move_id", None)
        document.pop("digest", None)
    return msgspec.json.encode(document).decode()


def refusal_json(error: str, report: ReplayReport | None) -> str:
    """The document of a refusal at any stage: ``ok`` and ``executed`` false, the error, the
    reasons, and the report of the attempt when there is one."""
    document: dict[str, object] = {}
    if report is not None:
        document.update(msgspec.to_builtins(report))
        document.pop("revert_move_id", None)
        document.pop("digest", None)
        document["reasons"] = msgspec.to_builtins(reasons(report))
    document.update({"ok": False, "executed": False, "error": error})
    return msgspec.json.encode(document).decode()


RICH_STYLES = {"warning": "yellow", "error": "bold red", "success": "green"}


class TerminalProgress(TerminalPhases):
    """The revert's progress on a terminal, as a move shows its own: a line per phase, a line
    per replayed step; other lines print above it."""

    def step(self, step: StepDone) -> None:
        self.done(f"  {step_line(step)}")

    def print_styled(self, style: str, line: str) -> None:
        self.print(line, RICH_STYLES.get(style))
