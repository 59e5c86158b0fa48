"""Revert a sealed move: plan it, rehearse it, or replay it for real, in one transaction.

Order inside the transaction:
1. the move must verify (digest and chain) and not be reverted already;
2. the tables it touched are locked against writers (SHARE ROW EXCLUSIVE, as capture does);
3. scans: schema, later moves, drift, re-insert collisions, secrets, the domain's conflicts;
4. a recording of kind ``revert``: the domain's ``before_replay``, then the move's steps in
   reverse order, each a set of compare-and-swap statements whose row count must match;
5. after the recording: no row may still reference a row the revert deleted; every row the
   move touched holds its before-values again; the domain's ``after_replay`` checks.
A dry run does 1-5 and rolls back, so it finds exactly what an execute would.
"""

from __future__ import annotations

import msgspec
from django.db import connections, transaction

from ledger import fingerprints, seal
from ledger.dbapi import cursor as ledger_cursor
from ledger.dbapi import sql
from ledger.errors import LedgerError, StepCountMismatch
from ledger.queries import read_header
from ledger.registry import TableSpec
from ledger.replay import apply, exact, scan
from ledger.replay.hooks import ReplayHooks, hooks_for
from ledger.replay.shapes import TableShape
from ledger.replay.structs import (
    CheckOutcome,
    Conflict,
    ReplayPlan,
    ReplayPolicy,
    ReplayReport,
)
from ledger.structs import MoveHeader
from ledger.verify import verify


class ReplayConflict(LedgerError):
    """The revert was refused or rolled back; ``report`` says why."""

    def __init__(self, message: str, report: ReplayReport) -> None:
        self.report = report
        super().__init__(message)


class _Rehearsed(Exception):
    """Raised to roll back a dry run's rehearsal, carrying its report."""

    def __init__(self, report: ReplayReport) -> None:
        self.report = report


def revert(
    move_id: int,
    *,
    execute: bool,
    policy: ReplayPolicy | None = None,
    reason: str = "",
    operator: str = "",
    using: str = "default",
) -> ReplayReport:
    """Plan and rehearse (``execute=False``) or carry out the revert of ``move_id``.

    Raises:
        MoveNotFound: no such move.
        ReplayConflict: ``execute`` and the revert is refused or rolled back (its report
            lists every conflict and failed check).
    """
    policy = policy or ReplayPolicy()
    if execute:
        with transaction.atomic(using=using):
            report = _run(move_id, policy, reason, operator, using, rehearse=False)
        return report
    try:
        with transaction.atomic(using=using):
            raise _Rehearsed(_run(move_id, policy, reason, operator, using, rehearse=True))
    except _Rehearsed as done:
        return done.report


def _shapes(header: MoveHeader, hooks: ReplayHooks) -> dict[str, TableShape]:
    """The replayed tables: every captured table but history tables (never undone)."""
    return {
        table: TableShape.from_header(
            table, snapshot, frozenset(hooks.derived_columns.get(table, ()))
        )
        for table, snapshot in header.tables.items()  # type: ignore[union-attr]
        if snapshot.get("replay", True)
    }


def _run(
    move_id: int, policy: ReplayPolicy, reason: str, operator: str, using: str, *, rehearse: bool
) -> ReplayReport:
    connection = connections[using]
    header, _digest = read_header(move_id, using)
    hooks = hooks_for(header.command)
    shapes = _shapes(header, hooks)
    connection.ensure_connection()
    plan = _plan(connection, header, shapes, hooks, policy, using)
    blocking = plan.blocking()
    fatal = [
        c for c in blocking if c.kind in ("tampered", "reverted", "schema", "fingerprint-key")
    ]
    if fatal or (blocking and not rehearse):
        report = ReplayReport(plan=plan, executed=False, ok=False)
        if rehearse:
            return report
        raise ReplayConflict(_refusal(blocking), report)
    return _replay(
        connection, header, shapes, hooks, plan, reason, operator, using, rehearse=rehearse
    )


def _refusal(conflicts: tuple[Conflict, ...] | list[Conflict]) -> str:
    lines = [f"- {c.message}" for c in conflicts]
    return "revert refused, nothing was changed:\n" + "\n".join(lines)


