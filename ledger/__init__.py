"""A generic ledger: records every change to registered PostgreSQL tables as sealed moves.

Usage::

    import ledger
    ledger.register_table("shop_item", pk="id", label="shop.Item")
    with transaction.atomic():
        with ledger.recording(command="move_data", arguments={...}, reason="...",
                              operator="7", subjects={"account": 7}) as rec:
            with rec.step("[move-items]", expected_rows=n, action="update"):
                ...
    rec.digest

See docs/ledger-api.md for adopters, docs/ledger.md for the design and docs/compliance.md for
reviewers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledger.context import (
    Recording,
    StepHandle,
    check_subjects,
    check_who_and_why,
    default_operator,
    prepare_capture,
    recording,
    who_and_why,
)
from ledger.errors import (
    CaptureBroken,
    CaptureUnavailable,
    ExportFormatError,
    Interrupted,
    LedgerError,
    MoveNotFound,
    NotRecording,
    RegistryError,
    StepCountMismatch,
    TamperDetected,
)
from ledger.export import export_move, export_moves, export_schema, verify_file
from ledger.filters import ListFilter, list_filters, register_list_filter
from ledger.install import release_capture
from ledger.proof import build_proof, encode_proof, read_proof, verify_proof
from ledger.queries import entries, read_header, row_history
from ledger.registry import TableSpec, register_table, registered_tables, unregister_table
from ledger.replay import (
    ReplayConflict,
    ReplayHooks,
    ReplayPolicy,
    ReplayReport,
    register_replay_hooks,
    revert,
)
from ledger.structs import (
    EntryPayload,
    EntryProof,
    InclusionProof,
    MoveHeader,
    StepRecord,
    VerifyFailure,
    VerifyReport,
)
from ledger.verify import assert_intact, verify

if TYPE_CHECKING:
    from django.db.models import Model, QuerySet

__all__ = [
    "CaptureBroken",
    "CaptureUnavailable",
    "EntryPayload",
    "EntryProof",
    "ExportFormatError",
    "InclusionProof",
    "Interrupted",
    "LedgerError",
    "ListFilter",
    "MoveHeader",
    "MoveNotFound",
    "NotRecording",
    "Recording",
    "RegistryError",
    "ReplayConflict",
    "ReplayHooks",
    "ReplayPolicy",
    "ReplayReport",
    "StepCountMismatch",
    "StepHandle",
    "StepRecord",
    "TableSpec",
    "TamperDetected",
    "VerifyFailure",
    "VerifyReport",
    "assert_intact",
    "build_proof",
    "check_subjects",
    "check_who_and_why",
    "default_operator",
    "encode_proof",
    "entries",
    "export_move",
    "export_moves",
    "export_schema",
    "history_events",
    "list_filters",
    "prepare_capture",
    "read_header",
    "read_proof",
    "recording",
    "register_list_filter",
    "register_replay_hooks",
    "register_table",
    "registered_tables",
    "release_capture",
    "revert",
    "row_history",
    "unregister_table",
    "verify",
    "verify_file",
    "verify_proof",
    "who_and_why",
]


def history_events(event_model: type[Model], move_id: int) -> QuerySet[Any]:
    """Events a pghistory tracker wrote during a move, through the move's pghistory context.

    A domain that wants full-row history of a table (e.g. projects' settings) declares an
    ordinary tracker, ``@pghistory.track(pghistory.UpdateEvent("settings_changed"))``, on
    its model. Writes made inside ``ledger.recording()`` carry the move's pghistory context
    (metadata ``ledger_recording``, ``ledger_operator``, ``ledger_reason``, ``ledger_step``),
    whose id is sealed in the move header as ``context_id``.

    Args:
        event_model: the tracker's event model (e.g. ``ProjectEvent``).
        move_id: the sealed move.

    Returns:
        The events whose ``pgh_context`` is the move's context.
    """
    from ledger.models import Move

    context_id = Move.objects.values_list("context_id", flat=True).get(pk=move_id)
    events: QuerySet[Any] = event_model._default_manager.filter(pgh_context_id=context_id)
    return events
