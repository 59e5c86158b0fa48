"""Invariants checked inside the move's transaction, after the steps and the cached fields.

The original command's seven checks come first, then what it missed: shared resources of the
deployments that stay, job cross-links to another project's collections, images or exports,
members and roles as planned, and the default settings. Each check returns a CheckResult and
never prints; one failure rolls the whole move back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ami.move.counts import COUNTED, INDIRECT_TABLES, deployment_counts
from ami.move.people import group_name
from ami.move.sql import rows as _rows
from ami.move.steps.base import StepContext
from ami.move.structs import CheckResult, ProjectRef
from ami.users.roles import ROLES


@dataclass(frozen=True)
class After:
    """What the checks read after the steps, counted once: per moved deployment its rows per
    kind, and per kind the moved rows not in the target and those still in the source."""

    per_dep: dict[int, dict[str, int]]
    not_in_target: dict[str, int]
    in_source: dict[str, int]

    @classmethod
    def observe(cls, ctx: StepContext) -> After:
        """Count what the steps left. Detections, classifications and identifications have
        no project: the move writes none of them, so where its recording captured no write
        to their table (none inserted, none deleted) their counts are the planned ones, and
        they are counted again only otherwise (the joins through the captures are most of
        the counting)."""
        written = ctx.recorder.written_tables()
        kept = {kind for kind, table in INDIRECT_TABLES.items() if not written.get(table)}
        per_dep, retag, foreign = deployment_counts(
            ctx.deployment_ids,
            ctx.source_id,
            ctx.target_id,
            kinds=[kind for kind in COUNTED if kind not in kept],
        )
        for dep in ctx.plan.deployments:
            per_dep[dep.deployment_id].update({kind: getattr(dep, kind) for kind in kept})
        rows = {kind: sum(d[kind] for d in per_dep.values()) for kind in retag}
        in_source = {kind: rows[kind] - foreign[kind] for kind in retag}
        return cls(per_dep=per_dep, not_in_target=retag, in_source=in_source)


# The moved rows that are in the target now, per kind.
_MOVED_ROWS = """
SELECT 'events', count(*) FROM main_event WHERE deployment_id = ANY(%(d)s) AND project_id = %(t)s
UNION ALL SELECT 'source_images', count(*) FROM main_sourceimage
    WHERE deployment_id = ANY(%(d)s) AND project_id = %(t)s
UNION ALL SELECT 'occurrences', count(*) FROM main_occurrence
    WHERE deployment_id = ANY(%(d)s) AND project_id = %(t)s
UNION ALL SELECT 'jobs', count(*) FROM jobs_job
    WHERE (deployment_id = ANY(%(d)s) OR id = ANY(%(j)s)) AND project_id = %(t)s
"""

_SOURCE_COLLECTIONS = """
SELECT c.name, count(*) FROM main_sourceimagecollection c
JOIN main_sourceimagecollection_images ci ON ci.sourceimagecollection_id = c.id
JOIN main_sourceimage si ON si.id = ci.sourceimage_id
WHERE c.project_id = %(s)s AND si.deployment_id = ANY(%(d)s)
GROUP BY c.id, c.name ORDER BY c.id
"""

# Jobs of the target (moved) pointing into another project, and jobs of the source pointing
# into the target.
_JOB_LINKS = """
SELECT
    count(*) FILTER (WHERE moved AND c.project_id <> %(t)s),
    count(*) FILTER (WHERE moved AND e.project_id <> %(t)s),
    count(*) FILTER (WHERE moved AND si.project_id <> %(t)s),
    count(*) FILTER (WHERE j.project_id = %(s)s
        AND (c.id = ANY(%(reassigned)s) OR si.deployment_id = ANY(%(d)s)))
FROM (SELECT *, deployment_id = ANY(%(d)s) OR id = ANY(%(j)s) AS moved FROM jobs_job
      WHERE project_id IN (%(s)s, %(t)s)) j
LEFT JOIN main_sourceimagecollection c ON c.id = j.source_image_collection_id
LEFT JOIN exports_dataexport e ON e.id = j.data_export_id
LEFT JOIN main_sourceimage si ON si.id = j.source_image_single_id
"""

_RESOURCE_LINKS = """
SELECT '{kind}',
    count(*) FILTER (WHERE NOT d.id = ANY(%(d)s) AND r.project_id = %(t)s
        AND d.project_id IS DISTINCT FROM %(t)s),
    count(*) FILTER (WHERE d.id = ANY(%(d)s) AND r.project_id = %(s)s)
