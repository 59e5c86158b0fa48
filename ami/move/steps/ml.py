"""Pipeline configs and processing services: ``[clone-pipeline-config]``, ``[link-services]``.

Processing services are linked through their through table in raw SQL, as the original does:
loading ProcessingService rows through the ORM breaks on databases whose column names predate
Antenna's ``last_checked`` -> ``last_seen`` rename.
"""

from __future__ import annotations

from ami.move.steps.base import StepContext, run_simple
from ami.move.structs import StepResult

_CLONE_CONFIGS = """
INSERT INTO ml_projectpipelineconfig (project_id, pipeline_id, enabled, config, created_at,
    updated_at)
SELECT %(t)s, s.pipeline_id, s.enabled, s.config, now(), now()
FROM ml_projectpipelineconfig s
WHERE s.project_id = %(s)s AND NOT EXISTS (
    SELECT 1 FROM ml_projectpipelineconfig x
    WHERE x.project_id = %(t)s AND x.pipeline_id = s.pipeline_id)
"""
_LINK_SERVICES = """
INSERT INTO ml_processingservice_projects (processingservice_id, project_id)
SELECT s.processingservice_id, %(t)s FROM ml_processingservice_projects s
WHERE s.project_id = %(s)s AND NOT EXISTS (
    SELECT 1 FROM ml_processingservice_projects x
    WHERE x.project_id = %(t)s AND x.processingservice_id = s.processingservice_id)
"""


def clone_pipeline_config(ctx: StepContext) -> StepResult:
    """Writes ml_projectpipelineconfig; existing target configs are kept as they are."""
    if not ctx.request.clone_pipelines:
        with ctx.step(0, "none") as run:
            run.detail.append("skipped (--no-clone-pipelines)")
        return run.result()
    return run_simple(
        ctx,
        "insert",
        len(ctx.plan.pipelines_to_clone),
        _CLONE_CONFIGS,
        ctx.params(),
    )


def link_services(ctx: StepContext) -> StepResult:
    """Writes ml_processingservice_projects."""
    return run_simple(
        ctx,
        "insert",
        len(ctx.plan.services_to_link),
        _LINK_SERVICES,
        ctx.params(),
    )