def _fingerprint_conflicts(cursor, header: MoveHeader, shapes) -> list[Conflict]:
    """Secrets the move recorded under another fingerprint key than the one configured now."""
    current = fingerprints.activate(cursor, required=False)
    cursor.execute("SELECT DISTINCT table_name FROM ledger_change WHERE move_id = %s", [header.id])
    touched = {row[0] for row in cursor.fetchall()}
    return [
        Conflict(
            kind="fingerprint-key",
            table=table,
            count=1,
            message=f"the secrets of {table} were fingerprinted with key {recorded}, but "
            f"{'no key' if current is None else f'key {current}'} is configured now: "
            "configure the key the move was recorded with (LEDGER_FINGERPRINT_KEY_FILE)",
        )
        for table, snapshot in sorted(header.tables.items())  # type: ignore[union-attr]
        if table in shapes
        and table in touched
        and (recorded := snapshot.get("fingerprint"))
        and recorded != current
    ]


def _plan(connection, header: MoveHeader, shapes, hooks, policy, using) -> ReplayPlan:
    conflicts: list[Conflict] = []
    with ledger_cursor(connection) as cursor:
        conflicts += _fingerprint_conflicts(cursor, header, shapes)
    report = verify(header.id, using)
    if not report.ok:
        failure = report.failures[0]
        conflicts.append(
            Conflict(
                kind="tampered",
                table="",
                count=len(report.failures),
                message=f"the ledger of move {header.id} does not verify ({failure.reason}): "
                "it cannot be trusted to revert anything; run verify_ledger",
            )
        )
    with ledger_cursor(connection) as cursor:
        cursor.execute("SELECT id FROM ledger_move WHERE reverts_id = %s", [header.id])
        row = cursor.fetchone()
        if row:
            conflicts.append(
                Conflict(
                    kind="reverted",
                    table="",
                    count=1,
                    message=f"move {header.id} was already reverted by move {row[0]}: "
                    f"to re-apply it, revert move {row[0]}",
                )
            )
        conflicts += _schema_conflicts(cursor, header, shapes)
        # A schema conflict stops the scans (they read the recorded columns), unless the policy
        # accepts it (migrations ran, but no captured table's columns changed).
        if any(c.kind == "schema" and not _resolved(c, policy) for c in conflicts):
            return _plan_struct(header, (), (), conflicts, hooks, policy)
        _lock(cursor, shapes)
        hooks.lock(header, policy)
        cursor.execute(scan.TEMP_TABLES, {"move": header.id})
        conflicts += scan.later_move_conflicts(cursor, header.id)
        updated = _updated_columns(cursor, header.id)
        for shape in shapes.values():
            scan.find_update_drift(cursor, header.id, shape)
            scan.find_insert_drift(cursor, header.id, shape, updated.get(shape.table, set()))
            scan.find_reinsert_collisions(cursor, header.id, shape)
            conflicts += scan.secret_conflicts(cursor, header.id, shape)
        conflicts += scan.drift_conflicts(cursor)
        steps = {s.id: (s.seq, s.label) for s in header.steps}
        step_work, table_work = scan.work(cursor, header.id, steps, sorted(shapes))
    conflicts += hooks.conflicts(header, policy)
    return _plan_struct(header, step_work, table_work, conflicts, hooks, policy)


def _resolved(conflict: Conflict, policy: ReplayPolicy) -> bool:
    return bool(conflict.resolved_by) and getattr(policy, conflict.resolved_by, False)


def _plan_struct(header, step_work, table_work, conflicts, hooks, policy) -> ReplayPlan:
    return ReplayPlan(
        move_id=header.id,
        move_kind=header.kind,
        command=header.command,
        reverts_id=header.reverts_id,
        steps=tuple(step_work),
        tables=tuple(table_work),
        conflicts=tuple(conflicts),
        domain=hooks.describe(header),
        policy=policy,
    )