FROM main_deployment d JOIN {table} r ON r.id = d.{fk}
WHERE r.id = ANY(%(r)s) OR d.id = ANY(%(d)s)
"""

_TARGET_ACCESS = """
SELECT u.id, EXISTS (SELECT 1 FROM main_userprojectmembership m
                     WHERE m.user_id = u.id AND m.project_id = %(t)s),
    ARRAY(SELECT g.name FROM users_user_groups ug JOIN auth_group g ON g.id = ug.group_id
          WHERE ug.user_id = u.id AND g.name = ANY(%(names)s) ORDER BY g.name)
FROM users_user u WHERE u.id = ANY(%(u)s)
"""

_SETTINGS = """
SELECT default_filters_score_threshold, session_time_gap_seconds,
    default_processing_pipeline_id,
    ARRAY(SELECT taxon_id FROM main_project_default_filters_include_taxa
          WHERE project_id = p.id ORDER BY 1),
    ARRAY(SELECT taxon_id FROM main_project_default_filters_exclude_taxa
          WHERE project_id = p.id ORDER BY 1)
FROM main_project p WHERE id = ANY(%(p)s) ORDER BY (id = %(t)s)
"""


def _result(name: str, messages: list[str]) -> CheckResult:
    return CheckResult(name=name, ok=not messages, messages=tuple(messages))


def check_deployment_counts(ctx: StepContext, after: After) -> CheckResult:
    """1. Each moved deployment still has its seven row counts."""
    per_dep = after.per_dep
    lines = [
        f"FAIL: {d.name} {kind} before={getattr(d, kind)} after={per_dep[d.deployment_id][kind]}"
        for d in ctx.plan.deployments
        for kind in COUNTED
        if getattr(d, kind) != per_dep[d.deployment_id][kind]
    ]
    if lines:
        lines.append("Per-deployment row counts changed (see above)")
    return _result("per-deployment-counts", lines)


_MODELS = {
    "events": "Event",
    "source_images": "SourceImage",
    "occurrences": "Occurrence",
    "jobs": "Job",
}


def check_fk_integrity(ctx: StepContext, after: After) -> CheckResult:
    """2. Rows of the moved deployments all carry the target project."""
    return _result(
        "fk-integrity",
        [
            f"{n} {_MODELS[kind]} still pointing to wrong project"
            for kind, n in after.not_in_target.items()
            if n
        ],
    )


def check_indirect_access(ctx: StepContext, after: After) -> CheckResult:
    """3. Detections, classifications and identifications reach the target through parents.

    They have no project of their own: a detection (and its classifications) is the target's
    exactly when its capture is, an identification when its occurrence is. So this holds when
    every capture and occurrence of the moved deployments is in the target (the counts of
    check 2), with no second pass over the detections.
    """
    messages = []
    if after.not_in_target["source_images"]:
        messages.append(
            f"{after.not_in_target['source_images']} moved capture(s) outside the target: "
            "their detections and classifications do not reach it"
        )
    if after.not_in_target["occurrences"]:
        messages.append(
            f"{after.not_in_target['occurrences']} moved occurrence(s) outside the target: "
            "their identifications do not reach it"
        )
    return _result("indirect-access", messages)


def check_leaks(ctx: StepContext, after: After) -> CheckResult:
    """4. No row of a moved deployment is left in the source project."""
    return _result(
        "leaks",
        [
            f"{n} {_MODELS[kind]} leaked in source project"
            for kind, n in after.in_source.items()
            if n and kind != "jobs"
        ],
    )


def check_collections(ctx: StepContext, after: After) -> CheckResult:
    """5. No collection of the source still holds moved images."""
    return _result(
        "source-collections",
        [
            f"Source collection '{name}' still has {n} moved images"
            for name, n in _rows(_SOURCE_COLLECTIONS, ctx.params())
        ],
    )


def check_job_links(ctx: StepContext, after: After) -> CheckResult:
    """6. No moved job points at another project's collection, image or export, and no job
    left in the source points into the target."""
    moved_project_jobs = [
        j.job_id for j in ctx.plan.jobs if j.deployment_id is None and j.action == "move"
    ]
    reassigned = [c.collection_id for c in ctx.plan.collections if c.action == "reassign"]
    coll, export, image, back = _rows(
        _JOB_LINKS, ctx.params(j=moved_project_jobs, reassigned=reassigned)
    )[0]
    messages = []
    if coll:
        messages.append(
            f"{coll} moved Job(s) reference a source_image_collection on another project"
        )
    if export:
        messages.append(f"{export} moved Job(s) reference a data_export on another project")
    if image:
        messages.append(f"{image} moved Job(s) reference a source_image_single on another project")
    if back:
        messages.append(f"{back} Job(s) left in the source reference data moved to the target")
    return _result("job-cross-links", messages)


def check_conservation(ctx: StepContext, after: After) -> CheckResult:
    """7. The rows of the moved deployments (and the project-level jobs that move) are all
    still there, now in the target: none lost, none duplicated.

    Counted over the moved rows only, not whole projects: on a live platform other writers
    add rows to the source's staying deployments and to the target while the move runs.
    """
    moving_jobs = [
        j.job_id for j in ctx.plan.jobs if j.deployment_id is None and j.action == "move"
    ]
    rows = dict(_rows(_MOVED_ROWS, ctx.params(j=moving_jobs)))
    before = ctx.plan.totals
    expected = {
        "events": before.events,
        "source_images": before.source_images,
        "occurrences": before.occurrences,
        "jobs": before.jobs + len(moving_jobs),
    }
    return _result(
        "conservation",
        [
            f"Conservation failed for {kind}: {rows.get(kind, 0)} moved row(s) in the target "
            f"!= {n} before the move"
            for kind, n in expected.items()
            if rows.get(kind, 0) != n
        ],
    )


def check_shared_resources(ctx: StepContext, after: After) -> CheckResult:
    """8. Deployments that stay keep resources of their own project; moved ones hold none of
    the source's."""
    from ami.move.plan import RESOURCES

    messages = []
    touched: dict[str, list[Any]] = {r.kind: [] for r in ctx.plan.resources}
    for r in ctx.plan.resources:
        if r.action != "skip":
            touched[r.kind].append(r.resource_id)
    for kind, table, fk in RESOURCES:
        sql = _RESOURCE_LINKS.format(kind=kind, table=table, fk=fk)
        _, staying, moved = _rows(sql, ctx.params(r=touched.get(kind, [])))[0]
        if staying:
            messages.append(f"{staying} staying deployment(s) point at a {kind} now in the target")
        if moved:
            messages.append(f"{moved} moved deployment(s) still point at a {kind} of the source")
    return _result("shared-resources", messages)


