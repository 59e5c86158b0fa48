"""Typed errors raised by the ledger. Each message says what is wrong and how to fix it."""

from __future__ import annotations


def one_line(exc: BaseException) -> str:
    """A server error's message (and detail lines) on one line, for a conflict or a report."""
    return "; ".join(line.strip() for line in str(exc).strip().splitlines() if line)


class LedgerError(Exception):
    """Base class of every error the ledger raises."""


class RegistryError(LedgerError):
    """A table registration is invalid (bad name, conflicting options, missing column)."""


class NotRecording(LedgerError):
    """A recording operation was attempted where none can run (outside ``atomic()``, nested)."""


class StepCountMismatch(LedgerError):
    """A step captured a different number of row changes than it declared."""

    def __init__(self, label: str, expected: int, captured: int, when: str = "") -> None:
        self.label = label
        self.expected = expected
        self.captured = captured
        at = f" {when}" if when else ""
        super().__init__(
            f"step {label} expected {expected} row changes but captured {captured}{at}: "
            "the recording was rolled back; fix the step's expected_rows or its statements"
        )


class MoveNotFound(LedgerError):
    """No sealed move has the given id."""

    def __init__(self, move_id: int) -> None:
        self.move_id = move_id
        super().__init__(f"move {move_id} does not exist: run list_moves to see the recorded ids")


class TamperDetected(LedgerError):
    """Verification found a record that does not match its digest."""

    def __init__(self, message: str, move_id: int | None = None, entry_id: int | None = None):
        self.move_id = move_id
        self.entry_id = entry_id
        super().__init__(message)


class ExportFormatError(LedgerError):
    """An export file cannot be read or decoded."""


class CaptureUnavailable(LedgerError):
    """The capture triggers could not be installed (tables kept busy past the timeout)."""


class CaptureBroken(LedgerError):
    """Capture was not in place for the whole recording (a trigger disabled, dropped or
    replaced, or a captured table's columns altered): the recording refuses to seal."""


class Interrupted(LedgerError):
    """A lost race (a deadlock, a lock timeout, a serialization failure, a cancelled
    statement, a lost connection) stopped the work; the transaction was rolled back, nothing
    was changed, and it can simply be run again.

    Attributes:
        cause: ``"deadlock"``, ``"lock timeout"``, ``"serialization failure"``,
            ``"cancelled"`` or ``"connection lost"``.
    """

    def __init__(self, message: str, cause: str) -> None:
        self.cause = cause
        super().__init__(message)
