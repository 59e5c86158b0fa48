"""The move's single transaction: lock, re-plan, record the steps, refresh, check.

Everything the result depends on happens inside one ``atomic()`` block, so a move works the
same inside an outer transaction (a test case, a caller's atomic block): nothing waits for
``on_commit``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import msgspec
from django.db import connection, transaction

import ledger
from ami.move import errors
from ami.move.checks import run_checks
from ami.move.counts import project_totals
from ami.move.plan import build_plan
from ami.move.steps import STEPS
from ami.move.steps.base import StepContext
from ami.move.structs import MovePlan, MoveReport, StepResult
from ami.move.tracking import register_move_tables

OnStep = Callable[[StepResult], None]

_LOCKS = (
    ("main_project", "p"),
    ("main_deployment", "d"),
    ("main_s3storagesource", "s3"),
    ("main_device", "device"),
    ("main_site", "site"),
    ("main_sourceimagecollection", "collection"),
)


@contextmanager
def recording(plan: MovePlan, target_id: int) -> Iterator[ledger.Recording]:
    """Open the ledger recording of this move: every write inside it is captured.

    The arguments carry ``source_project``, ``target_project`` and ``deployment_ids`` (what
    ``list_moves`` shows and filters on) and every flag of the request.
    """
    register_move_tables()
    request = plan.request
    arguments = {
        **msgspec.to_builtins(request),
        "source_project": request.source_project_id,
        "target_project": target_id,
    }
    with ledger.recording(
        kind="move",
        command="move_project_data",
        arguments=arguments,
        reason=request.reason,
        operator=request.operator or ledger.default_operator(),
    ) as rec:
        yield rec


def _target_id(plan: MovePlan) -> int:
    """The target's pk; for a project still to create, one reserved from its sequence, so the
    ledger's arguments name it from the start."""
    if plan.target.id is not None:
        return plan.target.id
    with connection.cursor() as cur:
        cur.execute("SELECT nextval(pg_get_serial_sequence('main_project', 'id'))")
        return cur.fetchone()[0]


def _lock(plan: MovePlan) -> None:
    """``SELECT ... FOR UPDATE`` both projects, the deployments, the shared resources and the
    collections, always in this order, so two moves cannot deadlock each other."""
    ids: dict[str, list[int]] = {
        "p": sorted(p for p in (plan.source.id, plan.target.id) if p),
        "d": sorted(plan.request.deployment_ids),
        "collection": sorted(c.collection_id for c in plan.collections),
    }
    for r in plan.resources:
        ids.setdefault(r.kind, []).append(r.resource_id)
    with connection.cursor() as cur:
        for table, key in _LOCKS:
            if ids.get(key):
                cur.execute(
                    f"SELECT id FROM {connection.ops.quote_name(table)} "
                    "WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                    [sorted(ids[key])],
                )


def _compare(planned: MovePlan, locked: MovePlan) -> None:
    if planned == locked:
        return
    changed = [f for f in MovePlan.__struct_fields__ if getattr(planned, f) != getattr(locked, f)]
    raise errors.PlanChanged(
        f"The data changed since the dry run ({', '.join(changed)} differ): "
        "run the dry run again, check it, then --execute"
    )


def _check_running(plan: MovePlan) -> None:
    if plan.running_job_ids and not plan.request.allow_running_jobs:
        ids = ", ".join(map(str, plan.running_job_ids))
        raise errors.RunningJobs(
            f"Job(s) {ids} on the moved deployments are running: wait for them to finish "
            "(or cancel them), or pass --allow-running-jobs"
        )


def apply_plan(plan: MovePlan, on_step: OnStep | None = None) -> MoveReport:
    """Execute ``plan`` in one transaction and return the report.

    Args:
        plan: a plan from ``build_plan``; it is rebuilt against locked rows and must match.
        on_step: called with each StepResult as soon as the step is done (progress display).

    Raises:
        MoveError: refused before writing (running jobs, changed data), or rolled back
            (a step wrote an unexpected number of rows, or a check failed:
            ``ValidationFailed`` carries the report).
    """
    try:
        ledger.check_who_and_why(
            plan.request.operator or ledger.default_operator(), plan.request.reason
        )
    except ledger.LedgerError as exc:
        raise errors.InvalidRequest(str(exc)) from exc
    try:
        return _apply(plan, on_step)
    except ledger.StepCountMismatch as exc:
        raise errors.StepCountMismatch(
            f"{exc}. The data changed under the move, or a step is wrong: nothing was written; "
            "run the dry run again"
        ) from exc
    except ledger.LedgerError as exc:
        raise errors.MoveError(f"The ledger refused the move: {exc}") from exc


def _apply(plan: MovePlan, on_step: OnStep | None) -> MoveReport:
    from ami.main.cached_fields import refresh_cached_fields

    with transaction.atomic():
        _lock(plan)
        locked = build_plan(plan.request)
        _compare(plan, locked)
        _check_running(locked)
        steps: list[StepResult] = []
        target_id = _target_id(locked)
        with recording(locked, target_id) as rec:
            ctx = StepContext(plan=locked, recorder=rec, target_id=target_id)
            for _label, step in STEPS:
                steps.append(step(ctx))
                if on_step is not None:
                    on_step(steps[-1])
        assert ctx.target_id is not None
        affected = _affected_deployments(ctx, steps)
        refresh_cached_fields(affected)
        after = project_totals([ctx.source_id, ctx.target_id])
        checks = run_checks(ctx, after)
        report = MoveReport(
            plan=locked,
            executed=True,
            ok=all(c.ok for c in checks),
            target_project_id=ctx.target_id,
            steps=tuple(steps),
            checks=checks,
            source_after=after[ctx.source_id],
            target_before=ctx.target_before,
            target_after=after[ctx.target_id],
            cached_deployment_ids=tuple(affected),
            post_save_deployment_ids=tuple(ctx.deployment_ids)
            if locked.request.fire_post_save
            else (),
            move_id=rec.move_id,
            digest=rec.digest,
        )
        if not report.ok:
            raise errors.ValidationFailed(
                "Post-move validation failed; transaction rolled back. "
                "See log output above for details.",
                report,
            )
    return report


def _affected_deployments(ctx: StepContext, steps: list[StepResult]) -> list[int]:
    """The moved deployments, plus the target's other deployments when its default filters
    changed (filtered counts depend on the project's default filters)."""
    from ami.main.models import Deployment

    moved = sorted(ctx.deployment_ids)
    if any(s.label == "[copy-defaults]" and s.rows for s in steps):
        others = Deployment.objects.filter(project_id=ctx.target_id).exclude(pk__in=moved)
        return moved + sorted(others.values_list("pk", flat=True))
    return moved
