"""Which deployments' cached counts a move changes, so it recounts those and no others.

A move never adds or removes captures, events, occurrences or detections, so the unfiltered
counts of every deployment stay as they are. Filtered counts follow the default filters
(score threshold, included and excluded taxa) of each row's project:

- the moved deployments change only when the filters they end under differ from the source's
  (``--keep-target-settings`` with a target whose filters differ);
- the target's other deployments change only when the move replaced the target's filters by
  different ones (``[copy-defaults]``).
"""

from __future__ import annotations

from django.db import connection

from ami.move.steps.base import StepContext
from ami.move.structs import MovePlan, SettingsPlan, StepResult


def _filters_differ(s: SettingsPlan) -> bool:
    source = (s.score_threshold, set(s.include_taxa), set(s.exclude_taxa))
    target = (s.target_score_threshold, set(s.target_include_taxa), set(s.target_exclude_taxa))
    return source != target


def deployments_to_recount(plan: MovePlan, target_id: int) -> list[int]:
    """The deployments whose filtered counts the move changes, in id order."""
    if not _filters_differ(plan.settings):
        return []
    moved = sorted(plan.request.deployment_ids)
    if plan.settings.action == "keep":
        return moved
    with connection.cursor() as cur:
        cur.execute(
            "SELECT id FROM main_deployment WHERE project_id = %s AND NOT id = ANY(%s) "
            "ORDER BY id",
            [target_id, moved],
        )
        return [pk for (pk,) in cur.fetchall()]


def refresh_cached(ctx: StepContext) -> StepResult:
    """``[refresh-cached-fields]``: recount what the move changed, inside its recording.

    Writes the cached columns of main_deployment, main_event and main_sourceimage (only rows
    whose values change). How many is known only by doing it: the step declares no count.
    """
    from ami.main.cached_fields import refresh_cached_fields

    recount = deployments_to_recount(ctx.plan, ctx.target_id)
    with ctx.step(None, "recount") as run:
        run.rows = refresh_cached_fields(recount)
        run.touched = {"deployment": recount}
        run.detail.append(f"recounted {len(recount)} deployment(s)")
    return run.result()