def _schema_conflicts(cursor, header: MoveHeader, shapes) -> list[Conflict]:
    conflicts = []
    for table, shape in sorted(shapes.items()):
        live = scan.column_types(cursor, table)
        if live != dict(shape.columns):
            changed = sorted(set(live.items()) ^ set(shape.columns.items()))
            names = sorted({name for name, _ in changed})
            conflicts.append(
                Conflict(
                    kind="schema",
                    table=table,
                    count=len(names),
                    sample=tuple(names[: scan.SAMPLE]),
                    message=f"the columns of {table} changed since the move "
                    f"({', '.join(names) or 'table dropped'}): a replay would write values "
                    "into a different schema; migrate back or revert by hand",
                )
            )
    if not conflicts and seal.schema_fingerprint(cursor, seal.apps_of(header.tables)) != (
        header.schema_fingerprint
    ):
        # Migrations ran since, but none changed a captured table's columns: still say so.
        conflicts.append(
            Conflict(
                kind="schema",
                table="",
                count=1,
                message="migrations of the recorded apps were applied since the move "
                "(schema fingerprint differs) although the captured tables' columns are "
                "unchanged: check them, then pass --allow-schema-change",
                resolved_by="allow_schema_change",
            )
        )
    return conflicts


def _specs(header: MoveHeader) -> tuple[TableSpec, ...]:
    """The tables the move captured, from its own header: the revert captures them too,
    whatever this process registered."""
    return tuple(
        TableSpec(
            table=table,
            pk=str(snapshot["pk"]),
            secret_columns=tuple(sorted(snapshot.get("secret_columns") or ())),
            label=str(snapshot.get("label", table)),
            replay=bool(snapshot.get("replay", True)),
        )
        for table, snapshot in sorted(header.tables.items())  # type: ignore[union-attr]
    )


def _lock(cursor, shapes) -> None:
    tables = sql.SQL(", ").join(sql.Identifier(t) for t in sorted(shapes))
    if shapes:
        cursor.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(tables))


def _updated_columns(cursor, move_id: int) -> dict[str, set[str]]:
    cursor.execute(
        "SELECT DISTINCT c.table_name, k.key FROM ledger_change c "
        "CROSS JOIN LATERAL jsonb_object_keys(c.after) AS k(key) "
        "WHERE c.move_id = %s AND c.op = 'U'",
        [move_id],
    )
    out: dict[str, set[str]] = {}
    for table, column in cursor.fetchall():
        out.setdefault(table, set()).add(column)
    return out


def _replay(
    connection,
    header: MoveHeader,
    shapes,
    hooks: ReplayHooks,
    plan: ReplayPlan,
    reason,
    operator,
    using,
    *,
    rehearse: bool,
) -> ReplayReport:
    from ledger.context import default_operator, recording

    policy = plan.policy
    with ledger_cursor(connection) as cursor:
        # Drifted rows are left as they are: by policy, or so a rehearsal can go on and find
        # every other conflict.
        cursor.execute(
            "INSERT INTO pg_temp.ledger_replay_skip SELECT DISTINCT table_name, pk "
            "FROM pg_temp.ledger_replay_drift ON CONFLICT DO NOTHING"
        )
        skipped = _skipped(cursor)
        todo = apply.units(cursor, header.id, sorted(shapes))
    arguments = {
        **plan.domain,
        "move_id": header.id,
        "skip_drifted": policy.skip_drifted,
        "carry_new_data": policy.carry_new_data,
        "allow_schema_change": policy.allow_schema_change,
        "skipped": skipped,
    }
    found: list[Conflict] = []
    done = {"U": 0, "I": 0, "D": 0}
    try:
        with recording(
            kind="revert",
            command="revert_move",
            arguments=arguments,
            # A rehearsal is rolled back: it needs no reason of its own.
            reason=reason or ("rehearsal" if rehearse else ""),
            operator=operator or default_operator(),
            reverts=header.id,
            tables=_specs(header),
            using=using,
        ) as rec:
            hooks.before_replay(header, policy, rec)
            _replay_steps(rec, connection, header, shapes, todo, found, done, rehearse, plan)
            # Derived columns are recounted inside the recording, as declared steps: every
            # write of a revert is in its record.
            hooks.refresh(header, policy, rec)
            report = _outcome(connection, header, shapes, hooks, plan, found, done)
            if rehearse:
                raise _Rehearsed(report)  # rolled back, never sealed
            if not report.ok:
                raise ReplayConflict(_refusal(_failures(found, report)), report)
    except StepCountMismatch as exc:
        found.append(Conflict(kind="count", table="", count=exc.captured, message=str(exc)))
        raise ReplayConflict(_refusal(found), _partial_report(plan, done)) from exc
    return msgspec.structs.replace(
        report, executed=True, revert_move_id=rec.move_id, digest=rec.digest
    )


