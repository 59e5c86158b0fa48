"""Claims and row locks of a move or revert, always taken in one order.

1. Claims: one transaction-scoped advisory lock per moved deployment, in id order, tried
   without waiting: a second move or revert of the same deployments is refused at once,
   naming the session that holds them.
2. Row locks, in a fixed order of tables and ids, each in the weakest mode the steps need:
   the source project ``FOR SHARE`` (its settings are copied; other moves from it run
   alongside), the target ``FOR NO KEY UPDATE`` (its settings are written), the deployments
   ``FOR UPDATE`` (their project is part of the key rows follow), then, once planned, the
   shared resources and collections: ``FOR NO KEY UPDATE`` where they are reassigned, ``FOR
   SHARE`` where they are only copied.

Readers never wait for any of them; writers of other rows neither (inserting a capture into a
staying deployment of the source only takes a key-share lock on the project row).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from ami.move import errors
from ami.move.structs import MovePlan
from ledger import advisory

# Advisory lock namespace of deployment claims ("AMI"); the second key is the deployment id.
CLAIM_KEY = 0x414D49
_INT4 = 2_147_483_647


def name_session(what: str) -> None:
    """Name this transaction in ``pg_stat_activity`` (what a refused overlap reports)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('application_name', %s, true)", [what[:63]])


def claim_deployments(deployment_ids: Iterable[int]) -> None:
    """Claim the deployments for this transaction, in id order, without waiting.

    Raises:
        MoveBusy: another move or revert holds one of them; names it.
    """
    with connection.cursor() as cursor:
        for dep in sorted(set(deployment_ids)):
            holder = advisory.try_lock(cursor, CLAIM_KEY, dep % _INT4)
            if holder is None:
                continue
            raise errors.MoveBusy(
                f"deployment {dep} is being moved or reverted right now by {holder}: wait for "
                "it to finish, then run the dry run again; nothing was changed"
            )


def _lock(table: str, ids: Iterable[int], mode: str) -> None:
    ids = sorted(set(ids))
    if not ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {connection.ops.quote_name(table)} WHERE id = ANY(%s) "
            f"ORDER BY id FOR {mode}",
            [ids],
        )


def lock_projects_and_deployments(
    source_id: int, target_id: int | None, deployment_ids: Iterable[int]
) -> None:
    """Row locks taken before planning: both projects, then the deployments."""
    if target_id is not None and target_id < source_id:
        _lock("main_project", [target_id], "NO KEY UPDATE")
        _lock("main_project", [source_id], "SHARE")
    else:
        _lock("main_project", [source_id], "SHARE")
        if target_id is not None:
            _lock("main_project", [target_id], "NO KEY UPDATE")
    _lock("main_deployment", deployment_ids, "UPDATE")


# (table, plan kind) in lock order.
_RESOURCE_TABLES = (
    ("main_s3storagesource", "s3"),
    ("main_device", "device"),
    ("main_site", "site"),
)


def lock_planned_rows(plan: MovePlan) -> None:
    """Row locks taken once planned: shared resources, then collections, per table in id
    order; reassigned rows are written, the others only read."""
    for table, kind in _RESOURCE_TABLES:
        rows = [r for r in plan.resources if r.kind == kind and r.action != "skip"]
        _lock(table, [r.resource_id for r in rows if r.action == "reassign"], "NO KEY UPDATE")
        _lock(table, [r.resource_id for r in rows if r.action == "clone"], "SHARE")
    collections = plan.collections
    _lock(
        "main_sourceimagecollection",
        [c.collection_id for c in collections if c.action == "reassign"],
        "NO KEY UPDATE",
    )
    _lock(
        "main_sourceimagecollection",
        [c.collection_id for c in collections if c.action != "reassign"],
        "SHARE",
    )
