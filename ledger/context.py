"""``recording()``: capture every write to the registered tables, then seal it as one move.

A recording runs inside the caller's ``transaction.atomic()`` and opens its own savepoint, so a
failure (a step count mismatch, a bad statement, capture tampered with) undoes the staged
entries and the caller's writes of the recording together. Capture is switched on for this
transaction only, by the transaction-local setting ``ledger.recording``; the open step travels
as ``ledger.step``; pghistory trackers get the recording's context through
``pghistory.context``.

The move's id, its entry ids and its step ids are given out when it is sealed, under the
chain lock: recordings that fail or roll back use up none (ids have no gaps).
"""

from __future__ import annotations

import getpass
import logging
import re
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import msgspec
import pghistory
from django.db import DatabaseError, InterfaceError, connections, transaction

from ledger import capture_state, checkpoint, config, fingerprints, install, seal
from ledger.capture import create_staging_table
from ledger.dbapi import in_failed_transaction
from ledger.digest import decode, encode
from ledger.errors import (
    CaptureBroken,
    LedgerError,
    MoveNotFound,
    NotRecording,
    StepCountMismatch,
)
from ledger.installed import require_current
from ledger.registry import TableSpec, registered_tables
from ledger.structs import StepRecord

if TYPE_CHECKING:
    from datetime import datetime

    from ledger.capture import TableCapture
    from ledger.dbapi import Cursor

logger = logging.getLogger(__name__)
_state = threading.local()
_KINDS = ("move", "revert")


