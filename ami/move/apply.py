"""The move's single transaction: pin, claim, lock, plan once, record, recount, seal, check.

The order is the same for every move (and for reverts, see ``ami.move.revert``), so two of
them never deadlock:

1. before the transaction, the ledger installs its capture triggers (short transactions of
   their own; nothing waits for them more than milliseconds);
2. the transaction sets its lock timeout; the recording pins every captured table (ROW
   EXCLUSIVE: readers and writers never wait for it, DDL does);
3. the moved deployments are claimed, in id order, without waiting (``ami.move.locks``);
4. row locks: both projects, the deployments, in id order;
5. the plan is built once, under those locks, and checked against the digest the operator
   reviewed (``--expect-plan``); its resources and collections are locked;
6. the steps and the recount of the cached fields they changed, inside the recording;
7. the recording is sealed (its chain lock waits for another move's seal);
8. the checks, and the running jobs again: last, so what other sessions committed while the
   move ran or waited is seen; a failed check rolls everything back, the seal included;
9. the transaction commits.

Everything the result depends on happens inside one ``atomic()`` block, so a move works the
same inside an outer transaction (a test case, a caller's atomic block).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace

import msgspec
from django.db import DatabaseError, InterfaceError, connection, transaction

import ledger
from ami.move import errors
from ami.move.checks import run_checks
from ami.move.counts import project_totals
from ami.move.invariants import job_links_across, resources_of
from ami.move.jobs import running_job_ids
from ami.move.listing import move_subjects
from ami.move.locks import claim_deployments, lock_planned_rows, lock_projects_and_deployments
from ami.move.locks import name_session as _name_session
from ami.move.plan import build_plan
from ami.move.plan_digest import changed_sections, plan_digest
from ami.move.references import watermarks
from ami.move.steps import CREATE_TARGET, STEPS
from ami.move.steps.base import StepContext
from ami.move.structs import MovePlan, MoveReport, MoveRequest, ProjectTotals, StepResult
from ami.move.tracking import register_move_tables
from ledger import races
from ledger.dbapi import sqlstate
from ledger.interrupts import signal_name
from ledger.tuning import set_lock_timeout, without_jit

OnStep = Callable[[StepResult], None]
OnPlan = Callable[[MovePlan], None]
OnPhase = Callable[[str], None]

DEFAULT_LOCK_TIMEOUT = 10.0


def _arguments(request: MoveRequest, target_id: int) -> dict[str, object]:
    """What the ledger stores as the move's arguments: the request, and the target's id."""
    return {
        **msgspec.to_builtins(request),
        "source_project": request.source_project_id,
        "target_project": target_id,
    }


def _target_id(request: MoveRequest) -> int:
    """The target's pk; for a project still to create, one reserved from its sequence, so the
    ledger's arguments name it from the start."""
    if request.target_project_id:
        return request.target_project_id
    with connection.cursor() as cur:
        cur.execute("SELECT nextval(pg_get_serial_sequence('main_project', 'id'))")
        return cur.fetchone()[0]


def _check_expected(plan: MovePlan, expected: str | None) -> None:
    if expected is None:
        return
    changed = changed_sections(expected, plan_digest(plan))
    if changed:
        raise errors.PlanChanged(
            f"The data changed since the dry run you reviewed ({', '.join(changed)} differ; "
            f"plan digest now {plan_digest(plan)}): run the dry run again, check it, then "
            "--execute with its digest"
        )


def _check_running_now(plan: MovePlan) -> None:
    """Refuse when a job touching the moved data started while the move ran (a job the move
    does not lock: a project-level job on a mixed collection, say)."""
    if plan.request.allow_running_jobs:
        return
    params = {"d": list(plan.request.deployment_ids), "s": plan.source.id}
    started = running_job_ids(params, (c.collection_id for c in plan.collections))
    _check_running(plan, started, "started while the move ran: nothing was changed;")


def _check_running(
    plan: MovePlan, running: tuple[int, ...] | None = None, state: str = "are running:"
) -> None:
    """Refuse when jobs touching the moved data run (``running``: the plan's, by default)."""
    running = plan.running_job_ids if running is None else running
    if running and not plan.request.allow_running_jobs:
        ids = ", ".join(map(str, running))
        raise errors.RunningJobs(
            f"Job(s) {ids} touching the moved data {state} wait for them to finish "
            "(or cancel them), or pass --allow-running-jobs"
        )


def apply_plan(plan: MovePlan, on_step: OnStep | None = None) -> MoveReport:
    """Execute a reviewed plan: ``execute_move`` refusing when the plan changed since."""
    return execute_move(plan.request, expect_plan=plan_digest(plan), on_step=on_step)


