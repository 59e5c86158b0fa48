"""Revert a sealed move: plan it, rehearse it, or replay it for real, in one transaction.

Before the transaction the capture triggers are installed (short side transactions, as for a
move: ``ledger.prepare_capture``), so the revert never creates or drops a trigger while it
holds its locks; then the tables the move rewrote in bulk are vacuumed, so the replay does not
prune the move's old versions under its locks (``ledger.replay.vacuum``). Inside the
transaction, in this order:

1. the lock timeout is set; the move itself is locked (an advisory lock: a second revert of
   it waits here). No table is locked: others go on writing every row the revert does not
   restore;
2. under that lock, first: is the move reverted already? If so that is the one conflict and
   nothing is scanned;
3. the domain's row locks (``ReplayHooks.lock``); then the ledger: fingerprint key, schema;
   then, under those locks, the domain's scans (``ReplayHooks.conflicts``) start on a
   connection of their own (``ledger.apart``);
4. scans: later moves, secrets; the move's verification, started before the transaction on a
   connection of its own; the domain's scans if they have ended. Where any of these found
   something, also the domain's scans' result (waited for), drift per column, re-insert
   collisions on the primary key and on every unique key; the plan is reported (``on_plan``);
5. a recording of kind ``revert``: the domain's ``before_replay``, then the move's steps in
   reverse order, each a set of compare-and-swap statements whose row count must match;
6. after the recording: no row may still reference a row the revert deleted; every row the
   move touched holds its before-values again (but the cells it left); the domain's
   ``after_replay`` checks; the deferred constraints (checked by the seal).

Drift is found twice over, so it is scanned only when needed: a row that no longer holds what
the move left makes a compare-and-swap count short (or a re-insert hit a unique key). When
nothing was found before the replay, it runs without the drift scans (0.8-1.8 s of a 12 s
revert at bci), and the domain's scans still running go on beside it (0.6 s of a 5 s revert
at bci, on another core): they are looked at after each step and waited for after the last.
If either finds anything at all, the transaction is rolled back and the revert runs again
from 1 with every scan first (the domain's on this connection), and that run's plan and report
are the ones given. A revert that goes through has found nothing either way.

A dry run does 1-6, seals the rehearsal too, and rolls everything back
(``transaction.set_rollback``), so it finds exactly what an execute would. A refusal raises
``ReplayConflict`` (nothing changed); a lost race (deadlock, lock timeout, lost connection)
raises ``Interrupted`` (nothing changed, run it again). The returned report says
``executed`` only once the revert's transaction has committed.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec
from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connections,
    transaction,
)

from ledger import advisory, apart, fingerprints, races, seal
from ledger.dbapi import cursor as ledger_cursor
from ledger.errors import LedgerError, StepCountMismatch, one_line
from ledger.queries import read_header
from ledger.registry import TableSpec
from ledger.replay import apply, exact, scan, vacuum
from ledger.replay.hooks import ReplayHooks, hooks_for
from ledger.replay.shapes import TableShape
from ledger.replay.structs import (
    CheckOutcome,
    Conflict,
    ReplayPlan,
    ReplayPolicy,
    ReplayReport,
    StepDone,
    StepWork,
    TableWork,
)
from ledger.structs import MoveHeader, VerifyReport
from ledger.tuning import set_lock_timeout, without_jit
from ledger.verify import verify

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

    from ledger.context import Recording
    from ledger.dbapi import Cursor, LedgerCursor

logger = logging.getLogger(__name__)

# Why a revert runs a second time (``_Drifted``), as the phase its second run starts with.
_CHANGED = "rows changed since the move: scanning them column by column"
_NEW_DATA = "rows written since the move found beside the replay: scanning everything first"
_SCANS_LOST = "the scans beside the replay lost their connection: scanning everything first"

# Conflicts that stop even a rehearsal: nothing after them can be trusted or run.
FATAL = ("busy", "tampered", "reverted", "schema", "fingerprint-key")

# Advisory lock namespace of reverts ("LEV"); the second key is the reverted move's id.
REVERT_LOCK = 0x4C4556
_INT4 = 2_147_483_647


class ReplayConflict(LedgerError):
    """The revert was refused or rolled back; ``report`` says why."""

    def __init__(self, message: str, report: ReplayReport) -> None:
        self.report = report
        super().__init__(message)


class _Drifted(Exception):
    """A replay without the drift scans found something (a compare-and-swap count short, a
    unique key taken, a check failing, the domain's scans beside it): it was rolled back, to
    run again with every scan first. The message says what, as the phase of the second run."""

    def __init__(self, found: str = _CHANGED) -> None:
        super().__init__(found)


def _ignore(_value: object) -> None:
    return None


@dataclass(frozen=True)
class Progress:
    """Where a revert reports as it runs (the command prints; the engine never does).

    Attributes:
        plan: the plan, once scanned under the locks (before anything is written).
        phase: the name of each phase as it starts.
        step: each replayed step, once done.
    """

    plan: Callable[[ReplayPlan], None] = _ignore
    phase: Callable[[str], None] = _ignore
    step: Callable[[StepDone], None] = _ignore


@dataclass(frozen=True)
class Run:
    """One revert: what every stage reads. Nothing in it changes once built."""

    connection: BaseDatabaseWrapper
    header: MoveHeader
    shapes: dict[str, TableShape]
    hooks: ReplayHooks
    policy: ReplayPolicy
    using: str
    reason: str
    operator: str
    rehearse: bool
    lock_timeout: float | None = None
    progress: Progress = field(default_factory=Progress)
    # Whether the scans look for drift column by column before the replay. Off at first: the
    # replay's compare-and-swap counts find any drift too, and only a replay that finds
    # anything is run again with the scans, whose report is the one given (``_Drifted``).
    scan_drift: bool = False
    # The move's verification, started before the transaction (``ledger.apart``).
    verified: concurrent.futures.Future[VerifyReport] | None = None
    # Whether the revert runs inside a caller's transaction: then nothing is read apart.
    nested: bool = False
    # The domain's scans, still running beside the replay on a connection of their own
    # (``ledger.apart``); None once their result is in the plan.
    pending: concurrent.futures.Future[list[Conflict]] | None = None

    @property
    def move_id(self) -> int:
        return self.header.id

    @contextlib.contextmanager
    def cursor(self) -> Iterator[LedgerCursor]:
        with ledger_cursor(self.connection) as cursor:
            yield cursor


def revert(
    move_id: int,
    *,
    execute: bool,
    policy: ReplayPolicy | None = None,
    reason: str = "",
    operator: str = "",
    using: str = "default",
    lock_timeout: float | None = None,
    on_plan: Callable[[ReplayPlan], None] | None = None,
    on_phase: Callable[[str], None] | None = None,
    on_step: Callable[[StepDone], None] | None = None,
) -> ReplayReport:
    """Plan and rehearse (``execute=False``) or carry out the revert of ``move_id``.

    Args:
        lock_timeout: seconds any lock may be waited for (None: the server's setting).
        on_plan, on_phase, on_step: progress callbacks (see ``Progress``).

    Returns:
        The report: after ``execute``, ``executed`` is true and it names the revert's move
        and digest (committed); a rehearsal's report is never executed, and ``ok`` says
        whether the revert would succeed.

    Raises:
        MoveNotFound: no such move.
        ReplayConflict: ``execute`` and the revert is refused or rolled back (its report
            lists every conflict and failed check).
        Interrupted: a deadlock, a lock timeout, a lost connection: rolled back, run again.
    """
    header, _digest = read_header(move_id, using)
    hooks = hooks_for(_original_command(header, using))
    run = Run(
        connection=connections[using],
        header=header,
        shapes=_shapes(header, hooks),
        hooks=hooks,
        policy=policy or ReplayPolicy(),
        using=using,
        reason=reason,
        operator=operator,
        rehearse=not execute,
        lock_timeout=lock_timeout,
        progress=Progress(
            plan=on_plan or _ignore, phase=on_phase or _ignore, step=on_step or _ignore
        ),
    )
    # Verified on a connection of its own while this one installs, locks and scans.
    nested = connections[using].in_atomic_block
    verified = apart.start(_verify(move_id), using, "verify", inline=nested)
    run = dataclasses.replace(run, verified=verified, nested=nested)
    try:
        _prepare_capture(run)
        _vacuum_first(run)
        try:
            report = _transaction(run)
        except _Drifted as found:
            # Rolled back, nothing changed: the revert again, every scan run first, so its
            # plan and report name what was found.
            run.progress.phase(str(found))
            report = _transaction(dataclasses.replace(run, scan_drift=True))
    except ReplayConflict as exc:
        _release_capture(using)
        if execute:
            raise
        return exc.report  # a rehearsal stopped part way: its report says why
    except BaseException as exc:
        _release_capture(using)
        lost = races.interrupted(exc, "revert", lock_timeout)
        if lost is None:
            raise
        raise lost from exc
    if not execute:
        _release_capture(using)
    return report


def _prepare_capture(run: Run) -> None:
    """Install the capture triggers before the transaction, in short side transactions, as
    a move does; where that is impossible (a table gone, kept busy), the recording installs
    what is missing itself, after the scans said why it cannot run."""
    from ledger.context import prepare_capture

    run.progress.phase("installing capture")
    with contextlib.suppress(LedgerError):
        prepare_capture(run.using, _specs(run.header))


def _vacuum_first(run: Run) -> None:
    """Vacuum the tables the move rewrote in bulk before the transaction takes any lock
    (``ledger.replay.vacuum``); the verification goes on hashing beside it."""
    tables = vacuum.rewritten(run.move_id, run.shapes, run.using)
    if tables:
        run.progress.phase("vacuuming the move's tables")
        vacuum.vacuum(run.move_id, tables, run.using)


def _release_capture(using: str) -> None:
    """After a rollback (a dry run, a refusal) nothing ran the release the recording
    registered for its commit: drop the triggers it installed (best effort)."""
    from ledger.install import release_capture

    if not connections[using].in_atomic_block:
        with contextlib.suppress(DatabaseError, InterfaceError, LedgerError):
            release_capture(using)


def _original_command(header: MoveHeader, using: str) -> str:
    """The command of the move a chain of reverts started from: its domain's hooks replay the
    move and every revert of it (``revert_move`` is every domain's revert command)."""
    while header.reverts_id is not None:
        header, _digest = read_header(header.reverts_id, using)
    return header.command


def _shapes(header: MoveHeader, hooks: ReplayHooks) -> dict[str, TableShape]:
    """The replayed tables: every captured table but history tables (never undone)."""
    return {
        table: TableShape.from_header(
            table,
            snapshot,
            frozenset(hooks.derived_columns.get(table, ())),
            frozenset(hooks.bookkeeping_columns.get(table, ())),
        )
        for table, snapshot in header.tables.items()
        if snapshot.get("replay", True)
    }


def _transaction(run: Run) -> ReplayReport:
    """Plan and replay in one transaction; a rehearsal (or a refusal) is rolled back."""
    committed: list[bool] = []
    sealed: list[bool] = []
    try:
        # No JIT: the revert's statements' row counts are guesses (ledger.tuning).
        with transaction.atomic(using=run.using), without_jit(run.using):
            # Runs first of the commit hooks: an error of a later one (releasing capture)
            # happens after the commit and must not read as a rollback.
            transaction.on_commit(lambda: committed.append(True), using=run.using)
            if run.lock_timeout is not None:
                set_lock_timeout(run.lock_timeout, run.using)
            plan, run = _plan(run)
            run.progress.plan(plan)
            stop = _stops(plan, run.rehearse)
            if stop:
                report = ReplayReport(plan=plan, executed=False, ok=False)
                if not run.rehearse:
                    # Refused before the replay: the checks after it did not run, and may find
                    # more once these are resolved; a rehearsal goes on past all but the fatal
                    # conflicts and runs them.
                    fatal = any(c.kind in FATAL for c in stop)
                    raise ReplayConflict(_refusal(stop) + ("" if fatal else _NOT_CHECKED), report)
                transaction.set_rollback(True, using=run.using)
                return report
            report, rec = _replay(run, plan)
            if run.rehearse:
                transaction.set_rollback(True, using=run.using)
                return report
            sealed.append(True)  # only the COMMIT is left
    except BaseException as exc:
        if not committed:
            lost = races.unanswered_commit(exc, "revert") if sealed else None
            if lost is None:
                raise  # rolled back: said as for any other error (``revert``)
            raise lost from exc
        # Committed (an error of a later commit hook, a Ctrl-C after the COMMIT): the revert
        # is done, and its report says so.
        logger.warning("after revert of move %s committed: %r", run.move_id, exc)
    # Committed: only now is the revert a move of its own.
    return msgspec.structs.replace(
        report, executed=True, revert_move_id=rec.move_id, digest=rec.digest
    )


def _stops(plan: ReplayPlan, rehearse: bool) -> tuple[Conflict, ...]:
    """The conflicts that stop the revert before the replay: every blocking one for an
    execute; for a rehearsal only the fatal ones (it goes on to find the others)."""
    blocking = plan.blocking()
    if rehearse:
        return tuple(c for c in blocking if c.kind in FATAL)
    return blocking


_NOT_CHECKED = (
    "\n(refused before the replay, so its checks did not run: the dry run, without "
    "--execute, lists what they find too)"
)


def _refusal(conflicts: tuple[Conflict, ...] | list[Conflict]) -> str:
    lines = [f"- {c.message}" for c in conflicts]
    return "revert refused, nothing was changed:\n" + "\n".join(lines)


# --- the plan -------------------------------------------------------------------------------


def _plan(run: Run) -> tuple[ReplayPlan, Run]:
    """Lock, then check in order; the first stage that finds a fatal conflict ends the plan.

    Returns:
        The plan, and the run as the replay goes on with it (``scan_drift`` set where the
        drift was scanned: where anything else was found, so the plan names all of it).
    """
    run.progress.phase("locking")
    busy = _lock(run)
    if busy:
        return _plan_struct(run, (), (), busy), run
    reverted = _reverted(run)
    if reverted:
        return _plan_struct(run, (), (), reverted), run
    run.hooks.lock(run.header, run.policy)
    run.progress.phase("checking the ledger")
    fingerprint, schema = _fingerprint_conflicts(run), _schema_conflicts(run)
    # A schema conflict stops the scans (they read the recorded columns), unless the policy
    # accepts it (migrations ran, but no captured table's columns changed).
    if any(c.kind == "schema" and not _resolved(c, run.policy) for c in schema):
        return _plan_struct(run, (), (), fingerprint + _tampered(run) + schema), run
    # Under the domain's locks, once its tables are known to have their columns: its scans see
    # what they would see here.
    pending = _start_domain_scans(run)
    run.progress.phase("scanning")
    with run.cursor() as cursor:
        cursor.execute(scan.TEMP_TABLES, {"move": run.move_id})
        later = scan.later_move_conflicts(cursor, run.move_id)
        secrets = [
            c for s in run.shapes.values() for c in scan.secret_conflicts(cursor, run.move_id, s)
        ]
    # Before anything is written: the verification started with the revert.
    trust = fingerprint + _tampered(run) + schema
    domain: list[Conflict] = []
    if run.scan_drift or trust or later or secrets or pending.done():
        domain = _domain_conflicts(run, pending)
    else:
        run = dataclasses.replace(run, pending=pending)  # taken in beside the replay
    if trust or later or secrets or domain:
        run = dataclasses.replace(run, scan_drift=True, pending=None)
    drift = _scan_drift(run) if run.scan_drift else []
    steps = {s.id: (s.seq, s.label) for s in run.header.steps}
    with run.cursor() as cursor:
        step_work, table_work = scan.work(cursor, run.move_id, steps, sorted(run.shapes))
    conflicts = trust + later + drift + secrets + domain
    return _plan_struct(run, step_work, table_work, conflicts), run


def _start_domain_scans(run: Run) -> concurrent.futures.Future[list[Conflict]]:
    """The domain's scans (``ReplayHooks.conflicts``), on a connection of their own where the
    revert may go on without them: they read committed rows only, under the locks this one
    holds, while it checks the ledger and replays. Here, at once, in a second run (it scans
    everything first) or inside a caller's transaction."""
    header, policy = run.header, run.policy

    def scan_apart(using: str) -> list[Conflict]:
        # The domain's temporary tables live in its transaction.
        with transaction.atomic(using=using), without_jit(using):
            return list(run.hooks.conflicts(header, policy))

    return apart.start(scan_apart, run.using, "scan", inline=run.nested or run.scan_drift)


def _domain_conflicts(
    run: Run, pending: concurrent.futures.Future[list[Conflict]]
) -> list[Conflict]:
    """The domain's scans' result; on this connection where the other one could not be had."""
    try:
        return pending.result()
    except (OperationalError, InterfaceError) as exc:
        logger.warning(
            "the scans of move %s's revert on a connection of their own failed (%s): "
            "scanning on the revert's",
            run.move_id,
            type(exc).__name__,
        )
    return list(run.hooks.conflicts(run.header, run.policy))


def _beside_the_replay(run: Run, wait: bool) -> str | None:
    """Why the run must be rolled back and run again with every scan first, from the domain's
    scans beside the replay (``wait``: for them to end): they found something, or lost their
    connection (they are not run here: this connection has written since the plan)."""
    if run.pending is None or not (wait or run.pending.done()):
        return None
    try:
        return _NEW_DATA if run.pending.result() else None
    except (OperationalError, InterfaceError) as exc:
        logger.warning(
            "the scans of move %s's revert beside its replay failed (%s): running it again, "
            "scanning first on the revert's connection",
            run.move_id,
            type(exc).__name__,
        )
        return _SCANS_LOST


def _lock(run: Run) -> list[Conflict]:
    """The move itself (advisory), without waiting: a second revert of it (or a dry run) is
    refused at once, naming the session that reverts it, as a move names the one holding its
    stations.

    No table is locked: others keep writing the rows the revert does not restore. The domain
    locks the rows it restores (``ReplayHooks.lock``); a row written after the scans is found
    by the replay's compare-and-swap counts, its unique keys or the checks after it, and the
    revert is refused with nothing changed."""
    with run.cursor() as cursor:
        holder = advisory.try_lock(cursor, REVERT_LOCK, run.move_id % _INT4)
    if holder is None:
        return []
    return [
        Conflict(
            kind="busy",
            table="",
            count=1,
            message=f"move {run.move_id} is being reverted right now by {holder}: wait for "
            "it to finish, then see list_moves; nothing was changed",
        )
    ]


def _reverted(run: Run) -> list[Conflict]:
    """Checked first, under the locks: a second revert waits for the first to commit."""
    with run.cursor() as cursor:
        cursor.execute("SELECT id FROM ledger_move WHERE reverts_id = %s", [run.move_id])
        row = cursor.fetchone()
    if not row:
        return []
    return [
        Conflict(
            kind="reverted",
            table="",
            count=1,
            later_move=row[0],
            message=f"move {run.move_id} was already reverted by move {row[0]}: "
            f"to re-apply it, revert move {row[0]}",
        )
    ]


def _fingerprint_conflicts(run: Run) -> list[Conflict]:
    """Secrets the move recorded under another fingerprint key than the one configured now."""
    with run.cursor() as cursor:
        current = fingerprints.activate(cursor, required=False)
        cursor.execute(
            "SELECT DISTINCT table_name FROM ledger_change WHERE move_id = %s", [run.move_id]
        )
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
        for table, snapshot in sorted(run.header.tables.items())
        if table in run.shapes
        and table in touched
        and (recorded := snapshot.get("fingerprint"))
        and recorded != current
    ]


def _verify(move_id: int) -> Callable[[str], VerifyReport]:
    return lambda using: verify(move_id, using)


def _verification(run: Run) -> VerifyReport:
    """The verification started with the revert; on this connection where the other one could
    not be had (a connection limit, a server that refused it)."""
    if run.verified is not None:
        try:
            return run.verified.result()
        except (OperationalError, InterfaceError) as exc:
            logger.warning(
                "verifying move %s on a connection of its own failed (%s): "
                "verifying it on the revert's",
                run.move_id,
                type(exc).__name__,
            )
    return verify(run.move_id, run.using)


def _tampered(run: Run) -> list[Conflict]:
    report = _verification(run)
    if report.ok:
        return []
    failure = report.failures[0]
    return [
        Conflict(
            kind="tampered",
            table="",
            count=len(report.failures),
            message=f"the ledger of move {run.move_id} does not verify ({failure.reason}): "
            "it cannot be trusted to revert anything; run verify_ledger",
        )
    ]


def _schema_conflicts(run: Run) -> list[Conflict]:
    with run.cursor() as cursor:
        live = scan.column_types(cursor, run.shapes)
        changed = [_changed_table(run, table, live[table]) for table in sorted(run.shapes)]
        conflicts = [c for c in changed if c is not None]
        if conflicts:
            return conflicts
        # A ledger migrated since (e.g. its rows made json) leaves the captured tables as they
        # were: nothing to check, nothing to allow.
        apps = seal.apps_of(run.header.tables)
        if seal.schema_unchanged_since(cursor, apps, run.header.schema_fingerprint):
            return []
    # Migrations ran since, but none changed a captured table's columns: still say so.
    return [
        Conflict(
            kind="schema",
            table="",
            count=1,
            message="migrations of the recorded apps were applied since the move "
            "(schema fingerprint differs) although the captured tables' columns are "
            "unchanged: check them, then pass --allow-schema-change",
            resolved_by="allow_schema_change",
        )
    ]


def _changed_table(run: Run, table: str, live: dict[str, str]) -> Conflict | None:
    shape = run.shapes[table]
    if live == dict(shape.columns):
        return None
    changed = sorted(set(live.items()) ^ set(shape.columns.items()))
    names = sorted({name for name, _ in changed})
    return Conflict(
        kind="schema",
        table=table,
        count=len(names),
        sample=tuple(names[: scan.SAMPLE]),
        message=f"the columns of {table} changed since the move "
        f"({', '.join(names) or 'table dropped'}): a replay would write values "
        "into a different schema; migrate back or revert by hand",
    )


def _scan_drift(run: Run) -> list[Conflict]:
    """Drift per column, key and unique clashes; then what the replay leaves as it is
    (``ledger_replay_skip``)."""
    run.progress.phase("scanning every column")
    with run.cursor() as cursor:
        updated = _updated_columns(cursor, run.move_id)
        for shape in run.shapes.values():
            scan.find_update_drift(cursor, run.move_id, shape)
            scan.find_insert_drift(cursor, run.move_id, shape, updated.get(shape.table, set()))
            scan.find_reinsert_collisions(cursor, run.move_id, shape)
            scan.find_unique_clashes(cursor, run.move_id, shape)
        drift = scan.drift_conflicts(cursor)
        # Drifted cells and rows are left as they are: by policy, or so a rehearsal can go on
        # and find every other conflict.
        scan.skips(cursor, run.move_id, run.shapes.values())
    return drift


def _resolved(conflict: Conflict, policy: ReplayPolicy) -> bool:
    return bool(conflict.resolved_by) and getattr(policy, conflict.resolved_by, False)


def _plan_struct(
    run: Run,
    step_work: Iterable[StepWork],
    table_work: Iterable[TableWork],
    conflicts: Iterable[Conflict],
) -> ReplayPlan:
    return ReplayPlan(
        move_id=run.move_id,
        move_kind=run.header.kind,
        command=run.header.command,
        reverts_id=run.header.reverts_id,
        steps=tuple(step_work),
        tables=tuple(table_work),
        conflicts=tuple(conflicts),
        domain=run.hooks.describe(run.header),
        policy=run.policy,
        drift_scanned=run.scan_drift,
        domain_scanned=run.pending is None,
    )


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
        for table, snapshot in sorted(header.tables.items())
    )


def _updated_columns(cursor: Cursor, move_id: int) -> dict[str, set[str]]:
    cursor.execute(
        "SELECT DISTINCT c.table_name, k.key FROM ledger_change c "
        "CROSS JOIN LATERAL json_object_keys(c.after) AS k(key) "
        "WHERE c.move_id = %s AND c.op = 'U'",
        [move_id],
    )
    out: dict[str, set[str]] = {}
    for table, column in cursor.fetchall():
        out.setdefault(table, set()).add(column)
    return out


# --- the replay -----------------------------------------------------------------------------


def _arguments(run: Run, plan: ReplayPlan) -> dict[str, object]:
    """What the revert's record stores as its arguments."""
    with run.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, array_agg(pk ORDER BY length(pk), pk) "
            "FROM pg_temp.ledger_replay_skip WHERE col = '' "
            "GROUP BY table_name ORDER BY table_name"
        )
        skipped = dict(cursor.fetchall())
        cursor.execute(
            "SELECT table_name, col, array_agg(pk ORDER BY length(pk), pk) "
            "FROM pg_temp.ledger_replay_skip s WHERE col <> '' AND NOT EXISTS (SELECT 1 FROM "
            "pg_temp.ledger_replay_skip w WHERE w.table_name = s.table_name AND w.pk = s.pk "
            "AND w.col = '') GROUP BY table_name, col ORDER BY table_name, col"
        )
        cells: dict[str, dict[str, list[str]]] = {}
        for table, col, pks in cursor.fetchall():
            cells.setdefault(table, {})[col] = pks
    return {
        **plan.domain,
        "move_id": run.move_id,
        "skip_drifted": run.policy.skip_drifted,
        "carry_new_data": run.policy.carry_new_data,
        "allow_schema_change": run.policy.allow_schema_change,
        "skipped": skipped,
        "skipped_columns": cells,
    }


