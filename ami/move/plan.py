"""Read-only planning: validate a request, count rows, decide clone/reassign/skip.

``build_plan`` is used for the dry run and again inside the transaction, against locked rows.
The number of queries depends on the number of deployments, shared resources and collections,
never on the number of images, occurrences or detections.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

import ledger
from ami.move import errors
from ami.move.collection_links import plan_all_images, plan_labelstudio_configs
from ami.move.counts import COUNTED, NO_PROJECT, deployment_counts, project_totals
from ami.move.jobs import plan_jobs
from ami.move.people import plan_identifiers, plan_role_grants
from ami.move.sql import rows as _query
from ami.move.structs import (
    CollectionDecision,
    DeploymentCounts,
    MovePlan,
    MoveRequest,
    ProjectRef,
    ProjectTotals,
    ResourceDecision,
    SettingsPlan,
    TaxaListPlan,
)
from ami.move.tags import plan_tags
from ledger.tuning import without_jit

PROJECT_NAME_MAX = 80

# (kind, table, Deployment column). Names are constants, never user input.
RESOURCES = (
    ("s3", "main_s3storagesource", "data_source_id"),
    ("device", "main_device", "device_id"),
    ("site", "main_site", "research_site_id"),
)

_RESOURCES_SQL = """
SELECT r.id, r.name, r.project_id,
    (SELECT count(*) FROM main_deployment o WHERE o.{fk} = r.id AND NOT o.id = ANY(%(d)s)),
    ARRAY(SELECT o.name || '(' || o.id || ')' FROM main_deployment o
          WHERE o.{fk} = r.id AND NOT o.id = ANY(%(d)s) ORDER BY o.id LIMIT 5)
FROM {table} r
WHERE r.id IN (SELECT {fk} FROM main_deployment WHERE id = ANY(%(d)s))
ORDER BY r.id
"""

# The source's collections that hold moved captures, found from the moved captures' links
# (by index), each with its moved and other captures: the others are its links less the
# moved ones, counted on the link table's index alone. Joining every link of every source
# collection to its capture instead made a small station's plan follow the size of the
# source's "All Images" (0.64 s against 0.12 s at bci10 for 40,000 of 1M captures).
_COLLECTIONS_SQL = """
WITH moved AS (
    SELECT ci.sourceimagecollection_id AS id, count(*) AS n
    FROM main_sourceimage si
    JOIN main_sourceimagecollection_images ci ON ci.sourceimage_id = si.id
    WHERE si.deployment_id = ANY(%(d)s)
    GROUP BY 1
)
SELECT c.id, c.name, c.method, m.n,
    (SELECT count(*) FROM main_sourceimagecollection_images a
     WHERE a.sourceimagecollection_id = c.id) - m.n
FROM main_sourceimagecollection c JOIN moved m ON m.id = c.id
WHERE c.project_id = %(s)s
ORDER BY c.id
"""

# Distinct taxa first, then the link test once per taxon (not once per occurrence).
_TAXA_SQL = """
SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (
    SELECT 1 FROM main_taxon_projects tp WHERE tp.taxon_id = x.id AND tp.project_id = %(t)s))
FROM (SELECT DISTINCT o.determination_id AS id FROM main_occurrence o
      WHERE o.deployment_id = ANY(%(d)s) AND o.determination_id IS NOT NULL) x
"""

_FILTER_TAXA_SQL = """
SELECT 'include', x.project_id, t.id, t.name
FROM main_project_default_filters_include_taxa x JOIN main_taxon t ON t.id = x.taxon_id
WHERE x.project_id = ANY(%(p)s)
UNION ALL
SELECT 'exclude', x.project_id, t.id, t.name
FROM main_project_default_filters_exclude_taxa x JOIN main_taxon t ON t.id = x.taxon_id
WHERE x.project_id = ANY(%(p)s)
ORDER BY 1, 3
"""

_TAXA_LISTS_SQL = """
SELECT tl.id, tl.name,
    (SELECT count(*) FROM main_taxalist_taxa x WHERE x.taxalist_id = tl.id),
    (SELECT count(*) FROM main_taxalist_projects x WHERE x.taxalist_id = tl.id),
    EXISTS (SELECT 1 FROM main_taxalist_projects x
            WHERE x.taxalist_id = tl.id AND x.project_id = %(t)s)
