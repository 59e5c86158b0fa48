"""Target project and its default settings: ``[create-target]``, ``[copy-defaults]``."""

from __future__ import annotations

from ami.main.models import Deployment as DeploymentModel
from ami.main.models import Device, Project, Site, SourceImageCollection
from ami.move.counts import project_totals
from ami.move.steps.base import StepContext
from ami.move.structs import StepResult

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
        ctx.target_id = ctx.plan.target.id
        with ctx.step("[create-target]", 0, "none") as run:
            run.detail.append(f"Using existing project {ctx.target_id}")
        ctx.target_before = ctx.plan.target_totals
        return ctx.last
    with ctx.step("[create-target]", None, "insert") as run:
        project = Project.objects.create(
            pk=ctx.target_id,  # reserved before the recording opened
            name=ctx.plan.target.name,
            owner_id=ctx.plan.source.owner_id,
            create_defaults=True,
        )
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
        run.detail.append(f"Created project {project.pk} with its defaults")
    ctx.target_before = project_totals([ctx.target_id])[ctx.target_id]
    return ctx.last


def _scalars_change(ctx: StepContext) -> int:
    s = ctx.plan.settings
    if ctx.plan.target.id is None:
        before = tuple(
            Project._meta.get_field(f).get_default()
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
        with ctx.step("[copy-defaults]", 0, "none") as run:
            run.detail.append("kept the target's settings (--keep-target-settings)")
        return ctx.last
    changes = {
        "include": (set(s.include_taxa), set(s.target_include_taxa)),
        "exclude": (set(s.exclude_taxa), set(s.target_exclude_taxa)),
    }
    expected = _scalars_change(ctx) + sum(len(a ^ b) for a, b in changes.values())
    with ctx.step("[copy-defaults]", expected, "update") as run:
        run.execute(_COPY_SCALARS, ctx.params())
        for _, table in FILTER_TABLES:
            run.execute(_DROP_TAXA.format(table=table), ctx.params())
            run.execute(_ADD_TAXA.format(table=table), ctx.params())
        run.detail.append(
            f"threshold={s.score_threshold}, session gap={s.session_time_gap_seconds}s, "
            f"pipeline={s.default_pipeline_id}, include={len(s.include_taxa)} taxa, "
            f"exclude={len(s.exclude_taxa)} taxa"
        )
    return ctx.last
