"""Shared resources: ``[clone-s3]``, ``[clone-device]``, ``[clone-site]``.

A resource owned by the source is reassigned to the target when only moved deployments use
it, and cloned when other deployments (in any project) use it too. Public (project NULL) and
foreign resources are left alone. One statement per resource: resources are few.
"""

from __future__ import annotations

from django.db import connection

from ami.main.models import Device, S3StorageSource, Site
from ami.move.steps.base import StepContext
from ami.move.structs import StepResult

MODELS = {"s3": S3StorageSource, "device": Device, "site": Site}
_SKIPPED = ("id", "project_id", "created_at", "updated_at")

_CLONE = """
INSERT INTO {table} ({columns}, project_id, created_at, updated_at)
SELECT {columns}, %(t)s, now(), now() FROM {table} WHERE id = %(id)s
RETURNING id
"""
_REASSIGN = """
UPDATE {table} SET project_id = %(t)s, updated_at = now()
WHERE id = %(id)s AND project_id IS DISTINCT FROM %(t)s
"""


def _columns(kind: str) -> tuple[str, str]:
    meta = MODELS[kind]._meta
    names = [f.column for f in meta.concrete_fields if f.column not in _SKIPPED]
    return meta.db_table, ", ".join(connection.ops.quote_name(n) for n in names)


def _clone_or_reassign(ctx: StepContext, kind: str) -> StepResult:
    decisions = [r for r in ctx.plan.resources if r.kind == kind and r.action != "skip"]
    table, columns = _columns(kind)
    table = connection.ops.quote_name(table)
    with ctx.step(len(decisions), "clone-or-reassign") as run:
        mapping = run.clones.setdefault(kind, {})
        for r in decisions:
            params = ctx.params(id=r.resource_id)
            if r.action == "clone":
                (new_id,) = run.returning(_CLONE.format(table=table, columns=columns), params)[0]
                mapping[r.resource_id] = new_id
                run.created.setdefault(kind, []).append(new_id)
                run.detail.append(f"Cloned {r.resource_id} -> {new_id}")
            else:
                run.execute(_REASSIGN.format(table=table), params)
                run.detail.append(f"Reassigned {r.resource_id}")
        skipped = [
            r.resource_id for r in ctx.plan.resources if r.kind == kind and r not in decisions
        ]
        if skipped:
            run.detail.append(f"skipped {skipped} (public or owned by another project)")
    return run.result()


def clone_s3(ctx: StepContext) -> StepResult:
    """Writes main_s3storagesource (credentials are copied with a clone, never printed)."""
    return _clone_or_reassign(ctx, "s3")


def clone_device(ctx: StepContext) -> StepResult:
    """Writes main_device."""
    return _clone_or_reassign(ctx, "device")


def clone_site(ctx: StepContext) -> StepResult:
    """Writes main_site."""
    return _clone_or_reassign(ctx, "site")