def default_operator() -> str:
    """Who runs this process: the operating system login, or ``"unknown"``."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


_EMAIL = (
    "--operator looks like an e-mail address: pass a login name or a user id "
    "(the ledger stores it, and e-mail addresses are personal data)"
)
# An e-mail address anywhere in free text: something@domain.tld.
_EMAIL_IN_TEXT = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_EMAIL_IN_REASON = (
    "--reason holds an e-mail address: name people by user id or login (the ledger keeps "
    "the reason for good, unchangeable, and e-mail addresses are personal data)"
)


def _refuse_emails(operator: str, reason: str) -> None:
    if "@" in operator:
        raise LedgerError(_EMAIL)
    if _EMAIL_IN_TEXT.search(reason):
        raise LedgerError(_EMAIL_IN_REASON)


def who_and_why(operator: str | None, reason: str | None, *, executing: bool) -> tuple[str, str]:
    """The operator and reason a command records: the rules every command follows (the move,
    its revert, any domain's command), in one place.

    - ``operator``: as given, stripped; ``None`` or blank: ``default_operator()`` (the
      operating system login, ``"unknown"`` where there is none).
    - An operator that looks like an e-mail address, or a reason that holds one, is refused,
      dry run or not: the ledger would store it for good, and e-mail addresses are personal
      data.
    - ``reason``: stripped; required to execute (it is stored with the change); a dry run may
      have none.

    Returns:
        ``(operator, reason)`` as they are recorded.

    Raises:
        LedgerError: an e-mail as operator or in the reason, or no reason to execute.
    """
    who = (operator or "").strip() or default_operator()
    why = (reason or "").strip()
    _refuse_emails(who, why)
    if executing and not why:
        raise LedgerError('--execute needs --reason "why" (it is stored with the change)')
    return who, why


def check_who_and_why(operator: str, reason: str) -> tuple[str, str]:
    """The operator and reason of a recording, checked (``recording()`` calls it): as
    ``who_and_why`` for an executed change, but an operator must be given.

    Raises:
        LedgerError: an empty reason, an empty operator, or an e-mail as operator or in the
            reason.
    """
    operator, reason = (operator or "").strip(), (reason or "").strip()
    if not reason:
        raise LedgerError(
            'a recorded change needs a reason: pass --reason "TICKET-12: why" (it is stored)'
        )
    if not operator:
        raise LedgerError("a recorded change needs an operator: pass --operator LOGIN")
    _refuse_emails(operator, reason)
    return operator, reason


class Recording:
    """What ``recording()`` yields. ``move_id`` and ``digest`` are set once it is sealed."""

    def __init__(self, *, using: str, token: str, started_at: datetime) -> None:
        self.using = using
        self.token = token
        self.started_at = started_at
        self.steps: list[StepRecord] = []
        self.move_id: int | None = None
        self.digest: str | None = None
        self.signature: str | None = None
        self.signer: str | None = None
        self.entry_count: int | None = None
        self.context_id: str = ""
        # Amendable until the seal (e.g. a digest of what was planned under the locks).
        self.arguments: dict[str, object] = {}
        self.history_tables: list[str] = []
        self.fingerprint_key: str | None = None
        # Set by the seal: a deferred constraint that does not hold (the commit would raise it).
        self.constraint_violation: str | None = None
        self._in_step = False

    def _execute(self, query: str, params: list[Any]) -> tuple[Any, ...]:
        with connections[self.using].cursor() as cursor:
            cursor.execute(query, params)
            row: tuple[Any, ...] = cursor.fetchone()
            return row

    def captured_rows(self, step: int | None = None) -> int:
        """Row changes captured so far in this recording, or in its step at that position.

        History tables (registered with ``replay=False``) are recorded but not counted: their
        rows follow from the domain's trackers, not from what a step declares.
        """
        return int(
            self._execute(
                "SELECT coalesce(sum(row_count), 0) FROM pg_temp.ledger_staging "
                "WHERE (%s::integer IS NULL OR step = %s) AND NOT table_name = ANY(%s)",
                [step, step, self.history_tables],
            )[0]
        )

    def written_tables(self) -> dict[str, int]:
        """Row changes captured so far in this recording, per table that has any.

        A domain check can tell from it what the recording never wrote (one query over the
        staged change groups, not the rows; once sealed, over the move's stored groups: a
        domain checks last, after the seal, what other sessions committed meanwhile)."""
        with connections[self.using].cursor() as cursor:
            if self.move_id is None:
                cursor.execute(
                    "SELECT table_name, sum(row_count) FROM pg_temp.ledger_staging "
                    "GROUP BY table_name"
                )
            else:
                cursor.execute(
                    "SELECT table_name, sum(row_count) FROM ledger_change WHERE move_id = %s "
                    "GROUP BY table_name",
                    [self.move_id],
                )
            return {table: int(rows) for table, rows in cursor.fetchall()}

    @contextmanager
    def step(
        self, label: str, *, expected_rows: int | None = None, action: str = ""
    ) -> Iterator[StepHandle]:
        """Declare a step: the writes inside it are attributed to it and counted.

        Args:
            label: stable label, e.g. ``"[move-items]"``.
            expected_rows: row changes the step will make; ``None`` counts without checking.
            action: a short word for what it does (``update``, ``clone``...).

        Raises:
            StepCountMismatch: captured row changes differ from ``expected_rows``; the
                exception leaves the recording, which rolls back.
            NotRecording: steps nested, or used after the recording ended.
        """
        if self.digest is not None or getattr(_state, "active", None) is not self:
            raise NotRecording(f"step {label} used outside its recording: open it inside")
        if self._in_step:
            raise NotRecording(f"step {label} is inside another step: steps do not nest")
        if not isinstance(label, str) or not label:
            raise LedgerError("a step needs a non-empty label, e.g. '[move-items]'")
        if expected_rows is not None and (not isinstance(expected_rows, int) or expected_rows < 0):
            raise LedgerError(f"expected_rows of {label} must be None or an int >= 0")
        handle = StepHandle(
            seq=len(self.steps) + 1, label=label, action=action, expected_rows=expected_rows
        )
        self._execute("SELECT set_config('ledger.step', %s, true)", [str(handle.seq)])
        pghistory.context(ledger_step=label)
        self._in_step = True
        try:
            yield handle
        except BaseException:
            # A step the caller caught an error from still owns the rows it staged; its
            # position stays taken. Sealing counts every step's rows again.
            self._end_step(handle, usable=not in_failed_transaction(connections[self.using]))
            raise
        else:
            self._end_step(handle, usable=True)
            if expected_rows is not None and handle.captured_rows != expected_rows:
                raise StepCountMismatch(label, expected_rows, handle.captured_rows or 0)
        finally:
            self._in_step = False
            pghistory.context(ledger_step=None)

    def _end_step(self, handle: StepHandle, *, usable: bool) -> None:
        if usable:
            handle.captured_rows = self.captured_rows(handle.seq)
            self._execute("SELECT set_config('ledger.step', '', true)", [])
        self.steps.append(handle.record())


class StepHandle:
    """What ``Recording.step`` yields; ``captured_rows`` is set when the step ends."""

    def __init__(self, *, seq: int, label: str, action: str, expected_rows: int | None) -> None:
        self.seq = seq
        self.label = label
        self.action = action
        self.expected_rows = expected_rows
        self.captured_rows: int | None = None

    def record(self) -> StepRecord:
        """The step as it ended (its id is given at seal time)."""
        return StepRecord(
            id=0,
            seq=self.seq,
            label=self.label,
            action=self.action,
            expected_rows=self.expected_rows,
            captured_rows=self.captured_rows or 0,
        )


def _check_arguments(arguments: Mapping[str, object] | None) -> dict[str, object]:
    try:
        normal: dict[str, object] = decode(encode(dict(arguments or {})))
    except (TypeError, msgspec.EncodeError) as exc:
        raise LedgerError(f"recording arguments must be JSON-encodable: {exc}") from exc
    return normal


# Subjects are a summary, not a payload: a few keys and ids.
SUBJECTS_MAX_BYTES = 8192
_SCALARS = (str, int, bool, type(None))


def check_subjects(subjects: Mapping[str, object] | None) -> dict[str, object] | None:
    """The subjects of a recording, checked: a small JSON object of scalars or lists of them.

    Returns:
        The subjects as they are stored, or None for none (``None`` or ``{}``).

    Raises:
        LedgerError: not a mapping, a key that is not a non-empty string, a value that is not
            a string, an int, a bool, null or a list of those, or larger than 8 kB encoded.
    """
    if subjects is None:
        return None
    if not isinstance(subjects, Mapping):
        raise LedgerError(
            f"subjects must be a mapping such as {{'account': 7}}, not {type(subjects).__name__}"
        )
    for key, value in subjects.items():
        if not isinstance(key, str) or not key:
            raise LedgerError(f"subject keys must be non-empty strings, not {key!r}")
        items = value if isinstance(value, list | tuple) else [value]
        if not all(isinstance(item, _SCALARS) for item in items):
            raise LedgerError(
                f"subject {key!r} must be a string, an int, a bool, null or a list of those "
                f"(the ledger filters on them), not {value!r}"
            )
    checked = {k: list(v) if isinstance(v, tuple) else v for k, v in subjects.items()}
    size = len(encode(checked))
    if size > SUBJECTS_MAX_BYTES:
        raise LedgerError(
            f"subjects take {size} bytes encoded, more than {SUBJECTS_MAX_BYTES}: keep them a "
            "summary (ids and keys); the arguments hold the rest"
        )
    return checked or None


def _inherited_subjects(cursor: Cursor, reverts: int | None) -> dict[str, object] | None:
    """A revert concerns what the move it undoes concerned: that move's subjects."""
    if reverts is None:
        return None
    cursor.execute("SELECT subjects::text FROM ledger_move WHERE id = %s", [reverts])
    row = cursor.fetchone()
    return None if row is None or row[0] is None else decode(row[0])


def check_reverts(cursor: Cursor, kind: str, reverts: int | None) -> None:
    """A revert names a sealed move that is not reverted yet; a move names none.

    Raises:
        LedgerError: the kind and ``reverts`` disagree, or the move was reverted already.
        MoveNotFound: ``reverts`` names no sealed move.
    """
    if kind not in _KINDS:
        raise LedgerError(f"kind must be one of {_KINDS}, not {kind!r}")
    if (kind == "revert") != (reverts is not None):
        raise LedgerError("a revert names the move it undoes (reverts=<id>), and only a revert")
    if reverts is None:
        return
    cursor.execute(
        "SELECT m.id, r.id FROM ledger_move m LEFT JOIN ledger_move r ON r.reverts_id = m.id "
        "WHERE m.id = %s",
        [reverts],
    )
    row = cursor.fetchone()
    if row is None:
        raise MoveNotFound(reverts)
    if row[1] is not None:
        raise LedgerError(f"move {reverts} was already reverted by move {row[1]}")


def _specs(tables: Iterable[TableSpec]) -> tuple[TableSpec, ...]:
    found = {spec.table: spec for spec in registered_tables()}
    for spec in tables:
        found.setdefault(spec.table, spec)
    if not found:
        raise NotRecording(
            "no table is registered for capture in this process: register the tables "
            "(ledger.register_table, usually in an AppConfig.ready) before recording"
        )
    return tuple(found[name] for name in sorted(found))


def prepare_capture(using: str = "default", tables: Iterable[TableSpec] = ()) -> None:
    """Install the capture triggers before the recording's transaction starts.

    Optional: ``recording()`` installs what is missing itself. Called outside any transaction
    (as the commands do), it never has to fall back to installing inside the recording's
    transaction, which would hold the tables' locks until the end of the recording.
    """
    specs = _specs(tables)
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        install.acquire_shared(cursor)
        install.ensure_capture(using, specs)


@contextmanager
def recording(
    *,
    kind: str = "move",
    command: str,
    arguments: Mapping[str, object] | None = None,
    reason: str,
    operator: str,
    reverts: int | None = None,
    tables: Iterable[TableSpec] = (),
    using: str = "default",
    subjects: Mapping[str, object] | None = None,
) -> Iterator[Recording]:
    """Record every write to registered tables made inside the block as one sealed move.

    Args:
        kind: ``"move"`` or ``"revert"``.
        command: the command that makes the move, e.g. ``"move_data"``.
        arguments: its arguments (JSON-encodable).
        reason: why, in the operator's words (required).
        operator: who (a login or an id, never an e-mail).
        reverts: for a revert, the id of the move it undoes.
        tables: tables to capture besides the registered ones (a revert passes the tables the
            reverted move captured, so it records in any process).
        using: the database alias.
        subjects: what the move concerns, in the domain's words: a small JSON object of
            strings, ints, bools or lists of them (e.g. ``{"account": 7, "items": [3, 4]}``).
            Stored in ``ledger_move.subjects``, sealed in the header (version 3), indexed and
            filtered on by ``list_moves --subject key=value``; the ledger never interprets
            them. A revert given none records the subjects of the move it undoes.

    Raises:
        LedgerError: a bad operator, reason or subjects (``check_who_and_why``,
            ``check_subjects``).
        NotRecording: called outside ``transaction.atomic()``, nested, or nothing to capture.
        RegistryError: a registered table or column does not exist.
        StepCountMismatch: a step's captured rows differ from its expected rows.
        CaptureBroken: capture was disabled or a captured table altered during the recording.

    Example:
        >>> with transaction.atomic():
        ...     with ledger.recording(command="c", reason="r", operator="7") as rec:
        ...         with rec.step("[move-items]", expected_rows=n, action="update"):
        ...             Item.objects.filter(...).update(account_id=target)
        >>> rec.move_id, rec.digest
    """
    connection = connections[using]
    require_current(using)
    if not connection.in_atomic_block:
        raise NotRecording("ledger.recording() must run inside transaction.atomic(): wrap it")
    if getattr(_state, "active", None) is not None:
        raise NotRecording("a recording is already open in this thread: recordings do not nest")
    operator, reason = check_who_and_why(operator, reason)
    arguments = _check_arguments(arguments)
    checked_subjects = check_subjects(subjects)
    specs = _specs(tables)
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            check_reverts(cursor, kind, reverts)
            if subjects is None:
                checked_subjects = _inherited_subjects(cursor, reverts)
            install.acquire_shared(cursor)
        captures = install.ensure_capture(using, specs)
        rec, before = _open(using, captures, secrets=any(s.secret_columns for s in specs))
        rec.arguments = arguments
        rec.history_tables = sorted(s.table for s in specs if not s.replay)
        _state.active = rec
        try:
            with pghistory.context(
                ledger_recording=rec.token,
                ledger_operator=operator,
                ledger_reason=reason,
                ledger_command=command,
            ) as context:
                rec.context_id = str(context.id)
                yield rec
            if rec._in_step:  # pragma: no cover - a step's with-block cannot outlive its caller
                raise NotRecording("the recording ended inside a step")
            sealed = seal.finish(
                using,
                rec=rec,
                captures=captures,
                state_before=before,
                header_fields={
                    "kind": kind,
                    "command": command,
                    "arguments": _check_arguments(rec.arguments),
                    "reason": reason,
                    "operator": operator,
                    "reverts_id": reverts,
                    "subjects": checked_subjects,
                },
            )
            rec.move_id, rec.digest, rec.entry_count = (
                sealed.move_id,
                sealed.digest,
                sealed.entry_count,
            )
            rec.signature, rec.signer, rec.steps = sealed.signature, sealed.signer, sealed.steps
            rec.constraint_violation = sealed.constraint_violation
        finally:
            _state.active = None
        transaction.on_commit(lambda: _after_commit(using, sealed), using=using)


def _after_commit(using: str, sealed: seal.Sealed) -> None:
    """Once the move is committed: keep its head outside the database, drop the triggers."""
    path = config.checkpoint_file()
    if path:
        checkpoint.append(
            path,
            checkpoint.CheckpointLine(
                move_id=sealed.move_id,
                digest=sealed.digest,
                signature=sealed.signature,
                signer=sealed.signer,
                committed_at=sealed.committed_at,
            ),
        )
    try:
        install.release_capture(using)
    except (DatabaseError, InterfaceError) as exc:
        # The move is committed: a lost race while dropping the (silent) triggers must not
        # read as a failed move. The next release drops them.
        logger.warning("capture triggers left installed after move %s: %s", sealed.move_id, exc)


def _open(
    using: str, captures: dict[str, TableCapture], *, secrets: bool
) -> tuple[Recording, dict[str, Any]]:
    """Pin the captured tables, read their capture state, create the staging table, key the
    fingerprints of secrets and switch capture on for this transaction."""
    token = str(uuid.uuid4())
    with connections[using].cursor() as cursor:
        fingerprint_key = fingerprints.activate(cursor, required=secrets)
        install.lock_tables(cursor, captures)
        state = capture_state.read_state(cursor, captures)
        create_staging_table(cursor)
        # Sealing reads it as the ledger's owner (ledger_seal_write); no other session can
        # see a temporary table, whatever its grants.
        cursor.execute("GRANT SELECT ON pg_temp.ledger_staging TO PUBLIC")
        # pgtrigger's per-row ignore check opens a subtransaction while this GUC is unset,
        # which goes quadratic against deferred FK checks (see docs/ledger.md).
        cursor.execute(
            "SELECT set_config('ledger.recording', %s, true), "
            "set_config('ledger.step', '', true), clock_timestamp(), "
            "CASE WHEN coalesce(current_setting('pgtrigger.ignore', true), '') = '' "
            "THEN set_config('pgtrigger.ignore', '{}', true) END",
            [token],
        )
        started_at = cursor.fetchone()[2]
        installed = install.installed_versions(cursor, captures)
    missing = sorted(t for t, cap in captures.items() if installed[t] != cap.comment)
    if missing:
        raise CaptureBroken(
            f"capture of {', '.join(missing)} disappeared while the recording started "
            "(dropped by another session): nothing was written; run again"
        )
    rec = Recording(using=using, token=token, started_at=started_at)
    rec.fingerprint_key = fingerprint_key
    return rec, state