def _replay(run: Run, plan: ReplayPlan) -> tuple[ReplayReport, Recording]:
    """The recording: the domain's before, the steps backwards, the recount, the checks.

    Returns:
        (report, recording): the report is not executed yet (the caller commits).
    """
    from ledger.context import default_operator, recording

    with run.cursor() as cursor:
        todo = apply.units(cursor, run.move_id, sorted(run.shapes))
    arguments = _arguments(run, plan)
    with recording(
        kind="revert",
        command="revert_move",
        arguments=arguments,
        # A rehearsal is rolled back: it needs no reason of its own.
        reason=run.reason or ("rehearsal" if run.rehearse else ""),
        operator=run.operator or default_operator(),
        reverts=run.move_id,
        tables=_specs(run.header),
        using=run.using,
    ) as rec:
        run.progress.phase("replaying")
        run.hooks.before_replay(run.header, run.policy, rec)
        found, done = _replay_steps(run, rec, plan, todo)
        if again := _beside_the_replay(run, wait=True):
            raise _Drifted(again)
        # Derived columns are recounted inside the recording, as declared steps: every write
        # of a revert is in its record.
        run.progress.phase("recounting")
        run.hooks.refresh(run.header, run.policy, rec)
        run.progress.phase("sealing")
    # Checked last, once sealed: the seal waited for the ledger's chain lock (another move
    # sealing) and hashed, and what other sessions committed meanwhile is seen here, before
    # the commit, and refuses the revert. Nothing after the checks but the COMMIT.
    run.progress.phase("checks")
    report = _outcome(run, plan, found, done)
    if not run.scan_drift and not report.ok:
        raise _Drifted
    if not run.rehearse and not report.ok:
        raise ReplayConflict(_refusal(_failures(plan, report)), report)
    # The seal checked the deferred constraints while it hashed (what the commit would check):
    # one that does not hold refuses the revert here, last (the checks above say better what
    # is wrong), so a dry run finds what the commit would, and an execute never fails there.
    if rec.constraint_violation and report.ok:
        if not run.scan_drift:
            raise _Drifted
        report = _broken_constraint(plan, report, rec.constraint_violation)
        if not run.rehearse:
            raise ReplayConflict(_refusal(_failures(plan, report)), report)
    return report, rec


