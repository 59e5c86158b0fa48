"""Render a revert's plan and report as text lines (JSON is the struct itself)."""

from __future__ import annotations

from collections.abc import Iterator

from ledger.replay.structs import ReplayReport


def render(report: ReplayReport) -> Iterator[tuple[str, str]]:
    """Yield ``(style, line)`` pairs; style is "", "warning", "error" or "success"."""
    plan = report.plan
    mode = "EXECUTE" if report.executed else "DRY RUN"
    yield "", f"REVERT MOVE {plan.move_id} ({plan.move_kind}, {plan.command}) — {mode}"
    for key, value in plan.domain.items():
        if value is not None:
            yield "", f"  {key.replace('_', ' ')}: {value}"
    yield "", "Steps, in replay order:"
    for step in plan.steps:
        yield "", f"  {step.label:<32} {step.rows:>10} row change(s) to undo"
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
    if plan.conflicts:
        yield "warning", "Conflicts:"
        for c in plan.conflicts:
            resolved = c.resolved_by and getattr(plan.policy, c.resolved_by, False)
            tag = f"resolved by --{c.resolved_by.replace('_', '-')}" if resolved else "BLOCKS"
            sample = f" (e.g. {', '.join(c.sample)})" if c.sample else ""
            yield ("warning" if resolved else "error"), f"  [{c.kind}] {tag}: {c.message}{sample}"
    else:
        yield "success", "No conflicts."
    for check in report.checks:
        style = "success" if check.ok else "error"
        yield style, f"  check {check.name}: {'OK' if check.ok else 'FAIL'} — {check.detail}"
    if report.executed:
        yield (
            "",
            (
                f"Restored {report.restored_rows}, deleted {report.deleted_rows}, "
                f"re-inserted {report.reinserted_rows} row(s)."
            ),
        )
        yield "success", f"REVERT COMPLETE: move {report.revert_move_id}, digest {report.digest}"
    elif report.ok:
        yield "success", "DRY RUN COMPLETE — no changes made. Re-run with --execute to proceed."
    else:
        yield "error", "DRY RUN: the revert would be refused (see the conflicts above)."
