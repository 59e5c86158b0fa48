"""Plain data of a replay (the revert of a move): policy, plan, conflicts, report."""

from __future__ import annotations

from typing import Literal

import msgspec

ConflictKind = Literal[
    "busy",
    "tampered",
    "reverted",
    "schema",
    "later-move",
    "drift",
    "reinsert",
    "unique",
    "secret",
    "fingerprint-key",
    "dependent",
    "reference",
    "new-data",
    "count",
    "not-restored",
    "check",
]

# Policy flags, each resolving the conflicts that name it in ``Conflict.resolved_by``.
POLICY_FLAGS = ("skip_drifted", "carry_new_data", "allow_schema_change")


class ReplayPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How a replay treats conflicts. The default refuses every one of them.

    Attributes:
        skip_drifted: leave rows whose values changed since the move as they are, and list
            them in the revert's record, instead of refusing.
        carry_new_data: let the domain carry rows created after the move back with the data
            they depend on (the domain's hooks decide what that means), instead of refusing.
        allow_schema_change: proceed although migrations ran since the move, when none of
            them changed the columns of a table the move touched.
    """

    skip_drifted: bool = False
    carry_new_data: bool = False
    allow_schema_change: bool = False


class Conflict(msgspec.Struct, frozen=True, kw_only=True):
    """Something that makes the replay unsafe, per table, with a count and sample keys.

    Attributes:
        kind: what went wrong (see ``ConflictKind``).
        table: the table concerned ("" when the conflict is about the whole move).
        count: how many rows.
        sample: up to a few primary keys, as text.
        message: what it means and what to do.
        resolved_by: the policy flag that resolves it (``"skip_drifted"``,
            ``"carry_new_data"``), or "" when nothing but fixing the data does.
        column: for drift, the column that changed since the move ("" for whole rows).
        columns: for a unique key clash, the key's columns.
        after_value: for drift of a column, what the move left in it (JSON text, first
            sample row).
        current_value: for drift of a column, what it holds today (JSON text, first sample
            row; secrets are never shown).
        later_move: the later move concerned, when one is: the one that wrote the clashing
            rows (``unique``, ``reinsert``), or that reverted this move (``reverted``).
    """

    kind: ConflictKind
    table: str
    count: int
    sample: tuple[str, ...] = ()
    message: str
    resolved_by: str = ""
    column: str = ""
    columns: tuple[str, ...] = ()
    after_value: str | None = None
    current_value: str | None = None
    later_move: int | None = None


class TableWork(msgspec.Struct, frozen=True, kw_only=True):
    """What the replay does to one table."""

    table: str
    restore_rows: int
    restore_columns: dict[str, int]
    delete_rows: int
    reinsert_rows: int


class StepWork(msgspec.Struct, frozen=True, kw_only=True):
    """One step of the replayed move, in replay (reverse) order."""

    seq: int
    label: str
    rows: int


class StepDone(msgspec.Struct, frozen=True, kw_only=True):
    """A replayed step, as the progress callback sees it."""

    label: str
    rows: int
    expected_rows: int
    seconds: float


class CheckOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """A check run after the replay."""

    name: str
    ok: bool
    detail: str = ""


class ReplayPlan(msgspec.Struct, frozen=True, kw_only=True):
    """What reverting a move would do, and every conflict found."""

    move_id: int
    move_kind: str
    command: str
    reverts_id: int | None
    steps: tuple[StepWork, ...]
    tables: tuple[TableWork, ...]
    conflicts: tuple[Conflict, ...]
    domain: dict[str, object] = {}
    policy: ReplayPolicy = ReplayPolicy()
    # False: drift was not scanned column by column before the replay (nothing else was
    # found); the replay's compare-and-swap counts find it, and the revert then runs again
    # with the scans.
    drift_scanned: bool = True
    # False: the domain's scans for rows written since the move were still running beside the
    # replay when the plan was made; anything they find rolls the replay back, and the revert
    # runs again with every scan first.
    domain_scanned: bool = True

    def blocking(self) -> tuple[Conflict, ...]:
        """The conflicts the policy does not resolve."""
        allowed = {name for name in POLICY_FLAGS if getattr(self.policy, name)}
        return tuple(
            c for c in self.conflicts if c.resolved_by not in allowed or not c.resolved_by
        )


class ReplayReport(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of a revert: its plan, and after ``--execute`` the new move and digest."""

    plan: ReplayPlan
    executed: bool
    ok: bool
    restored_rows: int = 0
    deleted_rows: int = 0
    reinserted_rows: int = 0
    skipped: tuple[Conflict, ...] = ()
    checks: tuple[CheckOutcome, ...] = ()
    revert_move_id: int | None = None
    digest: str | None = None
