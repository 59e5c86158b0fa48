"""How a domain teaches the replay to check itself.

The ledger replays rows; only the domain knows which new rows depend on the moved state, which
columns are derived (recomputed, never compared) and which invariants must hold afterwards.
A domain registers one ``ReplayHooks`` per command whose moves it wants revertible.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ledger.errors import LedgerError

if TYPE_CHECKING:
    from ledger.context import Recording
    from ledger.replay.structs import CheckOutcome, Conflict, ReplayPolicy
    from ledger.structs import MoveHeader


class ReplayHooks:
    """Domain callbacks around the replay of a move. Every method has a safe default.

    Attributes:
        derived_columns: per table, columns recomputed by the domain after the replay
            (cached counts): restored, never compared.
        bookkeeping_columns: per table, columns any ordinary save stamps (``updated_at``,
            ``calculated_fields_updated_at``, cached counts): they never make drift. The
            replay sets one back to its before-value only where the row is otherwise
            restored and the column still holds what the move left in it; where a later
            save stamped it, today's value is kept.
    """

    derived_columns: Mapping[str, frozenset[str]] = {}
    bookkeeping_columns: Mapping[str, frozenset[str]] = {}

    def lock(self, move: MoveHeader, policy: ReplayPolicy) -> None:
        """Inside the revert's transaction, after the replayed tables are locked against
        writers and before any scan: take the domain's own locks (e.g. the claims and rows a
        move locks), so a concurrent move or revert of the same data is refused or waits."""

    def describe(self, move: MoveHeader) -> dict[str, object]:
        """Domain facts for the plan (e.g. a created container to remove), in the domain's
        words; they are stored in the revert's arguments too."""
        return {}

    def conflicts(self, move: MoveHeader, policy: ReplayPolicy) -> list[Conflict]:
        """Read-only scans for rows created after the move that depend on its state.

        Called after ``lock``, and usually in a thread, on that thread's own connection, in
        a transaction of its own (temporary tables live until it ends), while the revert
        goes on: it must read committed rows only, write nothing but temporary tables, and
        keep no state between calls. What it finds rolls the replay back; the revert then
        runs again and calls it on its own connection, before replaying."""
        return []

    def before_replay(self, move: MoveHeader, policy: ReplayPolicy, rec: Recording) -> None:
        """Inside the revert's recording, before any row is restored (e.g. carry new data,
        each write in a ``rec.step``)."""

    def refresh(self, move: MoveHeader, policy: ReplayPolicy, rec: Recording) -> None:
        """Inside the revert's recording, after the replay: recompute derived columns, each
        write in a ``rec.step`` (so the revert's record holds them)."""

    def after_replay(self, move: MoveHeader, policy: ReplayPolicy) -> list[CheckOutcome]:
        """Inside the recording, after ``refresh``: the domain's checks, read-only. A failed
        check rolls the revert back."""
        return []


_hooks: dict[str, ReplayHooks] = {}
_lock = threading.Lock()


def register_replay_hooks(command: str, hooks: ReplayHooks) -> None:
    """Register the hooks used to revert moves recorded by ``command``. Idempotent.

    Raises:
        LedgerError: other hooks are already registered for that command.
    """
    with _lock:
        existing = _hooks.get(command)
        if existing is not None and existing is not hooks and type(existing) is not type(hooks):
            raise LedgerError(f"replay hooks for {command!r} are already registered")
        _hooks[command] = hooks


def hooks_for(command: str) -> ReplayHooks:
    """The hooks of a command, or the defaults (plain row replay) when it has none."""
    with _lock:
        return _hooks.get(command, ReplayHooks())
