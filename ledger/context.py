"""``recording()``: open a move, capture every write to registered tables, seal it.

A recording runs inside the caller's ``transaction.atomic()`` and opens its own savepoint,
so a failure (a step count mismatch, a bad statement) undoes the capture triggers, the
staged entries and the caller's writes of the recording together. The move's context
travels to the capture triggers as transaction-local GUCs (``ledger.move_id``,
``ledger.step_id``) and to pghistory trackers through ``pghistory.context``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

import msgspec
import pghistory
from django.db import connections, transaction
from psycopg2.extensions import TRANSACTION_STATUS_INERROR

from ledger import config, seal
from ledger.digest import decode, encode
from ledger.errors import LedgerError, MoveNotFound, NotRecording, StepCountMismatch
from ledger.registry import registered_tables
from ledger.structs import StepRecord

if TYPE_CHECKING:
    from datetime import datetime

_state = threading.local()
_KINDS = ("move", "revert")


class Recording:
    """What ``recording()`` yields: ``move_id`` from the start, ``digest`` once sealed."""

    def __init__(self, *, using: str, move_id: int, started_at: datetime) -> None:
        self.using = using
        self.move_id = move_id
        self.started_at = started_at
        self.steps: list[StepRecord] = []
        self.digest: str | None = None
        self.entry_count: int | None = None
        self.context_id: str = ""
        self._in_step = False

    def _execute(self, query: str, params: list[object]) -> tuple:
        with connections[self.using].connection.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchone()

    def captured_rows(self, since_seq: int = 0) -> int:
        """Row changes captured so far in this recording (after staging position ``since_seq``)."""
        return self._execute(
            "SELECT coalesce(sum(row_count), 0) FROM pg_temp.ledger_staging WHERE seq > %s",
            [since_seq],
        )[0]

    @contextmanager
    def step(
        self, label: str, *, expected_rows: int | None = None, action: str = ""
    ) -> Iterator[StepHandle]:
        """Declare a step: the writes inside it are attributed to it and counted.

        Args:
            label: stable label, e.g. ``"[move-images]"``.
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
            raise LedgerError("a step needs a non-empty label, e.g. '[move-images]'")
        if expected_rows is not None and (not isinstance(expected_rows, int) or expected_rows < 0):
            raise LedgerError(f"expected_rows of {label} must be None or an int >= 0")
        step_id, start = self._execute(
            "SELECT nextval(pg_get_serial_sequence('ledger_step', 'id')), "
            "(SELECT coalesce(max(seq), 0) FROM pg_temp.ledger_staging)",
            [],
        )
        handle = StepHandle(
            id=step_id,
            seq=len(self.steps) + 1,
            label=label,
            action=action,
            expected_rows=expected_rows,
        )
        self._execute("SELECT set_config('ledger.step_id', %s, true)", [str(step_id)])
        pghistory.context(ledger_step=label)
        self._in_step = True
        try:
            yield handle
        except BaseException:
            # A step the caller caught an error from still owns the rows it staged.
            if self._usable():
                self._end_step(handle, start)
            raise
        else:
            self._end_step(handle, start)
            if expected_rows is not None and handle.captured_rows != expected_rows:
                raise StepCountMismatch(label, expected_rows, handle.captured_rows)
        finally:
            self._in_step = False
            pghistory.context(ledger_step=None)

    def _usable(self) -> bool:
        raw = connections[self.using].connection
        return raw.get_transaction_status() != TRANSACTION_STATUS_INERROR

    def _end_step(self, handle: StepHandle, start: int) -> None:
        handle.captured_rows = self.captured_rows(start)
        self._execute("SELECT set_config('ledger.step_id', '', true)", [])
        self.steps.append(handle.record())


class StepHandle:
    """What ``Recording.step`` yields; ``captured_rows`` is set when the step ends."""

    def __init__(
        self, *, id: int, seq: int, label: str, action: str, expected_rows: int | None
    ) -> None:
        self.id = id
        self.seq = seq
        self.label = label
        self.action = action
        self.expected_rows = expected_rows
        self.captured_rows: int | None = None

    def record(self) -> StepRecord:
        """The step as sealed in the move header."""
        return StepRecord(
            id=self.id,
            seq=self.seq,
            label=self.label,
            action=self.action,
            expected_rows=self.expected_rows,
            captured_rows=self.captured_rows or 0,
        )


def _check_arguments(arguments: Mapping[str, object] | None) -> dict[str, object]:
    try:
        normal = decode(encode(dict(arguments or {})))
    except (TypeError, msgspec.EncodeError) as exc:
        raise LedgerError(f"recording arguments must be JSON-encodable: {exc}") from exc
    return normal


def _check_reverts(cursor, kind: str, reverts: int | None) -> None:
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


@contextmanager
def recording(
    *,
    kind: str = "move",
    command: str,
    arguments: Mapping[str, object] | None = None,
    reason: str,
    operator: str,
    reverts: int | None = None,
    using: str = "default",
) -> Iterator[Recording]:
    """Record every write to registered tables made inside the block as one sealed move.

    Args:
        kind: ``"move"`` or ``"revert"``.
        command: the command that makes the move, e.g. ``"move_project_data"``.
        arguments: its arguments (JSON-encodable; ``source_project``, ``target_project`` and
            ``deployment_ids`` are shown by ``list_moves``).
        reason: why, in the operator's words.
        operator: who (an id, never an e-mail).
        reverts: for a revert, the id of the move it undoes.
        using: the database alias.

    Raises:
        NotRecording: called outside ``transaction.atomic()``, or nested.
        RegistryError: a registered table or column does not exist.
        StepCountMismatch: a step's captured rows differ from its expected rows.

    Example:
        >>> with transaction.atomic():
        ...     with ledger.recording(command="c", reason="r", operator="7") as rec:
        ...         with rec.step("[move-images]", expected_rows=n, action="update"):
        ...             SourceImage.objects.filter(...).update(project_id=target)
        >>> rec.digest
    """
    connection = connections[using]
    if not connection.in_atomic_block:
        raise NotRecording("ledger.recording() must run inside transaction.atomic(): wrap it")
    if getattr(_state, "active", None) is not None:
        raise NotRecording("a recording is already open in this thread: recordings do not nest")
    arguments = _check_arguments(arguments)
    specs = registered_tables()
    with transaction.atomic(using=using):
        raw = connection.connection
        with raw.cursor() as cursor:
            _check_reverts(cursor, kind, reverts)
            # Serialise recordings: the chain link needs the digest of the move sealed before.
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [config.lock_key()])
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence('ledger_move', 'id')), clock_timestamp()"
            )
            move_id, started_at = cursor.fetchone()
        tables = seal.start(raw, specs, move_id)
        rec = Recording(using=using, move_id=move_id, started_at=started_at)
        _state.active = rec
        try:
            with pghistory.context(
                ledger_move_id=move_id,
                ledger_operator=operator,
                ledger_reason=reason,
                ledger_command=command,
            ) as context:
                rec.context_id = str(context.id)
                yield rec
            if rec._in_step:  # pragma: no cover - a step's with-block cannot outlive its caller
                raise NotRecording("the recording ended inside a step")
            rec.digest, rec.entry_count = seal.finish(
                raw,
                specs,
                rec=rec,
                kind=kind,
                command=command,
                arguments=arguments,
                reason=reason,
                operator=operator,
                reverts=reverts,
                tables=tables,
            )
        finally:
            _state.active = None
