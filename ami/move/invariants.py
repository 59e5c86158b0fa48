"""The domain's invariants over whole projects, checked after a revert before it commits.

The move checks its own rows against its plan (``ami.move.checks``); a revert has no plan of
its own and may skip drifted rows, carry new ones, or run months later with other work done
since. So after the replay it checks the state itself, over every deployment of both projects
of the move and the moved deployments wherever they are now:

- ``rows-follow-deployment``: every event, capture, occurrence and job of a deployment is in
  the deployment's project, and so is the occurrence of every detection on its captures (a
  split state, such as a deployment kept in the target while its rows went back, or a row a
  racing writer inserted with the stale project);
- ``deployment-resources``: no deployment points at a device, site or storage source of the
  other project of the move (a resource of a third project, or one without a project, is
  shared as the model allows, as the move's ``shared-resources`` check has it);
- ``job-cross-links``: no job of either project points at a collection, export or capture
  (``source_image_single``) of the other one, as the move's check of that name forbids.

Each check is one set-based statement whatever the size of the projects; a failure names the
deployment (or job) and sample ids, and rolls the revert back.
"""

from __future__ import annotations

from django.db import connection

from ami.move.plan import RESOURCES
from ledger.replay import CheckOutcome

SAMPLE = 5

# The deployments a revert may have touched: all of both projects, and the moved ones.
_SCOPE = """
WITH dep AS (SELECT id, project_id FROM main_deployment
             WHERE project_id = ANY(%(p)s) OR id = ANY(%(d)s))
"""

_ROWS_SPLIT = (
    _SCOPE
    + " UNION ALL ".join(
        f"""
SELECT '{table}', dep.id, dep.project_id, count(*), (array_agg(x.id ORDER BY x.id))[1:%(n)s],
    array_agg(DISTINCT x.project_id)
FROM {table} x JOIN dep ON dep.id = x.deployment_id
WHERE x.project_id IS DISTINCT FROM dep.project_id GROUP BY dep.id, dep.project_id"""
        for table in ("main_event", "main_sourceimage", "main_occurrence", "jobs_job")
    )
    + """
UNION ALL
SELECT 'main_detection', dep.id, dep.project_id, count(*),
    (array_agg(x.id ORDER BY x.id))[1:%(n)s], array_agg(DISTINCT o.project_id)
FROM main_detection x JOIN main_sourceimage si ON si.id = x.source_image_id
JOIN dep ON dep.id = si.deployment_id JOIN main_occurrence o ON o.id = x.occurrence_id
WHERE o.project_id IS DISTINCT FROM dep.project_id GROUP BY dep.id, dep.project_id
ORDER BY 2, 1
"""
)

_RESOURCE_SPLIT = _SCOPE + " UNION ALL ".join(
    f"""
SELECT '{kind}', dep.id, dep.project_id, r.id, r.project_id
FROM dep JOIN main_deployment d ON d.id = dep.id JOIN {table} r ON r.id = d.{fk}
WHERE r.project_id = ANY(%(p)s) AND r.project_id <> dep.project_id"""
    for kind, table, fk in RESOURCES
)

_JOB_LINKS = """
SELECT j.id, j.project_id, 'source_image_collection', c.id, c.project_id
FROM jobs_job j JOIN main_sourceimagecollection c ON c.id = j.source_image_collection_id
WHERE j.project_id = ANY(%(p)s) AND c.project_id = ANY(%(p)s) AND c.project_id <> j.project_id
UNION ALL
SELECT j.id, j.project_id, 'data_export', e.id, e.project_id
FROM jobs_job j JOIN exports_dataexport e ON e.id = j.data_export_id
WHERE j.project_id = ANY(%(p)s) AND e.project_id = ANY(%(p)s) AND e.project_id <> j.project_id
UNION ALL
SELECT j.id, j.project_id, 'source_image_single', si.id, si.project_id
FROM jobs_job j JOIN main_sourceimage si ON si.id = j.source_image_single_id
WHERE j.project_id = ANY(%(p)s) AND si.project_id = ANY(%(p)s)
AND si.project_id <> j.project_id
ORDER BY 1, 3
"""


def _rows(sql: str, params: dict[str, object]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _outcome(name: str, failures: list[str], ok_detail: str) -> CheckOutcome:
    shown = failures[:SAMPLE]
    more = f"; and {len(failures) - SAMPLE} more" if len(failures) > SAMPLE else ""
    return CheckOutcome(
        name=name, ok=not failures, detail="; ".join(shown) + more if failures else ok_detail
    )


def rows_follow_deployment(projects: list[int], deployments: list[int]) -> CheckOutcome:
    """Every row of a deployment (events, captures, occurrences, jobs, the occurrences of the
    detections on its captures) is in the deployment's project."""
    params = {"p": projects, "d": deployments, "n": SAMPLE}
    failures = [
        f"deployment {dep} is in project {project} but {count} {table} row(s) of it are in "
        f"project {', '.join(map(str, elsewhere))} (e.g. {', '.join(map(str, sample))})"
        for table, dep, project, count, sample, elsewhere in _rows(_ROWS_SPLIT, params)
    ]
    return _outcome(
        "rows-follow-deployment",
        failures,
        "every row of the deployments of both projects is in its deployment's project",
    )


def deployment_resources(projects: list[int], deployments: list[int]) -> CheckOutcome:
    """No deployment points at a device, site or storage source of the move's other project."""
    failures = [
        f"deployment {dep} is in project {project} but its {kind} {rid} is in project {owner}"
        for kind, dep, project, rid, owner in _rows(
            _RESOURCE_SPLIT, {"p": projects, "d": deployments}
        )
    ]
    return _outcome(
        "deployment-resources",
        failures,
        "every deployment's device, site and storage source is of its project or shared",
    )


def job_cross_links(projects: list[int]) -> CheckOutcome:
    """No job of either project points at a collection, export or capture of the other."""
    failures = [
        f"job {job} of project {project} references {link} {rid} of project {owner}"
        for job, project, link, rid, owner in _rows(_JOB_LINKS, {"p": projects})
    ]
    return _outcome(
        "job-cross-links",
        failures,
        "no job of either project references another project's collection, export or capture",
    )


def project_invariants(projects: list[int], deployments: list[int]) -> list[CheckOutcome]:
    """Every invariant over both projects of a move and its deployments."""
    return [
        rows_follow_deployment(projects, deployments),
        deployment_resources(projects, deployments),
        job_cross_links(projects),
    ]
