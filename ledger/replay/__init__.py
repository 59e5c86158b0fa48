"""Replay a sealed move backwards: the revert engine, generic over registered tables."""

from ledger.replay.engine import Progress, ReplayConflict, revert
from ledger.replay.hooks import ReplayHooks, hooks_for, register_replay_hooks
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

__all__ = [
    "CheckOutcome",
    "Conflict",
    "Progress",
    "ReplayConflict",
    "ReplayHooks",
    "ReplayPlan",
    "ReplayPolicy",
    "ReplayReport",
    "StepDone",
    "StepWork",
    "TableWork",
    "hooks_for",
    "register_replay_hooks",
    "revert",
]