FROM main_taxalist tl
JOIN main_taxalist_projects lp ON lp.taxalist_id = tl.id AND lp.project_id = %(s)s
ORDER BY tl.id
"""

_PIPELINES_SQL = """
SELECT pipeline_id FROM ml_projectpipelineconfig WHERE project_id = %(s)s
AND pipeline_id NOT IN (SELECT pipeline_id FROM ml_projectpipelineconfig WHERE project_id = %(t)s)
ORDER BY pipeline_id
"""

_SERVICES_SQL = """
SELECT processingservice_id FROM ml_processingservice_projects WHERE project_id = %(s)s
AND processingservice_id NOT IN (
    SELECT processingservice_id FROM ml_processingservice_projects WHERE project_id = %(t)s)
ORDER BY processingservice_id
"""

_PROJECT_SQL = """
SELECT id, name, owner_id, default_filters_score_threshold, session_time_gap_seconds,
    default_processing_pipeline_id
FROM main_project WHERE id = ANY(%(p)s)
"""

_DEPLOYMENTS_SQL = """
SELECT d.id, d.name, d.project_id, d.data_source_id, d.device_id, dv.name,
    d.research_site_id, st.name
FROM main_deployment d
LEFT JOIN main_device dv ON dv.id = d.device_id
LEFT JOIN main_site st ON st.id = d.research_site_id
WHERE d.id = ANY(%(d)s)
"""


def parse_deployment_ids(text: str | None) -> tuple[int, ...]:
    """Parse ``--deployment-ids``: comma-separated integers, spaces and duplicates tolerated.

    Raises:
        InvalidRequest: on an empty list, an empty token or a token that is not an integer.
    """
    if text is None or not text.strip():
        raise errors.InvalidRequest(
            "--deployment-ids is empty: pass a comma-separated list such as --deployment-ids 12,15"
        )
    ids: list[int] = []
    for position, raw in enumerate(text.split(","), start=1):
        token = raw.strip()
        if not token:
            raise errors.InvalidRequest(
                f"--deployment-ids {text!r} has an empty entry at position {position}: "
                "remove the extra comma"
            )
        try:
            value = int(token)
        except ValueError:
            raise errors.InvalidRequest(
                f"--deployment-ids: {token!r} is not a deployment id: "
                "pass integers separated by commas, such as --deployment-ids 12,15"
            ) from None
        if value <= 0:
            raise errors.InvalidRequest(
                f"--deployment-ids: {token!r} is not a deployment id (ids are positive)"
            )
        if value not in ids:
            ids.append(value)
    # In id order: the same stations in another order are the same move, and plan digest.
    return tuple(sorted(ids))


def _check_schema() -> None:
    from ami.move.schema import differences

    found = differences()
    if found:
        listed = "\n".join(f"- {d}" for d in found)
        raise errors.SchemaMismatch(
            "The database's schema is not the one this move was written for; nothing was "
            f"changed. Migrate the database, or adapt the move, first:\n{listed}"
        )


def _validate(request: MoveRequest) -> tuple[dict[int, tuple], dict[int, tuple]]:
    """Check the request against the database, in the original command's order."""
    _check_schema()
    source_id = request.source_project_id
    target_id = request.target_project_id or None
    projects = {
        row[0]: row for row in _query(_PROJECT_SQL, {"p": [source_id, target_id or NO_PROJECT]})
    }
    if source_id not in projects:
        raise errors.ProjectNotFound(
            f"Source project {source_id} does not exist: check --source-project"
        )
    deployments = {
        row[0]: row for row in _query(_DEPLOYMENTS_SQL, {"d": list(request.deployment_ids)})
    }
    missing = [d for d in request.deployment_ids if d not in deployments]
    if missing:
        raise errors.DeploymentsNotFound(
            f"Deployments not found: {missing}: check the ids or drop them from --deployment-ids"
        )
    elsewhere = {d: row[2] for d, row in deployments.items() if row[2] != source_id}
    if elsewhere:
        fixes = "; ".join(
            f"deployment {d} is in project {p}, not {source_id}: "
            + (f"pass --source-project {p} or drop {d}" if p else f"drop {d}")
            for d, p in elsewhere.items()
        )
        raise errors.DeploymentsNotInSource(
            f"Deployments not in source project {source_id}: {elsewhere}: {fixes}"
        )
    name = (request.create_project or "").strip()
    if name and target_id:
        raise errors.InvalidRequest("Use either --target-project or --create-project, not both")
    if target_id == source_id:
        raise errors.InvalidRequest(
            "Target project cannot be the same as source project: "
            "pass another --target-project, or --create-project NAME"
        )
    if target_id and target_id not in projects:
        raise errors.ProjectNotFound(
            f"Target project {target_id} does not exist: pass an existing project id, "
            "or --create-project NAME to make a new one"
        )
    if not name and not target_id:
        raise errors.InvalidRequest(
            "Must specify either --target-project or --create-project: "
            "pass --target-project ID or --create-project NAME"
        )
    if name and len(name) > PROJECT_NAME_MAX:
        raise errors.InvalidRequest(
            f"--create-project name has {len(name)} characters; "
            f"the limit is {PROJECT_NAME_MAX}: pass a shorter name"
        )
    try:
        ledger.who_and_why(request.operator, request.reason, executing=False)
    except ledger.LedgerError as exc:
        raise errors.InvalidRequest(str(exc)) from exc
    if name and request.keep_target_settings:
        raise errors.InvalidRequest(
            "--keep-target-settings needs an existing --target-project: a new project has no "
            "settings of its own; drop the flag"
        )
    return projects, deployments


