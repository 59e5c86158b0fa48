"""What the move does with jobs (read-only planning).

A job on a moved deployment always moves; its references that would otherwise point into
another project are re-pointed (split collection) or cleared. A project-level job (no
deployment) moves only when everything it references moves with it; otherwise it stays and
loses the references that left the source; so does a job of a staying deployment that
references moved images or a reassigned collection. So no job ends up linked across projects, and a
job pointing at a collection without moved images never blocks a move.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from django.db import connection

from ami.jobs.models import JobState
from ami.move.structs import CollectionDecision, JobDecision, MoveRequest

# Jobs on moved deployments, and project-level jobs of the source that reference moved images
# or collections holding moved images.
_JOBS_SQL = """
SELECT j.id, j.deployment_id, j.status, si.deployment_id, si.project_id,
    j.source_image_collection_id, c.project_id, j.data_export_id, e.project_id
FROM jobs_job j
LEFT JOIN main_sourceimage si ON si.id = j.source_image_single_id
LEFT JOIN main_sourceimagecollection c ON c.id = j.source_image_collection_id
LEFT JOIN exports_dataexport e ON e.id = j.data_export_id
WHERE j.deployment_id = ANY(%(d)s)
   OR (j.project_id = %(s)s
       AND (si.deployment_id = ANY(%(d)s) OR j.source_image_collection_id = ANY(%(c)s)))
ORDER BY j.id
"""


# Running jobs that touch moved data: on a moved deployment, on a moved capture, on a collection
# holding moved captures (whatever the collection's fate), exporting the source project, or
# scoped to the whole source project. Their results would be written under the wrong project.
_RUNNING_SQL = """
SELECT j.id FROM jobs_job j
LEFT JOIN main_sourceimage si ON si.id = j.source_image_single_id
LEFT JOIN exports_dataexport e ON e.id = j.data_export_id
WHERE j.status = ANY(%(running)s) AND (
    j.deployment_id = ANY(%(d)s)
    OR si.deployment_id = ANY(%(d)s)
    OR j.source_image_collection_id = ANY(%(c)s)
    OR e.project_id = %(s)s
    OR (j.project_id = %(s)s AND j.deployment_id IS NULL AND j.source_image_single_id IS NULL
        AND j.source_image_collection_id IS NULL AND j.data_export_id IS NULL))
ORDER BY j.id
"""


def running_job_ids(
    params: Mapping[str, Any], collection_ids: Iterable[int | None]
) -> tuple[int, ...]:
    """The running jobs that touch the moved data (``plan_jobs``' second answer), read now.

    Run again once the move is sealed, by the same ids (the moved deployments, the planned
    collections, the source): a job started meanwhile on a row the move does not lock (a
    project-level job on a mixed collection) is found before the commit.
    """
    with connection.cursor() as cur:
        cur.execute(
            _RUNNING_SQL,
            {
                **params,
                "c": list(collection_ids),
                "running": [str(state) for state in JobState.running_states()],
            },
        )
        return tuple(row[0] for row in cur.fetchall())


class _JobRow(NamedTuple):
    job_id: int
    deployment_id: int | None
    status: str
    image_deployment_id: int | None
    image_project_id: int | None
    collection_id: int | None
    collection_project_id: int | None
    export_id: int | None
    export_project_id: int | None


# (action, collection action, image action, export action, note)
_Decision = tuple[str, str, str, str, str]


def _on_moved_deployment(
    job: _JobRow, coll_action: str | None, image_moves: bool, target_id: int | None
) -> _Decision:
    in_target = target_id is not None
    if (
        job.collection_id is None
        or coll_action == "reassign"
        or (coll_action is None and in_target and job.collection_project_id == target_id)
    ):
        collection = "keep"
    else:
        collection = "clone" if coll_action == "split" else "null"
    no_image = job.image_deployment_id is None and job.image_project_id is None
    image_stays_linked = image_moves or (in_target and job.image_project_id == target_id)
    image = "keep" if no_image or image_stays_linked else "null"
    export_ok = job.export_id is None or (in_target and job.export_project_id == target_id)
    return "move", collection, image, "keep" if export_ok else "null", "on a moved deployment"


def _project_level(job: _JobRow, coll_action: str | None, image_moves: bool) -> _Decision:
    if job.deployment_id is not None:  # a job of a staying deployment: it stays
        return (
            "stay",
            "null" if coll_action == "reassign" else "keep",
            "null" if image_moves else "keep",
            "keep",
            "on a staying deployment; references moved data",
        )
    moves = (
        (job.image_project_id is None or image_moves)
        and (job.collection_id is None or coll_action == "reassign")
        and job.export_id is None
    )
    if moves:
        return "move", "keep", "keep", "keep", "project-level; everything it references moves"
    return (
        "stay",
        "null" if coll_action == "reassign" else "keep",
        "null" if image_moves else "keep",
        "keep",
        "project-level; references data that stays, so it stays",
    )


def plan_jobs(
    request: MoveRequest,
    params: Mapping[str, Any],
    collections: Iterable[CollectionDecision],
    target_id: int | None,
) -> tuple[tuple[JobDecision, ...], tuple[int, ...]]:
    """Decide what each job referencing moved data does (see the module docstring).

    Returns:
        (the jobs with a decision to show or act on, the ids of running jobs that touch moved
        data, moving or not). Ordinary jobs of moved deployments, which only change project,
        are not listed.
    """
    by_collection: dict[int | None, str] = {c.collection_id: c.action for c in collections}
    moved_deps = set(request.deployment_ids)
    with connection.cursor() as cur:
        cur.execute(_JOBS_SQL, {**params, "c": list(by_collection)})
        rows = [_JobRow(*row) for row in cur.fetchall()]
    running = running_job_ids(params, by_collection)
    decisions: list[JobDecision] = []
    for job in rows:
        image_moves = job.image_deployment_id in moved_deps
        coll_action = by_collection.get(job.collection_id)
        if job.deployment_id in moved_deps:
            decision = _on_moved_deployment(job, coll_action, image_moves, target_id)
        else:
            decision = _project_level(job, coll_action, image_moves)
        action, collection, image, export, note = decision
        if action == "stay" and collection == image == "keep" and job.deployment_id is not None:
            continue  # a staying deployment's job on a split collection: nothing changes
        if job.deployment_id in moved_deps and collection == image == export == "keep":
            continue  # an ordinary job of a moved deployment: counted, nothing to decide
        decisions.append(
            JobDecision(
                job_id=job.job_id,
                deployment_id=job.deployment_id,
                status=job.status,
                action=action,
                collection_id=job.collection_id,
                collection_action=collection,
                image_action=image,
                export_action=export,
                note=note,
            )
        )
    return tuple(decisions), running