def _replay_steps(rec, connection, header, shapes, todo, found, done, rehearse, plan) -> None:
    """The move's steps backwards, each a set of compare-and-swap statements."""
    labels = {s.id: s.label for s in header.steps}
    for step_id, group in _by_step(todo):
        expected = sum(u.rows - u.skipped for u in group)
        label = labels.get(step_id, apply.OUTSIDE_STEPS) if step_id else apply.OUTSIDE_STEPS
        with (
            rec.step(label, expected_rows=None if rehearse else expected, action="revert"),
            ledger_cursor(connection) as cursor,
        ):
            for unit in group:
                changed = apply.run_unit(cursor, header.id, unit, shapes[unit.table])
                done[unit.op] += changed
                if changed != unit.rows - unit.skipped:
                    found.append(_count_conflict(unit, changed, label))
        if found and not rehearse:
            raise ReplayConflict(_refusal(found), _partial_report(plan, done))


def _outcome(connection, header, shapes, hooks, plan, found, done) -> ReplayReport:
    """The checks after the replay, still inside the recording, as a report (not executed)."""
    checks = _after(connection, header, shapes, hooks, plan.policy, found)
    return ReplayReport(
        plan=msgspec.structs.replace(plan, conflicts=plan.conflicts + tuple(found)),
        executed=False,
        ok=not found and all(c.ok for c in checks) and not plan.blocking(),
        restored_rows=done["U"],
        deleted_rows=done["I"],
        reinserted_rows=done["D"],
        skipped=tuple(c for c in plan.conflicts if c.resolved_by == "skip_drifted"),
        checks=tuple(checks),
    )


def _failures(found: list[Conflict], report: ReplayReport) -> list[Conflict]:
    return found or [
        Conflict(kind="check", table="", count=1, message=f"check {c.name} failed: {c.detail}")
        for c in report.checks
        if not c.ok
    ]


def _partial_report(plan: ReplayPlan, done: dict[str, int]) -> ReplayReport:
    """The report of a replay stopped part way (and rolled back)."""
    return ReplayReport(
        plan=plan,
        executed=False,
        ok=False,
        restored_rows=done["U"],
        deleted_rows=done["I"],
        reinserted_rows=done["D"],
    )


def _count_conflict(unit: apply.Unit, changed: int, label: str) -> Conflict:
    verb = {"U": "restore", "I": "delete", "D": "re-insert"}[unit.op]
    return Conflict(
        kind="count",
        table=unit.table,
        count=unit.rows - unit.skipped - changed,
        message=f"{label}: expected to {verb} {unit.rows - unit.skipped} row(s) of "
        f"{unit.table}, did {changed}: rows changed under the revert (drift the scan did not "
        "see, or a unique key taken again)",
    )


def _by_step(todo: list[apply.Unit]):
    group: list[apply.Unit] = []
    for unit in todo:
        if group and unit.step_id != group[-1].step_id:
            yield group[-1].step_id, group
            group = []
        group.append(unit)
    if group:
        yield group[-1].step_id, group


def _skipped(cursor) -> dict[str, list[str]]:
    cursor.execute(
        "SELECT table_name, array_agg(pk ORDER BY length(pk), pk) FROM pg_temp.ledger_replay_skip "
        "GROUP BY table_name ORDER BY table_name"
    )
    return dict(cursor.fetchall())


def _after(connection, header, shapes, hooks, policy, found: list[Conflict]) -> list[CheckOutcome]:
    with ledger_cursor(connection) as cursor:
        cursor.execute(
            "SELECT table_name, array_agg(DISTINCT op) FROM ledger_change WHERE move_id = %s "
            "AND table_name = ANY(%s) GROUP BY table_name",
            [header.id, sorted(shapes)],
        )
        ops = {t: set(o) for t, o in cursor.fetchall()}
        for table in sorted(t for t, o in ops.items() if "I" in o):
            found += scan.dependents(cursor, header.id, table)
        updated = _updated_columns(cursor, header.id)
        missing = exact.not_restored(cursor, header.id, shapes, updated, ops)
    found += missing
    checks = [
        CheckOutcome(
            name="rows-restored",
            ok=not missing,
            detail="every row the move touched holds its before-values"
            if not missing
            else f"{sum(c.count for c in missing)} row(s) differ",
        )
    ]
    return checks + hooks.after_replay(header, policy)