def build_plan(request: MoveRequest) -> MovePlan:
    """Validate ``request`` and compute what the move will do, without writing anything.

    Its reads run in one transaction (a savepoint inside a move's), without JIT
    (``ledger.tuning``).

    Raises:
        MoveError: the request is invalid; the message names the fix.
    """
    with transaction.atomic(savepoint=False), without_jit():
        return _build_plan(request)


def _build_plan(request: MoveRequest) -> MovePlan:
    projects, deployment_rows = _validate(request)
    source_row = projects[request.source_project_id]
    target_id = request.target_project_id or None
    target_row = projects.get(target_id) if target_id else None
    source = ProjectRef(id=source_row[0], name=source_row[1], owner_id=source_row[2])
    if target_row:
        target = ProjectRef(id=target_row[0], name=target_row[1], owner_id=target_row[2])
    else:
        target = ProjectRef(id=None, name=(request.create_project or "").strip(), owner_id=None)
    assert source.id is not None
    dep_ids = list(request.deployment_ids)
    params: dict[str, Any] = {"d": dep_ids, "s": source.id, "t": target.id or NO_PROJECT}

    deployments, totals, retag, foreign = _plan_deployments(
        dep_ids, deployment_rows, source, target
    )
    totals_by_project = project_totals([source.id, target.id])
    collections = _plan_collections(request, params)
    taxa_count, taxa_to_link = _query(_TAXA_SQL, params)[0]
    jobs, running = plan_jobs(request, params, collections, target.id)
    all_images = plan_all_images(collections, source, target)
    return MovePlan(
        request=request,
        source=source,
        target=target,
        deployments=deployments,
        totals=totals,
        retag=retag,
        foreign_rows=foreign,
        source_totals=totals_by_project[source.id],
        target_totals=totals_by_project.get(target.id or NO_PROJECT, ProjectTotals()),
        resources=_plan_resources(params, source.id),
        collections=collections,
        jobs=jobs,
        running_job_ids=running,
        taxa_count=taxa_count,
        taxa_to_link=taxa_to_link,
        identifiers=plan_identifiers(request, params, source, target),
        settings=_plan_settings(request, source_row, target_row),
        taxa_lists=tuple(
            TaxaListPlan(
                taxalist_id=r[0],
                name=r[1],
                taxa_count=r[2],
                projects_count=r[3],
                linked_to_target=r[4],
            )
            for r in _query(_TAXA_LISTS_SQL, params)
        ),
        pipelines_to_clone=tuple(r[0] for r in _query(_PIPELINES_SQL, params))
        if request.clone_pipelines
        else (),
        services_to_link=tuple(r[0] for r in _query(_SERVICES_SQL, params)),
        role_grants=plan_role_grants(target),
        tags=plan_tags(params),
        all_images=all_images,
        labelstudio_configs=plan_labelstudio_configs(collections, all_images),
    )