def _replay_steps(
    run: Run, rec: Recording, plan: ReplayPlan, todo: list[apply.Unit]
) -> tuple[list[Conflict], dict[str, int]]:
    """The move's steps backwards, each a set of compare-and-swap statements.

    Returns:
        (count conflicts, rows changed per op "U", "I", "D").
    """
    labels = {s.id: s.label for s in run.header.steps}
    found: list[Conflict] = []
    done = {"U": 0, "I": 0, "D": 0}
    for step_id, group in _by_step(todo):
        started = time.monotonic()
        expected = sum(u.rows - u.skipped for u in group)
        label = labels.get(step_id, apply.OUTSIDE_STEPS) if step_id else apply.OUTSIDE_STEPS
        changed_in_step = 0
        try:
            with (
                rec.step(label, expected_rows=None if run.rehearse else expected, action="revert"),
                run.cursor() as cursor,
            ):
                for unit in group:
                    changed = _run_unit(run, cursor, unit, plan, done)
                    done[unit.op] += changed
                    changed_in_step += changed
                    if changed != unit.rows - unit.skipped:
                        found.append(_count_conflict(unit, changed, label))
        except StepCountMismatch as exc:
            if not run.scan_drift:
                raise _Drifted from exc
            conflict = Conflict(kind="count", table="", count=exc.captured, message=str(exc))
            raise ReplayConflict(
                _refusal([*found, conflict]), _partial_report(plan, done)
            ) from exc
        run.progress.step(
            StepDone(
                label=label,
                rows=changed_in_step,
                expected_rows=expected,
                seconds=time.monotonic() - started,
            )
        )
        if found and not run.scan_drift:
            raise _Drifted
        if again := _beside_the_replay(run, wait=False):
            raise _Drifted(again)
        if found and not run.rehearse:
            raise ReplayConflict(_refusal(found), _partial_report(plan, done))
    return found, done