def execute_move(
    request: MoveRequest,
    *,
    expect_plan: str | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    on_step: OnStep | None = None,
    on_plan: OnPlan | None = None,
    on_phase: OnPhase | None = None,
) -> MoveReport:
    """Plan and execute a move in one transaction; return the report once committed.

    Args:
        request: what to move.
        expect_plan: the digest of the dry run the operator reviewed; refuse if it changed.
        lock_timeout: seconds any lock may be waited for before the move gives up.
        on_step, on_plan, on_phase: progress callbacks (each step's result, the plan built
            under the locks, the name of each phase as it starts).

    Raises:
        MoveError: refused before writing (running jobs, changed plan, busy deployments), or
            rolled back (a step count, a failed check: ``ValidationFailed`` carries the
            report; a deadlock, a lock timeout, a lost connection). Nothing was written.
    """
    try:
        operator, reason = ledger.who_and_why(request.operator, request.reason, executing=True)
    except ledger.LedgerError as exc:
        raise errors.InvalidRequest(str(exc)) from exc
    request = msgspec.structs.replace(request, operator=operator, reason=reason)
    phase = on_phase or (lambda _name: None)
    sealed: list[bool] = []
    # A database that cannot be reached at all is no race lost during the move: its error is
    # left to manage.py, which says what to fix in DATABASE_URL.
    connection.ensure_connection()
    try:
        register_move_tables()
        phase("installing capture")
        ledger.prepare_capture()
        return _execute(request, expect_plan, lock_timeout, on_step, on_plan, phase, sealed)
    except BaseException as exc:
        _release_capture()
        translated = _translated(exc, lock_timeout, committing=bool(sealed))
        if translated is exc:
            raise
        raise translated from exc


def _translated(exc: BaseException, lock_timeout: float, committing: bool) -> BaseException:
    """The error the operator sees: a MoveError for everything that is not a bug.

    ``committing``: the move was sealed and only its COMMIT was left, so a lost race there
    leaves it unknown whether the move committed, and the message says so."""
    if committing and (lost := races.unanswered_commit(exc, "move")) is not None:
        return errors.MoveInterrupted(_capitalised(str(lost)))
    if isinstance(exc, KeyboardInterrupt):
        return errors.MoveInterrupted(
            f"The move was interrupted ({signal_name(exc)}) and rolled back: nothing was changed"
        )
    if isinstance(exc, ledger.StepCountMismatch):
        return errors.StepCountMismatch(
            f"{exc}. The data changed under the move, or a step is wrong: nothing was written; "
            "run the dry run again"
        )
    if isinstance(exc, ledger.LedgerError):
        return errors.MoveError(f"The ledger refused the move: {exc}")
    if isinstance(exc, DatabaseError | InterfaceError):
        return _lost_race(exc, lock_timeout)
    return exc


def _capitalised(message: str) -> str:
    return message[:1].upper() + message[1:]


def _release_capture() -> None:
    # After a rollback nothing ran the release the recording registered for its commit.
    if not connection.in_atomic_block:
        with contextlib.suppress(DatabaseError, InterfaceError):  # best effort
            ledger.release_capture()


def _lost_race(exc: Exception, lock_timeout: float) -> errors.MoveError:
    """A database error that is not the operator's mistake, as one sentence (the race it lost
    told apart by ``ledger.races``, as for a revert)."""
    code = sqlstate(exc)
    cause = races.cause(exc)
    if cause == "deadlock":
        return errors.MoveInterrupted(
            "The move was stopped by a deadlock with another transaction: nothing was "
            "changed; run it again"
        )
    if cause == "lock timeout":
        return errors.MoveInterrupted(
            f"The move could not lock the rows it needs within --lock-timeout "
            f"{lock_timeout:g} s (other transactions hold them): nothing was changed; run it "
            "again when they are done, or pass a longer --lock-timeout"
        )
    if cause == "cancelled":
        return errors.MoveInterrupted(
            "The move was cancelled by the server (statement timeout or an administrator): "
            "nothing was changed; run it again"
        )
    if cause == "serialization failure":
        return errors.MoveInterrupted(
            "The move lost a race with a concurrent transaction (serialization failure): "
            "nothing was changed; run it again"
        )
    if cause == "connection lost" or code is None:
        return errors.MoveInterrupted(
            "The connection to the database was lost during the move: the server rolled the "
            "transaction back and nothing was changed; check the server, then run it again"
        )
    return errors.MoveInterrupted(
        f"The database refused the move ({code}: {str(exc).strip().splitlines()[0]}): "
        "nothing was changed"
    )


