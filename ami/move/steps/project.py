"""Target project and its defaults: ``[create-target]``, ``[all-images]``, ``[copy-defaults]``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from ami.main.models import Deployment as DeploymentModel
from ami.main.models import Device, Project, Site, SourceImageCollection
from ami.move.steps.base import StepContext
from ami.move.structs import StepResult

if TYPE_CHECKING:
    from django.db.models import Field

_COPY_SCALARS = """
UPDATE main_project t SET
    default_filters_score_threshold = s.default_filters_score_threshold,
    session_time_gap_seconds = s.session_time_gap_seconds,
    default_processing_pipeline_id = s.default_processing_pipeline_id,
    updated_at = now()
FROM main_project s
WHERE t.id = %(t)s AND s.id = %(s)s AND (
    t.default_filters_score_threshold IS DISTINCT FROM s.default_filters_score_threshold
    OR t.session_time_gap_seconds IS DISTINCT FROM s.session_time_gap_seconds
    OR t.default_processing_pipeline_id IS DISTINCT FROM s.default_processing_pipeline_id)
"""
"""Writes main_project (the target row only)."""

_DROP_TAXA = """
DELETE FROM {table} WHERE project_id = %(t)s
AND taxon_id NOT IN (SELECT taxon_id FROM {table} WHERE project_id = %(s)s)
"""
_ADD_TAXA = """
INSERT INTO {table} (project_id, taxon_id)
SELECT %(t)s, taxon_id FROM {table} WHERE project_id = %(s)s
ON CONFLICT DO NOTHING
"""
FILTER_TABLES = (
    ("include", "main_project_default_filters_include_taxa"),
    ("exclude", "main_project_default_filters_exclude_taxa"),
)


def create_target(ctx: StepContext) -> StepResult:
    """Create the target with Antenna's defaults, recording every row that creates."""
    if ctx.plan.target.id is not None:
        with ctx.step(0, "none") as run:
            run.detail.append(f"Using existing project {ctx.target_id}")
        return run.result()
    # The source's "All Images" arriving becomes the new project's: no empty one beside it.
    adopt = any(a.action == "adopt" for a in ctx.plan.all_images)
    with ctx.step(None, "insert") as run:
        project = Project.objects.create(
            pk=ctx.target_id,  # reserved before the recording opened
            name=ctx.plan.target.name,
            owner_id=ctx.plan.source.owner_id,
            # Project.__init__ takes it (as in Antenna): not a field the stubs know.
            create_defaults=not adopt,  # type: ignore[misc]
        )
        if adopt:
            Project.objects.create_related_defaults(project, collection=False)
        run.created = {
            "project": [project.pk],
            "device": list(Device.objects.filter(project=project).values_list("pk", flat=True)),
            "site": list(Site.objects.filter(project=project).values_list("pk", flat=True)),
            "deployment": list(
                DeploymentModel.objects.filter(project=project).values_list("pk", flat=True)
            ),
            "collection": list(
                SourceImageCollection.objects.filter(project=project).values_list("pk", flat=True)
            ),
        }
        run.detail.append(
            f"Created project {project.pk} with its defaults"
            + (" (its 'All Images' comes from the source)" if adopt else "")
        )
    return run.result()


_RENAME = """
UPDATE main_sourceimagecollection SET name = %(name)s, updated_at = now()
WHERE id = %(c)s AND name IS DISTINCT FROM %(name)s
"""


def _expected_all_images(action: str) -> int:
    return 1 if action == "rename" else 0


def all_images(ctx: StepContext) -> StepResult:
    """Writes main_sourceimagecollection(_images): no second "All Images" on the target.

    A split source "All Images" already joined the target's own in ``[handle-collections]``
    (no copy made, jobs follow to the target's). A source "All Images" that moved whole is
    renamed here. A created target adopted it in ``[create-target]``.
    """
    plans = ctx.plan.all_images
    expected = sum(_expected_all_images(a.action) for a in plans)
    with ctx.step(expected, "update") as run:
        for a in plans:
            source = a.source_collection_id
            if a.action == "merge":
                run.detail.append(
                    f"'All Images' (id={source}): its moved images joined the target's "
                    f"(id={a.target_collection_id}) in [handle-collections]"
                )
            elif a.action == "rename":
                run.execute(_RENAME, {"c": source, "name": a.new_name})
                run.detail.append(f"'All Images' (id={source}) renamed '{a.new_name}'")
            else:
                run.detail.append(f"'All Images' (id={source}) is the new project's own")
        if not plans:
            run.detail.append("No second 'All Images' on the target")
    return run.result()


def _scalars_change(ctx: StepContext) -> int:
    s = ctx.plan.settings
    if ctx.plan.target.id is None:
        before = tuple(
            cast("Field[Any, Any]", Project._meta.get_field(f)).get_default()
            for f in (
                "default_filters_score_threshold",
                "session_time_gap_seconds",
                "default_processing_pipeline",
            )
        )
    else:
        before = (
            s.target_score_threshold,
            s.target_session_time_gap_seconds,
            s.target_default_pipeline_id,
        )
    after = (s.score_threshold, s.session_time_gap_seconds, s.default_pipeline_id)
    return int(before != after)


def copy_defaults(ctx: StepContext) -> StepResult:
    """Make the target's default settings exactly the source's (replace, not merge)."""
    s = ctx.plan.settings
    if s.action == "keep":
        with ctx.step(0, "none") as run:
            run.detail.append("kept the target's settings (--keep-target-settings)")
        return run.result()
    changes = {
        "include": (set(s.include_taxa), set(s.target_include_taxa)),
        "exclude": (set(s.exclude_taxa), set(s.target_exclude_taxa)),
    }
    expected = _scalars_change(ctx) + sum(len(a ^ b) for a, b in changes.values())
    with ctx.step(expected, "update") as run:
        run.execute(_COPY_SCALARS, ctx.params())
        for _, table in FILTER_TABLES:
            run.execute(_DROP_TAXA.format(table=table), ctx.params())
            run.execute(_ADD_TAXA.format(table=table), ctx.params())
        run.detail.append(
            f"threshold={s.score_threshold}, session gap={s.session_time_gap_seconds}s, "
            f"pipeline={s.default_pipeline_id}, include={len(s.include_taxa)} taxa, "
            f"exclude={len(s.exclude_taxa)} taxa"
        )
    return run.result()