def _run_unit(
    run: Run, cursor: LedgerCursor, unit: apply.Unit, plan: ReplayPlan, done: dict[str, int]
) -> int:
    """One unit; a unique key taken under the replay is a conflict, never a traceback."""
    try:
        return apply.run_unit(cursor, run.move_id, unit, run.shapes[unit.table])
    except IntegrityError as exc:
        if not run.scan_drift:
            raise _Drifted from exc
        detail = one_line(exc)
        conflict = Conflict(
            kind="unique",
            table=unit.table,
            count=1,
            message=f"replaying {unit.table} hit a unique key taken since ({detail}): the "
            "rows that hold it were written after the scan; nothing was changed, run the "
            "revert again",
        )
        raise ReplayConflict(_refusal([conflict]), _partial_report(plan, done)) from exc


def _outcome(
    run: Run, plan: ReplayPlan, found: list[Conflict], done: dict[str, int]
) -> ReplayReport:
    """The checks after the replay, once sealed, as a report (not executed)."""
    after_found, checks = _after(run)
    conflicts = (*found, *after_found)
    return ReplayReport(
        # The domain's scans beside the replay ended before it was let go on (found nothing).
        plan=msgspec.structs.replace(
            plan, conflicts=plan.conflicts + conflicts, domain_scanned=True
        ),
        executed=False,
        ok=not conflicts and all(c.ok for c in checks) and not plan.blocking(),
        restored_rows=done["U"],
        deleted_rows=done["I"],
        reinserted_rows=done["D"],
        skipped=tuple(c for c in plan.conflicts if c.resolved_by == "skip_drifted"),
        checks=tuple(checks),
    )