def _execute(
    request: MoveRequest,
    expect_plan: str | None,
    lock_timeout: float,
    on_step: OnStep | None,
    on_plan: OnPlan | None,
    phase: OnPhase,
    sealed: list[bool],
) -> MoveReport:
    # No JIT: its statements' row counts are guesses (ledger.tuning).
    with transaction.atomic(), without_jit():
        set_lock_timeout(lock_timeout)
        _name_session("ami move_project_data")
        target_id = _target_id(request)
        with ledger.recording(
            kind="move",
            command="move_project_data",
            arguments=_arguments(request, target_id),
            reason=request.reason,
            operator=request.operator,
            subjects=move_subjects(request.source_project_id, target_id, request.deployment_ids),
        ) as rec:
            phase("locking")
            claim_deployments(request.deployment_ids)
            lock_projects_and_deployments(
                request.source_project_id, request.target_project_id, request.deployment_ids
            )
            phase("planning")
            plan = build_plan(request)
            _check_expected(plan, expect_plan)
            _check_running(plan)
            lock_planned_rows(plan)
            rec.arguments["plan_digest"] = plan_digest(plan)
            # Id watermarks of the tables without a project that hang off moved rows: how a
            # revert tells later identifications or detections from earlier ones, whatever
            # their timestamps (``ami.move.references``).
            rec.arguments["watermarks"] = watermarks()
            # Each moved deployment's storage source, device and site now: how its revert
            # tells a resource of the target given to a station since from one it had before.
            rec.arguments["deployment_resources"] = resources_of(request.deployment_ids)
            rec.arguments["job_links_across"] = job_links_across(
                request.deployment_ids, plan.project_level_jobs_moved
            )
            if on_plan is not None:
                on_plan(plan)
            ctx, steps, target_before = _run_steps(rec, plan, target_id, on_step, phase)
            phase("sealing")
        # Checked last, once sealed: the seal waited for the ledger's chain lock (another move
        # sealing) and hashed, and what other sessions committed meanwhile (a moved capture
        # linked to a source collection, a job started on the moved data) is seen here, before
        # the commit, and refuses the move. Nothing after the checks but the COMMIT.
        phase("checks")
        report = _checked(ctx, steps, target_before)
        _check_running_now(plan)
        if not report.ok:
            failed = ", ".join(c.name for c in report.checks if not c.ok)
            raise errors.ValidationFailed(
                "Post-move validation failed; transaction rolled back, nothing was changed. "
                f"Failed: {failed} (the ✗ lines above; with --format json, the report's "
                "checks)",
                report,
            )
        sealed.append(True)  # only the COMMIT is left
        report = msgspec.structs.replace(
            report, plan_digest=plan_digest(plan), move_id=rec.move_id, digest=rec.digest
        )
    return report


def _run_steps(
    rec: ledger.Recording,
    plan: MovePlan,
    target_id: int,
    on_step: OnStep | None,
    phase: OnPhase,
) -> tuple[StepContext, list[StepResult], ProjectTotals]:
    """The steps, inside the recording.

    Returns:
        (their context, their results, the target's totals before them).
    """
    ctx = StepContext(plan=plan, recorder=rec, target_id=target_id)
    steps: list[StepResult] = []
    target_before = plan.target_totals
    for label, step in STEPS:
        phase(label)
        steps.append(step(replace(ctx, label=label, earlier=tuple(steps))))
        if label == CREATE_TARGET and plan.target.id is None:
            # A created target starts with the defaults it was created with.
            target_before = project_totals([target_id])[target_id]
        if on_step is not None:
            on_step(steps[-1])
    return ctx, steps, target_before


def _checked(
    ctx: StepContext, steps: list[StepResult], target_before: ProjectTotals
) -> MoveReport:
    """The checks of the state the steps left, and the report (not committed yet)."""
    plan, target_id = ctx.plan, ctx.target_id
    after = project_totals([ctx.source_id, target_id])
    checks = run_checks(ctx)
    return MoveReport(
        plan=plan,
        executed=True,
        ok=all(c.ok for c in checks),
        target_project_id=target_id,
        steps=tuple(steps),
        checks=checks,
        source_after=after[ctx.source_id],
        target_before=target_before,
        target_after=after[target_id],
        cached_deployment_ids=tuple(
            pk
            for s in steps
            for pk in s.touched.get("deployment", ())
            if s.label == "[refresh-cached-fields]"
        ),
        post_save_deployment_ids=tuple(ctx.deployment_ids) if plan.request.fire_post_save else (),
    )