def _plan_deployments(
    dep_ids: list[int], rows: dict[int, tuple], source: ProjectRef, target: ProjectRef
) -> tuple[tuple[DeploymentCounts, ...], DeploymentCounts, dict[str, int], dict[str, int]]:
    """Per-deployment counts, their totals, and the rows to retag / outside the source."""
    assert source.id is not None
    per_dep, retag, foreign = deployment_counts(dep_ids, source.id, target.id)
    deployments = tuple(
        DeploymentCounts(
            deployment_id=d,
            name=rows[d][1],
            project_id=rows[d][2],
            data_source_id=rows[d][3],
            device_id=rows[d][4],
            device_name=rows[d][5],
            site_id=rows[d][6],
            site_name=rows[d][7],
            **per_dep[d],
        )
        for d in dep_ids
    )
    totals = DeploymentCounts(
        deployment_id=0,
        name="total",
        project_id=source.id,
        data_source_id=None,
        device_id=None,
        device_name=None,
        site_id=None,
        site_name=None,
        **{k: sum(per_dep[d][k] for d in dep_ids) for k in COUNTED},
    )
    return deployments, totals, retag, foreign


def _plan_resources(params: Mapping[str, Any], source_id: int) -> tuple[ResourceDecision, ...]:
    decisions = []
    for kind, table, fk in RESOURCES:
        for rid, name, owner, others, sample in _query(
            _RESOURCES_SQL.format(table=table, fk=fk), params
        ):
            action = "skip" if owner != source_id else ("clone" if others else "reassign")
            decisions.append(
                ResourceDecision(
                    kind=kind,
                    resource_id=rid,
                    name=name,
                    owner_project_id=owner,
                    action=action,
                    others_count=others,
                    others_sample=tuple(sample),
                )
            )
    return tuple(decisions)


def _plan_collections(
    request: MoveRequest, params: Mapping[str, Any]
) -> tuple[CollectionDecision, ...]:
    decisions = []
    for cid, name, method, moved, other in _query(_COLLECTIONS_SQL, params):
        mixed = "split" if request.clone_collections else "remove"
        action = mixed if other else "reassign"
        decisions.append(
            CollectionDecision(
                collection_id=cid,
                name=name,
                method=method,
                moved_images=moved,
                other_images=other,
                action=action,
            )
        )
    return tuple(decisions)


def _plan_settings(
    request: MoveRequest, source_row: tuple, target_row: tuple | None
) -> SettingsPlan:
    ids = [source_row[0]] + ([target_row[0]] if target_row else [])
    taxa: dict[tuple[str, int | None], list[tuple[int, str]]] = {}
    for which, project_id, taxon_id, name in _query(_FILTER_TAXA_SQL, {"p": ids}):
        taxa.setdefault((which, project_id), []).append((taxon_id, name))
    src_inc = taxa.get(("include", source_row[0]), [])
    src_exc = taxa.get(("exclude", source_row[0]), [])
    tgt = target_row[0] if target_row else None
    return SettingsPlan(
        action="keep" if request.keep_target_settings else "replace",
        score_threshold=source_row[3],
        session_time_gap_seconds=source_row[4],
        default_pipeline_id=source_row[5],
        include_taxa=tuple(t for t, _ in src_inc),
        exclude_taxa=tuple(t for t, _ in src_exc),
        include_names=tuple(n for _, n in src_inc),
        exclude_names=tuple(n for _, n in src_exc),
        target_score_threshold=target_row[3] if target_row else None,
        target_session_time_gap_seconds=target_row[4] if target_row else None,
        target_default_pipeline_id=target_row[5] if target_row else None,
        target_include_taxa=tuple(t for t, _ in taxa.get(("include", tgt), [])),
        target_exclude_taxa=tuple(t for t, _ in taxa.get(("exclude", tgt), [])),
    )