def _after(run: Run) -> tuple[list[Conflict], list[CheckOutcome]]:
    """Dependents of deleted rows, rows not restored, the domain's checks."""
    with run.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, op, sum(row_count) FROM ledger_change WHERE move_id = %s "
            "AND table_name = ANY(%s) GROUP BY table_name, op",
            [run.move_id, sorted(run.shapes)],
        )
        ops: dict[str, dict[str, int]] = {}
        for table, op, rows in cursor.fetchall():
            ops.setdefault(table, {})[op] = rows
        dependents = [
            c
            for table in sorted(t for t, o in ops.items() if "I" in o)
            for c in scan.dependents(cursor, run.move_id, table)
        ]
        updated = _updated_columns(cursor, run.move_id)
        missing = exact.not_restored(cursor, run.move_id, run.shapes, updated, ops)
    restored = CheckOutcome(
        name="rows-restored",
        ok=not missing,
        detail="every row the move touched holds its before-values"
        if not missing
        else f"{sum(c.count for c in missing)} row(s) differ",
    )
    checks = [restored, *run.hooks.after_replay(run.header, run.policy)]
    return dependents + missing, checks


def _broken_constraint(plan: ReplayPlan, report: ReplayReport, detail: str) -> ReplayReport:
    """The report once the seal found a deferred constraint that does not hold."""
    conflict = Conflict(
        kind="reference",
        table="",
        count=1,
        message=f"after the replay a constraint does not hold ({detail}): a row the "
        "revert restores or re-inserts references a row deleted since (or the "
        "domain's writes broke a key); nothing was changed",
    )
    return msgspec.structs.replace(
        report,
        plan=msgspec.structs.replace(report.plan, conflicts=(*report.plan.conflicts, conflict)),
        ok=False,
    )


def _failures(plan: ReplayPlan, report: ReplayReport) -> list[Conflict]:
    """Why a replayed revert is refused: what the replay and the checks after it found."""
    found = list(report.plan.conflicts[len(plan.conflicts) :])
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


def _by_step(todo: list[apply.Unit]) -> Iterator[tuple[int | None, list[apply.Unit]]]:
    group: list[apply.Unit] = []
    for unit in todo:
        if group and unit.step_id != group[-1].step_id:
            yield group[-1].step_id, group
            group = []
        group.append(unit)
    if group:
        yield group[-1].step_id, group
