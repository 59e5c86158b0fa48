"""Collections and the job references into them.

``[handle-collections]``: a source collection whose images all move is reassigned; a mixed one
is split (a target copy, and one ``UPDATE`` re-pointing the moved images' link rows at it), or
only emptied of moved images (``DELETE ... USING``) with ``--no-clone-collections``. A split
source "All Images" whose target has its own (``AllImagesPlan`` "merge") gets no copy: its
moved links are re-pointed straight at the target's, once.
``[remap-jobs-to-collections]``, ``[detach-job-images]``, ``[data-export-residue]``: jobs end
up pointing at nothing in another project.
"""

from __future__ import annotations

from ami.move.steps.base import StepContext, StepRun
from ami.move.structs import CollectionDecision, StepResult

_REASSIGN = """
UPDATE main_sourceimagecollection SET project_id = %(t)s, updated_at = now()
WHERE id = %(c)s AND project_id IS DISTINCT FROM %(t)s
"""
_CLONE = """
INSERT INTO main_sourceimagecollection
    (name, description, project_id, method, kwargs, created_at, updated_at)
SELECT name, COALESCE(description, ''), %(t)s, method, COALESCE(kwargs, '{}'::jsonb), now(), now()
FROM main_sourceimagecollection WHERE id = %(c)s
RETURNING id
"""
# Re-pointing the link rows (rather than inserting copies and deleting the originals) is the
# same membership change in one statement, and the ledger records it as one change group
# instead of two whole rows per image.
_REPOINT_IMAGES = """
UPDATE main_sourceimagecollection_images ci SET sourceimagecollection_id = %(new)s
FROM main_sourceimage si
WHERE si.id = ci.sourceimage_id AND ci.sourceimagecollection_id = %(c)s
AND si.deployment_id = ANY(%(d)s)
"""
# Into the target's own "All Images": a link it already has is left to _REMOVE_IMAGES.
_JOIN_TARGETS = """
UPDATE main_sourceimagecollection_images ci SET sourceimagecollection_id = %(into)s
FROM main_sourceimage si
WHERE si.id = ci.sourceimage_id AND ci.sourceimagecollection_id = %(c)s
AND si.deployment_id = ANY(%(d)s) AND NOT EXISTS (
    SELECT 1 FROM main_sourceimagecollection_images x
    WHERE x.sourceimagecollection_id = %(into)s AND x.sourceimage_id = ci.sourceimage_id)
"""
_REMOVE_IMAGES = """
DELETE FROM main_sourceimagecollection_images ci USING main_sourceimage si
WHERE si.id = ci.sourceimage_id AND ci.sourceimagecollection_id = %(c)s
AND si.deployment_id = ANY(%(d)s)
"""
_REMAP_JOBS = """
UPDATE jobs_job j SET source_image_collection_id = m.n
FROM unnest(%(old)s::bigint[], %(new)s::bigint[]) AS m(o, n)
WHERE j.id = ANY(%(j)s) AND j.source_image_collection_id = m.o
"""
_NULL_JOB_COLUMN = """
UPDATE jobs_job SET {column} = NULL WHERE id = ANY(%(j)s) AND {column} IS NOT NULL
"""


def _expected(c: CollectionDecision, merges: dict[int, int]) -> int:
    if c.action == "reassign":
        return 1
    if c.action == "split" and c.collection_id not in merges:
        return 1 + c.moved_images  # the copy, and its re-pointed image links
    return c.moved_images  # each moved link re-pointed or deleted


def _handle(ctx: StepContext, run: StepRun, c: CollectionDecision, merges: dict[int, int]) -> None:
    params = ctx.params(c=c.collection_id)
    if c.action == "reassign":
        run.execute(_REASSIGN, params)
        run.detail.append(f"'{c.name}' (id={c.collection_id}) reassigned")
        return
    if c.action == "split" and c.collection_id in merges:
        into = merges[c.collection_id]
        joined = run.execute(_JOIN_TARGETS, {**params, "into": into})
        held = run.execute(_REMOVE_IMAGES, params)
        run.clones.setdefault("collection", {})[c.collection_id] = into
        run.detail.append(
            f"'{c.name}' split: {joined} moved image(s) joined the target's 'All Images' "
            f"(id={into})" + (f", {held} it held already" if held else "")
        )
        return
    if c.action == "split":
        (new_id,) = run.returning(_CLONE, params)[0]
        run.clones.setdefault("collection", {})[c.collection_id] = new_id
        run.created.setdefault("collection", []).append(new_id)
        run.execute(_REPOINT_IMAGES, {**params, "new": new_id})
        run.detail.append(f"'{c.name}' split: {c.collection_id} -> {new_id}")
        return
    run.detail.append(f"'{c.name}' (id={c.collection_id}): moved images removed")
    run.execute(_REMOVE_IMAGES, params)


def handle_collections(ctx: StepContext) -> StepResult:
    """Writes main_sourceimagecollection and main_sourceimagecollection_images."""
    decisions = ctx.plan.collections
    merges = {
        a.source_collection_id: a.target_collection_id
        for a in ctx.plan.all_images
        if a.action == "merge" and a.target_collection_id is not None
    }
    with ctx.step(sum(_expected(c, merges) for c in decisions), "split") as run:
        for c in decisions:
            _handle(ctx, run, c, merges)
    return run.result()


def remap_jobs_to_collections(ctx: StepContext) -> StepResult:
    """Writes jobs_job.source_image_collection_id (split copy, or NULL)."""
    jobs = ctx.plan.jobs
    to_clone = [j.job_id for j in jobs if j.collection_action == "clone"]
    to_null = [j.job_id for j in jobs if j.collection_action == "null"]
    mapping = ctx.clones.get("collection", {})
    with ctx.step(len(to_clone) + len(to_null), "update") as run:
        if to_clone:
            n = run.execute(
                _REMAP_JOBS, {"old": list(mapping), "new": list(mapping.values()), "j": to_clone}
            )
            run.detail.append(f"{n} job(s) now point at the target copy of a split collection")
        if to_null:
            n = run.execute(
                _NULL_JOB_COLUMN.format(column="source_image_collection_id"), {"j": to_null}
            )
            run.detail.append(f"{n} job(s) no longer point at a collection of another project")
        if not to_clone and not to_null:
            run.detail.append("No moved Jobs referenced split collections")
    return run.result()


def _null_column(ctx: StepContext, column: str, attr: str) -> StepResult:
    ids = [j.job_id for j in ctx.plan.jobs if getattr(j, attr) == "null"]
    with ctx.step(len(ids), "update") as run:
        if ids:
            run.execute(_NULL_JOB_COLUMN.format(column=column), {"j": ids})
        run.detail.append(f"{run.rows} job(s) cleared")
    return run.result()


def detach_job_images(ctx: StepContext) -> StepResult:
    """Writes jobs_job.source_image_single_id where the image is now in another project."""
    return _null_column(ctx, "source_image_single_id", "image_action")


def data_export_residue(ctx: StepContext) -> StepResult:
    """Writes jobs_job.data_export_id of moved jobs whose export stays in the source."""
    return _null_column(ctx, "data_export_id", "export_action")