def check_members(ctx: StepContext, after: After) -> CheckResult:
    """9. Planned users hold exactly their planned target roles and a membership."""
    plans = {p.user_id: p for p in ctx.plan.identifiers}
    if not plans:
        return _result("members-and-roles", [])
    target = ProjectRef(id=ctx.target_id, name=ctx.plan.target.name)
    names = {group_name(target, r.__name__): r.__name__ for r in ROLES}
    messages = []
    for user_id, member, groups in _rows(
        _TARGET_ACCESS, {"t": ctx.target_id, "u": list(plans), "names": list(names)}
    ):
        p = plans[user_id]
        held = {names[g] for g in groups}
        wanted = set(p.target_roles_before) | set(p.groups_to_add)
        if held != wanted:
            messages.append(
                f"user id={user_id} holds {sorted(held)} on the target, planned {sorted(wanted)}"
            )
        if p.role is not None and not member:
            messages.append(f"user id={user_id} is not a member of the target")
    return _result("members-and-roles", messages)


def check_settings(ctx: StepContext, after: After) -> CheckResult:
    """10. The target's default settings are the source's (unless kept)."""
    if ctx.plan.settings.action == "keep":
        return _result("default-settings", [])
    source, target = _rows(_SETTINGS, ctx.params(p=[ctx.source_id, ctx.target_id]))
    labels = ("score threshold", "session gap", "default pipeline", "include taxa", "exclude taxa")
    return _result(
        "default-settings",
        [
            f"target {label} is {t!r}, the source's is {s!r}"
            for label, s, t in zip(labels, source, target, strict=True)
            if s != t
        ],
    )


CHECKS: tuple[Callable[[StepContext, After], CheckResult], ...] = (
    check_deployment_counts,
    check_fk_integrity,
    check_indirect_access,
    check_leaks,
    check_collections,
    check_job_links,
    check_conservation,
    check_shared_resources,
    check_members,
    check_settings,
)


def run_checks(ctx: StepContext) -> tuple[CheckResult, ...]:
    """Run every check; never raises for a failed check."""
    after = After.observe(ctx)
    return tuple(check(ctx, after) for check in CHECKS)
