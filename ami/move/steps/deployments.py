"""Deployments and the denormalised ``project_id`` of everything keyed on them.

``[move-deployment]``, ``[move-events]``, ``[move-images]``, ``[move-occurrences]``,
``[move-jobs]``, ``[fire-post-save]``. Each bulk step is one UPDATE that touches only rows
whose value really changes, so the ledger sees exactly the planned rows.
"""

from __future__ import annotations

from ami.main.models import Deployment
from ami.move.steps.base import StepContext, run_simple
from ami.move.structs import StepResult

_MAP = (
    "COALESCE((SELECT m.n FROM unnest(%({k}_old)s::bigint[], %({k}_new)s::bigint[]) AS m(o, n)"
    " WHERE m.o = d.{col}), d.{col})"
)
_MOVE_DEPLOYMENTS = f"""
UPDATE main_deployment d SET
    project_id = %(t)s,
    data_source_id = {_MAP.format(k="s3", col="data_source_id")},
    device_id = {_MAP.format(k="device", col="device_id")},
    research_site_id = {_MAP.format(k="site", col="research_site_id")},
    updated_at = now()
WHERE d.id = ANY(%(d)s)
"""
"""Writes main_deployment: project and the clone-mapped S3 source, device and site."""

_RETAG = """
UPDATE {table} SET project_id = %(t)s
WHERE deployment_id = ANY(%(d)s) AND project_id IS DISTINCT FROM %(t)s
"""
_RETAG_JOBS = """
UPDATE jobs_job SET project_id = %(t)s
WHERE (deployment_id = ANY(%(d)s) OR id = ANY(%(j)s)) AND project_id IS DISTINCT FROM %(t)s
"""


def move_deployment(ctx: StepContext) -> StepResult:
    maps: dict[str, object] = {}
    for kind in ("s3", "device", "site"):
        mapping = ctx.clones.get(kind, {})
        maps[f"{kind}_old"] = list(mapping)
        maps[f"{kind}_new"] = list(mapping.values())
    return run_simple(
        ctx,
        "update",
        len(ctx.deployment_ids),
        _MOVE_DEPLOYMENTS,
        ctx.params(**maps),
    )


def _retag(ctx: StepContext, table: str, kind: str) -> StepResult:
    """Writes ``table``.project_id for the rows of the moved deployments."""
    return run_simple(
        ctx, "update", ctx.plan.retag[kind], _RETAG.format(table=table), ctx.params()
    )


def move_events(ctx: StepContext) -> StepResult:
    return _retag(ctx, "main_event", "events")


def move_images(ctx: StepContext) -> StepResult:
    return _retag(ctx, "main_sourceimage", "source_images")


def move_occurrences(ctx: StepContext) -> StepResult:
    return _retag(ctx, "main_occurrence", "occurrences")


def move_jobs(ctx: StepContext) -> StepResult:
    """Writes jobs_job.project_id: jobs of moved deployments and project-level jobs that move."""
    project_level = ctx.plan.project_level_jobs_moved
    return run_simple(
        ctx,
        "update",
        ctx.plan.retag["jobs"] + len(project_level),
        _RETAG_JOBS,
        ctx.params(j=project_level),
    )


def fire_post_save(ctx: StepContext) -> StepResult:
    """With ``--fire-post-save``: save each moved deployment, freshly loaded inside the
    transaction, so post_save receivers run. Writes main_deployment (one row each)."""
    if not ctx.request.fire_post_save:
        with ctx.step(0, "none") as run:
            run.detail.append("not requested")
        return run.result()
    with ctx.step(len(ctx.deployment_ids), "update") as run:
        for deployment in Deployment.objects.filter(pk__in=ctx.deployment_ids).order_by("pk"):
            # A plain save: the move recomputes the cached fields set-based after its steps,
            # and Antenna's full save would regroup and recount here, in this step.
            deployment.save(update_calculated_fields=False)
            run.rows += 1
        run.detail.append(f"post_save sent for {run.rows} deployment(s)")
    return run.result()
